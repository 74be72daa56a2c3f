"""Check ``--cfg-options`` keys against the config before merging them.

MMEngine's ``Config.merge_from_dict`` creates any key it is given, so a
misspelled option (``auto_scale_lr.enabel=False``) is silently added next
to the real one and the run goes on with the value it meant to change.

Rule: every part of a dotted key but the last must exist in the config
(dict keys, or list indices as in ``custom_hooks.3.max_bad_fraction``).
The last part must exist too, unless its parent dict has a ``type``: that
dict is built by a registry, and setting an argument the config leaves at
its default is common (``model.backbone.drop_path_rate=0.1``); the merged
config's keys are then checked against the classes' arguments
(:mod:`mmtec.utils.config_arguments`: ``model.head.loss_attention.tauu=1``
stops there, naming ``tau``). A key written ``+a.b.c=value``
is taken as a deliberate new key: it is added without any check (its
parents are created as needed).
"""
import difflib
from typing import Any, Dict, List, Optional

from mmengine.config import Config

NEW_KEY_PREFIX = '+'


class CfgOptionError(ValueError):
    """A ``--cfg-options`` key that names nothing in the config."""


def _children(node: Any) -> Optional[List[str]]:
    if isinstance(node, dict):
        return [str(k) for k in node.keys()]
    if isinstance(node, (list, tuple)):
        return [str(i) for i in range(len(node))]
    return None


def _nearest(name: str, names: List[str]) -> str:
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if close:
        return 'closest: ' + ', '.join(close)
    shown = sorted(names)[:8]
    return 'it has: ' + (', '.join(shown) +
                         (', ...' if len(names) > 8 else '') or 'nothing')


def check_option_key(cfg: Config, key: str, value: Any = None) -> None:
    """Raise :class:`CfgOptionError` if ``key`` names nothing that exists
    or that a constructor will check (see the module docstring).

    Args:
        cfg (Config): The config the option is merged into.
        key (str): Dotted key as given to ``--cfg-options``.
        value: The option's value, for the message.
    """
    parts = key.split('.')
    node: Any = cfg._cfg_dict if isinstance(cfg, Config) else cfg
    for depth, part in enumerate(parts):
        names = _children(node)
        where = '.'.join(parts[:depth]) or 'the config'
        last = depth == len(parts) - 1
        if names is None:
            raise CfgOptionError(
                f'--cfg-options {key}={value!r}: {where} is '
                f'{type(node).__name__} {node!r}, which has no key {part!r}.')
        if part in names:
            node = node[int(part)] if isinstance(node,
                                                 (list, tuple)) else node[part]
            continue
        if last and isinstance(node, dict) and 'type' in node:
            return  # the registered class checks its own arguments
        if isinstance(node, (list, tuple)):
            raise CfgOptionError(
                f'--cfg-options {key}={value!r}: {where} has no index '
                f'{part!r} (indices 0 to {len(node) - 1}).')
        raise CfgOptionError(
            f'--cfg-options {key}={value!r}: {where} has no key {part!r} '
            f'({_nearest(part, names)}). Fix the spelling, or write '
            f'{NEW_KEY_PREFIX}{key}=... to add a new key.')


def check_cfg_options(cfg: Config,
                      options: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Check every ``--cfg-options`` key; return the options to merge.

    Keys written ``+key`` are new on purpose: they are returned without
    the ``+`` and not checked.

    Args:
        cfg (Config): The config before the options are merged.
        options (dict, optional): What ``DictAction`` parsed.

    Returns:
        dict: The options with ``+`` prefixes removed.
    """
    merged = {}
    for key, value in (options or {}).items():
        if key.startswith(NEW_KEY_PREFIX):
            merged[key[len(NEW_KEY_PREFIX):]] = value
            continue
        check_option_key(cfg, key, value)
        merged[key] = value
    return merged
