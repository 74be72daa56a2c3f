"""``get_model(name, pretrained=True)`` over http, end to end.

A local HTTP server on 127.0.0.1 stands in for the release host: the
metafile's URL of a released model is pointed at it, and MMPretrain's
``get_model`` fetches the weights through MMEngine's ``load_checkpoint``,
which hands http(s) URLs to :func:`mmtec.checkpoint.load_from_url`. The
server can also send a truncated body, an HTML error page with status 200,
a 404, or a crafted pickle: each gives its own clear error, and nothing is
left in the cache that a later call would take for the checkpoint.
"""
import http.server
import io
import os
import threading

import pytest
import torch

import mmtec  # noqa: F401
from hostile_pickles import exec_via_getattr, marker_code, splice
from mmtec.checkpoint import (
    CheckpointDownloadError,
    CorruptCheckpointError,
    EmptyCheckpointError,
    NotACheckpointError,
    UnsafeCheckpointError,
)
from mmtec.checkpoint.download import cached_path
from mmtec.converters import canonical_to_timm

NAME = 'tec_vit-base-p16_mae-1600e-base_800e_in1k'
FILE = 'tec_mae_vitb_800ep.pth'  # the released file's name
# the zoo config, shrunk to the small ViT the served file holds
TINY = dict(backbone=dict(arch='deit-tiny'), head=dict(in_channels=192))
HTML = (b'<!DOCTYPE html><html><head><title>503 Service Unavailable'
        b'</title></head><body>Try again later.</body></html>')


class ReleaseServer(http.server.ThreadingHTTPServer):
    """Serves ``routes[path] = (status, body, declared length)``; a body
    may be a function of the server giving the chunks to stream, a length
    of None sends no Content-Length."""

    def __init__(self):
        super().__init__(('127.0.0.1', 0), ReleaseHandler)
        self.routes, self.requests = {}, []
        self.done = threading.Event()  # set when the test ends

    def url(self, path):
        return f'http://127.0.0.1:{self.server_address[1]}{path}'

    def serving(self):
        """Serve in a thread until the generator is closed (a fixture)."""
        threading.Thread(target=self.serve_forever, daemon=True).start()
        yield self
        self.done.set()
        self.shutdown()
        self.server_close()


class ReleaseHandler(http.server.BaseHTTPRequestHandler):

    def do_GET(self):
        self.server.requests.append(self.path)
        if self.path not in self.server.routes:
            self.send_error(404, 'Not Found')
            return
        status, body, length = self.server.routes[self.path]
        self.send_response(status)
        if length is not None:
            self.send_header('Content-Length', str(length))
        self.end_headers()
        try:
            for chunk in [body] if isinstance(body, bytes) else \
                    body(self.server):
                self.wfile.write(chunk)
        except OSError:  # the client went away
            pass
        self.close_connection = True  # a short body ends here

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    yield from ReleaseServer().serving()


@pytest.fixture
def hub_dir(tmp_path):
    saved = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / 'hub'))
    yield tmp_path / 'hub' / 'checkpoints'
    torch.hub.set_dir(saved)


@pytest.fixture(scope='module')
def released(tmp_path_factory):
    """A small ViT and its file in the released layout (bare timm dict,
    class token merged, no final norm)."""
    from mmpretrain.models.backbones import VisionTransformer
    torch.manual_seed(0)
    vit = VisionTransformer(arch='deit-tiny', final_norm=False)
    path = tmp_path_factory.mktemp('release') / FILE
    torch.save(canonical_to_timm(vit.state_dict()), path)
    return vit, path.read_bytes(), str(path)


def get_released_model(monkeypatch, url):
    import mmpretrain
    from mmpretrain.apis.model import ModelHub
    ModelHub.get(NAME)  # registers the zoo; get() returns a copy
    monkeypatch.setattr(ModelHub._models_dict[NAME], 'weights', url)
    return mmpretrain.get_model(NAME, pretrained=True, **TINY)


def cached(hub_dir):
    """The file names in the cache, without the URL digest prefix."""
    return sorted(n.split('-', 1)[1] for n in os.listdir(hub_dir)) \
        if hub_dir.exists() else []


def test_released_weights_download_once_and_load(monkeypatch, server,
                                                 hub_dir, released):
    vit, data, _ = released
    server.routes['/weights/' + FILE] = (200, data, len(data))
    url = server.url('/weights/' + FILE)
    model = get_released_model(monkeypatch, url)
    torch.testing.assert_close(model.backbone.layers[3].attn.qkv.weight,
                               vit.layers[3].attn.qkv.weight)
    torch.testing.assert_close(model.backbone.cls_token, vit.cls_token)
    assert cached(hub_dir) == [FILE]
    assert open(cached_path(url), 'rb').read() == data
    # the second call reads the cache
    get_released_model(monkeypatch, url)
    assert server.requests == ['/weights/' + FILE]


@pytest.mark.parametrize('kind', ['truncated', 'html', 'empty'])
def test_bad_download_is_reported_and_not_cached(monkeypatch, server,
                                                 hub_dir, released, kind):
    _, data, _ = released
    path = f'/{kind}/{FILE}'
    server.routes[path] = {
        # the connection drops half way through the declared length
        'truncated': (200, data[:len(data) // 2], len(data)),
        # a proxy's error page with a success status
        'html': (200, HTML, len(HTML)),
        'empty': (200, b'', 0),
    }[kind]
    url = server.url(path)
    error = dict(truncated=CorruptCheckpointError, html=NotACheckpointError,
                 empty=EmptyCheckpointError)[kind]
    with pytest.raises(error) as err:
        get_released_model(monkeypatch, url)
    message = str(err.value)
    assert f'The download of "{url}" is not a usable checkpoint' in message
    assert 'Nothing was cached' in message
    assert cached(hub_dir) == []
    # once the server is fixed, the next call downloads the real file
    server.routes[path] = (200, data, len(data))
    get_released_model(monkeypatch, url)
    assert cached(hub_dir) == [FILE]
    assert server.requests == [path, path]


def test_http_error_names_the_status(monkeypatch, server, hub_dir):
    url = server.url('/gone/' + FILE)
    with pytest.raises(CheckpointDownloadError,
                       match=r'HTTP 404 \(Not Found\).*local path'):
        get_released_model(monkeypatch, url)
    assert cached(hub_dir) == []


def test_unreachable_server(monkeypatch, hub_dir):
    import socket
    with socket.socket() as s:  # a port nothing listens on
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    url = f'http://127.0.0.1:{port}/{FILE}'
    with pytest.raises(CheckpointDownloadError, match='Check the network'):
        get_released_model(monkeypatch, url)
    assert cached(hub_dir) == []


# --- nothing waits forever -------------------------------------------------

def _stall(srv):
    """1,000 bytes, then the socket stays open and silent."""
    yield b'\0' * 1000
    srv.done.wait(120)


def _endless(srv):
    while not srv.done.is_set():
        yield b'\0' * 65536


@pytest.fixture
def silent_url():
    """A server that accepts connections (the kernel does) and never
    answers."""
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        sock.listen(8)
        yield f'http://127.0.0.1:{sock.getsockname()[1]}/' + FILE


@pytest.mark.parametrize('case', ['never answers', 'stops after 1000 bytes',
                                  'announces 10 TB', 'streams forever'])
def test_download_ends_within_its_bounds(monkeypatch, server, hub_dir,
                                         silent_url, case):
    """Each ends within seconds with one line naming the URL, and leaves
    nothing in the cache: no bytes for MMTEC_DOWNLOAD_TIMEOUT seconds, more
    announced than MMTEC_DOWNLOAD_MAX_BYTES (default 8 GiB) or the disk
    holds, more sent than that bound."""
    import time

    from mmtec.checkpoint import load_from_url
    monkeypatch.setenv('MMTEC_DOWNLOAD_TIMEOUT', '1')
    monkeypatch.setenv('MMTEC_DOWNLOAD_MAX_BYTES', str(1 << 20))
    server.routes['/stall'] = (200, _stall, 10**6)
    server.routes['/huge'] = (200, _endless, 10**13)
    server.routes['/endless'] = (200, _endless, None)
    if case == 'announces 10 TB':  # the default bound refuses it too
        monkeypatch.delenv('MMTEC_DOWNLOAD_MAX_BYTES')
    url, expected = {
        'never answers': (silent_url, 'no bytes arrived for 1 s'),
        'stops after 1000 bytes': (server.url('/stall'),
                                   'no bytes arrived for 1 s'),
        'announces 10 TB': (server.url('/huge'),
                            'the server announces 10000000000000 bytes'),
        'streams forever': (server.url('/endless'),
                            'after 1048576 bytes, the most allowed'),
    }[case]
    raised = []

    def download():  # in a thread: a hang fails the test, not the suite
        try:
            load_from_url(url)
        except Exception as err:  # noqa: BLE001
            raised.append(err)

    thread = threading.Thread(target=download, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(60)
    elapsed = time.monotonic() - start
    assert not thread.is_alive(), f'the download of {url} hangs'
    assert isinstance(raised[0], CheckpointDownloadError), raised
    message = str(raised[0])
    assert expected in message and f'"{url}"' in message
    assert '\n' not in message
    assert elapsed < 10, elapsed
    assert not hub_dir.exists() or os.listdir(hub_dir) == []


@pytest.mark.parametrize('name,value', [('MMTEC_DOWNLOAD_TIMEOUT', '0'),
                                        ('MMTEC_DOWNLOAD_MAX_BYTES', '8G')])
def test_download_settings_are_checked(monkeypatch, server, hub_dir, name,
                                       value):
    from mmtec.checkpoint import load_from_url
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"{name}='{value}': give a number "
                       '> 0'):
        load_from_url(server.url('/weights/' + FILE))
    assert server.requests == []


@pytest.mark.slow
def test_interrupted_download_leaves_no_partial_file(server, tmp_path):
    """Ctrl-C while the bytes arrive: the partial file goes too."""
    import signal
    import subprocess
    import sys
    import time
    server.routes['/stall'] = (200, _stall, 10**6)
    from paths import ROOT as root
    cache = tmp_path / 'torch' / 'hub' / 'checkpoints'
    env = dict(os.environ, TORCH_HOME=str(tmp_path / 'torch'),
               PYTHONPATH=root, MMTEC_DOWNLOAD_TIMEOUT='100')
    proc = subprocess.Popen(
        [sys.executable, '-c', 'from mmtec.checkpoint import load_from_url;'
         f'load_from_url({server.url("/stall")!r})'], env=env,
        stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (cache.exists() and [
                n for n in os.listdir(cache)
                if os.path.getsize(cache / n) == 1000]):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert 'KeyboardInterrupt' in stderr
    assert os.listdir(cache) == []


def test_crafted_download_runs_no_code(monkeypatch, server, hub_dir,
                                       released, tmp_path):
    _, _, good_file = released
    marker = tmp_path / 'pwned'
    evil = tmp_path / 'evil.pth'
    splice(good_file, str(evil), 'extra',
           exec_via_getattr(marker_code(str(marker))))
    body = evil.read_bytes()
    server.routes['/evil/' + FILE] = (200, body, len(body))
    url = server.url('/evil/' + FILE)
    with pytest.raises(UnsafeCheckpointError, match='not cached'):
        get_released_model(monkeypatch, url)
    assert not marker.exists()
    assert cached(hub_dir) == []


def test_damaged_cached_copy_says_where_it_is(monkeypatch, server, hub_dir,
                                              released):
    _, data, _ = released
    hub_dir.mkdir(parents=True)
    url = server.url('/weights/' + FILE)
    with open(cached_path(url), 'wb') as f:
        f.write(data[:len(data) // 3])
    with pytest.raises(CorruptCheckpointError) as err:
        get_released_model(monkeypatch, url)
    assert cached_path(url) in str(err.value)
    assert f'cached download of "{url}": delete it' in str(err.value)
    assert server.requests == []


@pytest.mark.parametrize('named', ['plain', 'hash', 'wrong hash'])
def test_offline_node_uses_torch_hubs_copy(hub_dir, released, named):
    """A file that torch hub cached under the URL's file name is read
    without the network (nothing listens on the URL's port); its hash is
    checked when its name carries one."""
    import hashlib
    import socket
    vit, data, _ = released
    digest = hashlib.sha256(data).hexdigest()[:8]
    name = {'plain': FILE, 'hash': f'tec_vitb-{digest}.pth',
            'wrong hash': f'tec_vitb-{int(digest, 16) ^ 1:08x}.pth'}[named]
    hub_dir.mkdir(parents=True)
    (hub_dir / name).write_bytes(data)
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(('127.0.0.1', 0))
        url = f'http://127.0.0.1:{sock.getsockname()[1]}/weights/{name}'
    from mmtec.checkpoint import load_from_url
    if named == 'wrong hash':
        with pytest.raises(CorruptCheckpointError, match='does not match '
                           'the SHA-256') as err:
            load_from_url(url)
        assert str(hub_dir / name) in str(err.value)
        return
    state = load_from_url(url)
    torch.testing.assert_close(state['cls_token'], vit.cls_token)
    assert os.listdir(hub_dir) == [name]


def test_served_bytes_are_the_released_layout(released):
    """The served file is what the release host has: a bare timm dict."""
    _, data, _ = released
    state = torch.load(io.BytesIO(data), weights_only=True)
    assert 'cls_token' in state and 'blocks.0.attn.qkv.weight' in state
    assert 'norm.weight' not in state and 'state_dict' not in state


def test_cache_is_keyed_by_the_whole_url(monkeypatch, server, hub_dir,
                                         released):
    """Two releases with one file name are two cache entries."""
    import hashlib
    vit, data, _ = released
    torch.manual_seed(1)
    from mmpretrain.models.backbones import VisionTransformer
    other = VisionTransformer(arch='deit-tiny', final_norm=False)
    buffer = io.BytesIO()
    torch.save(canonical_to_timm(other.state_dict()), buffer)
    server.routes['/a/' + FILE] = (200, data, len(data))
    server.routes['/b/' + FILE] = (200, buffer.getvalue(),
                                   len(buffer.getvalue()))
    first = get_released_model(monkeypatch, server.url('/a/' + FILE))
    second = get_released_model(monkeypatch, server.url('/b/' + FILE))
    torch.testing.assert_close(first.backbone.cls_token, vit.cls_token)
    torch.testing.assert_close(second.backbone.cls_token, other.cls_token)
    assert cached(hub_dir) == [FILE, FILE]
    assert hashlib.sha256(data).hexdigest() != hashlib.sha256(
        buffer.getvalue()).hexdigest()


@pytest.mark.parametrize('good', [True, False])
def test_hash_in_the_file_name_is_checked(monkeypatch, server, hub_dir,
                                          released, good):
    """torch hub's convention: ``name-<sha256 prefix>.pth``."""
    import hashlib
    _, data, _ = released
    digest = hashlib.sha256(data).hexdigest()[:8]
    if not good:
        digest = format(int(digest, 16) ^ 1, '08x')
    path = f'/weights/tec_vitb-{digest}.pth'
    server.routes[path] = (200, data, len(data))
    if good:
        get_released_model(monkeypatch, server.url(path))
        assert cached(hub_dir) == [f'tec_vitb-{digest}.pth']
        return
    with pytest.raises(CorruptCheckpointError,
                       match=f'does not start with {digest}'):
        get_released_model(monkeypatch, server.url(path))
    assert cached(hub_dir) == []


# --- the base model named by its release: URL or model-zoo name ------------

MAE_FILE = 'mae_pretrain_vit_base.pth'  # MAE's release file name


@pytest.fixture(scope='module')
def mae_release(tmp_path_factory):
    """A tiny random ViT in MAE's release layout (``{'model': timm}``)."""
    from vit_checkpoints import layouts, random_vit
    ckpt, expected = layouts(random_vit())['mae']
    path = tmp_path_factory.mktemp('mae') / MAE_FILE
    torch.save(ckpt, path)
    return expected, path.read_bytes()


def base_generator(checkpoint):
    from mmtec.models import TECTargetGenerator
    from vit_checkpoints import IMG, PATCH, TINY_ARCH
    return TECTargetGenerator(checkpoint=checkpoint, arch=TINY_ARCH,
                              img_size=IMG, patch_size=PATCH, topk=5)


def assert_base_weights(gen, expected):
    for key, value in gen.vit.state_dict().items():
        torch.testing.assert_close(value, expected[key], msg=key)


def test_base_model_from_a_url_downloads_once(server, hub_dir, mae_release):
    expected, data = mae_release
    path = '/mae/pretrain/' + MAE_FILE
    server.routes[path] = (200, data, len(data))
    url = server.url(path)
    assert_base_weights(base_generator(url), expected)
    assert cached(hub_dir) == [MAE_FILE]
    # a second build (another rank, the next run) reads the cache
    assert_base_weights(base_generator(url), expected)
    assert server.requests == [path]


def test_base_model_from_a_model_zoo_name(monkeypatch, server, hub_dir,
                                          mae_release):
    """A name of MMPretrain's model hub (here a released TEC model as the
    next base) is resolved to its metadata's weights URL."""
    from mmpretrain.apis.model import ModelHub

    from mmtec.checkpoint import weights_url
    expected, data = mae_release
    path = '/weights/' + FILE
    server.routes[path] = (200, data, len(data))
    ModelHub.get(NAME)  # registers the zoo; get() returns a copy
    released_url = ModelHub.get(NAME).weights
    assert released_url == ('https://github.com/sail-sg/TEC/releases/'
                            'download/weights/' + FILE)
    monkeypatch.setattr(ModelHub._models_dict[NAME], 'weights',
                        server.url(path))
    assert weights_url(NAME) == server.url(path)
    assert_base_weights(base_generator(NAME), expected)
    assert server.requests == [path]
    assert cached(hub_dir) == [FILE]


def test_an_existing_file_wins_over_a_model_name(tmp_path, monkeypatch,
                                                 mae_release):
    from mmtec.checkpoint import weights_url
    expected, data = mae_release
    monkeypatch.chdir(tmp_path)
    (tmp_path / NAME).write_bytes(data)  # a file spelled like the model
    assert weights_url(NAME) is None
    assert_base_weights(base_generator(NAME), expected)


def test_base_model_name_unknown(hub_dir):
    from mmtec.checkpoint import CheckpointNotFoundError
    with pytest.raises(CheckpointNotFoundError,
                       match='"mae_vit-base-p16_no-such-model" is neither a '
                       'file nor a model name'):
        base_generator('mae_vit-base-p16_no-such-model')
    # a path keeps the loader's own message
    with pytest.raises(CheckpointNotFoundError, match='does not exist'):
        base_generator('checkpoints/' + MAE_FILE)


def test_base_model_url_not_found(server, hub_dir):
    url = server.url('/mae/pretrain/' + MAE_FILE)
    with pytest.raises(CheckpointDownloadError, match=r'HTTP 404'):
        base_generator(url)
    assert cached(hub_dir) == []


# distributed runs (one download per node, failures on every rank):
# tests/test_dist_base.py launches tools/dist_train.sh itself
