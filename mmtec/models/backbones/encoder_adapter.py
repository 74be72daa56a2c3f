"""The encoder adapter: fuses every encoder block's output into one."""
from typing import List

import torch
from mmcv.cnn import build_norm_layer
from mmcv.cnn.bricks.transformer import FFN
from mmengine.model import BaseModule
from torch import nn

from mmtec.registry import MODELS


@MODELS.register_module()
class EncoderAdapter(BaseModule):
    """Multi-layer fusion adapter of TEC's new model.

    The ``num_layers`` block outputs are concatenated along channels,
    normalised over ``num_layers * C``, split into ``num_adapters``
    consecutive groups (of ``num_layers // num_adapters`` layers each); each
    group is projected back to ``C`` and refined by a residual MLP, and the
    groups are summed and normalised.

    Args:
        embed_dims (int): Channels ``C`` of one encoder block output.
        num_layers (int): Number of encoder blocks ``D`` that are fused.
        num_adapters (int): Number of groups; must divide ``num_layers``.
        hidden_dims (int): Hidden width of each residual MLP (TEC uses
            ``4 * decoder width``).
        norm_cfg (dict): Config of the input and output norms. Defaults to
            LN with eps 1e-5 (PyTorch's default, as in TEC's reference; the
            rest of TEC uses 1e-6).
        init_cfg (dict, optional): Initialization config.

    Example:
        >>> import torch
        >>> from mmtec.models import EncoderAdapter
        >>> adapter = EncoderAdapter(embed_dims=8, num_layers=6,
        ...                          num_adapters=2, hidden_dims=32)
        >>> block_outputs = [torch.randn(2, 5, 8) for _ in range(6)]
        >>> adapter(block_outputs).shape
        torch.Size([2, 5, 8])
        >>> adapter.fuse[0]  # each group fuses 3 layers
        Linear(in_features=24, out_features=8, bias=True)
        >>> adapter.norm_in.normalized_shape, adapter.norm_in.eps
        ((48,), 1e-05)
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
            FFN(embed_dims=embed_dims,
                feedforward_channels=hidden_dims,
                act_cfg=dict(type='GELU'),
                add_identity=True) for _ in range(num_adapters))
        self.norm_out = build_norm_layer(norm_cfg, embed_dims)[1]

    def init_weights(self):
        super().init_weights()
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, block_outputs: List[torch.Tensor]) -> torch.Tensor:
        """Fuse ``D`` tensors of shape ``[B, N, C]`` into one ``[B, N, C]``."""
        if len(block_outputs) != self.num_layers:
            raise ValueError(f'Expected {self.num_layers} block outputs, got '
                             f'{len(block_outputs)}.')
        x = self.norm_in(torch.cat(block_outputs, dim=-1))
        out = 0
        for group, fuse, mlp in zip(
                x.chunk(self.num_adapters, dim=-1), self.fuse, self.mlps):
            out = out + mlp(fuse(group))
        return self.norm_out(out)
