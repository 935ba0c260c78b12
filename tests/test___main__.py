"""``python -m entk_probe`` is the command line (torchrun starts it so)."""

from __future__ import annotations

import os
import subprocess
import sys

from entk_probe import __version__

from .helpers import REPO


def test_python_dash_m_runs_the_command_line() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])}
    done = subprocess.run([sys.executable, "-m", "entk_probe", "--version"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 0 and done.stdout.strip() == f"entk-probe, version {__version__}"
    done = subprocess.run([sys.executable, "-m", "entk_probe", "analyze", str(REPO / "nowhere")], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 2 and done.stderr.startswith("entk-probe: error:") and done.stdout == ""
