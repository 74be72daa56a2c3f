"""The TEC self-supervised algorithm."""
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
    if key in cfg:
        return cfg[key]
    return _arguments(cfg['type'])[key].default


def _int_if_square(size: Tuple[int, int]) -> Union[int, Tuple[int, int]]:
    return size[0] if size[0] == size[1] else tuple(size)


@MODELS.register_module()
class TEC(BaseSelfSupervisor):
    """Target-Enhanced Conditional pretraining.

    A frozen pretrained base model (``target_generator``) sees the full
    image and gives patch-relation enhanced targets; the new model
    (``backbone``) sees a masked image and, through the decoder (``neck``),
    predicts them; the ``head`` computes the losses.

    Each fact is stated once in a config; what follows from it is filled in
    here (a value a config sets explicitly is kept):

    - the neck's ``in_channels`` and ``num_patches`` from the backbone;
    - the backbone's ``adapter_hidden_dims`` as 4 x the neck's
      ``embed_dims``;
    - the base model's ``img_size`` and ``patch_size`` from the backbone;
    - the neck's ``target_channels`` and ``target_num_heads`` from the base
      model;
    - ``use_attention_target`` (the same argument of the target generator,
      the neck and the head) is set in all three from this one.

    The base model is not saved in checkpoints unless
    ``save_target_generator`` is True: it is rebuilt from its own file.

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
        if not isinstance(target_generator, torch.nn.Module):
            target_generator = dict(target_generator)
            target_generator['use_attention_target'] = use_attention_target
            target_generator = MODELS.build(target_generator)
        if isinstance(neck, dict):
            neck.setdefault('target_channels', target_generator.embed_dims)
            neck.setdefault('target_num_heads', target_generator.num_heads)
            neck['use_attention_target'] = use_attention_target
        if isinstance(head, dict):
            head = dict(head, use_attention_target=use_attention_target)
        super().__init__(
            backbone=backbone,
            neck=neck,
            head=head,
            target_generator=target_generator,
            pretrained=pretrained,
            data_preprocessor=data_preprocessor,
            init_cfg=init_cfg)
        self.use_attention_target = use_attention_target
        self.save_target_generator = save_target_generator
        self._register_state_dict_hook(self._drop_target_generator)
        self.register_load_state_dict_post_hook(
            self._ignore_missing_target_generator)

    @staticmethod
    def derive_settings(backbone: Union[dict, nn.Module],
                        neck: Union[dict, nn.Module],
                        target_generator: Union[dict, nn.Module]
                        ) -> Tuple[nn.Module, Union[dict, nn.Module],
                                   Union[dict, nn.Module]]:
        """Build the backbone and fill in what follows from it.

        Args:
            backbone (dict | nn.Module): The new model.
            neck (dict | nn.Module): The decoder.
            target_generator (dict | nn.Module): The base model.

        Returns:
            tuple: The built backbone and copies of the neck and target
            generator configs with the derived fields set (modules are
            returned as they are).
        """
        if isinstance(backbone, dict):
            backbone = dict(backbone)
            if isinstance(neck, dict) and 'adapter_hidden_dims' in \
                    _arguments(backbone['type']):
                # TEC's adapter MLPs are 4 x the decoder width wide
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
            for key in [
                    k for k in state_dict
                    if k.startswith(prefix + 'target_generator.')
            ]:
                del state_dict[key]
        return state_dict

    @staticmethod
    def _ignore_missing_target_generator(module, incompatible_keys):
        # the base model is loaded from its own checkpoint at build time
        missing = incompatible_keys.missing_keys
        missing[:] = [k for k in missing if 'target_generator.' not in k]

    def init_weights(self):
        """Initialise the new model; the base model keeps its weights."""
        # a model-level init_cfg (e.g. Xavier on every Linear) would
        # otherwise reach the loaded base model too
        base = self._modules.pop('target_generator')
        try:
            super().init_weights()
        finally:
            self._modules['target_generator'] = base

    def extract_feat(self, inputs: torch.Tensor):
        """Features of the new model on unmasked images."""
        return self.backbone(inputs, mask=False)

    def loss(self, inputs: Union[torch.Tensor, List[torch.Tensor]],
             data_samples: List[DataSample],
             **kwargs) -> Dict[str, torch.Tensor]:
        """Compute TEC's losses on a batch.

        Args:
            inputs (Tensor | list[Tensor]): Images ``[B, 3, H, W]`` (the
                first view when a list).
            data_samples (list[DataSample]): Unused.

        Returns:
            dict[str, Tensor]: ``loss_feature`` and ``loss_attention``.
        """
        img = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        feat_target, attn_target, topk_idx = self.target_generator(img)
        latent, mask, ids_restore = self.backbone(img)
        feat_pred, attn_pred = self.neck(latent, ids_restore, topk_idx)
        return self.head.loss(feat_pred, feat_target, mask, attn_pred,
                              attn_target)
