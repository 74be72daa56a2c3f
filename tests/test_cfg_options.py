"""``--cfg-options`` keys are checked against the config before merging."""

import pytest
from mmengine.config import Config

import mmtec  # noqa: F401
from mmtec.run_config.checks import (
    CfgOptionError,
    check_cfg_options,
    check_option_key,
)
from paths import TINY_CFG


@pytest.fixture(scope='module')
def cfg():
    return Config.fromfile(TINY_CFG)


@pytest.mark.parametrize('key,message', [
    # a plain dict (no type): nothing else would ever look at the key
    ('auto_scale_lr.enabel',
     "auto_scale_lr has no key 'enabel' (closest: enable). Fix the "
     "spelling, or write +auto_scale_lr.enabel=... to add a new key."),
    # the misspelled part is a parent: the value would land nowhere
    ('modle.head.loss_attention.tau',
     "the config has no key 'modle' (closest: model)."),
    ('model.haed.loss_attention.tau',
     "model has no key 'haed' (closest: head)."),
    ('lod_from', "the config has no key 'lod_from' (closest: load_from)."),
    ('custom_hooks.9.max_bad_fraction',
     "custom_hooks has no index '9' (indices 0 to 4)."),
    ('auto_scale_lr.enable.x',
     "auto_scale_lr.enable is bool True, which has no key 'x'."),
])
def test_misspelled_keys_are_errors(cfg, key, message):
    with pytest.raises(CfgOptionError) as err:
        check_option_key(cfg, key, 1)
    assert str(err.value).startswith(f'--cfg-options {key}=1: {message}')


@pytest.mark.parametrize('key', [
    'auto_scale_lr.enable', 'train_cfg.max_epochs', 'load_from',
    'model.head.loss_attention.tau', 'custom_hooks.3.max_bad_fraction',
    'optim_wrapper.optimizer.betas.0', 'train_dataloader.dataset.data_root',
    # absent, but its parent has a type: the class checks its arguments
    'model.backbone.drop_path_rate', 'model.head.loss_attention.tauu',
])
def test_existing_and_constructor_checked_keys_pass(cfg, key):
    check_option_key(cfg, key, 1)


def test_plus_prefix_adds_a_new_key(cfg):
    options = {'+auto_scale_lr.enabel': False, '+my.new.key': 3,
               'train_cfg.max_epochs': 2}
    merged = check_cfg_options(cfg, options)
    assert merged == {'auto_scale_lr.enabel': False, 'my.new.key': 3,
                      'train_cfg.max_epochs': 2}
    new = cfg.copy()
    new.merge_from_dict(merged)
    assert new.my.new.key == 3 and new.auto_scale_lr.enabel is False
    assert check_cfg_options(cfg, None) == {}


def test_a_misspelled_constructor_argument_fails_where_it_is_built():
    # the case the check leaves to the registry: the message names the key
    from mmtec.registry import MODELS
    with pytest.raises(TypeError, match="unexpected keyword argument 'tauu'"):
        MODELS.build(dict(type='AttentionMapLoss', tauu=1.0))
