"""JSON records of finished stages and evaluations, written atomically."""
import json
import os
import os.path as osp
from typing import Optional

from mmtec.checkpoint import write_atomically


def read_json(path: str) -> Optional[dict]:
    """The JSON object in ``path``, or None when there is no such file."""
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def write_json(path: str, data) -> None:
    """Write JSON atomically, so an interrupted run leaves no half file."""
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    write_atomically(path, json.dumps(data, indent=2, sort_keys=True))


def cached_eval(path: str, settings: dict, fn) -> dict:
    """Return the evaluation stored in ``path`` for ``settings`` or run it.

    Args:
        path (str): JSON file of the result.
        settings (dict): What the result depends on (checkpoint, sizes...).
        fn (callable): Computes the result when it is not cached.

    Returns:
        dict: The result, with ``reused`` telling whether it was cached.
    """
    cached = read_json(path)
    if cached is not None and cached.get('settings') == settings:
        print(f'[eval] reusing {path}', flush=True)
        return dict(cached['result'], reused=True)
    result = fn()
    write_json(path, dict(settings=settings, result=result))
    return dict(result, reused=False)
