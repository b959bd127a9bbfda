"""The code type-checks (mypy, configured in pyproject.toml): a wrong annotation or a name that
does not exist fails here."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_mypy_is_clean():
    pytest.importorskip("mypy")
    p = subprocess.run([sys.executable, "-m", "mypy", "checker", "certloop", "model", "properties"],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert "Success: no issues found" in p.stdout
