"""A plain ViT backbone for detection in the style of ViTDet.

ViTDet (Li et al., "Exploring Plain Vision Transformer Backbones for Object
Detection", ECCV 2022) keeps the pretrained ViT as it is and only changes
how attention is computed at high resolution: most blocks attend within
non-overlapping windows, a few blocks attend globally, and every attention
adds a decomposed relative position bias (separate height and width
tables, as in MViTv2). The absolute position table of the 224 pretraining
is interpolated to the detection grid. The last feature map (stride 16) is
the only output; :class:`SimpleFeaturePyramid` builds the pyramid from it.

Module names follow MMPretrain's ``VisionTransformer`` (``patch_embed.
projection``, ``layers.N.{ln1,attn.qkv,attn.proj,ln2,ffn}``), so canonical
plain-ViT weights load without renaming.
"""
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks import DropPath
from mmcv.cnn.bricks.transformer import FFN, PatchEmbed
from mmdet.registry import MODELS
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import trunc_normal_

from mmtec.converters import canonical_to_mmdet_state_dict
from mmtec.models.utils.checked_loading import CheckedPretrainedMixin


def window_partition(x: torch.Tensor,
                     window_size: int) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """Split ``[B, H, W, C]`` into ``[B * nW, ws, ws, C]`` windows.

    H and W are zero-padded up to multiples of ``window_size`` (ViTDet pads
    the normalised tokens and lets them take part in attention).

    Returns:
        tuple: the windows and the padded size ``(Hp, Wp)``.
    """
    B, H, W, C = x.shape
    pad_h = (window_size - H % window_size) % window_size
    pad_w = (window_size - W % window_size) % window_size
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    Hp, Wp = H + pad_h, W + pad_w
    x = x.view(B, Hp // window_size, window_size, Wp // window_size,
               window_size, C)
    windows = x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window_size,
                                                  window_size, C)
    return windows, (Hp, Wp)


def window_unpartition(windows: torch.Tensor, window_size: int,
                       pad_hw: Tuple[int, int],
                       hw: Tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`window_partition`, cropping the padding away."""
    Hp, Wp = pad_hw
    H, W = hw
    B = windows.shape[0] // ((Hp // window_size) * (Wp // window_size))
    x = windows.view(B, Hp // window_size, Wp // window_size, window_size,
                     window_size, -1)
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(B, Hp, Wp, -1)
    return x[:, :H, :W].contiguous()


def get_rel_pos(size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Relative position embeddings of every (query, key) pair on one axis.

    Args:
        size (int): Number of tokens on the axis (queries = keys).
        rel_pos (Tensor): Table ``[L, C]`` indexed by ``q - k + (L-1)/2``.

    Returns:
        Tensor: ``[size, size, C]``.
    """
    length = 2 * size - 1
    if rel_pos.shape[0] != length:
        # a table trained for another grid is stretched linearly
        rel_pos = F.interpolate(
            rel_pos.t().unsqueeze(0), size=length,
            mode='linear').squeeze(0).t()
    coords = torch.arange(size, device=rel_pos.device)
    index = coords[:, None] - coords[None, :] + (size - 1)
    return rel_pos[index]


def decomposed_rel_pos_bias(q: torch.Tensor, rel_pos_h: torch.Tensor,
                            rel_pos_w: torch.Tensor,
                            hw: Tuple[int, int]) -> torch.Tensor:
    """Decomposed relative position bias added to the attention logits.

    ``bias[(qh, qw), (kh, kw)] = q . Rh[qh - kh] + q . Rw[qw - kw]`` with
    the unscaled query ``q`` (as ViTDet/MViTv2 do).

    Args:
        q (Tensor): Queries ``[N, H * W, C]``.
        rel_pos_h (Tensor): Height table ``[2H' - 1, C]``.
        rel_pos_w (Tensor): Width table ``[2W' - 1, C]``.
        hw (tuple): ``(H, W)`` of the token grid.

    Returns:
        Tensor: ``[N, H * W, H * W]``.
    """
    H, W = hw
    Rh = get_rel_pos(H, rel_pos_h)  # [qh, kh, C]
    Rw = get_rel_pos(W, rel_pos_w)  # [qw, kw, C]
    n, _, c = q.shape
    r_q = q.reshape(n, H, W, c)
    rel_h = torch.einsum('nhwc,hkc->nhwk', r_q, Rh)
    rel_w = torch.einsum('nhwc,wkc->nhwk', r_q, Rw)
    bias = rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]
    return bias.reshape(n, H * W, H * W)


class RelPosAttention(BaseModule):
    """Multi-head self-attention with decomposed relative position bias.

    Args:
        embed_dims (int): Channels of the tokens.
        num_heads (int): Number of attention heads.
        qkv_bias (bool): Bias on the fused qkv projection. Defaults to True.
        use_rel_pos (bool): Add the decomposed relative position bias.
            Defaults to True.
        rel_pos_size (tuple[int, int], optional): Grid the tables are
            sized for (the window, or the whole feature map for global
            blocks). Required when ``use_rel_pos``.
        attn_drop_rate (float): Dropout on attention weights. Defaults to 0.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 qkv_bias: bool = True,
                 use_rel_pos: bool = True,
                 rel_pos_size: Optional[Tuple[int, int]] = None,
                 attn_drop_rate: float = 0.,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.num_heads = num_heads
        self.head_dims = embed_dims // num_heads
        self.attn_drop_rate = attn_drop_rate
        self.qkv = nn.Linear(embed_dims, embed_dims * 3, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.use_rel_pos = use_rel_pos
        if use_rel_pos:
            assert rel_pos_size is not None, 'rel_pos_size is required'
            # zero tables: the pretrained attention is left unchanged
            self.rel_pos_h = nn.Parameter(
                torch.zeros(2 * rel_pos_size[0] - 1, self.head_dims))
            self.rel_pos_w = nn.Parameter(
                torch.zeros(2 * rel_pos_size[1] - 1, self.head_dims))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over ``x`` of shape ``[B, H, W, C]``."""
        B, H, W, C = x.shape
        qkv = self.qkv(x).reshape(B, H * W, 3, self.num_heads,
                                  self.head_dims).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # [B, heads, N, d]
        bias = None
        if self.use_rel_pos:
            bias = decomposed_rel_pos_bias(
                q.reshape(B * self.num_heads, H * W, self.head_dims),
                self.rel_pos_h, self.rel_pos_w, (H, W))
            bias = bias.view(B, self.num_heads, H * W, H * W).to(q.dtype)
        # the fused kernel applies the head_dim ** -0.5 scale itself
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=bias,
            dropout_p=self.attn_drop_rate if self.training else 0.)
        out = out.transpose(1, 2).reshape(B, H, W, C)
        return self.proj(out)


class ViTDetBlock(BaseModule):
    """Pre-norm transformer block with windowed or global attention.

    Args:
        embed_dims (int): Channels of the tokens.
        num_heads (int): Number of attention heads.
        feedforward_channels (int): Hidden channels of the MLP.
        window_size (int): Window side for windowed attention; 0 means
            global attention over the whole map. Defaults to 0.
        input_size (tuple[int, int], optional): Token grid of the whole map,
            used to size the relative position tables of global blocks.
        qkv_bias (bool): Bias on qkv. Defaults to True.
        use_rel_pos (bool): Decomposed relative position bias. Defaults to
            True.
        drop_path_rate (float): Stochastic depth rate. Defaults to 0.
        norm_cfg (dict): Norm config. Defaults to ``LN`` with eps 1e-6.
        act_cfg (dict): Activation of the MLP. Defaults to GELU.
        with_cp (bool): Gradient checkpointing. Defaults to False.
        init_cfg (dict, optional): Initialization config. Defaults to None.
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 feedforward_channels: int,
                 window_size: int = 0,
                 input_size: Optional[Tuple[int, int]] = None,
                 qkv_bias: bool = True,
                 use_rel_pos: bool = True,
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 act_cfg: dict = dict(type='GELU'),
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.window_size = window_size
        self.with_cp = with_cp
        self.ln1 = build_norm_layer(norm_cfg, embed_dims)[1]
        self.attn = RelPosAttention(
            embed_dims,
            num_heads,
            qkv_bias=qkv_bias,
            use_rel_pos=use_rel_pos,
            rel_pos_size=(window_size, window_size)
            if window_size > 0 else input_size)
        self.ln2 = build_norm_layer(norm_cfg, embed_dims)[1]
        # mmcv FFN: keys ffn.layers.0.0 / ffn.layers.1 like MMPretrain's ViT
        self.ffn = FFN(
            embed_dims=embed_dims,
            feedforward_channels=feedforward_channels,
            num_fcs=2,
            ffn_drop=0.,
            dropout_layer=None,
            act_cfg=act_cfg,
            add_identity=False)
        self.drop_path = DropPath(
            drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.ln1(x)
        if self.window_size > 0:
            hw = x.shape[1:3]
            x, pad_hw = window_partition(x, self.window_size)
            x = self.attn(x)
            x = window_unpartition(x, self.window_size, pad_hw, hw)
        else:
            x = self.attn(x)
        x = shortcut + self.drop_path(x)
        return x + self.drop_path(self.ffn(self.ln2(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the block on ``[B, H, W, C]`` tokens."""
        if self.with_cp and x.requires_grad:
            return cp.checkpoint(self._forward, x, use_reentrant=False)
        return self._forward(x)


@MODELS.register_module()
class ViTDetBackbone(CheckedPretrainedMixin, BaseModule):
    """Plain ViT backbone for detection (ViTDet style), MMDetection registry.

    Weights: ``init_cfg=dict(type='Pretrained', checkpoint=PATH,
    prefix=None)`` where PATH holds a plain ViT in the canonical MMPretrain
    layout, the layout written by
    :func:`mmtec.converters.canonical_to_mmdet`, a full detector checkpoint
    (``backbone.`` keys) or any layout :func:`mmtec.converters.read_vit`
    reads. Loading is checked: every weight except the relative position
    tables (new by design, zero) must come from the file, with matching
    shapes, or a :class:`~mmtec.converters.BackboneCheckpointError` is
    raised. The report is kept in ``self.pretrained_load_report``.

    Args:
        img_size (int): Input size the model is built for (sizes the
            relative position tables of global blocks). Defaults to 1024.
        patch_size (int): Patch size. Defaults to 16.
        in_channels (int): Input channels. Defaults to 3.
        embed_dims (int): Token channels. Defaults to 768.
        num_layers (int): Number of blocks. Defaults to 12.
        num_heads (int): Attention heads. Defaults to 12.
        feedforward_channels (int, optional): MLP hidden channels; None
            means ``mlp_ratio * embed_dims``. Defaults to None.
        mlp_ratio (float): Used when ``feedforward_channels`` is None.
            Defaults to 4.
        qkv_bias (bool): Bias on qkv. Defaults to True.
        drop_path_rate (float): Stochastic depth, linearly increasing over
            blocks. Defaults to 0.1.
        norm_cfg (dict): Norm config of the blocks. Defaults to ``LN`` with
            eps 1e-6 (as MMPretrain's ViT).
        act_cfg (dict): MLP activation. Defaults to GELU.
        use_abs_pos (bool): Add the (interpolated) absolute position table.
            Defaults to True.
        use_rel_pos (bool): Decomposed relative position bias in every
            block. Defaults to True.
        window_size (int): Window side of the windowed blocks. Defaults
            to 14.
        global_attn_indexes (Sequence[int]): Blocks with global attention.
            Defaults to (2, 5, 8, 11) (ViT-B).
        pretrain_img_size (int): Image size of pretraining; the absolute
            table has ``(pretrain_img_size / patch_size) ** 2`` patch slots.
            Defaults to 224.
        pretrain_use_cls_token (bool): The table also has a class-token
            slot (unused here, kept so the pretrained table loads as is).
            Defaults to True.
        with_cp (bool): Gradient checkpointing of the blocks. Defaults to
            False.
        init_cfg (dict, optional): ``Pretrained`` config (see above) or
            None for random initialization. Defaults to None.
    """

    def __init__(self,
                 img_size: int = 1024,
                 patch_size: int = 16,
                 in_channels: int = 3,
                 embed_dims: int = 768,
                 num_layers: int = 12,
                 num_heads: int = 12,
                 feedforward_channels: Optional[int] = None,
                 mlp_ratio: float = 4.,
                 qkv_bias: bool = True,
                 drop_path_rate: float = 0.1,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 act_cfg: dict = dict(type='GELU'),
                 use_abs_pos: bool = True,
                 use_rel_pos: bool = True,
                 window_size: int = 14,
                 global_attn_indexes: Sequence[int] = (2, 5, 8, 11),
                 pretrain_img_size: int = 224,
                 pretrain_use_cls_token: bool = True,
                 with_cp: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.embed_dims = embed_dims
        self.num_layers = num_layers
        self.patch_size = patch_size
        self.pretrain_use_cls_token = pretrain_use_cls_token
        self.global_attn_indexes = tuple(global_attn_indexes)
        assert all(0 <= i < num_layers for i in self.global_attn_indexes), \
            f'global_attn_indexes {global_attn_indexes} out of range'
        if feedforward_channels is None:
            feedforward_channels = int(embed_dims * mlp_ratio)

        self.patch_embed = PatchEmbed(
            in_channels=in_channels,
            embed_dims=embed_dims,
            conv_type='Conv2d',
            kernel_size=patch_size,
            stride=patch_size,
            bias=True)
        if use_abs_pos:
            grid = pretrain_img_size // patch_size
            num_tokens = grid * grid + int(pretrain_use_cls_token)
            self.pos_embed = nn.Parameter(
                torch.zeros(1, num_tokens, embed_dims))
        else:
            self.pos_embed = None

        grid = img_size // patch_size
        dpr = torch.linspace(0, drop_path_rate, num_layers).tolist()
        self.layers = ModuleList([
            ViTDetBlock(
                embed_dims=embed_dims,
                num_heads=num_heads,
                feedforward_channels=feedforward_channels,
                window_size=0 if i in self.global_attn_indexes else
                window_size,
                input_size=(grid, grid),
                qkv_bias=qkv_bias,
                use_rel_pos=use_rel_pos,
                drop_path_rate=dpr[i],
                norm_cfg=norm_cfg,
                act_cfg=act_cfg,
                with_cp=with_cp) for i in range(num_layers)
        ])
        self.pretrained_load_report = None

    def _abs_pos(self, hw: Tuple[int, int]) -> torch.Tensor:
        """Patch part of the table, resized to the grid: ``[1, H, W, C]``."""
        pos = self.pos_embed
        if self.pretrain_use_cls_token:
            pos = pos[:, 1:]
        side = int(math.sqrt(pos.shape[1]))
        pos = pos.reshape(1, side, side, -1)
        if (side, side) != tuple(hw):
            # same bicubic resize as MMPretrain's ViT at another input size
            pos = F.interpolate(
                pos.permute(0, 3, 1, 2),
                size=hw,
                mode='bicubic',
                align_corners=False).permute(0, 2, 3, 1)
        return pos

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        """Return the last feature map ``[B, C, H/16, W/16]`` in a tuple."""
        x, hw = self.patch_embed(x)
        x = x.view(x.shape[0], hw[0], hw[1], -1)
        if self.pos_embed is not None:
            x = x + self._abs_pos(hw)
        for layer in self.layers:
            x = layer(x)
        return (x.permute(0, 3, 1, 2).contiguous(), )

    # ------------------------------------------------------------------
    # weights
    # ------------------------------------------------------------------
    def _random_init(self):
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if self.pos_embed is not None:
            trunc_normal_(self.pos_embed, std=.02)

    # relative position tables start at zero: no bias, pretrained attention
    new_by_design = (r'\.rel_pos_[hw]$', )

    def _ignored_keys(self):
        # without an absolute table the pretrained one has no use
        return () if self.pos_embed is not None else (r'^pos_embed$', )

    def _pos_embed_extra_tokens(self) -> int:
        return int(self.pretrain_use_cls_token)

    def _to_own_layout(self, state):
        """Canonical -> ViTDet keys; class slot and rel-pos tables fitted."""
        state, _ = canonical_to_mmdet_state_dict(state)
        ck = state.get('pos_embed')
        if ck is not None and self.pretrain_use_cls_token and \
                math.isqrt(ck.shape[1])**2 == ck.shape[1]:
            # a table without class slot: pad one (it is never used)
            state['pos_embed'] = torch.cat(
                [ck.new_zeros(1, 1, ck.shape[2]), ck], dim=1)
        own_state = self.state_dict()
        for key in [k for k in state if k.endswith(('rel_pos_h',
                                                     'rel_pos_w'))]:
            own = own_state.get(key)
            if own is not None and state[key].shape[0] != own.shape[0] and \
                    state[key].shape[1] == own.shape[1]:
                # tables trained at another size are stretched linearly
                state[key] = F.interpolate(
                    state[key].t().unsqueeze(0), size=own.shape[0],
                    mode='linear').squeeze(0).t()
        return state
