"""The few private MMEngine names mmtec reads or sets, pinned.

mmtec overrides no private MMEngine method; it reads or sets these
attributes and calls one private method, each for a guarantee MMEngine's
public API does not give. When an MMEngine release renames or changes one,
this file fails first and names it:

- ``OptimWrapper._accumulative_counts``/``_inner_count``/``_max_counts``:
  ``ExactResumeHook`` restarts accumulation windows each epoch and keeps
  full windows at a run's end (the authors' loop), and restores an open
  window on resume; ``WarmupCosineLR`` and ``AtomicCheckpointHook`` read
  the window length.
- ``Runner._resume``/``_load_from``: ``ExactResumeHook`` tells a
  ``--resume`` from a ``load_from`` and names the file.
- ``IterBasedTrainLoop._decide_current_val_interval``: called by
  ``ResumableIterBasedTrainLoop.run`` as MMEngine's own ``run`` does.
"""
import inspect

import torch
from mmengine.optim import OptimWrapper
from mmengine.runner import IterBasedTrainLoop, Runner


def wrapper(counts: int) -> OptimWrapper:
    model = torch.nn.Linear(2, 1)
    return OptimWrapper(torch.optim.SGD(model.parameters(), lr=1.0),
                        accumulative_counts=counts)


def test_optim_wrapper_window_attributes():
    w = wrapper(3)
    assert (w._accumulative_counts, w._inner_count, w._max_counts) == (3, 0,
                                                                      -1)
    # the window is decided by _inner_count: set it, the update follows
    w._inner_count = 5
    assert w.inner_count == 5 and w.should_sync() and not w.should_update()
    w._inner_count = 6
    assert w.should_update()
    # _max_counts = -1: every window is full, none shortened at the end
    w.initialize_count_status(torch.nn.Linear(2, 1), 0, 10)
    assert w._max_counts == 10
    w._inner_count, w._max_counts = 9, -1
    loss = w.scale_loss(torch.tensor(3.0))
    assert loss.item() == 1.0  # divided by the full window (3), not by 1


def test_runner_resume_and_load_from_attributes():
    source = inspect.getsource(Runner.__init__)
    assert 'self._resume = resume' in source
    assert 'self._load_from = load_from' in source


def test_iter_loop_decides_its_validation_interval_privately():
    assert '_decide_current_val_interval()' in inspect.getsource(
        IterBasedTrainLoop.run)
    assert callable(IterBasedTrainLoop._decide_current_val_interval)
