"""Checks that refuse a mistake in a run's config before anything is
built, with a one-line error naming the setting to change."""
import difflib
import math
import os
import os.path as osp
import tempfile
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config

from .adapt import optimizer_wrappers

NEW_KEY_PREFIX = '+'


class CfgOptionError(ValueError):
    """A ``--cfg-options`` key that names nothing in the config."""


def _nearest(name: str, names: List[str]) -> str:
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if close:
        return 'closest: ' + ', '.join(close)
    shown = sorted(names)[:8]
    return 'it has: ' + (', '.join(shown) +
                         (', ...' if len(names) > 8 else '') or 'nothing')


def check_option_key(cfg: Config, key: str, value: Any = None) -> None:
    """Raise :class:`CfgOptionError` if a ``--cfg-options`` key names
    nothing in ``cfg`` (``merge_from_dict`` would add a misspelled key).

    Every part of the dotted key must exist (dict keys, list indices), but
    the last one under a dict with a ``type``: its class checks it
    (:mod:`~mmtec.run_config.config_arguments`).

    Args:
        cfg (Config): The config the option is merged into.
        key (str): Dotted key as given to ``--cfg-options``.
        value: The option's value, for the message.
    """
    parts = key.split('.')
    node: Any = cfg.to_dict() if isinstance(cfg, Config) else cfg
    for depth, part in enumerate(parts):
        where = '.'.join(parts[:depth]) or 'the config'
        if isinstance(node, (list, tuple)):
            if part in [str(i) for i in range(len(node))]:
                node = node[int(part)]
                continue
            raise CfgOptionError(
                f'--cfg-options {key}={value!r}: {where} has no index '
                f'{part!r} (indices 0 to {len(node) - 1}).')
        if not isinstance(node, dict):
            raise CfgOptionError(
                f'--cfg-options {key}={value!r}: {where} is '
                f'{type(node).__name__} {node!r}, which has no key {part!r}.')
        names = [str(k) for k in node.keys()]
        if part in names:
            node = node[part]
        elif depth == len(parts) - 1 and 'type' in node:
            return  # the registered class checks its own arguments
        else:
            raise CfgOptionError(
                f'--cfg-options {key}={value!r}: {where} has no key {part!r} '
                f'({_nearest(part, names)}). Fix the spelling, or write '
                f'{NEW_KEY_PREFIX}{key}=... to add a new key.')


def check_cfg_options(cfg: Config,
                      options: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """Check every ``--cfg-options`` key; return the options to merge.

    Keys written ``+key`` are new on purpose: returned without the ``+``
    and not checked (their parents are created as needed).

    Args:
        cfg (Config): The config before the options are merged.
        options (dict, optional): What ``DictAction`` parsed.
    """
    merged = {}
    for key, value in (options or {}).items():
        if not key.startswith(NEW_KEY_PREFIX):
            check_option_key(cfg, key, value)
        merged[key.removeprefix(NEW_KEY_PREFIX)] = value
    return merged


def check_learning_rates(cfg: Config) -> None:
    """Refuse a non-finite or negative learning rate before any work."""
    wrappers = optimizer_wrappers(cfg.get('optim_wrapper') or {})
    for where, ow in wrappers.items():
        lr = ow['optimizer'].get('lr')
        if lr is not None and (not isinstance(lr, (int, float))
                               or not math.isfinite(lr) or lr < 0):
            raise ValueError(
                f'{where}.optimizer.lr={lr!r}: the learning rate must be a '
                'finite number >= 0. Check the config and --cfg-options.')


def check_training_length(cfg: Config) -> None:
    """Refuse ``max_epochs``/``max_iters`` that train nothing (MMEngine
    runs a zero-epoch loop without complaint)."""
    train_cfg = cfg.get('train_cfg') or {}
    for key in ('max_epochs', 'max_iters'):
        value = train_cfg.get(key)
        if value is not None and (isinstance(value, bool) or
                                  not isinstance(value, int) or value < 1):
            raise ValueError(
                f'train_cfg.{key}={value!r}: training needs a whole number '
                '>= 1. Check the config and --cfg-options.')


def check_writable_work_dir(cfg: Config) -> None:
    """Refuse a work dir (or local checkpoint ``out_dir``) that cannot be
    written, before MMEngine fails there with a raw ``OSError``."""
    folders = {'--work-dir / work_dir': cfg.work_dir}
    out_dir = ((cfg.get('default_hooks') or {}).get('checkpoint')
               or {}).get('out_dir')
    if out_dir and '://' not in str(out_dir):
        folders['default_hooks.checkpoint.out_dir'] = out_dir
    for setting, folder in folders.items():
        try:
            os.makedirs(folder, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as err:
            raise PermissionError(
                f'{setting} {folder}: cannot write there ({err.strerror}). '
                'Give a folder you can write to.') from err


def _datasets(node, where: str) -> Iterator[Tuple[str, dict]]:
    """Every dataset config under ``node`` (wrappers included), with its
    config path."""
    if not isinstance(node, dict):
        return
    if any(k in node for k in ('data_root', 'data_prefix', 'ann_file')):
        yield where, node
    if isinstance(node.get('dataset'), dict):
        yield from _datasets(node['dataset'], f'{where}.dataset')
    for i, sub in enumerate(node.get('datasets') or []):
        yield from _datasets(sub, f'{where}.datasets.{i}')


def _data_paths(dataset: dict) -> Iterator[Tuple[str, str]]:
    """(setting, path) pairs the dataset reads, joined with data_root as
    MMEngine's ``BaseDataset`` does."""
    root = dataset.get('data_root') or ''
    if root:
        yield 'data_root', root
    prefix = dataset.get('data_prefix')
    if not prefix and dataset.get('split'):
        prefix = dataset['split']  # MMPretrain's ImageNet: root/<split>
    prefixes = prefix if isinstance(prefix, dict) else {'': prefix}
    for key, value in prefixes.items():
        if isinstance(value, str) and value:
            name = f'data_prefix.{key}' if key else 'data_prefix'
            yield name, value if osp.isabs(value) else osp.join(root, value)
    ann = dataset.get('ann_file')
    if isinstance(ann, str) and ann:
        yield 'ann_file', ann if osp.isabs(ann) else osp.join(root, ann)


def check_data_paths(cfg: Config,
                     loaders: Optional[Sequence[str]] = None) -> None:
    """Raise ``FileNotFoundError`` naming the setting of the first missing
    local data path (datasets without ``backend_args``).

    Args:
        cfg (Config): The merged config.
        loaders (Sequence[str], optional): The dataloaders to check.
            Defaults to the training data and, when the run validates, the
            validation data.
    """
    if loaders is None:
        loaders = ['train_dataloader'] + (['val_dataloader']
                                          if cfg.get('val_cfg') else [])
    for name in loaders:
        loader = cfg.get(name) or {}
        for where, dataset in _datasets(loader.get('dataset'),
                                        f'{name}.dataset'):
            if dataset.get('backend_args'):
                continue
            for setting, path in _data_paths(dataset):
                if '://' in path or osp.exists(path):
                    continue  # s3://, http://: another backend's job
                root = dataset.get('data_root')
                fix = f'{where}.data_root=/path/to/data' if root and (
                    setting == 'data_root' or not osp.isdir(root)) else \
                    f'{where}.{setting}=...'
                raise FileNotFoundError(
                    f'{where}.{setting}: {path} does not exist '
                    f'({osp.abspath(path)}). Put the dataset there (README: '
                    '"Quick start"; docs/transfer.md) or point the '
                    'config at it, e.g. '
                    f'--cfg-options {fix}')
