"""Study stages under a time limit: stopped at an epoch end, continued
exactly by the next call."""
import os.path as osp
import sys

import pytest
import torch

from fmnist_lab import (
    TimeLimitReached,
    pretrain_stage,
    project_config,
    read_json,
)
from mmtec.checkpoint import safe_load

pytestmark = pytest.mark.fashion_mnist

OPTIONS = {
    'train_dataloader.dataset.data_root': 'data/fashion_mnist',
    'train_dataloader.dataset.num_per_class': 5,  # 50 images
    'train_dataloader.batch_size': 16,  # 4 iterations per epoch
}


def _stage(work_dir, stop_at=None):
    return pretrain_stage(f'mae_{osp.basename(work_dir)}',
                          project_config('mae_vit-w64d3-p7_fmnist.py'),
                          str(work_dir), 3, OPTIONS, seed=3,
                          stop_at=stop_at)


def _weights(path):
    return safe_load(path)['state_dict']


def test_past_the_limit_nothing_starts(tmp_path):
    with pytest.raises(TimeLimitReached) as stop:
        _stage(tmp_path / 'run', stop_at=0.)
    assert stop.value.code == 75
    assert not osp.exists(tmp_path / 'run')


def test_stopped_stage_continues_exactly(tmp_path, monkeypatch):
    whole = _stage(tmp_path / 'whole')
    assert not whole['reused'] and whole['epochs'] == 3

    # the limit passes during the first epoch: the stage starts, then stops
    # after that epoch's checkpoint is saved
    module = sys.modules['fmnist_lab.pretrain_stage']
    monkeypatch.setattr(module, 'check_time_limit', lambda *a: None)
    with pytest.raises(TimeLimitReached) as stop:
        _stage(tmp_path / 'parts', stop_at=0.)
    monkeypatch.undo()
    assert stop.value.code == 75
    parts = tmp_path / 'parts'
    assert osp.isfile(parts / 'epoch_1.pth')
    assert not osp.exists(parts / 'epoch_2.pth')
    assert not osp.exists(parts / 'stage.json')  # not finished
    first_wall = read_json(str(parts / 'stage_settings.json'))['wall_s']
    assert first_wall > 0

    # a later call continues from epoch 1 and ends where one run ends
    resumed = _stage(parts)
    assert not resumed['reused']
    assert resumed['wall_s'] > first_wall  # both parts counted
    a, b = _weights(whole['checkpoint']), _weights(resumed['checkpoint'])
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # finished: reused even past the limit
    assert _stage(parts, stop_at=0.)['reused']
