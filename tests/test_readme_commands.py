"""The README's short commands run as written.

Each command below must appear verbatim in README.md (continuation lines
joined); the test then runs it from the repository root with this
interpreter, ``work_dirs/`` pointed at a temporary folder, and checks what
it leaves. A command changed in one place and not the other fails here.
"""
import os
import re
import shlex
import subprocess
import sys

import pytest
import torch

from paths import ROOT
from timeouts import TOOL_S, TRAIN_S

MAKE_BASE = ('python tools/misc/make_random_base.py '
             'work_dirs/random_tiny_base.pth')
EXPORT_DATA = ('python projects/fashion_mnist/tools/export_image_folder.py '
               'work_dirs/fmnist_folder --per-class 2 --size 32')
TRAIN_TINY = ('python tools/train.py tests/data/tec_vit-tiny_test.py '
              '--work-dir work_dirs/tiny --cfg-options '
              'model.target_generator.checkpoint=work_dirs/random_tiny_base.pth'
              ' train_dataloader.dataset.data_root=work_dirs/fmnist_folder '
              'train_cfg.max_epochs=1')
LIST_MODELS = ('python -c "import mmtec, mmpretrain; '
               "print(mmpretrain.list_models('*tec*'))\"")
HELP = [
    'python tools/model_converters/tec2vit.py --help',
    'python tools/analysis_tools/knn_eval.py --help',
    'python tools/visualization/plot_loss_curve.py --help',
    'python tools/visualization/attention_maps.py --help',
]


def readme_text():
    with open(os.path.join(ROOT, 'README.md'), encoding='utf-8') as f:
        text = f.read()
    # a command split over lines with a trailing backslash is one command
    return re.sub(r'\\\n\s*', '', text)


def run(command, work_dirs, timeout=TOOL_S):
    """``command`` as the README writes it, with ``work_dirs/`` moved to a
    temporary folder and ``python`` this interpreter."""
    assert command in readme_text(), f'not in README.md: {command}'
    argv = shlex.split(command.replace('work_dirs/', f'{work_dirs}/'))
    assert argv[0] == 'python'
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def ok(res):
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return res


def test_a_changed_command_is_caught(tmp_path):
    with pytest.raises(AssertionError, match='not in README.md'):
        run(MAKE_BASE.replace('tiny', 'small'), tmp_path)


@pytest.mark.parametrize('command', HELP)
def test_help(command, tmp_path):
    assert 'usage:' in ok(run(command, tmp_path)).stdout


def test_list_models():
    out = ok(run(LIST_MODELS, 'unused')).stdout
    assert out.count('tec_vit-') == 6, out


def test_make_random_base(tmp_path):
    from mmtec.converters import read_vit
    ok(run(MAKE_BASE, tmp_path))
    path = tmp_path / 'random_tiny_base.pth'
    state = torch.load(path, weights_only=True)
    assert list(state) == ['model']  # MAE's release layout
    _, info = read_vit(str(path))
    assert (info['layout'], info['embed_dims'], info['num_layers'],
            info['patch_size']) == ('timm', 64, 3, 8)
    # an existing file is not overwritten
    res = run(MAKE_BASE, tmp_path)
    assert res.returncode != 0 and 'pass --overwrite' in res.stderr


@pytest.mark.slow
@pytest.mark.fashion_mnist
def test_tiny_config_quick_start(tmp_path):
    for command in (MAKE_BASE, EXPORT_DATA):
        ok(run(command, tmp_path))
    assert len(list((tmp_path / 'fmnist_folder' / 'train').glob('*/*'))) == 20
    ok(run(TRAIN_TINY, tmp_path, timeout=TRAIN_S))
    state = torch.load(tmp_path / 'tiny' / 'epoch_1.pth', weights_only=True)
    assert any(k.startswith('backbone.') for k in state['state_dict'])


def test_tools_readme_lists_every_tool():
    tools = []
    for folder in ('tools', 'projects/fashion_mnist/tools'):
        for dirpath, _, names in os.walk(os.path.join(ROOT, folder)):
            tools += [
                os.path.relpath(os.path.join(dirpath, n), ROOT)
                for n in names if n.endswith(('.py', '.sh'))
            ]
    with open(os.path.join(ROOT, 'tools', 'README.md'),
              encoding='utf-8') as f:
        listed = f.read()
    assert tools and not [t for t in tools if f'`{t}`' not in listed]
