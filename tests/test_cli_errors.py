"""Bad input to the command-line tools ends in one line naming the path or
key and what to do; ``--debug`` keeps the traceback."""
import os
import re
import stat
import subprocess
import sys

import pytest
import torch

from paths import ROOT, TINY_CFG

TIMEOUT = 300


def run_tool(*cmd, env=None):
    return subprocess.run([sys.executable, *cmd], cwd=ROOT,
                          capture_output=True, text=True, timeout=TIMEOUT,
                          env=env)


def error_lines(res):
    """stderr without Python's start-up warnings of installed packages."""
    lines = res.stderr.strip().splitlines()
    return [line for line in lines
            if 'Warning' not in line and not line.startswith('  ')]


def assert_one_line(res, *fragments):
    assert res.returncode == 1, res.stderr[-3000:]
    lines = error_lines(res)
    assert 'Traceback' not in res.stderr, res.stderr[-3000:]
    assert len(lines) == 1, lines
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]
    # the traceback is not lost: a file the line names keeps it
    match = re.search(r' \(traceback: (\S+); --debug prints it\)$',
                      lines[-1])
    assert match, lines[-1]
    with open(match.group(1)) as f:
        saved = f.read()
    os.remove(match.group(1))
    assert saved.startswith('Traceback (most recent call last)')
    saved_type = saved.rstrip().splitlines()[-1].split(':')[0]
    assert saved_type.split('.')[-1] == lines[-1].split(':')[0]
    return lines[-1][:match.start()]


def train(work, *options, extra=()):
    return run_tool('tools/train.py', TINY_CFG, '--work-dir', str(work),
                    *extra, '--cfg-options', *options)


# --- missing files -----------------------------------------------------------

def test_missing_config(tmp_path):
    res = run_tool('tools/train.py', 'missing/no_such_config.py')
    assert_one_line(res, 'FileNotFoundError: Config file '
                    'missing/no_such_config.py does not exist',
                    'run from the repository root')
    res = run_tool('tools/train.py', 'missing/no_such_config.py', '--debug')
    assert res.returncode != 0 and 'Traceback' in res.stderr


def test_missing_data_root(tmp_path, tiny_base):
    missing = tmp_path / 'imagenet'
    res = train(tmp_path / 'work',
                f'model.target_generator.checkpoint={tiny_base}',
                f'train_dataloader.dataset.data_root={missing}')
    line = assert_one_line(
        res, f'train_dataloader.dataset.data_root: {missing} does not exist',
        '--cfg-options train_dataloader.dataset.data_root=/path/to/data')
    assert res.stdout.count('\n') < 5  # nothing was built or printed
    assert line.startswith('FileNotFoundError: ')


@pytest.mark.parametrize('config,missing', [
    ('configs/benchmarks/vit-b-p16_tec-800e-pre_8xb128-coslr-100e_in1k.py',
     'data/imagenet'),
    ('configs/mmdet/mask-rcnn_vit-b-tec_simplefpn_lsj-1024_coco.py',
     'data/coco/'),
    ('configs/mmseg/upernet_vit-b-tec_8xb2-amp-160k_ade20k-512x512.py',
     'data/ade/ADEChallengeData2016'),
])
def test_missing_dataset_folder(tmp_path, config, missing):
    res = run_tool('tools/train.py', config, '--work-dir', str(tmp_path))
    assert_one_line(res, f'train_dataloader.dataset.data_root: {missing} '
                    'does not exist')


def test_missing_split_folder(tmp_path):
    # the root is there but not its train/ folder
    (tmp_path / 'imagenet' / 'val').mkdir(parents=True)
    res = run_tool(
        'tools/train.py',
        'configs/benchmarks/vit-b-p16_tec-800e-pre_8xb128-coslr-100e_in1k.py',
        '--work-dir', str(tmp_path / 'work'), '--cfg-options',
        f'train_dataloader.dataset.data_root={tmp_path / "imagenet"}')
    assert_one_line(res, 'train_dataloader.dataset.data_prefix: '
                    f'{tmp_path / "imagenet" / "train"} does not exist')


def test_missing_base_checkpoint(tmp_path):
    from fmnist_lab import export_image_folder
    data = export_image_folder(str(tmp_path / 'data'), per_class=1, size=32)
    res = train(tmp_path / 'work',
                f'model.target_generator.checkpoint={tmp_path}/nope.pth',
                f'train_dataloader.dataset.data_root={data}')
    assert_one_line(res, f'Checkpoint file "{tmp_path}/nope.pth" does not '
                    'exist')


def test_load_from_matching_nothing(tmp_path, tiny_base):
    from fmnist_lab import export_image_folder
    data = export_image_folder(str(tmp_path / 'data'), per_class=1, size=32)
    other = tmp_path / 'other.pth'
    torch.save({'state_dict': {'fc.weight': torch.ones(2, 2)}}, other)
    res = train(tmp_path / 'work', f'model.target_generator.checkpoint='
                f'{tiny_base}', f'train_dataloader.dataset.data_root={data}',
                f'load_from={other}', 'train_cfg.max_epochs=1')
    assert_one_line(res, f'UnmatchedCheckpointError: {other}: none of its 1 '
                    'keys (fc.weight) is one of the model',
                    'set allow_unmatched_checkpoint=True to go on anyway')
    assert 'Epoch(train)' not in res.stdout


# --- misspelled --cfg-options ------------------------------------------------

@pytest.mark.parametrize('option,message', [
    ('auto_scale_lr.enabel=False',
     "CfgOptionError: --cfg-options auto_scale_lr.enabel=False: "
     "auto_scale_lr has no key 'enabel' (closest: enable). Fix the "
     "spelling, or write +auto_scale_lr.enabel=... to add a new key."),
    ('modle.head.loss_attention.tau=1.0',
     "CfgOptionError: --cfg-options modle.head.loss_attention.tau=1.0: the "
     "config has no key 'modle' (closest: model)."),
])
def test_misspelled_option(tmp_path, option, message):
    res = train(tmp_path / 'work', option)
    assert_one_line(res, message)


def test_new_key_with_plus_passes_the_check(tmp_path):
    # +key is merged as a new key: the run gets past the option check
    # and stops at the next problem, the (missing) data folder
    res = train(tmp_path / 'work', '+my_note=hello',
                f'train_dataloader.dataset.data_root={tmp_path}/none')
    assert_one_line(res, f'{tmp_path}/none does not exist')


# --- tools/test.py -----------------------------------------------------------

FT_CFG = os.path.join(ROOT, 'projects', 'fashion_mnist', 'configs',
                      'vit-w64d3-p7_ft_fmnist.py')
# the project's configs import its package (fmnist_lab): the library's tools
# run them with the project on the path, as projects/fashion_mnist/README.md
# says
PROJECT_ENV = dict(
    os.environ,
    PYTHONPATH=os.pathsep.join(
        [ROOT, os.path.join(ROOT, 'projects', 'fashion_mnist')]))


@pytest.mark.parametrize('args,fragments', [
    (['missing/no_such_config.py', 'x.pth'],
     ['FileNotFoundError: Config file missing/no_such_config.py does not '
      'exist']),
    ([FT_CFG, 'missing/model.pth'],
     ['FileNotFoundError: Checkpoint missing/model.pth not found']),
    ([FT_CFG, '{ckpt}', '--cfg-options', 'test_dataloader.batch_sise=2'],
     ["CfgOptionError: --cfg-options test_dataloader.batch_sise=2: "
      "test_dataloader has no key 'batch_sise' (closest: batch_size)"]),
    ([FT_CFG, '{ckpt}', '--cfg-options',
      'test_dataloader.dataset.data_root={tmp}/none'],
     ['test_dataloader.dataset.data_root: {tmp}/none does not exist',
      '--cfg-options test_dataloader.dataset.data_root=/path/to/data']),
])
def test_test_tool_bad_input(tmp_path, args, fragments):
    ckpt = tmp_path / 'model.pth'
    torch.save({'state_dict': {}}, ckpt)
    fill = dict(ckpt=str(ckpt), tmp=str(tmp_path))
    res = run_tool('tools/test.py', *[a.format(**fill) for a in args],
                   '--work-dir', str(tmp_path / 'work'), env=PROJECT_ENV)
    assert_one_line(res, *[f.format(**fill) for f in fragments])
    res = run_tool('tools/test.py', *[a.format(**fill) for a in args],
                   '--work-dir', str(tmp_path / 'work'), '--debug',
                   env=PROJECT_ENV)
    assert res.returncode == 1 and 'Traceback' in res.stderr


# --- the converter -----------------------------------------------------------

def test_converter_refuses_to_overwrite_in_one_line(tmp_path):
    dst = tmp_path / 'out.pth'
    dst.write_bytes(b'precious')
    res = run_tool('tools/model_converters/tec2vit.py',
                   str(tmp_path / 'any.pth'), str(dst))
    line = assert_one_line(res)
    assert line == (f'FileExistsError: {dst} exists; pass --overwrite to '
                    'replace it.')
    assert dst.read_bytes() == b'precious'


# --- the Slurm script --------------------------------------------------------

@pytest.fixture
def fake_srun(tmp_path):
    """An ``srun`` on PATH that prints its arguments, one per line."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    srun = bin_dir / 'srun'
    srun.write_text('#!/usr/bin/env bash\nfor a in "$@"; do echo "[$a]"; '
                    'done\n')
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=f'{bin_dir}:{os.environ["PATH"]}')
    env.pop('PREEMPT_SIGNAL', None)
    return env


def slurm(env, *args):
    return subprocess.run(['bash', 'tools/slurm_train.sh', *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env=env)


def test_slurm_script_usage(fake_srun):
    for args in [(), ('gpu', ), ('gpu', 'tec'), ('gpu', 'tec', TINY_CFG)]:
        res = slurm(fake_srun, *args)
        assert res.returncode == 2
        assert res.stdout == ''  # srun was not called
        assert res.stderr.strip().splitlines() == [res.stderr.strip()]
        assert res.stderr.startswith('Usage: ') and \
            'PARTITION JOB_NAME CONFIG WORK_DIR' in res.stderr
    res = slurm(fake_srun, 'gpu', 'tec', 'missing/nope.py', 'work')
    assert res.returncode == 2 and res.stdout == ''
    assert 'Config file missing/nope.py does not exist' in res.stderr


def test_slurm_script_quotes_arguments_and_passes_the_signal(fake_srun):
    res = slurm(fake_srun, 'gpu', 'tec', TINY_CFG, 'work dir', '--resume',
                '--cfg-options', 'work_dir=a b')
    assert res.returncode == 0, res.stderr
    args = [line[1:-1] for line in res.stdout.splitlines()]
    assert args[:2] == ['-p', 'gpu']
    assert '--signal=USR1@120' in args
    assert args[args.index('python'):] == [
        'python', '-u', 'tools/train.py', TINY_CFG, '--work-dir=work dir',
        '--launcher=slurm', '--resume', '--cfg-options', 'work_dir=a b']
    res = slurm(dict(fake_srun, PREEMPT_SIGNAL='TERM@300'), 'gpu', 'tec',
                TINY_CFG, 'w')
    assert '[--signal=TERM@300]' in res.stdout.splitlines()
    res = slurm(dict(fake_srun, PREEMPT_SIGNAL=''), 'gpu', 'tec', TINY_CFG,
                'w')
    assert res.returncode == 0 and '--signal' not in res.stdout


def slurm_test(env, *args):
    return subprocess.run(['bash', 'tools/slurm_test.sh', *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60,
                          env=env)


def test_slurm_test_script_usage(fake_srun, tmp_path):
    for flag in ('--help', '-h'):
        res = slurm_test(fake_srun, flag)
        assert res.returncode == 0 and res.stderr == ''
        assert res.stdout.startswith('Usage: ') and \
            'PARTITION JOB_NAME CONFIG CHECKPOINT' in res.stdout
    for args in [(), ('gpu', ), ('gpu', 'tec', TINY_CFG)]:
        res = slurm_test(fake_srun, *args)
        assert res.returncode == 2 and res.stdout == ''  # no srun
        assert res.stderr.startswith('Usage: ')
        assert res.stderr.strip().splitlines() == [res.stderr.strip()]
    res = slurm_test(fake_srun, 'gpu', 'tec', 'missing/nope.py', 'w.pth')
    assert res.returncode == 2 and res.stdout == ''
    assert 'Config file missing/nope.py does not exist' in res.stderr
    res = slurm_test(fake_srun, 'gpu', 'tec', TINY_CFG, str(tmp_path / 'no'))
    assert res.returncode == 2 and res.stdout == ''
    assert f'Checkpoint file {tmp_path / "no"} does not exist' in res.stderr


def test_slurm_test_script_passes_its_arguments(fake_srun, tmp_path):
    ckpt = tmp_path / 'epoch 1.pth'
    ckpt.write_bytes(b'')
    res = slurm_test(dict(fake_srun, GPUS='4', GPUS_PER_NODE='4'), 'gpu',
                     'tec', TINY_CFG, str(ckpt), '--work-dir', 'a b')
    assert res.returncode == 0, res.stderr
    args = [line[1:-1] for line in res.stdout.splitlines()]
    assert args[:2] == ['-p', 'gpu']
    assert '--ntasks=4' in args and '--gres=gpu:4' in args
    assert args[args.index('python'):] == [
        'python', '-u', 'tools/test.py', TINY_CFG, str(ckpt),
        '--launcher=slurm', '--work-dir', 'a b']
    url = 'https://example.org/tec.pth'  # fetched by tools/test.py
    res = slurm_test(fake_srun, 'gpu', 'tec', TINY_CFG, url)
    assert res.returncode == 0 and f'[{url}]' in res.stdout.splitlines()


def test_an_unwritable_temporary_folder_does_not_hide_the_error(
        monkeypatch, capsys):
    monkeypatch.syspath_prepend(os.path.join(ROOT, 'tools'))
    import cli_errors

    def full(*args, **kwargs):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(cli_errors.tempfile, 'mkstemp', full)
    with pytest.raises(SystemExit) as stop:
        with cli_errors.one_line_errors():
            raise ValueError('mask_ratio must be in (0, 1)')
    assert stop.value.code == 1
    assert capsys.readouterr().err == (
        'ValueError: mask_ratio must be in (0, 1) (traceback: not saved: '
        '[Errno 28] No space left on device; --debug prints it)\n')
