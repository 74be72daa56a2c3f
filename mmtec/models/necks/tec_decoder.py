"""TEC's decoder: shared blocks, a feature branch and an attention branch."""
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmcv.cnn import build_norm_layer
from mmengine.model import BaseModule
from mmpretrain.models.backbones.vision_transformer import (
    TransformerEncoderLayer,
)
from mmpretrain.models.utils import build_2d_sincos_position_embedding
from torch import nn

from mmtec.registry import MODELS

from ..utils import compiled_method


class DecoderBranch(nn.Module):
    """One branch's own parts: input projection (encoder width
    ``in_channels`` to ``embed_dims``), mask token, norm and output Linear
    (to ``out_channels``)."""

    def __init__(self, in_channels: int, embed_dims: int, out_channels: int,
                 norm_cfg: dict):
        super().__init__()
        self.embed = nn.Linear(in_channels, embed_dims)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.norm = build_norm_layer(norm_cfg, embed_dims)[1]
        self.pred = nn.Linear(embed_dims, out_channels)

    def tokens(self, latent: torch.Tensor,
               ids_restore: torch.Tensor) -> torch.Tensor:
        """Embed visible tokens, add mask tokens, restore the patch order."""
        x = self.embed(latent)
        B, num_patches = ids_restore.shape
        mask_tokens = self.mask_token.expand(B, num_patches + 1 - x.shape[1],
                                             -1)
        patches = torch.cat([x[:, 1:], mask_tokens.to(x.dtype)], dim=1)
        patches = torch.gather(
            patches, 1,
            ids_restore.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        return torch.cat([x[:, :1], patches], dim=1)


@MODELS.register_module()
class TECDecoder(BaseModule):
    """The decoder neck of TEC.

    Two branches share MMPretrain's decoder blocks and the fixed 2-D sin-cos
    position embedding; each has its own input projection, mask token, norm
    and output Linear (:class:`DecoderBranch`). The *feature branch*
    predicts the base model's patch features ``[B, L, target_channels]``;
    the *attention branch* predicts ``q`` and ``k`` (``target_num_heads``
    heads) and returns the logits of the class token and the base model's
    ``topk`` patches against all patch keys, ``[B, 1+topk, H, L]``, scaled
    by ``target_channels ** -0.5`` (as TEC does).

    Args:
        num_patches (int): Patches per image ``L``. Defaults to 196.
        in_channels (int): Encoder width. Defaults to 768.
        embed_dims (int): Decoder width. Defaults to 512.
        num_layers (int): Number of shared decoder blocks. Defaults to 2.
        num_heads (int): Heads of the decoder blocks. Defaults to 16.
        mlp_ratio (int): MLP ratio of the decoder blocks. Defaults to 4.
        target_channels (int): Base model width ``C_base`` (= ``C_pred``).
            Set by :class:`TEC` from the target generator when omitted.
        target_num_heads (int): Base model heads ``H``. Set by :class:`TEC`
            from the target generator when omitted.
        use_attention_target (bool): Build the attention branch.
            Defaults to True.
        compile (bool | dict): ``torch.compile`` the decoder's forward
            (True or ``torch.compile`` keyword arguments). Defaults to
            False.
        norm_cfg (dict): Norm config. Defaults to LN with eps 1e-6.
        init_cfg (dict, optional): Initialization config.

    Example:
        >>> decoder = TECDecoder(num_patches=16, in_channels=64,
        ...                      embed_dims=32, num_layers=1, num_heads=4,
        ...                      target_channels=48, target_num_heads=3)
        >>> latent = torch.randn(2, 5, 64)  # class token + 4 visible patches
        >>> ids_restore = torch.stack([torch.randperm(16) for _ in range(2)])
        >>> topk_idx = torch.tensor([[0, 5], [3, 7]])  # from the base model
        >>> feat, attn = decoder(latent, ids_restore, topk_idx)
        >>> feat.shape  # every patch, base width
        torch.Size([2, 16, 48])
        >>> attn.shape  # class token + 2 patches, 3 base heads, 16 keys
        torch.Size([2, 3, 3, 16])
    """

    def __init__(self,
                 num_patches: int = 196,
                 in_channels: int = 768,
                 embed_dims: int = 512,
                 num_layers: int = 2,
                 num_heads: int = 16,
                 mlp_ratio: int = 4,
                 target_channels: int = 768,
                 target_num_heads: int = 12,
                 use_attention_target: bool = True,
                 compile: Union[bool, dict] = False,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if target_channels % target_num_heads:
            raise ValueError(f'target_channels={target_channels} is not '
                             f'divisible by target_num_heads='
                             f'{target_num_heads}.')
        self.num_patches = num_patches
        self.target_channels = target_channels
        self.target_num_heads = target_num_heads
        self.decoder_pos_embed = nn.Parameter(
            torch.zeros(1, num_patches + 1, embed_dims), requires_grad=False)
        self.decoder_blocks = nn.ModuleList(
            TransformerEncoderLayer(embed_dims, num_heads,
                                    int(mlp_ratio * embed_dims),
                                    qkv_bias=True, norm_cfg=norm_cfg)
            for _ in range(num_layers))
        self.feature_branch = DecoderBranch(in_channels, embed_dims,
                                            target_channels, norm_cfg)
        self.attention_branch = DecoderBranch(
            in_channels, embed_dims, 2 * target_channels,
            norm_cfg) if use_attention_target else None
        self.compile_cfg = compile

    def init_weights(self):
        super().init_weights()
        side = int(self.num_patches**.5)
        if side * side != self.num_patches:
            raise ValueError(f'num_patches={self.num_patches} is not a '
                             'square grid.')
        self.decoder_pos_embed.data.copy_(
            build_2d_sincos_position_embedding(
                side, self.decoder_pos_embed.shape[-1],
                cls_token=True).float())
        for m in self.modules():
            if isinstance(m, DecoderBranch):
                nn.init.normal_(m.mask_token, std=.02)

    def attention_logits(self, x: torch.Tensor,
                         topk_idx: torch.Tensor) -> torch.Tensor:
        """Logits of the selected queries against all patch keys: the
        attention branch's output Linear gives ``q`` (first half of its
        channels) for the query rows only, ``k`` for the patch keys only.

        Args:
            x (Tensor): The attention branch's output ``[B, 1+L, D]``.
            topk_idx (Tensor): The base model's ``[B, topk]`` patches
                (0-based, class token excluded).

        Returns:
            Tensor: ``[B, 1+topk, H, L]``.
        """
        B, _, D = x.shape
        H, C = self.target_num_heads, self.target_channels
        pred = self.attention_branch.pred
        # token rows of the class token and the topk patches [B, 1+topk]
        rows = torch.cat([torch.zeros_like(topk_idx[:, :1]), topk_idx + 1], 1)
        rows = torch.gather(x, 1, rows[:, :, None].expand(-1, -1, D))
        q = F.linear(rows, pred.weight[:C], pred.bias[:C])
        k = F.linear(x[:, 1:], pred.weight[C:], pred.bias[C:])
        logits = torch.einsum('bqhd,bkhd->bqhk',
                              q.reshape(B, q.shape[1], H, -1),
                              k.reshape(B, k.shape[1], H, -1))
        return logits * C**-0.5

    def forward(self, latent: torch.Tensor, ids_restore: torch.Tensor,
                topk_idx: Optional[torch.Tensor] = None
                ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Predict the feature target and (optionally) the attention target.

        Args:
            latent (Tensor): Encoder output ``[B, 1+V, C]``.
            ids_restore (Tensor): ``[B, L]`` from the encoder's masking.
            topk_idx (Tensor, optional): ``[B, topk]`` patches whose
                attention rows are predicted (with the attention branch).

        Returns:
            tuple: ``[B, L, C_base]`` features and ``[B, 1+topk, H, L]``
            attention logits (None without the branch).
        """
        if self.attention_branch is not None and topk_idx is None:
            raise ValueError('The attention branch needs topk_idx.')
        predict = compiled_method(self, '_predict', self.compile_cfg)
        return predict(latent, ids_restore, topk_idx)

    def _predict(self, latent: torch.Tensor, ids_restore: torch.Tensor,
                 topk_idx: Optional[torch.Tensor]
                 ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        branches = [self.feature_branch, self.attention_branch]
        branches = [b for b in branches if b is not None]
        # the branches pass the shared blocks as one batch (fewer launches)
        x = torch.cat([b.tokens(latent, ids_restore) for b in branches])
        x = x + self.decoder_pos_embed
        for block in self.decoder_blocks:
            x = block(x)
        x = [b.norm(y) for b, y in zip(branches, x.split(latent.shape[0]))]
        # the class token's feature prediction is not used
        feat = self.feature_branch.pred(x[0][:, 1:])
        if self.attention_branch is None:
            return feat, None
        return feat, self.attention_logits(x[1], topk_idx)
