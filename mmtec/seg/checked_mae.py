"""MMSegmentation's ``MAE`` backbone with a checked pretrained load."""
from mmengine.logging import print_log
from mmseg.models.backbones import MAE
from mmseg.registry import MODELS

from mmtec.converters import canonical_to_mmseg_state_dict
from mmtec.models.utils.checked_loading import CheckedPretrainedMixin


@MODELS.register_module()
class CheckedMAE(CheckedPretrainedMixin, MAE):
    """``MAE`` (BEiT-style ViT with zero-initialised relative position bias
    and layer scale) whose pretrained load refuses checkpoints that do not
    fit.

    The network is MMSegmentation's ``MAE`` unchanged; only
    ``init_weights`` differs. Upstream loads with ``strict=False`` and says
    nothing, so a wrong file yields random weights. Here every weight except
    the relative position tables (new by design, zero) must come from the
    checkpoint with the right shape, or a
    :class:`~mmtec.checkpoint.BackboneCheckpointError` is raised. Plain-ViT
    checkpoints (canonical MMPretrain layout, or any layout
    :func:`mmtec.converters.read_vit` reads) are converted on the fly
    with :func:`mmtec.converters.canonical_to_mmseg_state_dict`; the
    absolute position table is resized as upstream does. The class name
    contains ``MAE`` so that MMSegmentation's
    ``LayerDecayOptimizerConstructor`` treats it as a ViT.

    Args:
        **kwargs: Arguments of ``mmseg.models.backbones.MAE`` (``img_size``,
            ``embed_dims``, ``num_layers``, ``num_heads``, ``out_indices``,
            ``init_values``, ``norm_cfg``, ..., ``init_cfg``). The
            ``Pretrained`` ``init_cfg`` may carry a ``prefix`` to select
            and strip (e.g. ``'backbone.'``) and ``trust`` (see
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
