"""Every tool answers ``--help``/``-h`` with its usage and exit status 0,
without doing anything; started by a Python without mmtec's stack, a
Python tool says so in one line instead of ``ModuleNotFoundError``."""
import glob
import os
import subprocess
import sys

import pytest

from paths import ROOT

TOOLS = sorted(
    os.path.relpath(p, ROOT)
    for p in glob.glob(os.path.join(ROOT, 'tools', '**', '*.*'),
                       recursive=True) +
    glob.glob(os.path.join(ROOT, 'projects', '*', 'tools', '*.py'))
    if p.endswith(('.py', '.sh'))
    # modules the tools import
    and os.path.basename(p) not in ('stack_check.py', 'cli_errors.py'))
PY_TOOLS = [t for t in TOOLS if t.endswith('.py')]
SH_TOOLS = [t for t in TOOLS if t.endswith('.sh')]
# these two print their usage on --help but exit with 2 (a usage error)
def run_help(tool, flag, cwd):
    prog = [sys.executable] if tool.endswith('.py') else ['bash']
    # PYTHON: tools/install.sh would fail at once if it started installing
    env = dict(os.environ, PYTHON=os.path.join(str(cwd), 'no_python'),
               OUT=os.path.join(str(cwd), 'out'))
    return subprocess.run([*prog, os.path.join(ROOT, tool), flag], cwd=cwd,
                          capture_output=True, text=True, timeout=300,
                          env=env)


def check_help(tool, flag, tmp_path):
    res = run_help(tool, flag, tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert 'usage' in res.stdout.lower() or 'Usage' in res.stdout or \
        tool.endswith('install.sh') and 'bash tools/install.sh' in res.stdout
    assert os.listdir(tmp_path) == []  # nothing written, nothing started


@pytest.mark.parametrize('flag', ['--help', '-h'])
@pytest.mark.parametrize('tool', SH_TOOLS)
def test_shell_script_help(tool, flag, tmp_path):
    check_help(tool, flag, tmp_path)


@pytest.mark.slow  # each imports torch and the OpenMMLab stack first
@pytest.mark.parametrize('tool', PY_TOOLS)
def test_python_tool_help(tool, tmp_path):
    check_help(tool, '--help', tmp_path)


@pytest.fixture(scope='module')
def bare_python(tmp_path_factory):
    """A virtualenv without mmtec's stack: what a shell without the
    project's environment activated runs."""
    env = tmp_path_factory.mktemp('bare')
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(env)],
                   check=True, timeout=120)
    return str(env / 'bin' / 'python')


@pytest.mark.parametrize('tool', PY_TOOLS)
def test_tool_without_the_stack_says_which_python(tool, bare_python,
                                                  tmp_path):
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    res = subprocess.run([bare_python, os.path.join(ROOT, tool), '--help'],
                         cwd=tmp_path, capture_output=True, text=True,
                         timeout=60, env=env)
    assert res.returncode == 1
    assert 'Traceback' not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f'{os.path.join(ROOT, tool)}: this Python '
                               f'({bare_python}) has no torch, mmengine, '
                               'mmtec. Activate the environment')
    assert 'bash tools/install.sh' in lines[0]
