"""Imported first by the tools: one line saying which Python runs the tool
and how to get mmtec's stack, instead of ``ModuleNotFoundError: torch``
when the tool is started without the environment mmtec is installed in.

It only looks the modules up (no import), so it costs milliseconds.
"""
import importlib.util
import sys

_missing = [m for m in ('torch', 'mmengine', 'mmtec')
            if importlib.util.find_spec(m) is None]
if _missing:
    sys.exit(
        f'{sys.argv[0]}: this Python ({sys.executable}) has no '
        f'{", ".join(_missing)}. Activate the environment mmtec is installed '
        'in (e.g. `source .venv/bin/activate`) or run the tool with its '
        'python (`/path/to/env/bin/python ...`); to install it, see '
        '`bash tools/install.sh` (README, Install).')
