"""CPU workers in images and on Kubernetes get the int8 model from a read-only model dir.

`smallcut models fetch --int8` (what the CPU image's Dockerfile runs, and compose's models-init)
builds the checked int8 copy next to the weights; a worker whose model dir it cannot write loads that
prebuilt copy and runs int8 instead of silently falling back to fp32.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

LOAD = (
    "import logging, sys\n"
    "logging.basicConfig(level=logging.WARNING)\n"
    "from smallcut.settings import Settings\n"
    "from workers.engine import Engine\n"
    "e = Engine.from_settings(Settings(providers=['CPUExecutionProvider'], intra_op_threads=1))\n"
    "print(e.model_id)\n"
)


def _read_only_argv(folder: Path, argv: list[str]) -> list[str]:
    """`argv` with `folder` read-only. Root ignores file modes, so as root the folder is bind-mounted
    read-only in a private mount namespace (the way a container's read-only volume looks)."""
    if os.geteuid() != 0:
        for p in [*folder.iterdir(), folder]:
            os.chmod(p, 0o555 if p.is_dir() else 0o444)
        return argv
    if shutil.which("unshare") is None:
        pytest.skip("running as root without unshare: cannot make a read-only folder")
    quoted = " ".join(shlex.quote(a) for a in argv)
    d = shlex.quote(str(folder))
    return ["unshare", "--mount", "sh", "-c", f"mount --bind {d} {d} && mount -o remount,bind,ro {d} && exec {quoted}"]


@pytest.fixture
def model_dir():
    """A model dir with the cached u2netp weights (no download), in a folder nobody may read."""
    from smallcut.settings import Settings

    cache = Settings().model_dir
    base = Path(tempfile.mkdtemp(prefix="smallcut-ro-"))
    models = base / "models"
    models.mkdir()
    for name in ("u2netp.onnx", "u2netp.dyn.onnx"):
        shutil.copy(cache / name, models / name)
    yield models
    for p in [base, *base.rglob("*")]:
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    shutil.rmtree(base)


def _load(folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "SMALLCUT_MODEL_DIR": str(folder), "SMALLCUT_PRECISION": "auto"}
    argv = _read_only_argv(folder, [sys.executable, "-c", LOAD + _PROBE.format(folder=str(folder))])
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env, cwd=folder.parent)
    if "mount:" in proc.stderr and "permission denied" in proc.stderr.lower():
        pytest.skip(f"no mount namespace here: {proc.stderr.strip()[-200:]}")
    return proc


# after loading: prove the folder really was read-only for this process
_PROBE = (
    "try:\n"
    "    open({folder!r} + '/probe', 'wb')\n"
    "    print('WRITABLE')\n"
    "except OSError:\n"
    "    print('read-only')\n"
)


def test_fetch_int8_prebuilds_and_a_read_only_dir_runs_it(model_dir):
    env = {**os.environ, "SMALLCUT_MODEL_DIR": str(model_dir)}
    proc = subprocess.run([sys.executable, "-m", "smallcut.cli", "models", "fetch", "--int8"], capture_output=True,
                          text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    int8 = sorted(model_dir.glob("u2netp.int8-*.onnx"))
    assert len(int8) == 1 and str(int8[0]) in proc.stdout
    before = sorted(p.name for p in model_dir.iterdir())
    loaded = _load(model_dir)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split()[-1] == "read-only"
    assert ":int8-" in loaded.stdout, loaded.stdout + loaded.stderr  # the int8 copy, not fp32
    assert "no int8 model" not in loaded.stderr
    assert sorted(p.name for p in model_dir.iterdir()) == before


def test_without_the_prebuilt_copy_a_read_only_dir_says_it_runs_fp32(model_dir):
    loaded = _load(model_dir)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split()[-1] == "read-only"
    assert ":int8-" not in loaded.stdout
    assert "no int8 model" in loaded.stderr and "running fp32" in loaded.stderr  # never silent
