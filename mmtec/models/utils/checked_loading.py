"""Load weights into a backbone, refusing anything that does not fit."""
import re
from typing import Dict, List, Optional, Tuple

import torch
from mmengine.logging import print_log

from mmtec.checkpoint import BackboneCheckpointError
from mmtec.converters import (
    drop_final_norm,
    read_vit,
    resize_abs_pos_embed,
)


def _short(keys: List[str], n: int = 8) -> str:
    more = f' ... ({len(keys)} in all)' if len(keys) > n else ''
    return str(sorted(keys)[:n]) + more


class CheckedPretrainedMixin:
    """Checked loading of pretrained ViT weights, for downstream backbones
    (MMEngine's ``PretrainedInit`` only warns on a misfit): any layout read
    as the canonical ViT, its final norm dropped where the backbone has
    none, converted (:meth:`_to_own_layout`), the position table resized.
    A backbone sets ``new_by_design`` (regexes of its keys a plain ViT
    lacks); ``prefix_optional`` ignores a ``prefix`` no key has.
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
        for cfg in (c for c in cfgs if c.get('type') == 'Pretrained'):
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
        """Load (and check) pretrained weights; the report is also kept in
        ``self.pretrained_load_report``.

        Args:
            checkpoint (str | dict): Path or loaded checkpoint, any layout.
            prefix (str, optional): Key prefix to select and strip.
            logger: MMEngine logger; None means the current one.
            trust (bool): The config marks the file as trusted.

        Returns:
            dict: ``loaded``, ``expected``, ``new``, ``ignored`` keys and
            ``input_adapter`` (see :func:`~mmtec.converters.read_vit`).
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
        self.pretrained_load_report = dict(
            self._load_checked(state, info['source'], logger),
            input_adapter=info['input_adapter'])
        return self.pretrained_load_report

    def _load_checked(self, state: Dict[str, torch.Tensor], source: str,
                      logger) -> dict:
        """Load ``state``, or raise saying what does not fit: a weight not
        in it (but ``new_by_design``), a key the backbone lacks (but
        :meth:`_ignored_keys`) or a shape; never random weights."""
        own, name = self.state_dict(), type(self).__name__
        expected = [k for k in own
                    if not any(re.search(p, k) for p in self.new_by_design)]
        missing = [k for k in expected if k not in state]
        unexpected = [k for k in state if k not in own and not any(
            re.search(p, k) for p in self._ignored_keys())]
        mismatched = [
            f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
            for k, v in state.items()
            if k in own and tuple(v.shape) != tuple(own[k].shape)
        ]
        if missing or unexpected or mismatched:
            hint = '' if any(k in own for k in state) else (
                ' None of its keys belong to this backbone: convert the '
                'checkpoint first (mmtec.converters / tools/model_converters/'
                'tec2vit.py) or set the right `prefix`.')
            raise BackboneCheckpointError(
                f'Checkpoint {source} does not fit {name}: '
                f'{len(missing)} missing, {len(unexpected)} unexpected, '
                f'{len(mismatched)} shape-mismatched keys.'
                + (f'\n  missing: {_short(missing)}' if missing else '')
                + (f'\n  unexpected: {_short(unexpected)}'
                   if unexpected else '')
                + (f'\n  mismatched: {mismatched[:8]}' if mismatched else '')
                + '\nCheck that the config architecture (embed_dims, '
                'num_layers, patch_size, ...) matches the checkpoint.' + hint)
        loadable = {k: v for k, v in state.items() if k in own}
        self.load_state_dict(loadable, strict=False)
        new = [k for k in own if k not in loadable]
        skipped = [k for k in state if k not in own]
        print_log(
            f'{name}: loaded {len(loadable)}/{len(expected)} expected keys '
            f'from {source}; new by design (not in checkpoint): '
            f'{_short(new, 4)}; ignored from checkpoint: {_short(skipped, 4)}',
            logger=logger or 'current')
        return dict(loaded=sorted(loadable), expected=sorted(expected),
                    new=sorted(new), ignored=sorted(skipped))
