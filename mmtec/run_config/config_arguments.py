"""Check the keys of every dict the Runner builds from a registry against
its class's arguments before anything is built (a misspelled
``default_hooks.checkpoint.max_keep_ckpt`` would fail at the first save).

``**kwargs`` is followed to the parent class where ``__init__`` passes it
on; an unknown type is left to the build, except in registries where it
must be a misspelling (hooks, transforms, ...).
"""
import ast
import inspect
import textwrap
from typing import Any, Optional, Set

import torch
from mmengine import registry as R
from mmengine.config import Config

from .adapt import _LOADERS
from .checks import _nearest

# keys that the builder consumes instead of passing them to the class
_BUILDER_KEYS = {'type', '_scope_'}
_CONSUMED = {
    'HOOKS': {'priority'},
    'PARAM_SCHEDULERS': {'convert_to_iter_based'},
    'OPTIM_WRAPPERS': {'constructor', 'paramwise_cfg', 'optimizer'},
    'WEIGHT_INITIALIZERS': {'override'},
}
# dicts under these keys are built from another registry than their parent's
_CHILDREN = {
    'MODELS': {'init_cfg': 'WEIGHT_INITIALIZERS'},
    'DATASETS': {'pipeline': 'TRANSFORMS', 'dataset': 'DATASETS',
                 'datasets': 'DATASETS'},
    'OPTIM_WRAPPERS': {'optimizer': 'OPTIMIZERS'},
    'VISUALIZERS': {'vis_backends': 'VISBACKENDS'},
}
# registries whose nested dicts are of the same registry unless listed above
_NESTED_SAME = {'MODELS', 'TRANSFORMS', 'DATASETS'}
# a type missing from these is a misspelled type, not another registry's
_CERTAIN = {'HOOKS', 'TRANSFORMS', 'DATASETS', 'DATA_SAMPLERS', 'OPTIMIZERS',
            'PARAM_SCHEDULERS', 'OPTIM_WRAPPERS'}
_TOP = {
    'model': 'MODELS', 'model_wrapper_cfg': 'MODEL_WRAPPERS',
    'default_hooks': 'HOOKS', 'custom_hooks': 'HOOKS',
    'optim_wrapper': 'OPTIM_WRAPPERS', 'param_scheduler': 'PARAM_SCHEDULERS',
    'train_cfg': 'LOOPS', 'val_cfg': 'LOOPS', 'test_cfg': 'LOOPS',
    'val_evaluator': 'METRICS', 'test_evaluator': 'METRICS',
    'visualizer': 'VISUALIZERS', 'log_processor': 'LOG_PROCESSORS',
}
# keyword arguments these classes keep take nothing a config may add:
# CheckpointHook passes them to Runner.save_checkpoint, whose arguments it
# sets itself
_KWARGS_ACCEPT_NOTHING = ('mmengine.hooks.checkpoint_hook.CheckpointHook', )


class ConfigArgumentError(ValueError):
    """A config key that the class built from its dict does not take."""


def _forwards_kwargs(init, name: str) -> bool:
    """Whether ``init`` calls some ``__init__`` with ``**name``."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError):
        return False
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        and node.func.attr == '__init__' and any(
            k.arg is None and isinstance(k.value, ast.Name)
            and k.value.id == name for k in node.keywords)
        for node in ast.walk(tree))


def accepted_arguments(obj) -> Optional[Set[str]]:
    """The keyword arguments ``obj(**cfg)`` accepts, or None when it takes
    arbitrary ones (or they cannot be told).

    Args:
        obj: A class or function from a registry.
    """
    names: Set[str] = set()
    if inspect.isclass(obj):
        inits = [(k, k.__dict__['__init__']) for k in obj.__mro__
                 if '__init__' in k.__dict__]
    else:
        inits = [(None, obj)]
    for klass, init in inits:
        if klass in (object, torch.nn.Module):
            return names  # both refuse any keyword argument
        try:
            params = inspect.signature(inspect.unwrap(init)).parameters
        except (TypeError, ValueError):
            return None
        names |= {p.name for p in params.values()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        var = [p.name for p in params.values() if p.kind == p.VAR_KEYWORD]
        if not var:
            return names
        if klass is not None and \
                f'{klass.__module__}.{klass.__qualname__}' \
                in _KWARGS_ACCEPT_NOTHING:
            return names
        if klass is None or not _forwards_kwargs(init, var[0]):
            return None
    return None


def _lookup(registry_name: str, type_: Any):
    if not isinstance(type_, str):
        return type_ if callable(type_) else None
    with getattr(R, registry_name).switch_scope_and_registry(None) as reg:
        try:
            return reg.get(type_)
        except Exception:  # a scope that does not import: left to the build
            return None


def _registered_names(registry_name: str):
    with getattr(R, registry_name).switch_scope_and_registry(None) as reg:
        names, node = set(reg.module_dict), reg
        while node.parent is not None:
            node = node.parent
            names |= set(node.module_dict)
    return sorted(names)


def _check_built(path: str, node: dict, registry_name: str) -> None:
    obj = _lookup(registry_name, node['type'])
    if obj is None:
        if registry_name in _CERTAIN and isinstance(node['type'], str):
            raise ConfigArgumentError(
                f'{path}.type={node["type"]!r}: no such '
                f'{registry_name.lower()} type '
                f'({_nearest(node["type"], _registered_names(registry_name))}'
                '). Fix the spelling in the config or --cfg-options.')
        return
    _check_keys(path, node, obj, _CONSUMED.get(registry_name, set()))


def _check_keys(path: str, node: dict, obj, consumed: Set[str]) -> None:
    accepted = accepted_arguments(obj)
    if accepted is None:
        return
    accepted |= consumed | _BUILDER_KEYS
    for key in node:
        if key not in accepted:
            name = getattr(obj, '__name__', str(obj))
            raise ConfigArgumentError(
                f'{path}.{key}: {name} takes no argument {key!r} '
                f'({_nearest(str(key), sorted(accepted - _BUILDER_KEYS))}). '
                'Fix the spelling in the config or --cfg-options.')


def _walk(path: str, node: Any, registry_name: Optional[str]) -> None:
    if isinstance(node, (list, tuple)):
        for i, item in enumerate(node):
            _walk(f'{path}.{i}', item, registry_name)
        return
    if not isinstance(node, dict) or registry_name is None:
        return
    if 'type' in node:
        _check_built(path, node, registry_name)
    children = _CHILDREN.get(registry_name, {})
    for key, value in node.items():
        if key in children:
            _walk(f'{path}.{key}', value, children[key])
        elif registry_name in _NESTED_SAME and not (
                str(key).endswith(('_cfg', '_cfgs'))):
            # norm_cfg, act_cfg, ...: built by helpers that take extra keys
            _walk(f'{path}.{key}', value, registry_name)


def check_config_arguments(cfg: Config) -> None:
    """Raise :class:`ConfigArgumentError` for the first key of a
    registry-built dict of ``cfg`` that its class does not take.

    Args:
        cfg (Config): The merged config, before the Runner is built.
    """
    with R.DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        for key, registry_name in _TOP.items():
            node = cfg.get(key)
            if key == 'default_hooks' and isinstance(node, dict):
                for name, hook in node.items():
                    _walk(f'{key}.{name}', hook, registry_name)
            elif key == 'optim_wrapper' and isinstance(node, dict) \
                    and 'type' not in node:
                if 'optimizer' in node:  # the default wrapper
                    _walk(key, dict(node, type='OptimWrapper'),
                          registry_name)
                # else several wrappers, built by their constructor
            else:
                _walk(key, node, registry_name)
        for key in _LOADERS:
            loader = cfg.get(key)
            if not isinstance(loader, dict):
                continue
            _check_keys(key, loader, torch.utils.data.DataLoader,
                        {'num_batch_per_epoch'})
            _walk(f'{key}.dataset', loader.get('dataset'), 'DATASETS')
            for name in ('sampler', 'batch_sampler'):
                _walk(f'{key}.{name}', loader.get(name), 'DATA_SAMPLERS')
