"""Check that the dataset folders and files a run reads exist, up front.

Without this a wrong ``data_root`` surfaces as a ``FileNotFoundError``
deep inside dataset construction, after the whole config and environment
have been printed, and names a derived path (``data/imagenet/train``)
rather than the setting to change.
"""
import os.path as osp
from typing import Iterator, Optional, Sequence, Tuple

from mmengine.config import Config


def _datasets(node, where: str) -> Iterator[Tuple[str, dict]]:
    """Every dataset config under ``node`` (wrappers such as
    ``RepeatDataset``/``ConcatDataset`` included), with its config path."""
    if not isinstance(node, dict):
        return
    if any(k in node for k in ('data_root', 'data_prefix', 'ann_file')):
        yield where, node
    if isinstance(node.get('dataset'), dict):
        yield from _datasets(node['dataset'], f'{where}.dataset')
    for i, sub in enumerate(node.get('datasets') or []):
        yield from _datasets(sub, f'{where}.datasets.{i}')


def _local(path: str) -> bool:
    return '://' not in path  # s3://, http://, ...: another backend's job


def _paths(dataset: dict) -> Iterator[Tuple[str, str]]:
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
    """Raise ``FileNotFoundError`` naming the first missing data path.

    Checks only local paths of datasets without a custom ``backend_args``.

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
            for setting, path in _paths(dataset):
                if not _local(path) or osp.exists(path):
                    continue
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
