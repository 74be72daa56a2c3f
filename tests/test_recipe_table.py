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

from paths import ROOT

DOC = os.path.join(ROOT, 'docs', 'recipes.md')
BEGIN, END = '<!-- recipe_table.py output -->', '<!-- end of output -->'

_ALL_FT = ('vit-b-p16_tec-mae300e-100e-pre', 'vit-b-p16_tec-300e-pre',
           'vit-b-p16_tec-800e-pre', 'vit-b-p16_tec-ibot-300e-pre',
           'vit-b-p16_tec-ibot-800e-pre', 'vit-l-p16_tec-300e-pre')


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
    # the authors' six, and ours on bases the paper did not use
    assert set(rows['pretraining']) == set(
        tool.authors_values()['pretraining']['recipes']) | {
            'tec_vit-b_dinov2-base_300e_in1k.py',
            'tec_vit-b_clip-base_300e_in1k.py'}
    assert {tool.finetuning_key(n) for n in rows['finetuning']} == set(
        tool.authors_values()['finetuning']['recipes']) == set(_ALL_FT)


@pytest.mark.parametrize('recipe', [
    'tec_vit-b_mae300e-base_100e_in1k.py', 'tec_vit-b_300e_in1k.py',
    'tec_vit-b_800e_in1k.py', 'tec_vit-b_ibot-base_300e_in1k.py',
    'tec_vit-b_ibot-base_800e_in1k.py', 'tec_vit-l_300e_in1k.py',
    # no authors' run: their shared recipe at this config's epochs
    'tec_vit-b_dinov2-base_300e_in1k.py', 'tec_vit-b_clip-base_300e_in1k.py'])
def test_pretraining_recipe_equals_the_authors(recipe):
    tool, rows = table()
    differ = [r for r in rows['pretraining'][recipe] if not r.equal and
              ('pretraining', r.setting) not in tool.DELIBERATE]
    assert not differ, '\n'.join(
        f'{r.setting}: config {r.ours}, authors {r.authors}' for r in differ)
    settings = {r.setting for r in rows['pretraining'][recipe]}
    assert {'parameter groups (lr scale, wd)', 'lr at every update',
            'iterations per epoch', 'decoding', 'mixed precision'} <= settings


@pytest.mark.parametrize('recipe', _ALL_FT)
def test_finetuning_recipe_equals_the_authors(recipe):
    tool, rows = table()
    name = next(n for n in rows['finetuning']
                if tool.finetuning_key(n) == recipe)
    differ = [r for r in rows['finetuning'][name] if not r.equal and
              ('finetuning', r.setting) not in tool.DELIBERATE]
    assert not differ, '\n'.join(
        f'{r.setting}: config {r.ours}, authors {r.authors}' for r in differ)


def test_docs_show_the_table_the_tool_prints():
    tool, rows = table()
    text = open(DOC).read()
    assert BEGIN in text and END in text, f'{DOC}: markers missing'
    shown = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
    assert shown == tool.render(rows).strip(), (
        f'{DOC} is out of date: paste the output of '
        'python tools/analysis_tools/recipe_table.py between its markers')
