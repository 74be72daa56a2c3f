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
