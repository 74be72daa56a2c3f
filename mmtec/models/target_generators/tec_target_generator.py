"""The frozen base model that computes TEC's targets."""
from contextlib import nullcontext
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.logging import MMLogger
from mmengine.model import BaseModule
from mmpretrain.models.utils import to_2tuple

from mmtec.converters import read_vit
from mmtec.registry import MODELS

from ..utils import (
    attention_scale,
    block_qkv,
    compiled_method,
    embed_tokens,
    native_bf16,
    num_prefix_tokens,
    vit_from_weights,
)


@MODELS.register_module()
class TECTargetGenerator(BaseModule):
    """Frozen pretrained ViT that produces TEC's feature and attention targets.

    Weights and architecture come from ``checkpoint`` in any layout
    :func:`~mmtec.converters.read_vit` reads, built by
    :func:`~mmtec.models.utils.vit_from_weights` (logged); a missing file
    or a mismatch raises, never random weights. Frozen, always in eval mode.
    The targets are on the new model's grid (``img_size`` / ``patch_size``):
    a base of another patch size sees the image resized (bicubic,
    antialiased) to that grid times its own patch.

    On the unmasked image it returns the *feature target*: the patch tokens
    (no class token, no registers) of the last ``last_layers`` block
    outputs (before the final norm), averaged, ``[B, L, C]``; and the
    *attention target*: the last block's pre-softmax logits of the class
    token and the ``topk`` patches (ranked by the head-averaged class-token
    logits) against all patch keys, ``[B, 1+topk, H, L]``, with the picked
    patch indices ``[B, topk]``. Only those rows of the last block's logits
    are materialised; the other blocks use fused attention.

    Args:
        checkpoint (str): The base model's weights: a file path, an
            http(s) URL (checked, then kept in torch hub's cache) or a model
            name of ``mmpretrain.list_models()`` (TEC's released models
            included). Required.
        arch (str | dict, optional): ``'s'``, ``'b'``, ``'l'``, ``'h'`` or a
            dict of sizes, which must fit the file. Defaults to None: all
            from the file, heads 64 wide (ViT-H: 16).
        img_size (int): Input size of the new model. Defaults to 224.
        patch_size (int): Patch size of the new model. Defaults to 16.
        last_layers (int): Blocks averaged for the feature target.
            Defaults to 2.
        topk (int): Patch rows of the attention target. Defaults to 15.
        use_attention_target (bool): Compute the attention target.
            Defaults to True.
        norm_cfg (dict, optional): Norm config. Defaults to LN, eps 1e-5
            for OpenCLIP files, else 1e-6.
        quick_gelu (bool): QuickGELU MLPs, as OpenAI's CLIP (its files
            cannot tell it from LAION's GELU). Defaults to False.
        trust_checkpoint (bool): Load ``checkpoint`` even if the loader
            refuses it as possibly malicious (it may then run code; logged
            as a WARNING). Defaults to False.
        weights_dtype (str, optional): Hold the frozen weights in this dtype
            (``'bfloat16'``, ``'float16'``) and run in it with autocast off
            (no per-step weight casts); targets come in that dtype (the
            losses compute in fp32). ``'auto'``: bfloat16 where the machine
            computes it natively (:func:`~mmtec.models.utils.native_bf16`),
            else fp32, logged. None (or ``'float32'``): fp32 weights that
            follow any surrounding autocast. Defaults to None.
        compile (bool | dict): ``torch.compile`` the target computation
            (True or its keyword arguments). Defaults to False.

    Example:
        >>> import os.path as osp, tempfile, torch
        >>> from mmpretrain.models import VisionTransformer
        >>> from mmtec.models import TECTargetGenerator
        >>> arch = dict(embed_dims=128, num_layers=3, num_heads=2,
        ...             feedforward_channels=256)
        >>> # a tiny base model (patch 8) in MMPretrain's layout
        >>> base = VisionTransformer(arch, img_size=32, patch_size=8)
        >>> tmp = tempfile.TemporaryDirectory()
        >>> path = osp.join(tmp.name, 'base.pth')
        >>> torch.save({'state_dict': base.state_dict()}, path)
        >>> # the file says what it is; the new model: 64 px, patch 16
        >>> generator = TECTargetGenerator(path, img_size=64, patch_size=16,
        ...                                topk=5)
        >>> # the base sees the 64 px images at 32 px: 4 x 4 patches of 8
        >>> feat, attn, topk_idx = generator(torch.randn(2, 3, 64, 64))
        >>> feat.shape  # 16 patches, base width
        torch.Size([2, 16, 128])
        >>> attn.shape  # class token + 5 patches, 2 heads (64 wide), 16 keys
        torch.Size([2, 6, 2, 16])
        >>> topk_idx.shape, generator.training
        (torch.Size([2, 5]), False)
        >>> tmp.cleanup()
    """

    def __init__(self,
                 checkpoint: Optional[str] = None,
                 arch: Union[str, dict, None] = None,
                 img_size: int = 224,
                 patch_size: int = 16,
                 last_layers: int = 2,
                 topk: int = 15,
                 use_attention_target: bool = True,
                 norm_cfg: Optional[dict] = None,
                 quick_gelu: bool = False,
                 trust_checkpoint: bool = False,
                 weights_dtype: Optional[str] = None,
                 compile: Union[bool, dict] = False):
        # no init_cfg: the weights come from ``checkpoint``
        super().__init__()
        if not checkpoint:
            raise ValueError(
                'model.target_generator.checkpoint is not set: TEC needs the '
                'weights of a pretrained base model. Pass --cfg-options '
                'model.target_generator.checkpoint=X with X a file path, an '
                'http(s) URL (e.g. MAE\'s release, https://dl.fbaipublicfiles'
                '.com/mae/pretrain/mae_pretrain_vit_base.pth) or a model name '
                'of mmpretrain.list_models().')
        state, info = read_vit(checkpoint, trust=trust_checkpoint)
        self.patch_size, grid = to_2tuple(patch_size), [
            s // p for s, p in zip(to_2tuple(img_size), to_2tuple(patch_size))]
        self.base_patch = info['patch_size']
        self.vit = vit_from_weights(
            state, info, arch, img_size=[g * self.base_patch for g in grid],
            quick_gelu=quick_gelu, norm_cfg=norm_cfg)
        self.embed_dims = self.vit.embed_dims
        self.num_heads = self.vit.layers[0].attn.num_heads
        num_layers = self.vit.num_layers
        if not 1 <= last_layers <= num_layers:
            raise ValueError(f'last_layers={last_layers} must be in '
                             f'[1, {num_layers}]')
        num_patches = grid[0] * grid[1]
        if use_attention_target and not 1 <= topk <= num_patches:
            raise ValueError(f'topk={topk} must be in [1, {num_patches}]')
        self.last_layers = last_layers
        self.topk = topk
        self.use_attention_target = use_attention_target
        self.checkpoint = checkpoint
        self._is_init = True
        self.requires_grad_(False)
        self.eval()
        self.weights_dtype = self._parse_dtype(weights_dtype)
        if self.weights_dtype is not None:
            self.vit.to(self.weights_dtype)
        self.compile_cfg = compile

    @staticmethod
    def _parse_dtype(name: Optional[str]) -> Optional[torch.dtype]:
        if name == 'auto':
            why = native_bf16()
            MMLogger.get_current_instance().info(
                'TEC base model: weights_dtype=\'auto\' -> ' +
                (f'bfloat16 (native on {why})' if why else
                 'float32 (no native bf16 on this machine)'))
            return torch.bfloat16 if why else None
        dtypes = dict(bfloat16=torch.bfloat16, float16=torch.float16,
                      float32=None)
        if name is not None and name not in dtypes:
            raise ValueError(
                f'model.target_generator.weights_dtype={name!r} is not '
                f'supported: use one of {sorted(dtypes)}, \'auto\' or None.')
        return dtypes.get(name)

    def init_weights(self):
        """Keep the loaded weights: never re-initialised."""

    def train(self, mode: bool = True):
        """The base model always stays in eval mode."""
        return super().train(False)

    def _last_block(self, layer, x: torch.Tensor):
        """Run the last block; also return the target attention logits."""
        B, N, C = x.shape
        attn = layer.attn
        q, k, v = block_qkv(layer, x)  # [B, H, N, d]
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(1, 2).reshape(B, N, C)
        x = x + attn.gamma1(attn.proj(out))
        x = layer.ffn(layer.ln2(x), identity=x)
        if not self.use_attention_target:
            return x, None, None

        scale, n = attention_scale(layer), num_prefix_tokens(self.vit)
        # rank patches by the head-averaged class-token logits
        cls_logits = (q[:, :, :1] @ k[:, :, n:].transpose(-2, -1)) * scale
        topk_idx = cls_logits[:, :, 0].mean(dim=1).topk(
            self.topk, dim=-1).indices  # [B, topk]
        rows = torch.gather(
            q[:, :, n:], 2, topk_idx[:, None, :, None].expand(
                -1, q.shape[1], -1, q.shape[-1]))
        rows = torch.cat([q[:, :, :1], rows], dim=2)  # [B, H, 1+topk, d]
        logits = (rows @ k[:, :, n:].transpose(-2, -1)) * scale
        return x, logits.permute(0, 2, 1, 3), topk_idx

    def forward(
        self, img: torch.Tensor
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor], Optional[torch.Tensor]]:
        """The targets of unmasked images: feature target ``[B, L, C]``,
        attention target ``[B, 1+topk, H, L]`` and ``topk_idx``
        ``[B, topk]`` (both None without ``use_attention_target``)."""
        # inference_mode: no version counters or view tracking; but
        # torch.compile's guards trip over inference tensors (a dynamo bug
        # with MMPretrain's numpy drop-path rates): compiled runs use no_grad
        grad_off = torch.no_grad() if self.compile_cfg \
            else torch.inference_mode()
        # low-precision weights: run in their dtype, autocast off, so that
        # no weight is re-cast at every step
        low = self.weights_dtype is not None
        with grad_off, torch.autocast(img.device.type, enabled=False) \
                if low else nullcontext():
            return compiled_method(self, '_targets', self.compile_cfg)(
                img.to(self.weights_dtype) if low else img)

    def _targets(self, img: torch.Tensor):
        vit, n = self.vit, num_prefix_tokens(self.vit)
        size = [s // p * self.base_patch
                for s, p in zip(img.shape[-2:], self.patch_size)]
        if list(img.shape[-2:]) != size:  # the new model's grid
            img = F.interpolate(img, size=size, mode='bicubic',
                                align_corners=False, antialias=True)
        x, _ = embed_tokens(vit, img)
        num_layers = len(vit.layers)
        feats = []
        for i, layer in enumerate(vit.layers[:-1]):
            x = layer(x)
            if i >= num_layers - self.last_layers:
                feats.append(x[:, n:])
        x, attn_target, topk_idx = self._last_block(vit.layers[-1], x)
        feats.append(x[:, n:])
        feat_target = torch.stack(feats).mean(dim=0)
        return feat_target, attn_target, topk_idx
