"""What a small file cannot make the loader do: allocate far more than it
holds, keep the unpickler busy, or reach MMEngine's other schemes."""
import os
import stat
import time
import zipfile

import pytest
import torch
from mmengine.runner.checkpoint import CheckpointLoader

import mmtec  # noqa: F401  (registers the loader with MMEngine)
from hostile_pickles import (
    EMPTY_LIST,
    call,
    exec_via_getattr,
    glob,
    i,
    marker_code,
    pickle_of,
    splice,
    tup,
)
from mmtec.checkpoint import (
    CheckpointLayoutError,
    CheckpointNotFoundError,
    UnsafeCheckpointError,
    safe_load,
)
from mmtec.checkpoint import loader as loader_module
from mmtec.converters import read_vit, vit_arch
from vit_checkpoints import layouts, random_vit

BINGET = b'h'


@pytest.fixture
def plain_ckpt(tmp_path):
    path = tmp_path / 'plain.pth'
    torch.save({'state_dict': {'w': torch.arange(4.)}, 'meta': {'iter': 1}},
               path)
    return str(path)


def _rss_kib():
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) for line in f
                    if line.startswith('VmHWM'))


def test_bytearray_allocation_is_refused_before_unpickling(tmp_path,
                                                           plain_ckpt):
    """torch's default allow-list has bytearray: 3 GiB from a few bytes."""
    evil = tmp_path / 'bomb.pth'
    splice(plain_ckpt, evil, 'extra',
           call(glob('builtins', 'bytearray'), i(3 * 2**30)))
    before = _rss_kib()
    with pytest.raises(UnsafeCheckpointError, match='builtins.bytearray'):
        safe_load(str(evil))
    assert _rss_kib() - before < 512 * 1024


@pytest.mark.parametrize('entry', ['data.pkl', 'data/0'])
def test_compressed_entries_are_refused(tmp_path, plain_ckpt, entry):
    evil = tmp_path / 'deflated.pth'
    with zipfile.ZipFile(plain_ckpt) as src, zipfile.ZipFile(evil, 'w') as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith('/' + entry):
                info.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(info, data)
    with pytest.raises(UnsafeCheckpointError, match='compressed'):
        safe_load(str(evil))


def _expanded(shape):
    # a stride-0 view holds one element's bytes but claims many
    return torch.zeros(1).expand(*shape)


def test_tensor_claiming_more_elements_than_its_bytes_is_refused(tmp_path):
    path = tmp_path / 'stride0.pth'
    torch.save({'w': _expanded((10**6, 10**6))}, path)
    assert path.stat().st_size < 4096
    with pytest.raises(UnsafeCheckpointError, match='claims'):
        safe_load(str(path))


def test_size_check_compares_bytes_with_bytes(tmp_path):
    """10 float32 elements claimed from a 16-byte storage: as many elements
    as the storage has bytes, 2.5 times its bytes. A tensor filling its
    storage exactly loads."""
    path = tmp_path / 'ten_of_four.pth'
    torch.save({'w': torch.zeros(4)[:1].expand(10)}, path)
    with pytest.raises(UnsafeCheckpointError, match='claims'):
        safe_load(str(path))
    full = tmp_path / 'full.pth'
    torch.save({'w': torch.arange(4.), 'h': torch.arange(4.).half()}, full)
    loaded = safe_load(str(full))
    assert loaded['w'].tolist() == [0., 1., 2., 3.]
    assert loaded['h'].dtype == torch.float16


def test_expanded_pos_embed_builds_no_model(tmp_path):
    """The kNN and attention-map tools build a ViT from the file's shapes."""
    base, _ = layouts(random_vit())['mae']
    model = dict(base['model'])
    model['pos_embed'] = model['pos_embed'][:, :1].expand(1, 2048 * 2048 + 1,
                                                          -1)
    path = tmp_path / 'huge_pos.pth'
    torch.save({'model': model}, path)
    with pytest.raises(UnsafeCheckpointError, match='claims'):
        read_vit(str(path))


def test_absurd_shapes_are_refused_by_the_layout_reader():
    state, _ = read_vit(layouts(random_vit())['mae'][0])
    state['pos_embed'] = torch.zeros(1, 70000, 1)  # really allocated
    with pytest.raises(CheckpointLayoutError, match='beyond any real model'):
        vit_arch(state)


def test_opcode_flood_is_refused_quickly(tmp_path, plain_ckpt, monkeypatch):
    monkeypatch.setattr(loader_module, 'MAX_PICKLE_OPCODES', 10000)
    # memo slot 0 is the first thing the real pickle memoised
    flood = EMPTY_LIST + (BINGET + b'\x00' + b'a') * 20000
    evil = tmp_path / 'flood.pth'
    splice(plain_ckpt, evil, 'extra', flood)
    with pytest.raises(UnsafeCheckpointError, match='more than 10000 '
                       'opcodes'):
        safe_load(str(evil))


def test_oversized_pickle_is_refused(tmp_path, plain_ckpt, monkeypatch):
    monkeypatch.setattr(loader_module, 'MAX_PICKLE_BYTES', 1000)
    evil = tmp_path / 'long.pth'
    splice(plain_ckpt, evil, 'extra', tup(*[i(n) for n in range(500)]))
    with pytest.raises(UnsafeCheckpointError, match='data.pkl has'):
        safe_load(str(evil))


def test_scheduler_counter_is_plain_data(tmp_path):
    """MultiStepLR keeps its milestones in a Counter."""
    from collections import Counter
    path = tmp_path / 'sched.pth'
    torch.save({'param_schedulers': [{'milestones': Counter({8: 1})}]}, path)
    loaded = safe_load(str(path))
    assert loaded['param_schedulers'][0]['milestones'] == Counter({8: 1})


def _shared(levels, leaf=None):
    """``x = [x, x]`` ``levels`` times: 2^levels paths to ``leaf``."""
    x = [torch.zeros(1) if leaf is None else leaf]
    for _ in range(levels):
        x = [x, x]
    return x


def test_shared_references_are_counted_not_walked(tmp_path):
    """2 KB whose lists share references 60 levels deep (2^61 items along
    every path, under the depth limit): refused at once, wherever it is
    read, in bounded time and memory."""
    from mmtec.engine.resume import find_resumable_checkpoint
    work_dir = tmp_path / 'work_dir'
    work_dir.mkdir()
    good = work_dir / 'epoch_1.pth'
    torch.save({'meta': {'iter': 10}, 'state_dict': {'w': torch.ones(2)}},
               good)
    path = work_dir / 'epoch_2.pth'  # the newest file of the work dir
    torch.save({'meta': {'iter': 20}, 'state_dict': {'w': torch.ones(2)},
                'x': _shared(60)}, path)
    assert path.stat().st_size < 4096
    before, start = _rss_kib(), time.monotonic()
    with pytest.raises(UnsafeCheckpointError, match='more than 2000000 items '
                       'counted along every path') as err:
        safe_load(str(path))
    assert f'"{path}"' in str(err.value) and '\n' not in str(err.value)
    with pytest.raises(UnsafeCheckpointError, match='counted along'):
        read_vit(str(path))  # the base model's reader
    assert find_resumable_checkpoint(str(work_dir)) == str(good)
    assert time.monotonic() - start < 10
    assert _rss_kib() - before < 100 * 1024


def test_shared_references_are_checked_once(tmp_path, monkeypatch):
    """Under a count limit that never trips, 2^23 paths (a minute's walk)
    take no longer than the 23 lists they are made of; the sharing survives
    loading."""
    monkeypatch.setattr(loader_module, 'MAX_PICKLE_OPCODES', 2**62)
    path = tmp_path / 'shared.pth'
    torch.save({'x': _shared(22)}, path)
    start = time.monotonic()
    x = safe_load(str(path))['x']
    assert time.monotonic() - start < 5
    assert x[0] is x[1] and x[0][0] is x[1][1]


def test_shared_container_met_deeper_counts_its_depth(tmp_path):
    """A container 60 deep, met first at depth 1, then at depth 6."""
    deep = _shared(0)
    for _ in range(59):
        deep = [deep]
    torch.save({'a': deep, 'b': [[[[[deep]]]]]}, tmp_path / 'deeper.pth')
    with pytest.raises(UnsafeCheckpointError, match='more than 64 deep'):
        safe_load(str(tmp_path / 'deeper.pth'))
    torch.save({'a': deep, 'b': [deep]}, tmp_path / 'fits.pth')
    loaded = safe_load(str(tmp_path / 'fits.pth'))
    assert loaded['a'] is loaded['b'][0]
    cycle = []
    cycle.append(cycle)
    torch.save({'a': cycle}, tmp_path / 'cycle.pth')
    with pytest.raises(UnsafeCheckpointError, match='more than 64 deep'):
        safe_load(str(tmp_path / 'cycle.pth'))


def test_bare_pickle_and_legacy_need_the_opt_in(tmp_path):
    path = tmp_path / 'bare.pkl'
    path.write_bytes(pickle_of(tup(i(1))))
    with pytest.raises(UnsafeCheckpointError, match='legacy'):
        safe_load(str(path))


# --------------------------------------------------------------------------
# every scheme MMEngine knows ends in the one loader
# --------------------------------------------------------------------------
def _crafted(path, marker):
    """A crafted file with a code-running payload, at ``path``."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    src = str(path) + '.src'
    torch.save({'state_dict': {'w': torch.ones(1)}}, src)
    splice(src, str(path), 'extra', exec_via_getattr(marker_code(str(marker))))
    os.remove(src)


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    hub = tmp_path / 'hub'
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(hub))
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    return hub


def _cache_with_crafted(url, hub_dir, tmp_path):
    """The crafted file where torch hub and the project cache ``url``."""
    from mmtec.checkpoint.download import cached_path
    marker = tmp_path / 'pwned'
    name = os.path.basename(url)
    for place in (hub_dir / 'checkpoints' / name, cached_path(url)):
        _crafted(place, marker)
    return marker


@pytest.mark.parametrize('scheme,name,table', [
    ('torchvision://', 'resnet18', 'get_torchvision_models'),
    ('modelzoo://', 'resnet18', 'get_torchvision_models'),
    ('open-mmlab://', 'resnet50_v1c', 'get_external_models'),
    ('openmmlab://', 'resnet50_v1c', 'get_external_models'),
    ('mmcls://', 'resnet50', 'get_mmcls_models'),
])
def test_named_model_schemes_go_through_the_loader(hub_dir, tmp_path, scheme,
                                                   name, table):
    from mmengine.runner import checkpoint as mmengine_checkpoint
    url = getattr(mmengine_checkpoint, table)()[name]
    marker = _cache_with_crafted(url, hub_dir, tmp_path)
    with pytest.raises(UnsafeCheckpointError):
        CheckpointLoader.load_checkpoint(scheme + name)
    assert not marker.exists()


def test_open_mmlab_local_file_goes_through_the_loader(tmp_path, monkeypatch):
    home = tmp_path / 'mmengine_home'
    monkeypatch.setenv('MMENGINE_HOME', str(home))
    (home).mkdir()
    (home / 'open_mmlab.json').write_text('{"mine": "models/mine.pth"}')
    marker = tmp_path / 'pwned'
    _crafted(home / 'models' / 'mine.pth', marker)
    with pytest.raises(UnsafeCheckpointError):
        CheckpointLoader.load_checkpoint('open-mmlab://mine')
    assert not marker.exists()


def test_object_storage_goes_through_the_loader(tmp_path, monkeypatch):
    marker = tmp_path / 'pwned'
    _crafted(tmp_path / 'evil.pth', marker)
    data = (tmp_path / 'evil.pth').read_bytes()

    class Backend:  # what MMEngine's petrel backend returns: the bytes

        def get(self, filepath):
            return data

    import mmengine.fileio
    monkeypatch.setattr(mmengine.fileio, 'get_file_backend',
                        lambda *a, **k: Backend())
    for url in ('s3://bucket/evil.pth', 'cluster:s3://bucket/evil.pth',
                'petrel://bucket/evil.pth'):
        with pytest.raises(UnsafeCheckpointError):
            CheckpointLoader.load_checkpoint(url)
    assert not marker.exists()


def test_pavi_is_refused_clearly():
    with pytest.raises(RuntimeError, match='pavi:// checkpoints are not '
                       'supported'):
        CheckpointLoader.load_checkpoint('pavi://model/x.pth')


def test_unknown_model_name_is_a_clear_error(hub_dir):
    with pytest.raises(CheckpointNotFoundError, match='names no known model'):
        CheckpointLoader.load_checkpoint('torchvision://no_such_net')


# --------------------------------------------------------------------------
# files we write
# --------------------------------------------------------------------------
def test_written_files_follow_the_umask(tmp_path):
    from mmtec.checkpoint import save_converted
    old = os.umask(0o022)
    try:
        for name in ('a.pth', 'a.safetensors'):
            save_converted({'state_dict': {'w': torch.ones(2)},
                            'meta': {'x': 1}}, str(tmp_path / name))
            mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
            assert mode == 0o644, (name, oct(mode))
    finally:
        os.umask(old)
