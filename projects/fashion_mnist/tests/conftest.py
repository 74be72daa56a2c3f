"""The project's tests share the library tests' configuration: the hooks,
markers and fixtures of ``tests/conftest.py`` and its helper modules
(``tests/paths.py``, ...), defined once there."""
import importlib.util
import os.path as osp
import sys

TESTS = osp.normpath(osp.join(osp.dirname(osp.abspath(__file__)),
                              *['..'] * 3, 'tests'))
sys.path.insert(0, TESTS)
_spec = importlib.util.spec_from_file_location(
    'mmtec_tests_conftest', osp.join(TESTS, 'conftest.py'))
_shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shared)
globals().update({name: value for name, value in vars(_shared).items()
                  if not name.startswith('_')})
