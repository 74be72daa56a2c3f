"""Loading checkpoints with ``torch.load(weights_only=True)``.

Torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``; MMEngine
0.10.7 calls it without arguments, so its own training checkpoints (which
pickle the message hub's ``HistoryBuffer`` and numpy values in ``meta``) no
longer load and ``--resume`` breaks. Instead of turning the unpickler's
safety off, we allow exactly the extra globals an MMEngine checkpoint holds
and register that loader for local paths.
"""
import os.path as osp
from typing import Any, List

import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader


def _numpy_globals() -> List[Any]:
    """Numpy reconstructors and dtypes found in MMEngine checkpoint meta."""
    try:  # numpy >= 1.25 exposes the dtype classes
        dtype_classes = [
            getattr(np.dtypes, name) for name in dir(np.dtypes)
            if name.endswith('DType')
        ]
    except AttributeError:  # pragma: no cover - older numpy
        dtype_classes = []
    try:  # numpy < 2 pickles these under numpy.core
        from numpy.core import multiarray
    except ImportError:  # pragma: no cover - numpy >= 2
        from numpy._core import multiarray
    return [
        multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
        *dtype_classes
    ]


def mmengine_checkpoint_globals() -> List[Any]:
    """The non-tensor globals an MMEngine training checkpoint contains.

    ``getattr`` is how a ``HistoryBuffer`` pickles its bound statistics
    methods; the weights-only unpickler still refuses to *call* anything
    that is not allow-listed, so it cannot reach arbitrary code.
    """
    return [HistoryBuffer, getattr, *_numpy_globals()]


def safe_load(filename: str, map_location: Any = 'cpu') -> Any:
    """Load a checkpoint file without running pickled code.

    Plain weights (third-party releases) load as with ``weights_only=True``;
    MMEngine training checkpoints load too, because their few extra globals
    are allow-listed.

    Args:
        filename (str): Path of a local checkpoint file.
        map_location (Any): Passed to :func:`torch.load`. Defaults to 'cpu'.

    Returns:
        Any: The loaded object, usually a dict.
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(
            f'Checkpoint file "{filename}" does not exist. Check the path '
            '(relative paths are resolved from the current directory).')
    with torch.serialization.safe_globals(mmengine_checkpoint_globals()):
        try:
            return torch.load(
                filename, map_location=map_location, weights_only=True)
        except Exception as err:  # unpickling errors carry many types
            raise RuntimeError(
                f'Could not load checkpoint "{filename}" with '
                f'weights_only=True: {err}\nIf the file is a trusted '
                'checkpoint that stores other Python objects, re-save its '
                'tensors only (e.g. torch.save(ckpt["state_dict"], path)).'
            ) from err


def _load_from_local(filename: str, map_location: Any = None) -> Any:
    return safe_load(filename, map_location=map_location)


def register_safe_local_loader() -> None:
    """Make MMEngine load local checkpoints through :func:`safe_load`."""
    CheckpointLoader.register_scheme(
        prefixes='', loader=_load_from_local, force=True)
