"""The TEC self-supervised algorithm; one step is :meth:`TEC.loss`."""
import inspect
import math
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from mmpretrain.structures import DataSample
from torch import nn

from mmtec.registry import MODELS


def _arguments(type_name: str) -> dict:
    """The ``__init__`` parameters of a registered model type."""
    cls = MODELS.get(type_name)
    if cls is None:
        raise KeyError(f'{type_name!r} is not a registered model')
    return inspect.signature(cls).parameters


def _setting(cfg: dict, key: str):
    """``cfg[key]``, or the default of that argument of ``cfg['type']``."""
    return cfg[key] if key in cfg else _arguments(cfg['type'])[key].default


def _int_if_square(size: Tuple[int, int]) -> Union[int, Tuple[int, int]]:
    return size[0] if size[0] == size[1] else tuple(size)


@MODELS.register_module()
class TEC(BaseSelfSupervisor):
    """Target-Enhanced Conditional pretraining.

    A frozen pretrained base model (``target_generator``) sees the full
    image and gives the targets; the new model (``backbone``) sees a masked
    image and, through the decoder (``neck``), predicts them; the ``head``
    computes the losses. What follows from one config fact is derived here
    (:meth:`derive_settings`; an explicit config value is kept), and
    ``use_attention_target`` is set in the base model, neck and head alike.
    The base model is rebuilt from its own file, so it is not saved unless
    ``save_target_generator``.

    Args:
        backbone (dict): The new model, e.g. ``ConditionalAdapterViT``.
        neck (dict): The decoder, e.g. ``TECDecoder``.
        head (dict): The losses, e.g. ``PatchRelationTargetHead``.
        target_generator (dict): The base model, ``TECTargetGenerator``.
        use_attention_target (bool): Predict the base attention maps.
            Defaults to True.
        save_target_generator (bool): Keep the base model's weights in
            this model's state dict. Defaults to False.
        pretrained (str, optional): Checkpoint of the whole model.
        data_preprocessor (dict, optional): Defaults to
            ``SelfSupDataPreprocessor``.
        init_cfg (dict, optional): Initialization config.
    """

    def __init__(self,
                 backbone: dict,
                 neck: dict,
                 head: dict,
                 target_generator: dict,
                 use_attention_target: bool = True,
                 save_target_generator: bool = False,
                 pretrained: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        backbone, neck, target_generator = self.derive_settings(
            backbone, neck, target_generator)
        if isinstance(target_generator, dict):
            target_generator = MODELS.build(dict(
                target_generator, use_attention_target=use_attention_target))
        if isinstance(neck, dict):
            neck.setdefault('target_channels', target_generator.embed_dims)
            neck.setdefault('target_num_heads', target_generator.num_heads)
            neck['use_attention_target'] = use_attention_target
        if isinstance(head, dict):
            head = dict(head, use_attention_target=use_attention_target)
        super().__init__(
            backbone=backbone, neck=neck, head=head,
            target_generator=target_generator, pretrained=pretrained,
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.use_attention_target = use_attention_target
        self.save_target_generator = save_target_generator
        self._register_state_dict_hook(self._drop_target_generator)
        self.register_load_state_dict_post_hook(
            self._ignore_missing_target_generator)

    def extract_feat(self, inputs: torch.Tensor):
        """Features of the new model on unmasked images."""
        return self.backbone(inputs, mask=False)

    def loss(self, inputs: Union[torch.Tensor, List[torch.Tensor]],
             data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """TEC's losses (``loss_feature``, ``loss_attention``) on images
        ``[B, 3, H, W]`` (the first view of a list)."""
        img = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        # base model, full image: [B, L, C_base], [B, 1+topk, H, L], [B, topk]
        feat_target, attn_target, topk_idx = self.target_generator(img)
        # new model, visible patches: [B, 1+V, C], [B, L] (1 = masked), [B, L]
        latent, mask, ids_restore = self.backbone(img)
        # decoder: the predicted targets, shaped as the targets
        feat_pred, attn_pred = self.neck(latent, ids_restore, topk_idx)
        return self.head.loss(feat_pred, feat_target, mask, attn_pred,
                              attn_target)

    @staticmethod
    def derive_settings(backbone: Union[dict, nn.Module],
                        neck: Union[dict, nn.Module],
                        target_generator: Union[dict, nn.Module]) -> tuple:
        """Build the backbone and fill in what follows from it: the
        backbone's ``adapter_hidden_dims`` (4 x the neck's ``embed_dims``),
        the neck's ``in_channels`` and ``num_patches``, the base model's
        ``img_size`` and ``patch_size``.

        Args:
            backbone (dict | nn.Module): The new model.
            neck (dict | nn.Module): The decoder.
            target_generator (dict | nn.Module): The base model.

        Returns:
            tuple: The built backbone, the neck and the target generator
            (configs copied and completed, modules as they are).
        """
        if isinstance(backbone, dict):
            backbone = dict(backbone)
            if isinstance(neck, dict) and 'adapter_hidden_dims' in \
                    _arguments(backbone['type']):
                backbone.setdefault('adapter_hidden_dims',
                                    4 * _setting(neck, 'embed_dims'))
            backbone = MODELS.build(backbone)
        if isinstance(neck, dict):
            neck = dict(neck)
            neck.setdefault('in_channels', backbone.embed_dims)
            neck.setdefault('num_patches',
                            math.prod(backbone.patch_resolution))
        if isinstance(target_generator, dict):
            target_generator = dict(target_generator)
            target_generator.setdefault('img_size',
                                        _int_if_square(backbone.img_size))
            target_generator.setdefault(
                'patch_size',
                _int_if_square(backbone.patch_embed.projection.kernel_size))
        return backbone, neck, target_generator

    @staticmethod
    def _drop_target_generator(module, state_dict, prefix, local_metadata):
        if not module.save_target_generator:
            base = prefix + 'target_generator.'
            for key in [k for k in state_dict if k.startswith(base)]:
                del state_dict[key]
        return state_dict

    @staticmethod
    def _ignore_missing_target_generator(module, incompatible_keys):
        # the base model is loaded from its own checkpoint at build time
        missing = incompatible_keys.missing_keys
        missing[:] = [k for k in missing if 'target_generator.' not in k]

    def init_weights(self):
        """Initialise the new model; the base model keeps its weights
        (a model-level ``init_cfg`` would reach it too)."""
        base = self._modules.pop('target_generator')
        try:
            super().init_weights()
        finally:
            self._modules['target_generator'] = base
