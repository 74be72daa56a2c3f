"""Every repository path that the code, configs and docs name exists."""
import ast
import glob
import os
import re

import pytest

from paths import ROOT

# where paths are named: docs, package code, tools, configs, model index,
# projects, tests
SOURCES = ['README.md', 'model-index.yml', 'setup.py', '.ci/run',
           'docs/*.md', 'mmtec/**/*.py', 'tools/**/*.py', 'tools/**/*.sh',
           'tools/**/*.md',
           'configs/**/*.py', 'configs/**/*.yml', 'projects/**/*.py',
           'projects/**/*.md', 'tests/**/*.py']
# a repo-relative path: starts with one of these folders, not inside a URL
# or another path (no letter, '/', '.' or '-' right before it)
PATH = re.compile(r'(?<![\w/.:-])'
                  r'((?:tools|configs|docs|mmtec|projects|tests)/[\w./-]*[\w/])')
# what a command would write (``--out-md docs/x.md``) need not exist yet
OUTPUT = re.compile(r'--[\w-]*out[\w-]*[ =\n]+$')
# made by the install (setup.py), not kept in the repository
GENERATED = ('mmtec/.mim',)


def source_files():
    files = set()
    for pattern in SOURCES:
        files.update(glob.glob(os.path.join(ROOT, pattern), recursive=True))
    return sorted(f for f in files if '/.mim/' not in f)


def named_paths(text):
    """Repo-relative paths in ``text``; globs and placeholders skipped."""
    for match in PATH.finditer(text):
        path = match.group(1).rstrip('.')
        if any(c in path for c in '*<>{}') or path.startswith(GENERATED):
            continue
        if OUTPUT.search(text[max(0, match.start() - 40):match.start()]):
            continue
        yield path


def python_strings(text):
    """String constants of Python code, implicit concatenations joined (a
    path split over two lines of a message is one string here)."""
    return '\n'.join(
        node.value for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Constant) and isinstance(node.value, str))


@pytest.fixture(scope='module', autouse=True)
def parsers_see_what_they_must():
    """The file list and both parsers find what they must: a broken one
    would let the tests below pass on nothing."""
    files = [os.path.relpath(f, ROOT) for f in source_files()]
    assert 'README.md' in files and 'model-index.yml' in files
    assert 'configs/tec/metafile.yml' in files and 'tools/demo.py' in files
    assert 'projects/fashion_mnist/README.md' in files
    assert 'tools/README.md' in files and 'docs/README.md' in files
    assert 'tests/test_repo_paths.py' in files
    text = ('see `tools/model_converters/tec2vit.py`, (configs/tec/), '
            'docs/benchmarks.md. https://x.org/tools/a.py a/tools/b.py '
            'configs/*.py --out-md docs/new.md mmtec/.mim/configs '
            'projects/fashion_mnist/configs/fmnist_eval.py tests/data/ '
            '02ff467:tools/a')
    assert list(named_paths(text)) == [
        'tools/model_converters/tec2vit.py', 'configs/tec/',
        'docs/benchmarks.md', 'projects/fashion_mnist/configs/fmnist_eval.py',
        'tests/data/'
    ]
    code = ("msg = ('convert it (tools/'\n"
            "       'model_converters/tec2vit.py)')")
    assert list(named_paths(python_strings(code))) == [
        'tools/model_converters/tec2vit.py'
    ]
    text = '[a](algorithm.md) [b](../tools/README.md#x) [c](https://x.org/a)'
    assert [m.group(1) for m in LINK.finditer(text)] == [
        'algorithm.md', '../tools/README.md', 'https://x.org/a'
    ]


@pytest.mark.parametrize('source', source_files(),
                         ids=lambda p: os.path.relpath(p, ROOT))
def test_every_named_path_exists(source):
    with open(source, encoding='utf-8') as f:
        text = f.read()
    if source.endswith('.py'):
        text += '\n' + python_strings(text)
    missing = sorted({
        p for p in named_paths(text)
        if not os.path.exists(os.path.join(ROOT, p))
    })
    assert not missing, (
        f'{os.path.relpath(source, ROOT)} names paths that do not exist: '
        f'{missing}')


LINK = re.compile(r'\]\(([^)#\s]+)(?:#[^)]*)?\)')


@pytest.mark.parametrize(
    'source', [f for f in source_files() if f.endswith('.md')],
    ids=lambda p: os.path.relpath(p, ROOT))
def test_markdown_links_resolve(source):
    """Relative links of a markdown page point at files, from its folder."""
    with open(source, encoding='utf-8') as f:
        links = [m.group(1) for m in LINK.finditer(f.read())]
    missing = sorted({
        link for link in links if '://' not in link and not os.path.exists(
            os.path.join(os.path.dirname(source), link))
    })
    assert not missing, (
        f'{os.path.relpath(source, ROOT)} links to missing files: {missing}')
