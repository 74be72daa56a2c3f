"""Undecodable images are skipped, named, counted and bounded."""
import io
import os
import re
import struct
import subprocess
import sys
import time
import zlib
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmpretrain.registry import DATASETS
from mmpretrain.structures import DataSample
from PIL import Image

import mmtec  # noqa: F401
import mmtec.datasets.transforms.load_image_or_skip as loader_module
from fmnist_lab import export_image_folder
from mmtec.datasets import LoadImageOrSkip
from mmtec.engine.hooks import SkippedImagesHook
from mmtec.engine.hooks.skipped_images_hook import TooManyBadImagesError
from paths import ROOT, TINY_CFG
from timeouts import TRAIN_S
from vit_checkpoints import layouts, random_vit

PIPELINE = [
    dict(type='LoadImageOrSkip'),
    dict(type='PackInputs', algorithm_keys=['skipped_images'])
]


@pytest.fixture
def logged(monkeypatch):
    seen = []
    monkeypatch.setattr(loader_module, 'print_log',
                        lambda msg, **kw: seen.append(msg))
    return seen


def load(path):
    return LoadImageOrSkip().transform(dict(img_path=str(path)))


# --- image kinds that must keep loading ------------------------------------

def test_grayscale_rgba_and_16bit_images_load_as_bgr_uint8(tmp_path):
    gray = tmp_path / 'gray.png'
    Image.fromarray(np.full((5, 7), 100, np.uint8), 'L').save(gray)
    rgba = tmp_path / 'rgba.png'
    Image.fromarray(np.tile(np.array([10, 20, 30, 40], np.uint8),
                            (5, 7, 1)), 'RGBA').save(rgba)
    deep = tmp_path / 'gray16.png'
    Image.fromarray(np.full((5, 7), 0x8000, np.uint16)).save(deep)
    for path, bgr in [(gray, [100, 100, 100]), (rgba, [30, 20, 10]),
                      (deep, [128, 128, 128])]:
        img = load(path)['img']
        assert img.dtype == np.uint8 and img.shape == (5, 7, 3), path
        assert img[2, 3].tolist() == bgr, path


# --- one bad file ------------------------------------------------------------

def test_undecodable_file_is_skipped_and_named(tmp_path, logged):
    bad = tmp_path / 'bad.JPEG'
    bad.write_bytes(b'\xff\xd8 truncated jpeg')
    good = tmp_path / 'good.png'
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(good)
    loader = LoadImageOrSkip()
    assert loader.transform(dict(img_path=str(bad))) is None
    assert len(logged) == 1 and str(bad) in logged[0]
    assert logged[0].startswith(f'Skipping undecodable image {bad} ')
    # the image drawn instead carries the skipped path, once
    assert loader.transform(dict(img_path=str(good)))['skipped_images'] == [
        str(bad)
    ]
    assert 'skipped_images' not in loader.transform(
        dict(img_path=str(good)))


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing.png does not exist'):
        load(tmp_path / 'missing.png')


@pytest.mark.fashion_mnist
def test_dataset_substitutes_and_tags(tmp_path, logged):
    data = export_image_folder(str(tmp_path), per_class=1, size=16)
    bad = os.path.join(data, 'train', 'Bag', 'corrupt.JPEG')
    with open(bad, 'wb') as f:
        f.write(b'not an image at all')
    dataset = DATASETS.build(
        dict(type='CustomDataset', data_root=data, data_prefix='train',
             with_label=False, pipeline=PIPELINE))
    assert len(dataset) == 11
    samples = [dataset[i]['data_samples'] for i in range(len(dataset))]
    tagged = [s.get('skipped_images') for s in samples
              if s.get('skipped_images')]
    # one sample stands in for the bad file; the draw of a substitute is
    # random and may hit the bad file again (then it is listed twice)
    assert len(tagged) == 1 and set(tagged[0]) == {bad}
    assert all(not s.img_path.endswith('corrupt.JPEG') for s in samples)


# --- images whose header declares too many pixels ----------------------------

def png_chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack(
        '>I', zlib.crc32(kind + data))


def write_blank_png(path, width, height, rows=None):
    """A black 1-bit PNG: a few bytes per row compressed, so the file is
    tiny whatever its size; ``rows`` < height leaves it truncated."""
    comp = zlib.compressobj(9)
    row = b'\x00' * (1 + (width + 7) // 8)
    idat = b''.join(comp.compress(row)
                    for _ in range(height if rows is None else rows))
    path.write_bytes(
        b'\x89PNG\r\n\x1a\n'
        + png_chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 1, 0,
                                         0, 0, 0))
        + png_chunk(b'IDAT', idat + comp.flush()) + png_chunk(b'IEND', b''))


def write_jpeg_declaring(path, width, height):
    """A small real JPEG whose frame header (SOF0) claims another size."""
    buf = io.BytesIO()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(buf, 'JPEG')
    data = bytearray(buf.getvalue())
    sof = data.index(b'\xff\xc0')
    data[sof + 5:sof + 9] = struct.pack('>HH', height, width)
    path.write_bytes(bytes(data))


def test_oversized_images_are_skipped_from_the_header(tmp_path, logged):
    # a complete 12000 x 12000 PNG of 19 KB, 144 MP (OpenCV would decode
    # it into a 432 MB array); a truncated 11000 x 11000 one; a JPEG
    # declaring 65000 x 60000 (PIL itself refuses that as a bomb)
    full, cut, jpeg = (tmp_path / n for n in ('full.png', 'cut.png',
                                              'big.jpg'))
    write_blank_png(full, 12000, 12000)
    write_blank_png(cut, 11000, 11000, rows=3)
    write_jpeg_declaring(jpeg, 65000, 60000)
    assert full.stat().st_size < 30000
    good = tmp_path / 'good.png'
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(good)
    loader = LoadImageOrSkip()  # default limit: 100 MP
    start = time.perf_counter()
    for path in (full, cut, jpeg):
        assert loader.transform(dict(img_path=str(path))) is None
    assert time.perf_counter() - start < 1.0  # nothing was decoded
    assert logged[0] == (
        f'Skipping oversized image {full}: its header declares 12000x12000 '
        '= 144000000 pixels, more than max_pixels=100000000; another image '
        'is drawn in its place.')
    assert logged[1].startswith(f'Skipping oversized image {cut}: its '
                                'header declares 11000x11000 = 121000000')
    assert logged[2].startswith(
        f'Skipping oversized image {jpeg}: Image size (3900000000 pixels) '
        'exceeds limit of')
    # counted like undecodable files, on the image drawn instead
    assert loader.transform(dict(img_path=str(good)))['skipped_images'] == [
        str(full), str(cut), str(jpeg)
    ]


def test_pixel_limit_is_configurable(tmp_path, logged):
    img = tmp_path / 'img.png'
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(img)
    assert LoadImageOrSkip(max_pixels=1199).transform(
        dict(img_path=str(img))) is None
    assert 'declares 30x40 = 1200 pixels, more than max_pixels=1199' \
        in logged[0]
    assert LoadImageOrSkip(max_pixels=1200).transform(
        dict(img_path=str(img)))['img'].shape == (40, 30, 3)
    # None turns the check off: a 105 MP PNG decodes
    wide = tmp_path / 'wide.png'
    write_blank_png(wide, 10500, 10000)
    assert LoadImageOrSkip(max_pixels=None, color_type='grayscale').transform(
        dict(img_path=str(wide)))['img'].shape == (10000, 10500)
    with pytest.raises(ValueError, match='max_pixels must be > 0 or None'):
        LoadImageOrSkip(max_pixels=0)


def test_dataset_substitutes_an_oversized_image(tmp_path, logged):
    data = export_image_folder(str(tmp_path), per_class=1, size=16)
    big = os.path.join(data, 'train', 'Bag', 'huge.png')
    write_blank_png(type(tmp_path)(big), 12000, 12000)
    dataset = DATASETS.build(
        dict(type='CustomDataset', data_root=data, data_prefix='train',
             with_label=False, pipeline=PIPELINE))
    tagged = [dataset[i]['data_samples'].get('skipped_images')
              for i in range(len(dataset))]
    tagged = [t for t in tagged if t]
    assert len(tagged) == 1 and set(tagged[0]) == {big}


# --- the GPU-decode path's reader --------------------------------------------

def test_jpeg_bytes_reader_skips_what_the_device_decoder_cannot_take(
        tmp_path, monkeypatch):
    """PackJPEGBytes: a PNG named .JPEG, a broken file and a JPEG
    declaring 32000 x 32000 pixels are skipped from their headers; the
    dataset draws JPEGs in their place, which carry the skipped paths."""
    from mmengine.dataset import pseudo_collate
    from torchvision.io import decode_jpeg

    import mmtec.datasets.transforms.load_image_or_skip as pack_module
    from mmtec.datasets import PackJPEGBytes
    seen = []
    monkeypatch.setattr(pack_module, 'print_log',
                        lambda msg, **kw: seen.append(msg))
    folder = tmp_path / 'train' / 'a'
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), np.uint8)).save(
            folder / f'good{i}.JPEG')
    png, broken, huge = (folder / n for n in ('png.JPEG', 'broken.JPEG',
                                              'huge.JPEG'))
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(png, 'PNG')
    broken.write_bytes(b'\xff\xd8\xff' + b'\x00' * 64)
    write_jpeg_declaring(huge, 32000, 32000)  # 1.02 GP: PIL's own limit
    pack = PackJPEGBytes()
    for path, why in ((png, "its header says PNG, not one of ['JPEG']"),
                      (broken, "its header is not one of ['JPEG']"),
                      (huge, 'exceeds limit')):
        assert pack.transform(dict(img_path=str(path))) is None
        assert seen[-1].startswith(f'Skipping {path}: ') and why in seen[-1]
    good = pack.transform(dict(img_path=str(folder / 'good0.JPEG')))
    assert good['data_samples'].get('skipped_images') == [
        str(png), str(broken), str(huge)]
    # within the pixel limit but above a lower one
    assert PackJPEGBytes(max_pixels=24 * 32 - 1).transform(
        dict(img_path=str(folder / 'good1.JPEG'))) is None
    assert 'declares 32x24 = 768 pixels, more than max_pixels=767' in \
        seen[-1]
    with pytest.raises(ValueError, match='max_pixels must be > 0 or None'):
        PackJPEGBytes(max_pixels=0)

    dataset = DATASETS.build(dict(
        type='CustomDataset', data_root=str(tmp_path), data_prefix='train',
        with_label=False, pipeline=[dict(type='PackJPEGBytes')]))
    items = [dataset[i] for i in range(len(dataset))]
    skipped = [p for item in items
               for p in item['data_samples'].get('skipped_images', [])]
    # each bad file at least once (a random substitute can be one again)
    assert set(skipped) == set(map(str, (png, broken, huge)))
    # every image handed on decodes as the batched decoder does
    images = decode_jpeg(pseudo_collate(items)['inputs'])
    assert [tuple(im.shape) for im in images] == [(3, 24, 32)] * 6


# --- counting and the bound --------------------------------------------------

def fake_runner(dataset_len, warnings):
    logger = SimpleNamespace(warning=warnings.append)
    return SimpleNamespace(
        epoch=0, logger=logger,
        train_dataloader=SimpleNamespace(dataset=range(dataset_len)))


def batch(n, skipped=()):
    samples = [DataSample() for _ in range(n)]
    for sample, path in zip(samples, skipped):
        sample.set_field([path], 'skipped_images')
    return dict(inputs=torch.zeros(n), data_samples=samples)


def test_hook_summary_below_the_bound():
    warnings = []
    runner = fake_runner(1000, warnings)
    hook = SkippedImagesHook()  # default: 0.1%
    hook.before_train_epoch(runner)
    for i in range(9):
        hook.after_train_iter(runner, i, batch(100))
    hook.after_train_iter(runner, 9, batch(99, ['x/bad.jpg']))
    hook.after_train_epoch(runner)  # 1 of 1000 read: exactly 0.1%
    assert warnings == [
        "Epoch 1: skipped 1 undecodable or oversized image(s) of 1000 read "
        "(0.100%, "
        "limit 0.100%): ['x/bad.jpg']"
    ]
    hook.before_train_epoch(runner)
    hook.after_train_iter(runner, 0, batch(100))
    hook.after_train_epoch(runner)
    assert len(warnings) == 1  # a clean epoch logs nothing


def test_hook_stops_above_the_bound():
    warnings = []
    runner = fake_runner(100000, warnings)
    hook = SkippedImagesHook(max_bad_fraction=0.01)
    hook.before_train_epoch(runner)
    hook.after_train_iter(runner, 0, batch(98, ['a.jpg', 'b.jpg']))
    with pytest.raises(TooManyBadImagesError) as err:
        hook.after_train_epoch(runner)  # 2 of 100 read
    assert str(err.value).startswith(
        '2 of 100 images read by all processes in epoch 1 could not be '
        'decoded or were oversized (2.00%), more than max_bad_fraction=1.00%')
    assert "['a.jpg', 'b.jpg']" in str(err.value)
    # a broken dataset stops long before the epoch ends
    runner = fake_runner(100, warnings)
    hook.before_train_epoch(runner)
    with pytest.raises(TooManyBadImagesError, match='by this process'):
        hook.after_train_iter(runner, 0, batch(2, ['a.jpg', 'b.jpg']))


# --- end to end -------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.fashion_mnist
def test_training_skips_a_corrupt_jpeg_in_worker_processes(tmp_path):
    data = export_image_folder(str(tmp_path / 'imagenet'), per_class=2,
                               size=32)
    bad = os.path.join(data, 'train', 'Bag', 'corrupt.JPEG')
    with open(bad, 'wb') as f:
        f.write(b'\xff\xd8\xff\xe0 truncated')
    base = tmp_path / 'base.pth'
    torch.save(layouts(random_vit())['mae'][0], base)

    def train(work, *extra):
        return subprocess.run(
            [sys.executable, 'tools/train.py', TINY_CFG, '--work-dir',
             str(tmp_path / work), '--cfg-options',
             f'model.target_generator.checkpoint={base}',
             f'train_dataloader.dataset.data_root={data}',
             'train_cfg.max_epochs=1', 'train_dataloader.num_workers=2',
             *extra], cwd=ROOT, capture_output=True, text=True,
            timeout=TRAIN_S)

    res = train('tolerant', 'custom_hooks.3.max_bad_fraction=0.1')
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-5000:]
    assert f'Skipping undecodable image {bad}' in out
    # counted although a worker process skipped it: 21 samples trained on
    # plus each failed decode (the random substitute can be the bad file
    # again, although with the config's seed it is not)
    summary = re.search(r'Epoch 1: skipped (\d+) undecodable or oversized '
                        r'image\(s\) of (\d+) read \([0-9.]+%, limit '
                        r'10.000%\): (.*)', out)
    assert summary, out[-3000:]
    skipped, read = int(summary[1]), int(summary[2])
    assert skipped >= 1 and read == 21 + skipped
    assert summary[3] == str([bad] * skipped)
    res = train('strict')  # default bound: 0.1%
    out = res.stdout + res.stderr
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert 'TooManyBadImagesError: 1 of ' in last
    assert 'more than max_bad_fraction=0.10%' in last
