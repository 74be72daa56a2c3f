"""Shared pytest configuration."""
import functools
import os.path as osp
import sys

import pytest

from paths import ROOT

# the Fashion-MNIST project's package (fmnist_lab), as tools/demo.py finds it
sys.path.insert(0, osp.join(ROOT, 'projects', 'fashion_mnist'))


def pytest_configure(config):
    # end-to-end tests through the OpenMMLab runners (minutes on a CPU)
    config.addinivalue_line(
        'markers', 'slow: end-to-end runs through a library Runner; '
        'deselect with -m "not slow"')
    config.addinivalue_line(
        'markers', 'fashion_mnist: reads the Fashion-MNIST files of Debian\'s '
        'dataset-fashion-mnist package; skipped where they are missing')


@functools.lru_cache()
def fashion_mnist_missing() -> str:
    """Why the Fashion-MNIST files cannot be read ('' when they can)."""
    from fmnist_lab import find_fashion_mnist
    try:
        find_fashion_mnist()
    except FileNotFoundError as e:
        return f'{e} (apt-get install dataset-fashion-mnist)'
    return ''


def pytest_collection_modifyitems(config, items):
    # a test that uses the image_folder fixture reads Fashion-MNIST too
    for item in items:
        if 'image_folder' in getattr(item, 'fixturenames', ()):
            item.add_marker(pytest.mark.fashion_mnist)


def pytest_runtest_setup(item):
    if item.get_closest_marker('fashion_mnist') and fashion_mnist_missing():
        pytest.skip(fashion_mnist_missing())


@pytest.fixture(autouse=True)
def mmpretrain_default_scope():
    """Start every test in MMPretrain's scope.

    The MMDetection/MMSegmentation tests switch MMEngine's global default
    scope; without a reset, later builds from MMPretrain's registry would
    look in theirs.
    """
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    yield


@pytest.fixture(scope='module')
def image_folder(tmp_path_factory):
    """An ImageNet-layout folder of real Fashion-MNIST images (32 px)."""
    from fmnist_lab import export_image_folder
    return export_image_folder(
        str(tmp_path_factory.mktemp('imagenet')), per_class=2, size=32)


@pytest.fixture(scope='module')
def tiny_base(tmp_path_factory):
    """A tiny random ViT saved in MAE's checkpoint layout."""
    import torch

    from vit_checkpoints import layouts, random_vit
    path = tmp_path_factory.mktemp('base') / 'mae_tiny.pth'
    torch.save(layouts(random_vit())['mae'][0], path)
    return str(path)
