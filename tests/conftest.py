"""Shared pytest configuration."""


def pytest_configure(config):
    # end-to-end tests through the OpenMMLab runners (minutes on a CPU)
    config.addinivalue_line(
        'markers', 'slow: end-to-end runs through a library Runner; '
        'deselect with -m "not slow"')


import pytest  # noqa: E402


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
    from mmtec.datasets import export_image_folder
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
