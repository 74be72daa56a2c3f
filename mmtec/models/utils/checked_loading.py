"""Load weights into a backbone, refusing anything that does not fit."""
import re
from typing import Dict, Iterable, List, Optional, Tuple

import torch

from mmtec.checkpoint import BackboneCheckpointError
from mmtec.converters import read_vit, resize_abs_pos_embed


def _matches(key: str, patterns: Iterable[str]) -> bool:
    return any(re.search(p, key) for p in patterns)


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
    except those matching ``new_by_design`` (regexes: relative position
    tables, ...). Checkpoint keys the module does not have must match
    ``ignored``; shapes must agree. Otherwise a
    :class:`BackboneCheckpointError` explains what is wrong, so a wrong
    architecture or layout never ends in silently random weights.

    Args:
        module (nn.Module): The backbone.
        state_dict (dict): Backbone-local weights, already resized.
        new_by_design (Iterable[str]): Regexes of module keys that may be
            absent from the checkpoint.
        ignored (Iterable[str]): Regexes of checkpoint keys to skip.
        source (str): Where the weights came from, for messages.
        logger: An MMEngine logger or ``'current'``; None means current.

    Returns:
        dict: ``loaded``, ``expected``, ``new``, ``ignored`` key lists.
    """
    from mmengine.logging import print_log
    logger = logger or 'current'
    own = module.state_dict()
    expected = [k for k in own if not _matches(k, new_by_design)]
    missing = [k for k in expected if k not in state_dict]
    unexpected = [
        k for k in state_dict if k not in own and not _matches(k, ignored)
    ]
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
        logger=logger)
    return dict(
        loaded=sorted(loadable),
        expected=sorted(expected),
        new=sorted(new),
        ignored=sorted(skipped))


class CheckedPretrainedMixin:
    """Checked loading of pretrained ViT weights, for downstream backbones.

    ``load_pretrained`` reads any file or dict the layout reader knows
    (through the project's loader), converts it to the canonical plain ViT
    unless it already is, lets the backbone turn that into its own layout
    (:meth:`_to_own_layout`), resizes the absolute position table to the
    backbone's, and loads it with :func:`load_state_dict_checked`, so a
    checkpoint that does not fit raises instead of leaving random weights.

    A backbone sets ``new_by_design`` (regexes of its keys a plain ViT does
    not have) and overrides :meth:`_to_own_layout` (and
    :meth:`_ignored_keys` if some checkpoint keys have no use). With
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

    def _resize_pos_embed(self, state: Dict[str, torch.Tensor]) -> None:
        own = getattr(self, 'pos_embed', None)
        ck = state.get('pos_embed')
        if own is None or ck is None or ck.shape[-1] != own.shape[-1]:
            return  # a mismatch is reported by the checked load
        state['pos_embed'] = resize_abs_pos_embed(
            ck, own.shape[1], self._pos_embed_extra_tokens())

    @staticmethod
    def _split_init_cfg(init_cfg) -> Tuple[List[dict], List[dict]]:
        """``(pretrained, others)`` entries of an ``init_cfg``."""
        cfgs = init_cfg or []
        cfgs = [cfgs] if isinstance(cfgs, dict) else list(cfgs)
        pretrained = [c for c in cfgs if c.get('type') == 'Pretrained']
        return pretrained, [c for c in cfgs if c.get('type') != 'Pretrained']

    def _random_init(self) -> None:
        """The backbone's own random init (its ``init_cfg`` is unset)."""
        super().init_weights()

    def init_weights(self) -> None:
        """Random init, the other ``init_cfg`` entries, then the checked
        ``Pretrained`` load.

        MMEngine's own ``PretrainedInit`` loads with ``strict=False`` and only
        warns, so it is not used. The ``Pretrained`` entry may carry
        ``prefix`` and ``trust`` (see :mod:`mmtec.checkpoint.trust`).
        """
        from mmengine.model.weight_init import initialize
        pretrained, others = self._split_init_cfg(self.init_cfg)
        saved, self.init_cfg = self.init_cfg, None
        try:
            self._random_init()
        finally:
            self.init_cfg = saved
        if others:
            initialize(self, others)
        for cfg in pretrained:
            self._load_pretrained_cfg(cfg)
        self._is_init = True

    def _load_pretrained_cfg(self, cfg: dict) -> dict:
        if not cfg.get('checkpoint'):
            raise ValueError(
                f'{type(self).__name__}: init_cfg Pretrained has no '
                '`checkpoint`; set it to a TEC checkpoint (e.g. converted by '
                'tools/model_converters/tec2vit.py).')
        return self.load_pretrained(
            cfg['checkpoint'], cfg.get('prefix'), trust=cfg.get('trust',
                                                                False))

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
        source = info['source']
        state = self._to_own_layout(state)
        self._resize_pos_embed(state)
        report = load_state_dict_checked(
            self,
            state,
            new_by_design=self.new_by_design,
            ignored=self._ignored_keys(),
            source=source,
            logger=logger)
        report['input_adapter'] = info['input_adapter']
        self.pretrained_load_report = report
        return report
