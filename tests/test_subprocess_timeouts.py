"""Every process that the tests and tools start and wait for has a time
limit: a hung run (a stuck gloo rendezvous) must fail, not hang CI."""
import ast
import glob
import os

from paths import ROOT

WAITING = ('run', 'call', 'check_call', 'check_output')


def calls_without_timeout(text):
    """Line numbers of ``subprocess.<WAITING>(...)`` without ``timeout``."""
    return [
        node.lineno for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in WAITING
        and getattr(node.func.value, 'id', None) == 'subprocess'
        and not any(k.arg == 'timeout' for k in node.keywords)
    ]


def test_every_subprocess_call_has_a_timeout():
    # the check itself sees a missing timeout (else this passes on nothing)
    assert calls_without_timeout(
        'import subprocess\nsubprocess.run(["x"])\n'
        'subprocess.check_output(["x"], timeout=5)\n') == [2]
    missing = []
    for pattern in ('tests/**/*.py', 'tools/**/*.py', 'projects/**/*.py',
                    'mmtec/**/*.py'):
        for path in glob.glob(os.path.join(ROOT, pattern), recursive=True):
            with open(path, encoding='utf-8') as f:
                lines = calls_without_timeout(f.read())
            missing += [f'{os.path.relpath(path, ROOT)}:{n}' for n in lines]
    assert not missing, f'subprocess calls without a timeout: {missing}'
