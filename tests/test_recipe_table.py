"""The recipe table: every config value equals the authors', and the docs
show the table the tool prints today.

``tools/analysis_tools/recipe_table.py`` reads the configs (parameter
groups from the optimizer wrapper built on the model, the lr of all
updates from the scheduler stepped through the run) and the authors'
values from ``tools/analysis_tools/authors_recipes.yml``.
"""
import functools
import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, 'docs', 'recipes.md')
BEGIN, END = '<!-- recipe_table.py output -->', '<!-- end of output -->'

# Fine-tuning rows that differ from the authors' today, each
# (config name start, setting). The fine-tuning configs are being brought
# to the authors' values; this set then becomes empty. The test fails when
# a row differs that is not here, and when a row here no longer differs.
_ALL_FT = ('vit-b-p16_tec-mae300e-100e-pre', 'vit-b-p16_tec-300e-pre',
           'vit-b-p16_tec-800e-pre', 'vit-b-p16_tec-ibot-300e-pre',
           'vit-b-p16_tec-ibot-800e-pre', 'vit-l-p16_tec-300e-pre')
FINETUNING_DIFFERS_TODAY = {
    *[(key, setting) for key in _ALL_FT for setting in (
        'parameter groups (lr scale, wd)', 'not trained',
        'tensors whose (lr scale, wd) differ', 'iterations per epoch',
        'lr at first update')],
    *[('vit-b-p16_tec-mae300e-100e-pre', setting) for setting in (
        'warm-up epochs (lr peaks at)', 'lr at middle update',
        'lr at last update')],
    ('vit-b-p16_tec-ibot-300e-pre', 'layer decay'),
    *[('vit-l-p16_tec-300e-pre', setting) for setting in (
        'epochs', 'batch per GPU x GPUs x accumulation',
        'blr (lr per 256 images)', 'warm-up epochs (lr peaks at)', 'min lr',
        'lr at end of warm-up', 'lr at middle update', 'lr at last update')],
}


def load_tool():
    spec = importlib.util.spec_from_file_location(
        'recipe_table',
        os.path.join(ROOT, 'tools', 'analysis_tools', 'recipe_table.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@functools.lru_cache()
def table():
    tool = load_tool()
    return tool, tool.all_rows()


def test_every_pretraining_config_is_in_the_table():
    tool, rows = table()
    assert set(rows['pretraining']) == set(
        tool.authors_values()['pretraining']['recipes']) and \
        len(rows['pretraining']) == 6
    assert {tool.finetuning_key(n) for n in rows['finetuning']} == set(
        tool.authors_values()['finetuning']['recipes']) == set(_ALL_FT)


@pytest.mark.parametrize('recipe', [
    'tec_vit-b_mae300e-base_100e_in1k.py', 'tec_vit-b_300e_in1k.py',
    'tec_vit-b_800e_in1k.py', 'tec_vit-b_ibot-base_300e_in1k.py',
    'tec_vit-b_ibot-base_800e_in1k.py', 'tec_vit-l_300e_in1k.py'])
def test_pretraining_recipe_equals_the_authors(recipe):
    tool, rows = table()
    differ = [r for r in rows['pretraining'][recipe] if not r.equal and
              ('pretraining', r.setting) not in tool.DELIBERATE]
    assert not differ, '\n'.join(
        f'{r.setting}: config {r.ours}, authors {r.authors}' for r in differ)
    settings = {r.setting for r in rows['pretraining'][recipe]}
    assert {'parameter groups (lr scale, wd)', 'lr at every update',
            'iterations per epoch', 'decoding', 'mixed precision'} <= settings


def test_finetuning_rows_differ_only_where_listed():
    tool, rows = table()
    differ = {(tool.finetuning_key(name), r.setting)
              for name, recipe_rows in rows['finetuning'].items()
              for r in recipe_rows if not r.equal}
    assert differ - FINETUNING_DIFFERS_TODAY == set(), 'newly different'
    assert FINETUNING_DIFFERS_TODAY - differ == set(), \
        'now equal to the authors: remove from FINETUNING_DIFFERS_TODAY'


def test_docs_show_the_table_the_tool_prints():
    tool, rows = table()
    text = open(DOC).read()
    assert BEGIN in text and END in text, f'{DOC}: markers missing'
    shown = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert shown == tool.render(rows).strip(), (
        f'{DOC} is out of date: paste the output of '
        'python tools/analysis_tools/recipe_table.py between its markers')
