"""Shared pytest configuration."""


def pytest_configure(config):
    # end-to-end tests through the OpenMMLab runners (minutes on a CPU)
    config.addinivalue_line(
        'markers', 'slow: end-to-end runs through a library Runner; '
        'deselect with -m "not slow"')
