"""``save_best`` through AtomicCheckpointHook: the best file is never lost.

MMEngine's CheckpointHook removes the previous best checkpoint and then
writes the new one in place, so a crash during that write leaves no best
checkpoint at all. These tests run MMEngine's real Runner on a toy model
with a metric that follows a fixed score sequence.
"""
import glob
import itertools
import os

import pytest
import torch
from mmengine.evaluator import BaseMetric
from mmengine.fileio.backends import LocalBackend
from mmengine.model import BaseModel
from mmengine.runner import Runner
from torch.utils.data import DataLoader

import mmtec  # noqa: F401
from mmtec.checkpoint import safe_load

RUN_IDS = itertools.count()  # one MMEngine experiment name per runner


class ToyModel(BaseModel):

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(inputs)
        if mode == 'loss':
            return dict(loss=((out.squeeze(1) - labels)**2).mean())
        return [dict(pred=o) for o in out]


class ScriptedScore(BaseMetric):
    """Reports ``scores[k]`` at the k-th validation."""

    def __init__(self, scores):
        super().__init__()
        self.scores, self.calls = list(scores), 0

    def process(self, data_batch, data_samples):
        self.results.append(0)

    def compute_metrics(self, results):
        self.calls += 1
        return dict(score=self.scores[self.calls - 1])


def collate(items):
    inputs, labels = zip(*items)
    return dict(inputs=torch.stack(inputs), labels=torch.stack(labels))


def toy_runner(work_dir, scores, hook='AtomicCheckpointHook', metric=None,
               save_best='score', rule='greater'):
    data = [(torch.randn(2), torch.randn(())) for _ in range(4)]
    loader = DataLoader(data, batch_size=2, collate_fn=collate)
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=loader,
        val_dataloader=DataLoader(data, batch_size=2, collate_fn=collate),
        val_evaluator=[metric or ScriptedScore(scores)],
        train_cfg=dict(by_epoch=True, max_epochs=len(scores),
                       val_interval=1),
        val_cfg=dict(),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=dict(
            type=hook, interval=1, max_keep_ckpts=1, save_best=save_best,
            rule=rule)),
        default_scope='mmpretrain',
        experiment_name=f'toy_best_{next(RUN_IDS)}')


def names(folder):
    return sorted(os.path.basename(p) for p in glob.glob(str(folder / '*')))


def test_best_checkpoint_follows_the_score(tmp_path):
    runner = toy_runner(tmp_path, [0.5, 0.7, 0.6])
    runner.train()
    best = tmp_path / 'best_score_epoch_2.pth'
    assert [n for n in names(tmp_path) if n.endswith('.pth')] == [
        'best_score_epoch_2.pth', 'epoch_3.pth']
    assert not glob.glob(str(tmp_path / '*.tmp'))
    saved = safe_load(str(best))
    assert saved['meta']['epoch'] == 2
    assert 'optimizer' not in saved
    assert runner.message_hub.get_info('best_ckpt') == str(best)
    assert runner.message_hub.get_info('best_score') == 0.7
    # the latest checkpoint records the best, so a resumed run replaces it
    last = safe_load(str(tmp_path / 'epoch_3.pth'))
    assert last['message_hub']['runtime_info']['best_ckpt'] == str(best)


@pytest.mark.parametrize('hook, best_survives', [
    ('AtomicCheckpointHook', True),
    # the same crash with MMEngine's own hook loses the best checkpoint:
    # what this test guards against
    ('CheckpointHook', False),
])
def test_crash_while_saving_a_new_best_keeps_the_old_one(
        tmp_path, monkeypatch, hook, best_survives):
    put = LocalBackend.put

    def crashing_put(self, obj, filepath):
        if os.path.basename(filepath).startswith('best_score_epoch_2'):
            with open(filepath, 'wb') as f:  # half the bytes, then fail
                f.write(obj[:len(obj) // 2])
            raise OSError(28, 'No space left on device (simulated)')
        return put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', crashing_put)
    with pytest.raises(OSError, match='simulated'):
        toy_runner(tmp_path, [0.5, 0.7, 0.6], hook=hook).train()
    old = tmp_path / 'best_score_epoch_1.pth'
    assert old.exists() == best_survives
    if not best_survives:
        return
    assert safe_load(str(old))['meta']['epoch'] == 1
    # the partial write is not a .pth anything would pick up, and the next
    # run clears it away
    assert not (tmp_path / 'best_score_epoch_2.pth').exists()
    assert (tmp_path / 'best_score_epoch_2.pth.tmp').exists()
    monkeypatch.setattr(LocalBackend, 'put', put)
    toy_runner(tmp_path, [0.1]).train()
    assert not glob.glob(str(tmp_path / '*.tmp'))


def test_several_key_indicators_each_keep_one_best(tmp_path):

    class TwoScores(ScriptedScore):

        def compute_metrics(self, results):
            self.calls += 1
            a, b = self.scores[self.calls - 1]
            return dict(a=a, b=b)

    scores = [(1, 5), (2, 4), (0, 6)]
    runner = toy_runner(tmp_path, scores, metric=TwoScores(scores),
                        save_best=['a', 'b'], rule=['greater', 'less'])
    runner.train()
    assert [n for n in names(tmp_path) if n.startswith('best_')] == [
        'best_a_epoch_2.pth', 'best_b_epoch_2.pth']
    assert runner.message_hub.get_info('best_score_a') == 2
    assert runner.message_hub.get_info('best_score_b') == 4
