"""TEC's training losses restated in plain torch from docs/algorithm.md.

Nothing here imports mmtec or MMPretrain: every step of the spec is written
out with tensors and ``torch.nn.functional`` only, so a bug in the library
modules cannot hide itself by being reused here. Weights come in a flat
dict of plain tensors with the names below (``tests/test_reference_step.py``
maps mmtec's parameters onto them):

- base model ``base.*`` and new encoder ``enc.*``: ``patch_w``, ``patch_b``
  (patch embedding as a conv), ``cls``, ``pos`` and per block
  ``blk{i}.{ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b,
  fc1_w, fc1_b, fc2_w, fc2_b}``; the encoder also has ``norm_w/norm_b``
  (final norm), the input adapter ``tok_fc1_*``, ``tok_fc2_*`` and the
  encoder adapter ``ada.norm_in_*``, ``ada.fuse{g}_*``, ``ada.mlp{g}_fc1_*``,
  ``ada.mlp{g}_fc2_*``, ``ada.norm_out_*``;
- decoder ``dec.pos``, ``dec.blk{i}.*`` (as above) and per branch
  ``dec.{fea,att}.{embed_w, embed_b, mask, norm_w, norm_b, pred_w,
  pred_b}``.
"""
import torch
import torch.nn.functional as F

EPS = 1e-6  # every LayerNorm of TEC ...
ADAPTER_EPS = 1e-5  # ... except the encoder adapter's two


def layer_norm(x, w, b, eps=EPS):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean)**2).mean(-1, keepdim=True)  # biased, as LayerNorm
    return (x - mean) / torch.sqrt(var + eps) * w + b


def linear(x, w, b):
    return x @ w.t() + b


def gelu(x):
    return 0.5 * x * (1 + torch.erf(x / 2**0.5))


def mlp(x, W, p):
    return linear(gelu(linear(x, W[p + 'fc1_w'], W[p + 'fc1_b'])),
                  W[p + 'fc2_w'], W[p + 'fc2_b'])


def qkv_heads(x, W, p, heads):
    """``q, k, v`` of a block on its (normed) input, each [B, H, N, d]."""
    B, N, C = x.shape
    qkv = linear(x, W[p + 'qkv_w'], W[p + 'qkv_b'])
    q, k, v = qkv.reshape(B, N, 3, heads, C // heads).permute(2, 0, 3, 1, 4)
    return q, k, v


def block(x, W, p, heads, return_logits=False):
    """Pre-norm ViT block with softmax attention written out."""
    B, N, C = x.shape
    q, k, v = qkv_heads(layer_norm(x, W[p + 'ln1_w'], W[p + 'ln1_b']), W, p,
                        heads)
    logits = q @ k.transpose(-2, -1) * (C // heads)**-0.5  # [B, H, N, N]
    out = (logits.softmax(-1) @ v).transpose(1, 2).reshape(B, N, C)
    x = x + linear(out, W[p + 'proj_w'], W[p + 'proj_b'])
    x = x + mlp(layer_norm(x, W[p + 'ln2_w'], W[p + 'ln2_b']), W, p)
    return (x, logits) if return_logits else x


def patchify(img, W, p):
    """Patch embedding: a stride-``patch`` convolution, tokens [B, L, C]."""
    w = W[p + 'patch_w']
    x = F.conv2d(img, w, W[p + 'patch_b'], stride=w.shape[-1])
    return x.flatten(2).transpose(1, 2)


def base_targets(img, W, cfg):
    """Feature target [B, L, C], attention target [B, 1+topk, H, L], topk."""
    x = patchify(img, W, 'base.')
    x = torch.cat([W['base.cls'].expand(x.shape[0], -1, -1), x], 1)
    x = x + W['base.pos']
    depth, heads = cfg['base_depth'], cfg['base_heads']
    outs = []
    for i in range(depth):
        x, logits = block(x, W, f'base.blk{i}.', heads, return_logits=True)
        outs.append(x[:, 1:])
    feat = torch.stack(outs[-cfg['last_layers']:]).mean(0)
    # attention target from the last block's pre-softmax logits
    rank = logits[:, :, 0, 1:].mean(1)  # [B, L], head-averaged cls row
    topk = rank.topk(cfg['topk'], dim=-1).indices
    rows = torch.cat([torch.zeros_like(topk[:, :1]), topk + 1], 1)
    picked = torch.stack([logits[b][:, rows[b], 1:]
                          for b in range(len(rows))])  # [B, H, 1+k, L]
    return feat, picked.permute(0, 2, 1, 3), topk


def encode(img, W, cfg, noise):
    """Masked encoder + adapters: latent [B, 1+V, C], mask, ids_restore."""
    x = patchify(img, W, 'enc.') + W['enc.pos'][:, 1:]
    B, L, C = x.shape
    keep = int(L * (1 - cfg['mask_ratio']))
    ids_shuffle = noise.argsort(1)
    ids_restore = ids_shuffle.argsort(1)
    x = torch.stack([x[b, ids_shuffle[b, :keep]] for b in range(B)])
    mask = torch.ones(B, L)
    mask[:, :keep] = 0
    mask = torch.stack([mask[b, ids_restore[b]] for b in range(B)])
    cls = mlp(W['enc.cls'], W, 'enc.tok_') + W['enc.pos'][:, :1]
    x = torch.cat([cls.expand(B, -1, -1), x], 1)
    outs = []
    for i in range(cfg['enc_depth']):
        x = block(x, W, f'enc.blk{i}.', cfg['enc_heads'])
        outs.append(x)
    outs[-1] = layer_norm(outs[-1], W['enc.norm_w'], W['enc.norm_b'])
    # encoder adapter: LN over all layers, groups of 3 layers, summed
    x = layer_norm(torch.cat(outs, -1), W['enc.ada.norm_in_w'],
                   W['enc.ada.norm_in_b'], ADAPTER_EPS)
    latent = 0
    for g in range(cfg['enc_depth'] // 3):
        h = linear(x[..., g * 3 * C:(g + 1) * 3 * C], W[f'enc.ada.fuse{g}_w'],
                   W[f'enc.ada.fuse{g}_b'])
        latent = latent + h + mlp(h, W, f'enc.ada.mlp{g}_')
    latent = layer_norm(latent, W['enc.ada.norm_out_w'],
                        W['enc.ada.norm_out_b'], ADAPTER_EPS)
    return latent, mask, ids_restore


def decode(latent, ids_restore, W, cfg, branch):
    """One decoder branch up to (and including) its output Linear."""
    p = f'dec.{branch}.'
    x = linear(latent, W[p + 'embed_w'], W[p + 'embed_b'])
    B, L = ids_restore.shape
    D = x.shape[-1]
    patches = torch.cat([x[:, 1:], W[p + 'mask'].expand(B, L + 1 - x.shape[1],
                                                         D)], 1)
    patches = torch.stack([patches[b, ids_restore[b]] for b in range(B)])
    x = torch.cat([x[:, :1], patches], 1) + W['dec.pos']
    for i in range(cfg['dec_depth']):
        x = block(x, W, f'dec.blk{i}.', cfg['dec_heads'])
    x = layer_norm(x, W[p + 'norm_w'], W[p + 'norm_b'])
    return linear(x, W[p + 'pred_w'], W[p + 'pred_b'])


def tec_losses(img, noise, W, cfg):
    """Both TEC losses of one step. ``cfg`` holds the sizes and settings:
    base_depth, base_heads, last_layers, topk, enc_depth, enc_heads,
    mask_ratio, dec_depth, dec_heads, tau."""
    with torch.no_grad():
        feat_t, attn_t, topk = base_targets(img, W, cfg)
    latent, mask, ids_restore = encode(img, W, cfg, noise)

    # feature loss: target normalised across patches, masked patches only
    pred = decode(latent, ids_restore, W, cfg, 'fea')[:, 1:]
    mean = feat_t.mean(1, keepdim=True)
    var = ((feat_t - mean)**2).sum(1, keepdim=True) / (feat_t.shape[1] - 1)
    target = (feat_t - mean) / torch.sqrt(var + 1e-6)
    per_patch = ((pred - target)**2).mean(-1)
    loss_feature = (per_patch * mask).sum() / mask.sum()

    # attention loss: q of cls + topk rows against patch keys, C_pred^-0.5
    qk = decode(latent, ids_restore, W, cfg, 'att')
    B, N, C2 = qk.shape
    H, C = cfg['base_heads'], C2 // 2
    q = qk[..., :C].reshape(B, N, H, C // H)
    k = qk[..., C:].reshape(B, N, H, C // H)
    rows = torch.cat([torch.zeros_like(topk[:, :1]), topk + 1], 1)
    q = torch.stack([q[b, rows[b]] for b in range(B)])  # [B, 1+k, H, d]
    logits = torch.einsum('bqhd,bkhd->bqhk', q, k[:, 1:]) * C**-0.5
    p = (attn_t / cfg['tau']).softmax(-1)
    loss_attention = -(p * logits.log_softmax(-1)).sum(-1).mean()
    return dict(loss_feature=loss_feature, loss_attention=loss_attention)
