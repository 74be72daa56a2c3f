"""Install mmtec: ``pip install -e .`` (see README for the full stack)."""
import os.path as osp
import re

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def read_requirements(fname):
    """Parse a requirements file, skipping comments and ``-r`` includes."""
    reqs = []
    with open(osp.join(HERE, fname)) as f:
        for line in f:
            line = line.split('#', 1)[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


def get_version():
    with open(osp.join(HERE, 'mmtec', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


setup(
    name='mmtec',
    version=get_version(),
    description='TEC (Target-Enhanced Conditional) self-supervised '
    'pretraining on MMEngine and MMPretrain',
    long_description=open(osp.join(HERE, 'README.md')).read()
    if osp.exists(osp.join(HERE, 'README.md')) else '',
    long_description_content_type='text/markdown',
    keywords='self-supervised learning, vision transformer, TEC, MAE',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'docs')),
    include_package_data=True,
    python_requires='>=3.8',
    license='Apache License 2.0',
    install_requires=read_requirements('requirements/runtime.txt'),
    extras_require={
        'tests': read_requirements('requirements/tests.txt'),
        # mmcv needs a build that matches the installed torch; see README.
        'mim': read_requirements('requirements/mminstall.txt'),
    },
    zip_safe=False)
