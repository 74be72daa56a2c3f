"""A misspelled argument anywhere in a config stops tools/train.py in one
line naming the key, the class and the closest real key, before anything
is built or trained; so do a work dir given twice and one that cannot be
written."""
import glob
import os
import shutil
import subprocess
import time

import pytest
from mmengine.config import Config

import mmtec  # noqa: F401  (registers mmtec's classes)
from mmtec.run_config.config_arguments import (
    ConfigArgumentError,
    accepted_arguments,
    check_config_arguments,
)
from test_cli_errors import ROOT, TINY_CFG, assert_one_line, run_tool

RECIPE = os.path.join(ROOT, 'configs', 'tec_vit-b_800e_in1k.py')
# the typo must stop the run before the Runner is built: measured 8 to 15 s
# per run (imports included) on the 2-core CPU machine under load
BOUND_S = 60
CONFIGS = sorted(
    p for p in glob.glob(os.path.join(ROOT, 'configs', '**', '*.py'),
                         recursive=True) +
    glob.glob(os.path.join(ROOT, 'projects', '*', 'configs', '*.py')) +
    glob.glob(os.path.join(ROOT, 'tests', 'data', '*.py'))
    if f'{os.sep}_base_{os.sep}' not in p)

# (option, the one line's key, class and closest key)
TYPOS = [
    ('default_hooks.checkpoint.max_keep_ckpt=1',
     "default_hooks.checkpoint.max_keep_ckpt: AtomicCheckpointHook takes no "
     "argument 'max_keep_ckpt' (closest: max_keep_ckpts"),
    ('default_hooks.checkpoint.intervl=1',
     "default_hooks.checkpoint.intervl: AtomicCheckpointHook takes no "
     "argument 'intervl' (closest: interval"),
    ('custom_hooks.3.max_bad_fractoin=0.1',
     "custom_hooks.3.max_bad_fractoin: SkippedImagesHook takes no argument "
     "'max_bad_fractoin' (closest: max_bad_fraction"),
    ('model.target_generator.checkpont=base.pth',
     "model.target_generator.checkpont: TECTargetGenerator takes no argument "
     "'checkpont' (closest: checkpoint"),
    ('model.neck.num_head=4',
     "model.neck.num_head: TECDecoder takes no argument 'num_head' "
     "(closest: num_heads"),
    ('train_dataloader.dataset.pipeline.1.crop_ratio_rang=[0.2,1.0]',
     "train_dataloader.dataset.pipeline.1.crop_ratio_rang: RandomResizedCrop "
     "takes no argument 'crop_ratio_rang' (closest: crop_ratio_range"),
    ('optim_wrapper.optimizer.weight_decy=0.1',
     "optim_wrapper.optimizer.weight_decy: AdamW takes no argument "
     "'weight_decy' (closest: weight_decay"),
    ('default_hooks.checkpoint.type=AtomicCheckpointHok',
     "default_hooks.checkpoint.type='AtomicCheckpointHok': no such hooks "
     "type (closest: AtomicCheckpointHook"),
]


def _merged(config, option):
    from mmengine.config import DictAction
    cfg = Config.fromfile(config)
    key, value = option.split('=', 1)
    cfg.merge_from_dict({key: DictAction._parse_iterable(value)})
    return cfg


@pytest.mark.parametrize('config', CONFIGS,
                         ids=lambda p: os.path.relpath(p, ROOT))
def test_every_config_passes(config):
    check_config_arguments(Config.fromfile(config))


@pytest.mark.parametrize('option,message', TYPOS)
def test_typo_is_named_with_the_closest_key(option, message):
    with pytest.raises(ConfigArgumentError) as err:
        check_config_arguments(_merged(TINY_CFG, option))
    assert message in str(err.value)


def test_kwargs_are_followed_to_the_class_they_go_to():
    from mmengine.hooks import CheckpointHook
    from mmpretrain.datasets import CustomDataset

    from mmtec.engine.hooks import AtomicCheckpointHook

    class Forwards(CheckpointHook):

        def __init__(self, extra=1, **kwargs):
            super().__init__(**kwargs)

    class KeepsAny(CheckpointHook):

        def __init__(self, **kwargs):
            self.kwargs = kwargs

    # CheckpointHook keeps **kwargs for Runner.save_checkpoint, whose
    # arguments it sets itself: nothing more is accepted
    assert accepted_arguments(AtomicCheckpointHook) == \
        accepted_arguments(CheckpointHook) | {'check_free_space'}
    assert {'extra', 'interval', 'max_keep_ckpts'} <= \
        accepted_arguments(Forwards)
    assert accepted_arguments(KeepsAny) is None  # not guessed
    # CustomDataset passes **kwargs on to BaseDataset
    assert {'data_root', 'pipeline', 'serialize_data'} <= \
        accepted_arguments(CustomDataset)


def train(work, config=TINY_CFG, options=(), extra=()):
    t0 = time.time()
    res = run_tool('tools/train.py', config, '--work-dir', str(work), *extra,
                   '--cfg-options', *options)
    return res, time.time() - t0


def assert_stopped_before_training(res, seconds, work):
    assert seconds < BOUND_S, seconds
    assert 'Epoch(train)' not in res.stdout + res.stderr
    assert not glob.glob(os.path.join(str(work), '**', '*.pth'),
                         recursive=True)


@pytest.mark.parametrize('option,message', [TYPOS[0], TYPOS[3], TYPOS[5]],
                         ids=['hook', 'model', 'transform'])
def test_train_stops_on_a_typo_before_training(tmp_path, image_folder,
                                               tiny_base, option, message):
    res, seconds = train(tmp_path / 'work', options=[
        f'model.target_generator.checkpoint={tiny_base}',
        f'train_dataloader.dataset.data_root={image_folder}',
        'train_cfg.max_epochs=1', option])
    assert_one_line(res, 'ConfigArgumentError: ' + message)
    assert_stopped_before_training(res, seconds, tmp_path / 'work')


def test_recipe_config_file_typo(tmp_path):
    """A typo written in a config file that inherits the ViT-B recipe (its
    base is a URL: nothing is downloaded, the data folder is not there)."""
    config = tmp_path / 'my_recipe.py'
    config.write_text(f'_base_ = {RECIPE!r}\n'
                      'model = dict(head=dict(loss_attention=dict(tua=1.5)))'
                      '\n')
    res, seconds = train(tmp_path / 'work', str(config),
                         options=['default_hooks.logger.interval=10'])
    assert_one_line(
        res, "ConfigArgumentError: model.head.loss_attention.tua: "
        "AttentionMapLoss takes no argument 'tua' (closest: tau)")
    assert_stopped_before_training(res, seconds, tmp_path / 'work')


def test_work_dir_given_twice_is_refused(tmp_path):
    res, _ = train(tmp_path / 'a', options=[f'+work_dir={tmp_path}/b'])
    assert_one_line(res, f'--work-dir {tmp_path}/a and --cfg-options '
                    f'work_dir={tmp_path}/b both set the work dir')


def test_read_only_work_dir(tmp_path, image_folder, tiny_base):
    """A read-only file system (a bind mount in a private namespace)."""
    if shutil.which('unshare') is None or subprocess.run(
            ['unshare', '-rm', 'true'], capture_output=True,
            timeout=30).returncode:
        pytest.skip('unshare -rm (user namespaces) is not available')
    ro = tmp_path / 'ro'
    ro.mkdir()
    cmd = (f'mount --bind -o ro {ro} {ro} && exec "$0" tools/train.py '
           f'{TINY_CFG} --work-dir {ro}/work --cfg-options '
           f'model.target_generator.checkpoint={tiny_base} '
           f'train_dataloader.dataset.data_root={image_folder}')
    import sys
    res = subprocess.run(['unshare', '-rm', 'sh', '-c', cmd, sys.executable],
                         cwd=ROOT, capture_output=True, text=True,
                         timeout=BOUND_S * 5)
    assert_one_line(res, f'PermissionError: --work-dir / work_dir {ro}/work: '
                    'cannot write there (Read-only file system)')
