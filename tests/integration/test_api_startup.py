"""`smallcut api` checks the settings it needs at start; `stack up` exports them (the README's dev loop)."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest
from PIL import Image

from .api_fixtures import wait_http
from .conftest import photo, smallcut

pytestmark = pytest.mark.integration


def test_api_refuses_to_start_without_a_usable_scratch_location(env):
    from smallcut import localstack

    port = str(localstack.free_port())
    cases = {
        "nowhere": ({"SMALLCUT_ALLOWED_BUCKETS": "", "SMALLCUT_OUTPUT_BUCKET": "", "SMALLCUT_API_SCRATCH": ""},
                    "SMALLCUT_API_SCRATCH=s3://bucket/prefix"),
        "not a URL": ({"SMALLCUT_API_SCRATCH": "inbox/scratch"}, "use s3://bucket/prefix"),
        "foreign bucket": ({"SMALLCUT_API_SCRATCH": "s3://elsewhere/scratch"}, "allowed buckets"),
    }
    for name, (extra, reason) in cases.items():
        proc = smallcut({**env, **extra}, "api", "--port", port, timeout=60)
        assert proc.returncode == 2, (name, proc.returncode, proc.stderr[-2000:])
        assert proc.stderr.startswith("error: ") and reason in proc.stderr, (name, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_readme_dev_loop_stack_up_then_api_then_cutout(tmp_path):
    """`eval "$(smallcut stack up --workers 1)"`, `smallcut api`, `POST /v1/cutout`: a PNG, not a 500."""
    import httpx

    from smallcut import localstack

    base = {k: v for k, v in os.environ.items() if not k.startswith("SMALLCUT_")}
    up = subprocess.run([sys.executable, "-m", "smallcut.cli", "stack", "up", "--workers", "1", "--dir", "st"],
                        capture_output=True, text=True, timeout=300, env=base, cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines())
    assert exports["SMALLCUT_API_SCRATCH"] == "s3://catalog/_api"
    port = localstack.free_port()
    api = localstack._spawn([sys.executable, "-m", "smallcut.cli", "api", "--port", str(port)],
                            tmp_path / "api.log", {**base, **exports, "SMALLCUT_INTRA_OP_THREADS": "1"})
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", api)
        data = photo(12)
        r = httpx.post(f"http://127.0.0.1:{port}/v1/cutout", files={"file": ("p.jpg", data)}, timeout=180)
        assert r.status_code == 200, r.text
        out = Image.open(io.BytesIO(r.content))
        assert out.format == "PNG" and out.mode == "RGBA" and out.size == Image.open(io.BytesIO(data)).size
    finally:
        localstack.stop(api.pid)
        api.wait(timeout=30)
        subprocess.run([sys.executable, "-m", "smallcut.cli", "stack", "down", "--dir", "st"], capture_output=True,
                       timeout=120, env=base, cwd=tmp_path)
