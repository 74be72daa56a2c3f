"""Load weights into a backbone, refusing anything that does not fit."""
import re
from typing import Dict, Iterable, List, Optional, Tuple

import torch
from mmengine.logging import print_log

from mmtec.checkpoint import BackboneCheckpointError
from mmtec.converters import (
    drop_final_norm,
    read_vit,
    resize_abs_pos_embed,
)


def _short(keys: List[str], n: int = 8) -> str:
    keys = sorted(keys)
    return str(keys[:n]) + (f' ... ({len(keys)} in all)'
                            if len(keys) > n else '')


def load_state_dict_checked(module: torch.nn.Module,
                            state_dict: Dict[str, torch.Tensor],
                            new_by_design: Iterable[str] = (),
                            ignored: Iterable[str] = (),
                            source: str = '<dict>',
                            logger=None) -> dict:
    """Load weights into a backbone, refusing anything that does not fit.

    Every parameter/buffer of ``module`` must come from ``state_dict``
    except those matching ``new_by_design``; checkpoint keys the module
    does not have must match ``ignored``; shapes must agree. Otherwise a
    :class:`BackboneCheckpointError` says what is wrong, so a wrong
    architecture or layout never ends in silently random weights.

    Args:
        module (nn.Module): The backbone.
        state_dict (dict): Backbone-local weights, already resized.
        new_by_design (Iterable[str]): Regexes of module keys that may be
            absent from the checkpoint (relative position tables, ...).
        ignored (Iterable[str]): Regexes of checkpoint keys to skip.
        source (str): Where the weights came from, for messages.
        logger: An MMEngine logger or ``'current'``; None means current.

    Returns:
        dict: ``loaded``, ``expected``, ``new``, ``ignored`` key lists.
    """
    own = module.state_dict()
    expected = [k for k in own
                if not any(re.search(p, k) for p in new_by_design)]
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own
                  and not any(re.search(p, k) for p in ignored)]
    mismatched = [
        f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
        for k, v in state_dict.items()
        if k in own and tuple(v.shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or mismatched:
        hint = ''
        if not any(k in own for k in state_dict):
            hint = (' None of its keys belong to this backbone: convert the '
                    'checkpoint first (mmtec.converters / tools/'
                    'model_converters/tec2vit.py) or set the right '
                    '`prefix`.')
        raise BackboneCheckpointError(
            f'Checkpoint {source} does not fit {type(module).__name__}: '
            f'{len(missing)} missing, {len(unexpected)} unexpected, '
            f'{len(mismatched)} shape-mismatched keys.'
            + (f'\n  missing: {_short(missing)}' if missing else '')
            + (f'\n  unexpected: {_short(unexpected)}' if unexpected else '')
            + (f'\n  mismatched: {mismatched[:8]}' if mismatched else '')
            + '\nCheck that the config architecture (embed_dims, num_layers,'
            ' patch_size, ...) matches the checkpoint.' + hint)
    loadable = {k: v for k, v in state_dict.items() if k in own}
    module.load_state_dict(loadable, strict=False)
    new = [k for k in own if k not in loadable]
    skipped = [k for k in state_dict if k not in own]
    print_log(
        f'{type(module).__name__}: loaded {len(loadable)}/{len(expected)} '
        f'expected keys from {source}; new by design (not in checkpoint): '
        f'{_short(new, 4)}; ignored from checkpoint: {_short(skipped, 4)}',
        logger=logger or 'current')
    return dict(loaded=sorted(loadable), expected=sorted(expected),
                new=sorted(new), ignored=sorted(skipped))


class CheckedPretrainedMixin:
    """Checked loading of pretrained ViT weights, for downstream backbones.

    :meth:`load_pretrained` reads any file or dict the layout reader knows
    as the canonical plain ViT, drops its final norm where the backbone
    has none (``final_norm=False``), lets the backbone turn it into its own
    layout (:meth:`_to_own_layout`), resizes the absolute position table
    and loads it with :func:`load_state_dict_checked`. MMEngine's
    ``PretrainedInit`` (``strict=False``, a warning) is not used.

    A backbone sets ``new_by_design`` (regexes of its keys a plain ViT does
    not have) and overrides :meth:`_to_own_layout` (and
    :meth:`_ignored_keys` for checkpoint keys of no use). With
    ``prefix_optional`` a ``prefix`` that no key has is ignored (for
    backbones that read whole-model and backbone-only files alike).
    """

    new_by_design: Tuple[str, ...] = ()
    prefix_optional = False
    pretrained_load_report = None

    def _to_own_layout(self, state: Dict[str, torch.Tensor]
                       ) -> Dict[str, torch.Tensor]:
        """Canonical plain-ViT keys -> this backbone's keys."""
        return state

    def _ignored_keys(self) -> Tuple[str, ...]:
        return ()

    def _keeps_input_adapter(self) -> bool:
        """Load a TEC input adapter as weights instead of merging it."""
        return False

    def _pos_embed_extra_tokens(self) -> int:
        return 1

    def _random_init(self) -> None:
        """The backbone's own random init (its ``init_cfg`` is unset)."""
        super().init_weights()

    def init_weights(self) -> None:
        """Random init, the other ``init_cfg`` entries, then the checked
        ``Pretrained`` load; that entry may carry ``prefix`` and ``trust``
        (see :mod:`mmtec.checkpoint.trust`)."""
        from mmengine.model.weight_init import initialize
        cfgs = self.init_cfg or []
        cfgs = [cfgs] if isinstance(cfgs, dict) else list(cfgs)
        saved, self.init_cfg = self.init_cfg, None
        try:
            self._random_init()
        finally:
            self.init_cfg = saved
        others = [c for c in cfgs if c.get('type') != 'Pretrained']
        if others:
            initialize(self, others)
        for cfg in cfgs:
            if cfg.get('type') != 'Pretrained':
                continue
            if not cfg.get('checkpoint'):
                raise ValueError(
                    f'{type(self).__name__}: init_cfg Pretrained has no '
                    '`checkpoint`; set it to a TEC checkpoint (e.g. '
                    'converted by tools/model_converters/tec2vit.py).')
            self.load_pretrained(cfg['checkpoint'], cfg.get('prefix'),
                                 trust=cfg.get('trust', False))
        self._is_init = True

    def load_pretrained(self, checkpoint, prefix: Optional[str] = None,
                        logger=None, trust: bool = False) -> dict:
        """Load (and check) pretrained weights.

        Args:
            checkpoint (str | dict): Path or loaded checkpoint in any layout
                the layout reader knows.
            prefix (str, optional): Key prefix to select and strip.
            logger: MMEngine logger; None means the current one.
            trust (bool): The config marks the file as trusted.

        Returns:
            dict: The load report (``loaded``, ``expected``, ``new``,
            ``ignored`` key lists and what became of a TEC input adapter,
            ``input_adapter``: see :func:`~mmtec.converters.read_vit`),
            also kept in ``self.pretrained_load_report``.
        """
        merge = not self._keeps_input_adapter()
        try:
            state, info = read_vit(checkpoint, prefix, strict=False,
                                   trust=trust, merge_input_adapter=merge)
        except BackboneCheckpointError:
            if not (prefix and self.prefix_optional):
                raise
            state, info = read_vit(checkpoint, None, strict=False,
                                   trust=trust, merge_input_adapter=merge)
        if not getattr(self, 'final_norm', True):
            state = drop_final_norm(state)
        state = self._to_own_layout(state)
        own, ck = getattr(self, 'pos_embed', None), state.get('pos_embed')
        if own is not None and ck is not None and \
                ck.shape[-1] == own.shape[-1]:  # else the check reports it
            state['pos_embed'] = resize_abs_pos_embed(
                ck, own.shape[1], self._pos_embed_extra_tokens())
        report = load_state_dict_checked(
            self, state, new_by_design=self.new_by_design,
            ignored=self._ignored_keys(), source=info['source'],
            logger=logger)
        report['input_adapter'] = info['input_adapter']
        self.pretrained_load_report = report
        return report
