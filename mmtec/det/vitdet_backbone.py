"""ViTDet's backbone (Li et al., ECCV 2022): the pretrained plain ViT with
windowed attention in most blocks and a decomposed relative position bias,
on MMPretrain's windowed ViT blocks (``vit_sam``), named as its
``VisionTransformer``'s so plain-ViT weights load without renaming."""
import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath
from mmcv.cnn.bricks.transformer import PatchEmbed
from mmdet.registry import MODELS
from mmengine.model import BaseModule, ModuleList
from mmengine.model.weight_init import initialize, trunc_normal_
from mmpretrain.models.backbones.vit_sam import (
    TransformerEncoderLayer,
    get_rel_pos,
    window_partition,
    window_unpartition,
)
from mmpretrain.models.utils import resize_pos_embed

from mmtec.converters import canonical_to_mmdet_state_dict
from mmtec.models.utils import run_block
from mmtec.models.utils.checked_loading import CheckedPretrainedMixin


def decomposed_rel_pos_bias(q: torch.Tensor, rel_pos_h: torch.Tensor,
                            rel_pos_w: torch.Tensor,
                            hw: Tuple[int, int]) -> torch.Tensor:
    """``bias[(qh, qw), (kh, kw)] = q . Rh[qh - kh] + q . Rw[qw - kw]``
    with the unscaled query ``q`` (as ViTDet/MViTv2).

    Args:
        q (Tensor): Queries ``[N, H * W, C]``.
        rel_pos_h (Tensor): Height table ``[2H' - 1, C]`` (resized
            linearly when ``H' != H``).
        rel_pos_w (Tensor): Width table ``[2W' - 1, C]``.
        hw (tuple): ``(H, W)`` of the token grid.

    Returns:
        Tensor: ``[N, H * W, H * W]``.
    """
    H, W = hw
    r_q = q.reshape(q.shape[0], H, W, -1)
    rel_h = torch.einsum('nhwc,hkc->nhwk', r_q, get_rel_pos(H, H, rel_pos_h))
    rel_w = torch.einsum('nhwc,wkc->nhwk', r_q, get_rel_pos(W, W, rel_pos_w))
    bias = rel_h[:, :, :, :, None] + rel_w[:, :, :, None, :]
    return bias.reshape(q.shape[0], H * W, H * W)


class ViTDetBlock(TransformerEncoderLayer):
    """MMPretrain's windowed ViT block (same arguments; ``window_size`` 0:
    global attention), its attention computed by the fused kernel, with
    ViTDet's stochastic depth on both residual branches (upstream: on the
    MLP branch only)."""

    def __init__(self, *args, drop_path_rate: float = 0., **kwargs):
        super().__init__(*args, drop_path_rate=drop_path_rate, **kwargs)
        self.drop_path = DropPath(drop_path_rate)

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """``self.attn`` on ``[B, H, W, C]`` tokens, the relative position
        bias as the fused kernel's additive mask."""
        attn = self.attn
        B, H, W, C = x.shape
        qkv = attn.qkv(x).reshape(B, H * W, 3, attn.num_heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # [B, heads, N, d]
        bias = None
        if attn.use_rel_pos:
            bias = decomposed_rel_pos_bias(q.flatten(0, 1), attn.rel_pos_h,
                                           attn.rel_pos_w, (H, W))
            bias = bias.view(B, attn.num_heads, H * W, H * W).to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return attn.proj(out.transpose(1, 2).reshape(B, H, W, C))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the block on ``[B, H, W, C]`` tokens."""
        y = self.ln1(x)
        if self.window_size > 0:
            y, pad_hw = window_partition(y, self.window_size)
            y = window_unpartition(self.attention(y), self.window_size,
                                   pad_hw, x.shape[1:3])
        else:
            y = self.attention(y)
        x = x + self.drop_path(y)
        return self.ffn(self.ln2(x), identity=x)


@MODELS.register_module()
class ViTDetBackbone(CheckedPretrainedMixin, BaseModule):
    """Plain ViT backbone for detection (ViTDet), MMDetection registry.

    Returns the last map (stride 16) only, for
    :class:`SimpleFeaturePyramid`. The absolute position table keeps its
    pretraining size and is resized to the input grid in each forward.
    ``init_cfg=dict(type='Pretrained', checkpoint=PATH)`` loads, checked,
    a plain ViT in any layout :func:`mmtec.converters.read_vit` reads, the
    layout of :func:`mmtec.converters.canonical_to_mmdet` or a whole detector
    (``prefix='backbone.'``): every weight but the zero relative position
    tables must come from the file (report in ``pretrained_load_report``).

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
        mlp_ratio (float): Used without feedforward_channels. Defaults to 4.
        qkv_bias (bool): Bias on qkv. Defaults to True.
        drop_path_rate (float): Stochastic depth, rising linearly over the
            blocks. Defaults to 0.1.
        norm_cfg (dict): Norm of the blocks. Defaults to LN with eps 1e-6.
        act_cfg (dict): MLP activation. Defaults to GELU.
        use_abs_pos (bool): Absolute position table. Defaults to True.
        use_rel_pos (bool): Relative position bias. Defaults to True.
        window_size (int): Side of the attention windows. Defaults to 14.
        global_attn_indexes (Sequence[int]): Blocks with global attention.
            Defaults to (2, 5, 8, 11) (ViT-B).
        pretrain_img_size (int): Image size of pretraining (size of the
            absolute table). Defaults to 224.
        pretrain_use_cls_token (bool): The table has an (unused) class
            slot, as the pretrained one. Defaults to True.
        with_cp (bool): Activation checkpointing. Defaults to False.
        init_cfg (dict, optional): ``Pretrained`` config (see above).
    """

    # relative position tables start at zero: the pretrained attention
    new_by_design = (r'\.rel_pos_[hw]$', )

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
        if not all(0 <= i < num_layers for i in global_attn_indexes):
            raise ValueError(f'global_attn_indexes={global_attn_indexes} '
                             f'out of range for num_layers={num_layers}.')
        self.embed_dims = embed_dims
        self.pretrain_use_cls_token = pretrain_use_cls_token
        self.with_cp = with_cp
        self.patch_embed = PatchEmbed(in_channels, embed_dims,
                                      kernel_size=patch_size,
                                      stride=patch_size)
        self.pretrain_grid = (pretrain_img_size // patch_size, ) * 2
        self.pos_embed = nn.Parameter(
            torch.zeros(1,
                        self.pretrain_grid[0]**2 + pretrain_use_cls_token,
                        embed_dims)) if use_abs_pos else None
        grid = img_size // patch_size
        dpr = torch.linspace(0, drop_path_rate, num_layers).tolist()
        self.layers = ModuleList(
            ViTDetBlock(
                embed_dims, num_heads,
                feedforward_channels or int(embed_dims * mlp_ratio),
                window_size=0 if i in global_attn_indexes else window_size,
                input_size=(grid, grid), qkv_bias=qkv_bias,
                use_rel_pos=use_rel_pos, drop_path_rate=dpr[i],
                norm_cfg=norm_cfg, act_cfg=act_cfg)
            for i in range(num_layers))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor]:
        """Return the last feature map ``[B, C, H/16, W/16]`` in a tuple."""
        x, hw = self.patch_embed(x)
        x = x.view(x.shape[0], hw[0], hw[1], -1)
        if self.pos_embed is not None:
            extra = int(self.pretrain_use_cls_token)
            pos = resize_pos_embed(self.pos_embed, self.pretrain_grid, hw,
                                   num_extra_tokens=extra)
            x = x + pos[:, extra:].view(1, hw[0], hw[1], -1)
        for layer in self.layers:
            x = run_block(layer, x, self.with_cp)
        return (x.permute(0, 3, 1, 2).contiguous(), )

    def _random_init(self):
        initialize(self, [
            dict(type='TruncNormal', layer='Linear', std=.02, bias=0.),
            dict(type='Constant', layer='LayerNorm', val=1., bias=0.)])
        if self.pos_embed is not None:
            trunc_normal_(self.pos_embed, std=.02)

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
        own = self.state_dict()
        for key in [k for k in state if k.endswith(('rel_pos_h',
                                                     'rel_pos_w'))]:
            if key in own and state[key].shape[0] != own[key].shape[0] and \
                    state[key].shape[1] == own[key].shape[1]:
                # tables trained at another size are stretched linearly
                state[key] = F.interpolate(
                    state[key].t().unsqueeze(0), size=own[key].shape[0],
                    mode='linear').squeeze(0).t()
        return state
