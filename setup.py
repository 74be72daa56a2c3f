"""Install mmtec: ``pip install -e .`` (see README for the full stack)."""
import os
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


def mim_mode(argv):
    """How ``mmtec/.mim`` is made for a setup.py command, or None.

    Symlinks for an editable install (``develop``, ``editable_wheel``: edits
    show at once), copies for a wheel or an sdist, nothing for metadata-only
    steps (``egg_info``, ``dist_info``).
    """
    if {'develop', 'editable_wheel'} & set(argv):
        return 'symlink'
    if {'bdist_wheel', 'sdist', 'build', 'build_py', 'install'} & set(argv):
        return 'copy'
    return None


def add_mim_extension(mode):
    """Put configs, tools, projects and model-index.yml in ``mmtec/.mim``.

    OpenMMLab's ``mim`` (``mim search mmtec``) and the model zoo
    (``mmpretrain.list_models('*tec*')``) read ``mmtec/.mim/model-index.yml``
    and the configs beside it; ``tools/demo.py`` runs the Fashion-MNIST
    project beside them.

    Args:
        mode (str): 'symlink' or 'copy'.
    """
    import shutil
    mim_path = osp.join(HERE, 'mmtec', '.mim')
    os.makedirs(mim_path, exist_ok=True)
    for name in ('configs', 'tools', 'projects', 'model-index.yml'):
        src, dst = osp.join(HERE, name), osp.join(mim_path, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim_path), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst)
        else:
            shutil.copyfile(src, dst)


def get_version():
    with open(osp.join(HERE, 'mmtec', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


if __name__ == '__main__':  # also when pip's build backend runs it
    import sys
    if mim_mode(sys.argv):
        add_mim_extension(mim_mode(sys.argv))
    setup(
        name='mmtec',
        version=get_version(),
        description='TEC (Target-Enhanced Conditional) self-supervised '
        'pretraining on MMEngine and MMPretrain',
        long_description=open(osp.join(HERE, 'README.md')).read()
        if osp.exists(osp.join(HERE, 'README.md')) else '',
        long_description_content_type='text/markdown',
        keywords='self-supervised learning, vision transformer, TEC, MAE',
        packages=find_packages(
            exclude=('configs', 'tools', 'tests', 'docs', 'projects')),
        include_package_data=True,
        package_data={'mmtec': ['.mim/model-index.yml', '.mim/configs/**/*',
                                '.mim/tools/**/*', '.mim/projects/**/*']},
        python_requires='>=3.8',
        license='Apache License 2.0',
        install_requires=read_requirements('requirements/runtime.txt'),
        extras_require={
            'tests': read_requirements('requirements/tests.txt'),
            # mmcv needs a build that matches the installed torch; see README.
            'mim': read_requirements('requirements/mminstall.txt'),
        },
        zip_safe=False)
