"""Load weights into a backbone, refusing anything that does not fit."""
import re
from typing import Dict, Iterable, List

import torch

from .vit_layouts import CheckpointLayoutError


class BackboneCheckpointError(CheckpointLayoutError):
    """A backbone checkpoint does not fit the backbone it is loaded into.

    Args:
        message (str): What does not fit (missing, unexpected and
            shape-mismatched keys) and how to fix it.
    """


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
                    'model_converters/tec2downstream.py) or set the right '
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
