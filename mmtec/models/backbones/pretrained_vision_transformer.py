"""MMPretrain's ViT that loads any TEC/ViT checkpoint layout, checked."""
from typing import Sequence

from mmpretrain.models.backbones import VisionTransformer

from mmtec.models.utils.checked_loading import CheckedPretrainedMixin
from mmtec.registry import MODELS


@MODELS.register_module()
class PretrainedVisionTransformer(CheckedPretrainedMixin, VisionTransformer):
    """A plain ViT for transfer that reads TEC checkpoints directly.

    The architecture is MMPretrain's ``VisionTransformer`` unchanged. With
    ``init_cfg=dict(type='Pretrained', checkpoint=...)`` the file may be in
    any layout mmtec reads (mmtec pretraining, TEC released or raw training
    checkpoints, MAE/iBOT/DeiT, MMPretrain, converted files); the input
    adapter is merged into the class token. Unlike MMEngine's non-strict
    loading, every backbone weight must come from the file except
    ``new_by_design`` ones, and the log states what was loaded, so a wrong
    file never leaves random weights behind. The ``init_cfg`` may carry
    ``prefix`` (used when the file has it) and ``trust`` (see
    :mod:`mmtec.checkpoint.trust`).

    Args:
        new_by_design (Sequence[str]): Regexes of backbone keys allowed to be
            missing from a pretrained checkpoint. Defaults to the ``fc_norm``
            of ``out_type='avg_featmap'`` (``ln2.*``).
        **kwargs: Arguments of MMPretrain's ``VisionTransformer``.
    """

    prefix_optional = True

    def __init__(self, *args, new_by_design: Sequence[str] = (r'^ln2\.', ),
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.new_by_design = tuple(new_by_design)

    def _pos_embed_extra_tokens(self) -> int:
        return self.num_extra_tokens

    def _to_own_layout(self, state):
        if not self.final_norm:
            # the pretraining final norm has no place in a GAP classifier
            state = {k: v for k, v in state.items() if not k.startswith('ln1.')}
        return state
