"""`smallcut stack up` prints exports that point other commands at it; `stack down` stops it all."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def cli(*args: str, env=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smallcut.cli", *args], capture_output=True, text=True, timeout=300,
                          env=env, cwd=cwd)


def test_stack_up_exports_and_down(tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith("SMALLCUT_")}
    up = cli("stack", "up", "--workers", "0", "--dir", "st", env=base, cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in up.stdout.splitlines())
    assert {"SMALLCUT_REDIS_URL", "SMALLCUT_S3_ENDPOINT_URL", "SMALLCUT_S3_ACCESS_KEY_ID"} <= set(exports)
    state = json.loads((tmp_path / "st" / "stack.json").read_text())
    try:
        import boto3

        s3 = boto3.client("s3", endpoint_url=exports["SMALLCUT_S3_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="y")
        assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {"catalog", "cutouts"}
        # an ordinary command follows the exports to the stack's Redis
        st = cli("status", "no-such-batch", "--json", env={**base, **exports}, cwd=tmp_path)
        assert st.returncode == 1 and st.stdout.strip() == "null", st.stderr
        assert cli("stack", "up", "--workers", "0", "--dir", "st", env=base, cwd=tmp_path).returncode != 0
    finally:
        down = cli("stack", "down", "--dir", "st", env=base, cwd=tmp_path)
    assert down.returncode == 0
    for pid in state["pids"].values():
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    assert not (tmp_path / "st" / "stack.json").exists()
