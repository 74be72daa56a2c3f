"""MMSegmentation's ``MAE`` backbone with a checked pretrained load."""
from typing import Optional

from mmengine.logging import print_log
from mmengine.model.weight_init import initialize

from mmseg.models.backbones import MAE
from mmseg.registry import MODELS
from mmtec.converters.mmdet_layout import (load_state_dict_checked,
                                           read_checkpoint_state_dict,
                                           to_canonical)
from mmtec.converters.mmseg_layout import canonical_to_mmseg_state_dict


@MODELS.register_module()
class CheckedMAE(MAE):
    """``MAE`` (BEiT-style ViT with zero-initialised relative position bias
    and layer scale) whose pretrained load refuses checkpoints that do not
    fit.

    The network is MMSegmentation's ``MAE`` unchanged; only
    ``init_weights`` differs. Upstream loads with ``strict=False`` and says
    nothing, so a wrong file yields random weights. Here every weight except
    the relative position tables (new by design, zero) must come from the
    checkpoint with the right shape, or a
    :class:`~mmtec.converters.BackboneCheckpointError` is raised. Plain-ViT
    checkpoints (canonical MMPretrain layout, or any layout
    :func:`mmtec.checkpoint.to_plain_vit` reads) are converted on the fly
    with :func:`mmtec.converters.canonical_to_mmseg_state_dict`; the
    absolute position table is resized as upstream does. The class name
    contains ``MAE`` so that MMSegmentation's
    ``LayerDecayOptimizerConstructor`` treats it as a ViT.

    Args:
        **kwargs: Arguments of ``mmseg.models.backbones.MAE`` (``img_size``,
            ``embed_dims``, ``num_layers``, ``num_heads``, ``out_indices``,
            ``init_values``, ``norm_cfg``, ..., ``init_cfg``). The
            ``Pretrained`` ``init_cfg`` may carry a ``prefix`` to select
            and strip (e.g. ``'backbone.'``).
    """

    pretrained_load_report = None

    def load_pretrained(self,
                        checkpoint,
                        prefix: Optional[str] = None,
                        logger=None) -> dict:
        """Load (and check) pretrained weights; see the class docstring.

        Returns:
            dict: Load report (``loaded``, ``expected``, ``new``,
            ``ignored`` key lists), also kept in
            ``self.pretrained_load_report``.
        """
        source = checkpoint if isinstance(checkpoint, str) else '<dict>'
        state = read_checkpoint_state_dict(checkpoint, prefix)
        if 'patch_embed.projection.weight' not in state:
            state = to_canonical(state)
        state, _ = canonical_to_mmseg_state_dict(state)
        own = self.state_dict()
        if 'pos_embed' in state and state['pos_embed'].shape[-1] == \
                own['pos_embed'].shape[-1]:
            state = self.resize_abs_pos_embed(state)  # upstream's bicubic
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
        report = load_state_dict_checked(
            self,
            state,
            new_by_design=(r'\.relative_position_bias_table$',
                           r'\.relative_position_index$'),
            ignored=(),
            source=source,
            logger=logger)
        self.pretrained_load_report = report
        return report

    def init_weights(self):
        """Upstream random init, then the checked ``Pretrained`` load."""
        cfgs = self.init_cfg or []
        cfgs = [cfgs] if isinstance(cfgs, dict) else list(cfgs)
        pretrained = [c for c in cfgs if c.get('type') == 'Pretrained']
        others = [c for c in cfgs if c.get('type') != 'Pretrained']
        saved, self.init_cfg = self.init_cfg, None
        try:
            # MAE's own random init; its relative position tables stay zero
            super().init_weights()
        finally:
            self.init_cfg = saved
        if others:
            initialize(self, others)
        for cfg in pretrained:
            self.load_pretrained(cfg['checkpoint'], cfg.get('prefix'))
        self._is_init = True
