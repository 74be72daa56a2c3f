"""MMPretrain's ViT that loads any TEC/ViT checkpoint layout, checked."""
from typing import Sequence

from mmpretrain.models.backbones import VisionTransformer

from mmtec.checkpoint import load_state_dict_checked, to_plain_vit
from mmtec.registry import MODELS


@MODELS.register_module()
class PretrainedVisionTransformer(VisionTransformer):
    """A plain ViT for transfer that reads TEC checkpoints directly.

    The architecture is MMPretrain's ``VisionTransformer`` unchanged. With
    ``init_cfg=dict(type='Pretrained', checkpoint=...)`` the file may be in
    any layout mmtec reads (mmtec pretraining, TEC released or raw training
    checkpoints, MAE/iBOT/DeiT, MMPretrain, converted files); the input
    adapter is merged into the class token. Unlike MMEngine's non-strict
    loading, every backbone weight must come from the file except
    ``new_by_design`` ones, and the log states what was loaded, so a wrong
    file never leaves random weights behind.

    Args:
        new_by_design (Sequence[str]): Regexes of backbone keys allowed to be
            missing from a pretrained checkpoint. Defaults to the ``fc_norm``
            of ``out_type='avg_featmap'`` (``ln2.*``).
        **kwargs: Arguments of MMPretrain's ``VisionTransformer``.
    """

    def __init__(self, *args, new_by_design: Sequence[str] = (r'^ln2\.', ),
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.new_by_design = tuple(new_by_design)

    def init_weights(self):
        cfg = self.init_cfg
        if not (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'):
            return super().init_weights()
        if not cfg.get('checkpoint'):
            raise ValueError(
                'init_cfg.checkpoint is empty: set it to a TEC checkpoint '
                '(e.g. converted by tools/model_converters/tec2vit.py).')
        state, info = to_plain_vit(cfg['checkpoint'])
        if not self.final_norm:
            # the pretraining final norm has no place in a GAP classifier
            state = {k: v for k, v in state.items() if not k.startswith('ln1.')}
        self._prepare_pos_embed(state, '')  # resize to this resolution
        load_state_dict_checked(
            self,
            state,
            new_by_design=self.new_by_design,
            source=f'{cfg["checkpoint"]} ({info["layout"]} layout)')
        self._is_init = True
