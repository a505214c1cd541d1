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


def test_stack_down_from_another_directory_finds_the_stack(tmp_path):
    base = {k: v for k, v in os.environ.items() if not k.startswith("SMALLCUT_")}
    base["XDG_STATE_HOME"] = str(tmp_path / "state")  # this test's own record of running stacks
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    up = cli("stack", "up", "--workers", "0", env=base, cwd=project)
    assert up.returncode == 0, up.stderr
    state_dir = project / ".smallcut" / "stack"
    pids = json.loads((state_dir / "stack.json").read_text())["pids"]
    try:
        down = cli("stack", "down", env=base, cwd=elsewhere)
    finally:
        cli("stack", "down", "--dir", str(state_dir), env=base)  # never leave servers behind
    assert down.returncode == 0
    assert f"(stack in {state_dir.resolve()})" in down.stderr and "redis" in down.stderr, down.stderr
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.killpg(pid, 0)
    again = cli("stack", "down", env=base, cwd=elsewhere)
    assert again.returncode == 0
    assert "no stack running" in again.stderr and str(tmp_path / "state") in again.stderr, again.stderr
