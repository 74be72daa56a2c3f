"""The README's distributed command with the base named by its release.

``tools/dist_train.sh`` starts two gloo processes on the CPU; a local HTTP
server on 127.0.0.1 stands in for the release host. Nothing in the launch
path is replaced: the base is named by an http URL, by a name of a model
zoo (registered the public way, through a config's ``custom_imports``), or
is already in torch hub's cache on a node without network.
"""
import os
import subprocess
import time

import pytest

from paths import ROOT, TINY_CFG
from test_model_zoo_download import ReleaseServer
from timeouts import TRAIN_S

RELEASE = '/weights/mae_pretrain_vit_tiny.pth'


@pytest.fixture
def server(tiny_base):
    """Serves the base after a pause of 10 s, so that every rank starting
    its own download would ask during it."""
    srv = ReleaseServer()
    data = open(tiny_base, 'rb').read()

    def slowly(srv):
        srv.done.wait(10)
        yield data

    srv.routes[RELEASE] = (200, slowly, len(data))
    yield from srv.serving()


def dist_train(tmp_path, work, base, data, config=TINY_CFG):
    """``bash tools/dist_train.sh CONFIG 2`` for one epoch (3 iterations on
    each rank); torch hub's cache under ``tmp_path``."""
    env = dict(os.environ, TORCH_HOME=str(tmp_path / 'torch'),
               PORT=str(29500 + os.getpid() % 1000),
               PYTHONPATH=str(tmp_path))
    cmd = ['bash', 'tools/dist_train.sh', config, '2', '--work-dir',
           str(tmp_path / work), '--cfg-options',
           f'model.target_generator.checkpoint={base}',
           f'train_dataloader.dataset.data_root={data}',
           'train_cfg.max_epochs=1']
    start = time.monotonic()
    res = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=TRAIN_S)
    res.elapsed = time.monotonic() - start
    return res


def trained(tmp_path, work, res):
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    assert os.path.isfile(tmp_path / work / 'epoch_1.pth')


def hub_files(tmp_path):
    folder = tmp_path / 'torch' / 'hub' / 'checkpoints'
    return sorted(os.listdir(folder)) if folder.exists() else []


@pytest.mark.slow
def test_url_base_downloads_once_then_offline_nodes_use_the_cache(
        tmp_path, server, image_folder):
    url = server.url(RELEASE)
    trained(tmp_path, 'online', dist_train(tmp_path, 'online', url,
                                           image_folder))
    assert server.requests == [RELEASE]  # one download for both ranks
    [cached] = hub_files(tmp_path)
    assert cached.endswith('-mae_pretrain_vit_tiny.pth')
    # a node without network, the file in torch hub's cache under its
    # release name (as torch.hub.load_state_dict_from_url stores it)
    folder = tmp_path / 'torch' / 'hub' / 'checkpoints'
    os.replace(folder / cached, folder / os.path.basename(RELEASE))
    server.shutdown()
    server.server_close()
    trained(tmp_path, 'offline', dist_train(tmp_path, 'offline', url,
                                            image_folder))
    assert hub_files(tmp_path) == [os.path.basename(RELEASE)]
    assert server.requests == [RELEASE]


@pytest.mark.slow
def test_model_zoo_name_base_downloads_once(tmp_path, server, image_folder):
    """A private model zoo registered by a module the config imports."""
    name = 'tec-test_vit-tiny-base'
    (tmp_path / 'model-index.yml').write_text(
        f'Models:\n  - Name: {name}\n    Config: {TINY_CFG}\n'
        f'    Weights: {server.url(RELEASE)}\n')
    (tmp_path / 'private_zoo.py').write_text(
        'import os.path as osp\n'
        'from mmpretrain.apis import ModelHub\n'
        'ModelHub.register_model_index(\n'
        "    osp.join(osp.dirname(__file__), 'model-index.yml'))\n")
    config = tmp_path / 'tiny_with_zoo.py'
    config.write_text(f'_base_ = {TINY_CFG!r}\n'
                      "custom_imports = dict(imports=['private_zoo'])\n")
    trained(tmp_path, 'zoo', dist_train(tmp_path, 'zoo', name, image_folder,
                                        config=str(config)))
    assert server.requests == [RELEASE]


@pytest.mark.slow
def test_failed_download_stops_every_rank(tmp_path, server, image_folder):
    url = server.url('/gone/mae_pretrain_vit_tiny.pth')
    res = dist_train(tmp_path, 'failed', url, image_folder)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    # raised on both ranks, one request in all, nothing cached
    assert out.count(f'Could not download "{url}": the server answered '
                     'HTTP 404') >= 2, out[-5000:]
    assert server.requests == ['/gone/mae_pretrain_vit_tiny.pth']
    assert hub_files(tmp_path) == []
    assert res.elapsed < 300
