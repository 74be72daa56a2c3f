"""TEC's new model: an MAE encoder with the two conditional adapters."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmcv.cnn.bricks.transformer import FFN
from mmpretrain.models.selfsup.mae import MAEViT
from mmpretrain.models.utils import resize_pos_embed

from mmtec.registry import MODELS

from ..utils import compiled_method, run_block
from .encoder_adapter import EncoderAdapter


@MODELS.register_module()
class ConditionalAdapterViT(MAEViT):
    """Masked ViT encoder with TEC's input adapter and encoder adapter.

    The encoder is MMPretrain's :class:`MAEViT` (fixed 2-D sin-cos position
    embedding, per-sample random masking by argsort of uniform noise). TEC
    adds:

    - the *input adapter*: the class token goes through an MLP (hidden
      ``4 * C``, GELU) before its position embedding is added; after
      pretraining its output replaces the class token
      (:meth:`merged_class_token`, used by the converters);
    - the *encoder adapter* (:class:`EncoderAdapter`): fuses the outputs of
      all blocks (the last one after the final norm) into the latent that
      the decoder sees.

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
        compile (bool | dict): ``torch.compile`` the masked encoder's blocks
            and encoder adapter (True or ``torch.compile`` keyword
            arguments); the random masking stays eager. Defaults to False.
        with_cp (bool): Recompute each block's activations in the backward
            pass instead of keeping them (activation checkpointing, for
            ViT-L/H on smaller GPUs). Defaults to False.
        init_cfg (dict, optional): Initialization config.

    Example:
        >>> import torch
        >>> from mmtec.models import ConditionalAdapterViT
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
            arch=arch,
            img_size=img_size,
            patch_size=patch_size,
            drop_path_rate=drop_path_rate,
            norm_cfg=norm_cfg,
            final_norm=True,
            out_type=out_type,
            mask_ratio=mask_ratio,
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
            embed_dims=self.embed_dims,
            feedforward_channels=4 * self.embed_dims,
            act_cfg=dict(type='GELU'),
            add_identity=False) if input_adapter else None
        if num_adapters is None:
            num_adapters = self.num_layers // 3
        self.encoder_adapter = EncoderAdapter(
            self.embed_dims,
            self.num_layers,
            num_adapters,
            adapter_hidden_dims,
            norm_cfg=adapter_norm_cfg) if num_adapters > 0 else None
        self.compile_cfg = compile
        self.with_cp = with_cp

    def merged_class_token(self) -> torch.Tensor:
        """The class token as the encoder sees it (input adapter applied)."""
        if self.input_adapter is None:
            return self.cls_token
        return self.input_adapter(self.cls_token)

    def _encode(self, tokens: torch.Tensor,
                pos_cls: torch.Tensor) -> Tuple[torch.Tensor, list]:
        """Prepend the class token, run all blocks, keep every output."""
        cls_token = self.merged_class_token() + pos_cls
        x = torch.cat([cls_token.expand(tokens.shape[0], -1, -1), tokens],
                      dim=1)
        outs = []
        for layer in self.layers:
            x = run_block(layer, x, self.with_cp)
            outs.append(x)
        outs[-1] = self.ln1(outs[-1])
        return outs[-1], outs

    def forward(
        self,
        x: torch.Tensor,
        mask: Optional[bool] = True
    ) -> Union[Tuple[torch.Tensor, torch.Tensor, torch.Tensor],
               Sequence[torch.Tensor]]:
        """Encode images.

        Args:
            x (Tensor): Images ``[B, 3, H, W]``.
            mask (bool, optional): With ``True`` (pretraining), mask
                ``mask_ratio`` of the patches and return
                ``(latent [B, 1+V, C], mask [B, L], ids_restore [B, L])``
                where ``latent`` is the encoder adapter's output. With
                ``None``/``False``, encode all patches and return a tuple
                with the final-norm output formatted by ``out_type``.
        """
        tokens, hw = self.patch_embed(x)
        pos_embed = resize_pos_embed(
            self.pos_embed,
            self.patch_resolution,
            hw,
            mode=self.interpolate_mode,
            num_extra_tokens=1)
        tokens = tokens + pos_embed[:, 1:]
        if not mask:
            last, _ = self._encode(tokens, pos_embed[:, :1])
            return (self._format_output(last, hw), )

        tokens, mask, ids_restore = self.random_masking(
            tokens, self.mask_ratio)
        latent = compiled_method(self, '_latent', self.compile_cfg)(
            tokens, pos_embed[:, :1])
        return latent, mask, ids_restore

    def _latent(self, tokens: torch.Tensor,
                pos_cls: torch.Tensor) -> torch.Tensor:
        """The visible tokens' latent: the encoder adapter's output."""
        last, outs = self._encode(tokens, pos_cls)
        return last if self.encoder_adapter is None else \
            self.encoder_adapter(outs)
