"""Checks made when a run is set up: data paths, a load_from checkpoint
that fills nothing, and the logged learning rate."""
import logging
import os
from types import SimpleNamespace

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint_to_model
from torch import nn

import mmtec  # noqa: F401
from mmtec.engine.hooks import ExactResumeHook, UnmatchedCheckpointError
from mmtec.registry import OPTIM_WRAPPER_CONSTRUCTORS
from mmtec.run_config.adapt import (
    apply_auto_scale_lr,
    scale_lr_for_accumulation,
)
from mmtec.run_config.checks import check_data_paths
from paths import ROOT

RECIPE = os.path.join(ROOT, 'configs', 'tec_vit-b_800e_in1k.py')


# --- data paths --------------------------------------------------------------

def loader(**dataset):
    return dict(batch_size=2, dataset=dict(type='X', **dataset))


def test_data_paths_are_joined_like_mmengine_does(tmp_path):
    (tmp_path / 'coco' / 'annotations').mkdir(parents=True)
    (tmp_path / 'coco' / 'train2017').mkdir()
    ok = loader(data_root=str(tmp_path / 'coco'),
                data_prefix=dict(img='train2017/'),
                ann_file='annotations/train.json')
    with pytest.raises(FileNotFoundError) as err:
        check_data_paths(Config(dict(train_dataloader=ok)))
    assert str(err.value).startswith(
        f'train_dataloader.dataset.ann_file: {tmp_path}/coco/annotations/'
        'train.json does not exist')
    (tmp_path / 'coco' / 'annotations' / 'train.json').write_text('{}')
    check_data_paths(Config(dict(train_dataloader=ok)))
    # a wrapper (RepeatDataset) and an ImageNet split
    wrapped = dict(batch_size=2, dataset=dict(
        type='RepeatDataset', times=2,
        dataset=dict(type='ImageNet', data_root=str(tmp_path), split='val')))
    with pytest.raises(FileNotFoundError,
                       match=r'^train_dataloader.dataset.dataset.data_prefix'
                       f': {tmp_path}/val does not exist'):
        check_data_paths(Config(dict(train_dataloader=wrapped)))
    # validation data only when the run validates; other backends skipped
    bad = loader(data_root=str(tmp_path / 'none'))
    check_data_paths(Config(dict(train_dataloader=ok, val_dataloader=bad)))
    with pytest.raises(FileNotFoundError, match='^val_dataloader.dataset'):
        check_data_paths(Config(dict(train_dataloader=ok, val_dataloader=bad,
                                     val_cfg=dict(type='ValLoop'))))
    check_data_paths(Config(dict(train_dataloader=loader(
        data_root='s3://bucket/imagenet'))))
    check_data_paths(Config(dict(train_dataloader=loader(
        data_root=str(tmp_path / 'none'), backend_args=dict(backend='petrel')
    ))))


# --- load_from that matches nothing ------------------------------------------

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.norm = nn.BatchNorm1d(2)


class RenamingNet(Net):
    """Reads another layout through a pre hook, as TECImageClassifier
    reads bare ViT files."""

    def __init__(self):
        super().__init__()
        self._register_load_state_dict_pre_hook(self._rename)

    def _rename(self, state, prefix, *args):
        for key in [k for k in state if k.startswith('old_lin.')]:
            state[key.replace('old_lin.', 'lin.')] = state.pop(key)


def load_with_hook(model, checkpoint, allow=False, logged=None):
    runner = SimpleNamespace(
        model=model, _load_from='ckpt.pth',
        cfg=Config(dict(allow_unmatched_checkpoint=allow)))
    ExactResumeHook().after_load_checkpoint(runner, checkpoint)
    _load_checkpoint_to_model(model, checkpoint)


def test_checkpoint_matching_no_key_is_an_error():
    model = Net()
    before = model.lin.weight.detach().clone()
    other = {'state_dict': {'backbone.w': torch.ones(2, 3),
                            'head.b': torch.ones(2)}}
    with pytest.raises(UnmatchedCheckpointError) as err:
        load_with_hook(model, other)
    assert str(err.value).startswith(
        "ckpt.pth: none of its 2 keys (backbone.w, head.b) is one of the "
        "model's 6 (lin.bias, lin.weight, norm.bias, ...); training would "
        "start from random weights.")
    assert 'allow_unmatched_checkpoint=True' in str(err.value)
    torch.testing.assert_close(model.lin.weight, before)
    # the hook removed itself: a later load is not checked twice
    assert not model._load_state_dict_post_hooks


def test_partial_and_translated_checkpoints_load():
    model = Net()
    load_with_hook(model, {'lin.weight': torch.ones(2, 3)})  # one key is ok
    torch.testing.assert_close(model.lin.weight, torch.ones(2, 3))
    model = RenamingNet()  # keys the model's own pre hook translates
    load_with_hook(model, {'old_lin.weight': torch.full((2, 3), 2.)})
    torch.testing.assert_close(model.lin.weight, torch.full((2, 3), 2.))


def test_allow_unmatched_checkpoint_only_warns(monkeypatch):
    import mmtec.engine.hooks.exact_resume_hook as hook_module
    logged = []
    monkeypatch.setattr(hook_module, 'print_log',
                        lambda msg, **kw: logged.append((msg, kw['level'])))
    load_with_hook(Net(), {'x': torch.ones(1)}, allow=True)
    assert len(logged) == 1 and logged[0][1] == logging.WARNING
    assert logged[0][0].startswith('ckpt.pth: none of its 1 keys (x)')


def test_default_runtime_checks_load_from():
    cfg = Config.fromfile(RECIPE)
    assert dict(type='ExactResumeHook') in cfg.custom_hooks
    assert cfg.allow_unmatched_checkpoint is False


# --- the logged learning rate ------------------------------------------------

class TinyViTLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, 4, 8))
        self.proj = nn.Linear(8, 8)
        self.norm = nn.LayerNorm(8)


def build_wrapper(model, optim_wrapper):
    optim_wrapper = dict(optim_wrapper)
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(dict(
        type=optim_wrapper.pop('constructor'),
        optim_wrapper_cfg=optim_wrapper,
        paramwise_cfg=optim_wrapper.pop('paramwise_cfg', None)))
    return constructor(model)


def recipe_for_cpu(batch_size):
    cfg = Config.fromfile(RECIPE)
    cfg.optim_wrapper.type = 'OptimWrapper'
    for key in ('dtype', 'loss_scale'):
        cfg.optim_wrapper.pop(key)
    cfg.optim_wrapper.optimizer.pop('fused')
    cfg.train_dataloader.batch_size = batch_size
    scale_lr_for_accumulation(cfg)
    return cfg


def test_logged_base_lr_is_the_lr_in_use():
    # batch 4 x 1 process x 2 accumulation steps = 8 of the recipe's 4096
    cfg = recipe_for_cpu(batch_size=4)
    config_lr = cfg.optim_wrapper.optimizer.lr
    ratio = 8 / 4096
    # MMEngine alone: the groups are scaled, the logged base_lr is not
    mmengine_wrapper = build_wrapper(TinyViTLike(), cfg.optim_wrapper)
    fake = SimpleNamespace(
        _train_dataloader=cfg.train_dataloader, world_size=1,
        param_schedulers=None, logger=logging.getLogger('test'))
    Runner.scale_lr(fake, mmengine_wrapper, cfg.auto_scale_lr)
    assert mmengine_wrapper.get_lr()['base_lr'] == [config_lr]
    # scaled before the optimizer is built: same groups, true base_lr
    runner = SimpleNamespace(auto_scale_lr=cfg.auto_scale_lr,
                             optim_wrapper=cfg.optim_wrapper, world_size=1)
    apply_auto_scale_lr(runner, cfg)
    assert runner.auto_scale_lr['enable'] is False  # not scaled twice
    wrapper = build_wrapper(TinyViTLike(), runner.optim_wrapper)
    lrs = wrapper.get_lr()
    assert lrs['lr'] == pytest.approx(mmengine_wrapper.get_lr()['lr'])
    assert lrs['base_lr'] == pytest.approx([config_lr * ratio])
    assert lrs['lr'][0] == pytest.approx(config_lr * ratio)
    # the disabled runner scaling leaves the groups as they are
    Runner.scale_lr(fake, wrapper, runner.auto_scale_lr)
    assert wrapper.get_lr()['lr'] == pytest.approx(lrs['lr'])
    # off: nothing changes
    cfg = recipe_for_cpu(batch_size=4)
    cfg.auto_scale_lr.enable = False
    runner = SimpleNamespace(auto_scale_lr=cfg.auto_scale_lr,
                             optim_wrapper=cfg.optim_wrapper, world_size=1)
    apply_auto_scale_lr(runner, cfg)
    assert runner.optim_wrapper.optimizer.lr == config_lr
