"""The model index that `mim search mmtec` reads, in the shapes installs make.

setup.py puts ``configs``, ``tools``, ``projects`` and ``model-index.yml`` in
``mmtec/.mim``: symlinks into the checkout for an editable install, copies in
a wheel. OpenMMLab's mim reads ``<installed mmtec>/.mim/model-index.yml``;
where mim is installed, its own loader is used.
"""
import importlib.util
import os
import os.path as osp
import runpy
import shutil
import subprocess
import sys
import zipfile

import pytest

from paths import ROOT
from timeouts import TOOL_S, TRAIN_S

RELEASED = {
    'tec_vit-base-p16_mae-300e-base_100e_in1k',
    'tec_vit-base-p16_mae-1600e-base_300e_in1k',
    'tec_vit-base-p16_mae-1600e-base_800e_in1k',
    'tec_vit-base-p16_ibot-base_300e_in1k',
    'tec_vit-base-p16_ibot-base_800e_in1k',
    'tec_vit-large-p16_mae-1600e-base_300e_in1k',
}
needs_mim = pytest.mark.skipif(
    importlib.util.find_spec('mim') is None,
    reason='openmim is not installed (requirements/tests.txt)')


def copy_checkout(dst):
    """The files git tracks, as a clean clone has them."""
    files = subprocess.run(['git', 'ls-files', '-z'], cwd=ROOT, check=True,
                           capture_output=True,
                           timeout=TOOL_S).stdout.decode().split('\0')
    for rel in filter(None, files):
        if osp.isfile(osp.join(ROOT, rel)):
            os.makedirs(osp.dirname(osp.join(dst, rel)), exist_ok=True)
            shutil.copy2(osp.join(ROOT, rel), osp.join(dst, rel))
    return str(dst)


def mim_models(index_path):
    """Model names as `mim search` tabulates them, read by mim's loader."""
    from mim.commands.search import convert2df
    from modelindex.load_model_index import load
    return set(convert2df(load(index_path)).index)


def test_editable_install_links_the_checkout(tmp_path):
    checkout = copy_checkout(tmp_path / 'repo')
    setup = runpy.run_path(osp.join(checkout, 'setup.py'),
                           run_name='mmtec_setup')
    assert setup['mim_mode'](['setup.py', 'editable_wheel']) == 'symlink'
    assert setup['mim_mode'](['setup.py', 'bdist_wheel']) == 'copy'
    assert setup['mim_mode'](['setup.py', 'egg_info']) is None
    mim_dir = osp.join(checkout, 'mmtec', '.mim')
    os.makedirs(osp.join(mim_dir, 'configs'))  # a stale copy is replaced
    setup['add_mim_extension']('symlink')
    for name in ('configs', 'tools', 'projects', 'model-index.yml'):
        link = osp.join(mim_dir, name)
        assert osp.islink(link)
        assert osp.realpath(link) == osp.realpath(osp.join(checkout, name))
    # the index imports its metafile by a path relative to itself
    assert osp.isfile(osp.join(mim_dir, 'configs', 'tec', 'metafile.yml'))


@needs_mim
def test_mim_reads_the_linked_index(tmp_path):
    checkout = copy_checkout(tmp_path / 'repo')
    runpy.run_path(osp.join(checkout, 'setup.py'),
                   run_name='mmtec_setup')['add_mim_extension']('symlink')
    index = osp.join(checkout, 'mmtec', '.mim', 'model-index.yml')
    assert mim_models(index) == RELEASED


@pytest.mark.slow
def test_wheel_ships_the_index_and_mim_finds_it(tmp_path, monkeypatch):
    checkout = copy_checkout(tmp_path / 'repo')
    subprocess.run([
        sys.executable, '-m', 'pip', 'wheel', '--no-deps',
        '--no-build-isolation', '-q', '-w', str(tmp_path / 'dist'), checkout
    ], check=True, capture_output=True, timeout=TRAIN_S)
    wheel, = os.listdir(tmp_path / 'dist')
    site = tmp_path / 'site-packages'
    with zipfile.ZipFile(tmp_path / 'dist' / wheel) as zf:
        names = set(zf.namelist())
        zf.extractall(site)
    assert 'mmtec/.mim/model-index.yml' in names
    assert 'mmtec/.mim/configs/tec/metafile.yml' in names
    assert 'mmtec/.mim/tools/train.py' in names
    # the demo's entry and the project it runs
    assert 'mmtec/.mim/tools/demo.py' in names
    assert 'mmtec/.mim/projects/fashion_mnist/fmnist_lab/demo.py' in names
    assert 'mmtec/.mim/projects/fashion_mnist/configs/fmnist_eval.py' in names
    configs = {
        osp.relpath(osp.join(d, f), checkout)
        for d, _, fs in os.walk(osp.join(checkout, 'configs')) for f in fs
    }
    assert {'mmtec/.mim/' + c for c in configs} <= names
    # openmim is a test requirement (requirements/tests.txt); mim's own
    # lookup, as `mim search mmtec` does it, of the installed
    # wheel: the distribution found first on sys.path is this one
    from mim.commands.search import convert2df, load_metadata_from_local
    monkeypatch.syspath_prepend(str(site))
    metadata = load_metadata_from_local('mmtec')
    assert set(convert2df(metadata).index) == RELEASED
