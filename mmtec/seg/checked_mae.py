"""MMSegmentation's ``MAE`` backbone with a checked pretrained load."""
from mmengine.logging import print_log
from mmseg.models.backbones import MAE
from mmseg.registry import MODELS

from mmtec.converters import canonical_to_mmseg_state_dict
from mmtec.models.utils.checked_loading import CheckedPretrainedMixin


@MODELS.register_module()
class CheckedMAE(CheckedPretrainedMixin, MAE):
    """MMSegmentation's ``MAE`` backbone (BEiT-style ViT, zero relative
    position bias and layer scale) whose pretrained load is checked.

    Upstream loads with ``strict=False`` and says nothing; here every weight
    but the relative position tables must come from the checkpoint with the
    right shape, or a :class:`~mmtec.checkpoint.BackboneCheckpointError` is
    raised. Any layout :func:`mmtec.converters.read_vit` reads is converted
    on the fly (:func:`mmtec.converters.canonical_to_mmseg_state_dict`).
    The name contains ``MAE``, so MMSegmentation's
    ``LayerDecayOptimizerConstructor`` treats it as a ViT.

    Args:
        **kwargs: Arguments of ``mmseg.models.backbones.MAE``. Its
            ``Pretrained`` ``init_cfg`` may carry ``prefix`` (selected and
            stripped, e.g. ``'backbone.'``) and ``trust`` (see
            :mod:`mmtec.checkpoint.trust`).
    """

    new_by_design = (r'\.relative_position_bias_table$',
                     r'\.relative_position_index$')

    def _to_own_layout(self, state):
        """Canonical -> MAE keys; tables of another window size dropped."""
        state, _ = canonical_to_mmseg_state_dict(state)
        own = self.state_dict()
        for key in [k for k in state if k.endswith('relative_position_index')]:
            state.pop(key)  # a buffer derived from the window size
        for key in [
                k for k in state
                if k.endswith('relative_position_bias_table') and k in own
                and state[k].shape != own[k].shape
        ]:
            # upstream resizes these with scipy's interp2d, which recent
            # SciPy no longer has; start them from zero (no bias) instead
            print_log(
                f'{key}: checkpoint table {tuple(state[key].shape)} does '
                f'not fit {tuple(own[key].shape)}; starting it at zero.',
                logger='current',
                level=30)
            state.pop(key)
        return state
