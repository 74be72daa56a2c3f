"""TEC's new model: an MAE encoder with the two conditional adapters."""
from typing import List, Optional, Tuple, Union

import torch
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModule
from mmpretrain.models.selfsup.mae import MAEViT
from mmpretrain.models.utils import resize_pos_embed
from torch import nn

from mmtec.registry import MODELS

from ..utils import compiled_method, run_block


@MODELS.register_module()
class ConditionalAdapterViT(MAEViT):
    """MMPretrain's :class:`MAEViT` (sin-cos position embedding, random
    masking) with TEC's two adapters: the *input adapter* passes the class
    token through an MLP (hidden ``4 * C``, GELU; merged into the class
    token after pretraining, :meth:`merged_class_token`), the *encoder
    adapter* (:class:`EncoderAdapter`) fuses all block outputs (the last
    after the final norm) into the latent the decoder sees.

    Args:
        arch (str | dict): ViT architecture, as for MMPretrain's
            ``VisionTransformer``. Defaults to 'b'.
        img_size (int): Input size. Defaults to 224.
        patch_size (int): Patch size. Defaults to 16.
        mask_ratio (float): Fraction of patches removed; at least one stays
            and one goes. Defaults to 0.75.
        input_adapter (bool): Use the input adapter. Defaults to True.
        num_adapters (int, optional): Groups of the encoder adapter; 0
            disables it (the latent is the last block after the final norm).
            Defaults to ``num_layers // 3``.
        adapter_hidden_dims (int): Hidden width of the encoder adapter's
            MLPs (TEC: 4 x decoder width; :class:`TEC` sets it from its
            decoder when a config leaves it out). Defaults to 2048.
        adapter_norm_cfg (dict): Norm config of the encoder adapter.
            Defaults to LN with eps 1e-5, as in TEC's reference.
        drop_path_rate (float): Stochastic depth rate. Defaults to 0.
        norm_cfg (dict): Norm config. Defaults to LN with eps 1e-6.
        out_type (str): Output of the unmasked forward (``mask=False``), as
            in ``VisionTransformer``. Defaults to 'raw'.
        compile (bool | dict): ``torch.compile`` (True or its keyword
            arguments) the masked encoder after the random masking.
            Defaults to False.
        with_cp (bool): Activation checkpointing. Defaults to False.
        init_cfg (dict, optional): Initialization config.

    Example:
        >>> arch = dict(embed_dims=64, num_layers=3, num_heads=4,
        ...             feedforward_channels=128)
        >>> vit = ConditionalAdapterViT(arch, img_size=32, patch_size=8,
        ...                             adapter_hidden_dims=128)
        >>> latent, mask, ids_restore = vit(torch.randn(2, 3, 32, 32))
        >>> latent.shape  # class token + the 4 visible of 16 patches
        torch.Size([2, 5, 64])
        >>> mask.shape, mask.sum(1).tolist()  # 1 marks a masked patch
        (torch.Size([2, 16]), [12.0, 12.0])
        >>> vit(torch.randn(2, 3, 32, 32), mask=False)[0].shape
        torch.Size([2, 17, 64])
    """

    def __init__(self,
                 arch: Union[str, dict] = 'b',
                 img_size: int = 224,
                 patch_size: int = 16,
                 mask_ratio: float = 0.75,
                 input_adapter: bool = True,
                 num_adapters: Optional[int] = None,
                 adapter_hidden_dims: int = 2048,
                 adapter_norm_cfg: dict = dict(type='LN', eps=1e-5),
                 drop_path_rate: float = 0.,
                 norm_cfg: dict = dict(type='LN', eps=1e-6),
                 out_type: str = 'raw',
                 compile: Union[bool, dict] = False,
                 with_cp: bool = False,
                 init_cfg=None):
        super().__init__(
            arch=arch, img_size=img_size, patch_size=patch_size,
            drop_path_rate=drop_path_rate, norm_cfg=norm_cfg,
            final_norm=True, out_type=out_type, mask_ratio=mask_ratio,
            init_cfg=init_cfg)
        num = self.patch_resolution[0] * self.patch_resolution[1]
        visible = int(num * (1 - mask_ratio))  # as MAE's random_masking
        if not 0 < visible < num:
            raise ValueError(
                f'backbone.mask_ratio={mask_ratio} leaves {visible} of the '
                f'{num} patches ({self.patch_resolution[0]}x'
                f'{self.patch_resolution[1]}) visible: TEC needs at least '
                'one visible and one masked patch. Choose 0 < mask_ratio <= '
                f'{1 - 1 / num:.4g} for this image and patch size.')
        self.input_adapter = FFN(
            self.embed_dims, 4 * self.embed_dims, act_cfg=dict(type='GELU'),
            add_identity=False) if input_adapter else None
        if num_adapters is None:
            num_adapters = self.num_layers // 3
        self.encoder_adapter = EncoderAdapter(
            self.embed_dims, self.num_layers, num_adapters,
            adapter_hidden_dims,
            norm_cfg=adapter_norm_cfg) if num_adapters > 0 else None
        self.compile_cfg = compile
        self.with_cp = with_cp

    def merged_class_token(self) -> torch.Tensor:
        """The class token as the encoder sees it (input adapter applied)."""
        return self.cls_token if self.input_adapter is None else \
            self.input_adapter(self.cls_token)

    def forward(self, x: torch.Tensor,
                mask: Optional[bool] = True) -> Tuple[torch.Tensor, ...]:
        """Encode images ``x`` ``[B, 3, H, W]``. With ``mask``
        (pretraining): the visible patches' latent ``[B, 1+V, C]`` (the
        encoder adapter's output), ``mask`` ``[B, L]`` (1 = masked) and
        ``ids_restore`` ``[B, L]``; without: a tuple of the final-norm
        output formatted by ``out_type``."""
        tokens, hw = self.patch_embed(x)
        pos_embed = resize_pos_embed(self.pos_embed, self.patch_resolution,
                                     hw, mode=self.interpolate_mode)
        tokens = tokens + pos_embed[:, 1:]
        if not mask:
            last = self._encode(tokens, pos_embed[:, :1])[-1]
            return (self._format_output(last, hw), )

        tokens, mask, ids_restore = self.random_masking(
            tokens, self.mask_ratio)
        latent = compiled_method(self, '_latent', self.compile_cfg)(
            tokens, pos_embed[:, :1])
        return latent, mask, ids_restore

    def _encode(self, tokens: torch.Tensor,
                pos_cls: torch.Tensor) -> List[torch.Tensor]:
        """Every block's output, the last after the final norm."""
        cls_token = self.merged_class_token() + pos_cls
        x = torch.cat([cls_token.expand(tokens.shape[0], -1, -1), tokens],
                      dim=1)
        outs = []
        for layer in self.layers:
            x = run_block(layer, x, self.with_cp)
            outs.append(x)
        outs[-1] = self.ln1(x)
        return outs

    def _latent(self, tokens: torch.Tensor,
                pos_cls: torch.Tensor) -> torch.Tensor:
        """The visible tokens' latent: the encoder adapter's output."""
        outs = self._encode(tokens, pos_cls)
        return outs[-1] if self.encoder_adapter is None else \
            self.encoder_adapter(outs)


@MODELS.register_module()
class EncoderAdapter(BaseModule):
    """TEC's encoder adapter: the block outputs, concatenated along channels
    and normalised, are split into ``num_adapters`` groups of consecutive
    layers; each group is projected to ``C`` and refined by a residual MLP;
    the groups are summed and normalised.

    Args:
        embed_dims (int): Channels ``C`` of one encoder block output.
        num_layers (int): Number of encoder blocks ``D`` that are fused.
        num_adapters (int): Number of groups; must divide ``num_layers``.
        hidden_dims (int): Hidden width of each residual MLP (TEC uses
            ``4 * decoder width``).
        norm_cfg (dict): The input and output norms. Defaults to LN with
            eps 1e-5, as TEC's reference (elsewhere 1e-6).
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self,
                 embed_dims: int,
                 num_layers: int,
                 num_adapters: int,
                 hidden_dims: int,
                 norm_cfg: dict = dict(type='LN', eps=1e-5),
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if num_adapters <= 0 or num_layers % num_adapters:
            raise ValueError(
                f'num_adapters={num_adapters} must be a positive divisor of '
                f'the encoder depth {num_layers}.')
        self.num_layers = num_layers
        self.num_adapters = num_adapters
        group_dims = embed_dims * (num_layers // num_adapters)
        self.norm_in = build_norm_layer(norm_cfg, embed_dims * num_layers)[1]
        self.fuse = nn.ModuleList(
            nn.Linear(group_dims, embed_dims) for _ in range(num_adapters))
        self.mlps = nn.ModuleList(
            FFN(embed_dims, hidden_dims, act_cfg=dict(type='GELU'))
            for _ in range(num_adapters))
        self.norm_out = build_norm_layer(norm_cfg, embed_dims)[1]

    def init_weights(self):
        super().init_weights()
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, block_outputs: List[torch.Tensor]) -> torch.Tensor:
        """Fuse ``D`` tensors of shape ``[B, N, C]`` into one ``[B, N, C]``."""
        x = self.norm_in(torch.cat(block_outputs, dim=-1))
        out = 0
        for group, fuse, mlp in zip(
                x.chunk(self.num_adapters, dim=-1), self.fuse, self.mlps):
            out = out + mlp(fuse(group))
        return self.norm_out(out)
