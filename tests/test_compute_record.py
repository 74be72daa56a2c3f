"""The compute of a run is logged and summarised in its work dir."""
import json
import os

import pytest
import torch
from mmengine.config import Config
from torch.utils.flop_counter import FlopCounterMode

import mmtec  # noqa: F401
from mmtec.engine.hooks.compute_record_hook import base_model_compute
from mmtec.registry import MODELS

# image_folder and tiny_base are fixtures of conftest.py
from test_train_e2e import ROOT, TINY_CFG, train

METAFILE = os.path.join(ROOT, 'configs', 'tec', 'metafile.yml')


def test_base_model_compute_comes_from_the_config():
    cfg = Config.fromfile(os.path.join(ROOT, 'configs',
                                       'tec_vit-b_800e_in1k.py'))
    base = base_model_compute(cfg)
    assert base['name'] == 'MAE ViT-B 1600 ep'
    # MAE ViT-B, 1600 epochs: about 1.2e5 PFLOPs
    assert 5e4 < base['pretraining_pflops_estimate'] < 5e5
    assert 'estimate' in base['source']
    unknown = base_model_compute(
        dict(model=dict(target_generator=dict(checkpoint='my.pth'))))
    assert unknown['pretraining_pflops_estimate'] is None
    # the hook takes nothing from the repository's files
    from mmtec.engine.hooks import ComputeRecordHook
    assert not hasattr(ComputeRecordHook(), 'metafile')


def test_recipes_give_the_metafile_base_compute():
    """Each recipe's ``base_model_compute`` is its metafile entry's."""
    import yaml
    with open(METAFILE) as f:
        models = yaml.safe_load(f)['Models']
    for model in models:
        meta = model['Metadata']
        cfg = Config.fromfile(os.path.join(ROOT, meta['Pretraining Config']))
        base = base_model_compute(cfg)
        assert base['name'] == meta['Base Model'], meta
        assert base['pretraining_pflops_estimate'] == meta[
            'Base Model Pretraining PFLOPs (estimate)'], meta
    for other in ('clip-base', 'dinov2-base'):
        cfg = Config.fromfile(os.path.join(
            ROOT, 'configs', f'tec_vit-b_{other}_300e_in1k.py'))
        assert base_model_compute(cfg)['pretraining_pflops_estimate'] is None


def test_compute_record_names_the_base_that_ran():
    """The config's base compute is this run's only when the run loaded
    the recipe's own base."""
    from types import SimpleNamespace

    from mmengine.logging import MessageHub

    from mmtec.engine.hooks import ComputeRecordHook
    recipe = os.path.join(ROOT, 'configs', 'tec_vit-b_800e_in1k.py')
    cfg = Config.fromfile(recipe)
    url = cfg.model.target_generator.checkpoint
    hook = ComputeRecordHook()
    runner = SimpleNamespace(cfg=cfg, message_hub=MessageHub.get_instance(
        'compute_base_that_ran'))
    hook.before_train(runner)
    base = hook.summary(runner)['base_model']
    assert base['name'] == 'MAE ViT-B 1600 ep' and base['checkpoint'] == url
    assert base['pretraining_pflops_estimate'] > 0

    cfg.merge_from_dict({'model.target_generator.checkpoint': 'ibot.pth'})
    hook.before_train(runner)
    summary = hook.summary(runner)
    assert summary['base_model'] == dict(
        name=None, pretraining_pflops_estimate=None, checkpoint='ibot.pth',
        source=f'not the base of the recipe (MAE ViT-B 1600 ep, {url}): its '
        'pretraining compute is not known')
    assert summary['total_pflops_with_base_pretraining'] is None


@pytest.mark.slow
def test_tiny_run_writes_its_compute(tmp_path, image_folder,  # noqa: F811
                                     tiny_base):  # noqa: F811
    train(tmp_path, tiny_base, image_folder, 1)
    with open(tmp_path / 'compute.json') as f:
        summary = json.load(f)
    n_images = sum(len(files) for _, _, files in os.walk(image_folder))
    assert summary['images'] == n_images == 20
    # FLOPs per image: one forward + backward of the same model, counted
    cfg = Config.fromfile(TINY_CFG)
    cfg.model.target_generator.checkpoint = tiny_base
    model = MODELS.build(cfg.model)
    with FlopCounterMode(display=False) as counter:
        sum(model.loss(torch.randn(4, 3, 32, 32), None).values()).backward()
    assert summary['flops_per_image'] == counter.get_total_flops() / 4
    assert summary['model_pflops'] == pytest.approx(
        summary['flops_per_image'] * 20 / 1e15)
    assert 0 < summary['device_hours'] < 1
    assert summary['img_per_s'] > 0 and summary['device'].startswith('CPU')
    assert summary['base_model']['pretraining_pflops_estimate'] is None
    assert summary['base_model']['checkpoint'] == tiny_base
