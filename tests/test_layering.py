"""The code's shape is checked by tools, not by review: the import layering (import-linter) and ruff's lint.

The contracts live in pyproject.toml ([tool.importlinter]): stages import only the stages below them, the citation
checker only the typed records and text utilities, the index never retrieval, and only the web stage gradio.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([str(BIN / tool), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_the_stages_keep_their_layering():
    done = _run("lint-imports", "--no-cache")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_ruff_finds_nothing():
    done = _run("ruff", "check", "src", "tests", "benchmarks", "app.py", "setup.py")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
