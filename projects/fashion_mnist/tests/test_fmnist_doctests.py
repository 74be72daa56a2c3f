"""The Example sections of the project's docstrings run and print what they
show."""
import pytest

from test_doctests import check_examples

MODULES = [
    'fmnist_lab.data_arguments', 'fmnist_lab.markdown',
    'fmnist_lab.training_flops'
]


@pytest.mark.parametrize('name', MODULES)
def test_docstring_examples(name, capsys):
    check_examples(name, capsys)
