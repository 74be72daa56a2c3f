"""The pretraining recipes decode images as the authors' loader does.

torchvision's ``ImageFolder`` opens a file with PIL and calls
``convert('RGB')``: the EXIF orientation tag is not applied, CMYK is
converted by PIL. The JPEGs here are written by PIL (an EXIF block with an
orientation tag, as cameras write it; an Adobe CMYK JPEG) and read with the
recipe's own first pipeline step.
"""
import os

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

import mmtec  # noqa: F401
from mmtec.registry import TRANSFORMS
from paths import ROOT

ORIENTATION = 0x0112  # EXIF tag; 6: the camera was turned 90 degrees


def photo(mode='RGB', size=(40, 24)):
    """A non-square image whose every pixel differs from its neighbours."""
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 6, y * 10, (x * 3 + y * 7) % 256], -1).astype(np.uint8)
    img = Image.fromarray(rgb)
    return img.convert('CMYK') if mode == 'CMYK' else img


def write_jpeg(path, img, orientation=None):
    exif = Image.Exif()
    if orientation is not None:
        exif[ORIENTATION] = orientation
    img.save(path, quality=95, exif=exif.tobytes())
    return str(path)


def the_authors_decode(path):
    """``torchvision.datasets.folder.pil_loader``, as BGR like mmcv."""
    with open(path, 'rb') as f:
        return np.asarray(Image.open(f).convert('RGB'))[..., ::-1]


def recipe_loader(name='tec_vit-b_800e_in1k.py', **overrides):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', name))
    step = dict(cfg.train_dataloader.dataset.pipeline[0], **overrides)
    assert step['type'] == 'LoadImageOrSkip'
    return TRANSFORMS.build(step)


@pytest.mark.parametrize('mode,orientation', [('RGB', 6), ('CMYK', None),
                                              ('CMYK', 8)])
def test_recipe_decodes_as_the_authors_loader(tmp_path, mode, orientation):
    path = write_jpeg(tmp_path / 'img.JPEG', photo(mode), orientation)
    with Image.open(path) as f:  # the file is what it should be
        assert f.mode == mode
        assert f.getexif().get(ORIENTATION) == orientation
    img = recipe_loader().transform(dict(img_path=path))['img']
    expected = the_authors_decode(path)
    assert img.shape == expected.shape == (24, 40, 3)  # not rotated
    np.testing.assert_array_equal(img, expected)


def test_mmcv_default_decoders_differ_from_the_authors(tmp_path):
    """What the recipe avoids: cv2 (MMPretrain's default) and mmcv's PIL
    path with ``color_type='color'`` both turn an EXIF-rotated photo."""
    path = write_jpeg(tmp_path / 'img.JPEG', photo(), orientation=6)
    for overrides in (dict(imdecode_backend='cv2', color_type='color'),
                      dict(color_type='color')):
        img = recipe_loader(**overrides).transform(dict(img_path=path))['img']
        assert img.shape == (40, 24, 3), overrides


def test_cmyk_through_cv2_is_not_the_authors(tmp_path):
    path = write_jpeg(tmp_path / 'img.JPEG', photo('CMYK'))
    img = recipe_loader(imdecode_backend='cv2').transform(
        dict(img_path=path))['img']
    assert np.abs(img.astype(int) -
                  the_authors_decode(path).astype(int)).max() >= 1
