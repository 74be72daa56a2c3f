"""The Example sections of the docstrings run and print what they show."""
import doctest
import importlib

import pytest
from mmengine.logging import MMLogger

MODULES = [
    'mmtec.models.backbones.conditional_adapter_vit',
    'mmtec.models.necks.tec_decoder',
    'mmtec.models.target_generators.tec_target_generator',
    'mmtec.models.losses.tec_losses',
    'mmtec.engine.lr_schedule',
    'mmtec.models.utils.vit_archs',
    'mmtec.checkpoint.trust',
]


@pytest.mark.parametrize('name', MODULES)
def test_docstring_examples(name, capsys):
    check_examples(name, capsys)


def check_examples(name, capsys):
    """Run the examples of module ``name``: there are some, all pass."""
    module = importlib.import_module(name)
    # the log lines of the examples (e.g. the base model's layout) go to the
    # stream of a logger made here, not into the examples' expected output
    MMLogger.get_current_instance()
    result = doctest.testmod(
        module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = capsys.readouterr().out
    assert result.attempted > 0, f'{name} has no docstring example'
    assert result.failed == 0, report
