"""Producer hosts carry no ML stack and no worker code: importing every producer module, and running
each producer verb of the `smallcut` command, loads neither onnxruntime, OpenCV, numpy, PIL nor any
module of the `workers` package."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PRODUCER_MODULES = [
    "producer.enqueue", "producer.events", "producer.report", "producer.cli_enqueue", "producer.cli_status",
    "producer.cli_retry", "producer.cli_events", "smallcut.keys", "smallcut.status", "smallcut.storage",
    "smallcut.settings", "smallcut.celery_config", "smallcut.options", "smallcut.metrics", "smallcut.metrics_http",
    "producer.api", "producer.api_batches", "producer.api_cutout", "producer.api_limits", "producer.api_metrics",
    "producer.api_review", "producer.cli_api", "smallcut.cli",
]
# numpy and PIL included: a producer verb has no use for them, and they pull in seconds of start-up
FORBIDDEN = ("onnxruntime", "cv2", "numpy", "PIL", "workers")
_REPORT = f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(FORBIDDEN)!r}))\n"

# nothing listens on port 9: each verb gets as far as its first Redis or S3 request and stops there
UNREACHABLE = {"SMALLCUT_REDIS_URL": "redis://127.0.0.1:9/0", "SMALLCUT_S3_ENDPOINT_URL": "http://127.0.0.1:9",
               "SMALLCUT_S3_ACCESS_KEY_ID": "x", "SMALLCUT_S3_SECRET_ACCESS_KEY": "y"}


def _python(code: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def test_producer_imports_no_ml_stack():
    code = (
        "import sys, importlib\n"
        f"for m in {PRODUCER_MODULES!r}: importlib.import_module(m)\n"
        "from producer.events import make_app, Intake\n"
        "from smallcut.settings import Settings\n"
        "make_app(Settings(_env_file=None), Intake(Settings(_env_file=None), None, None))\n"
        "import producer.api; producer.api.make_app(Settings(_env_file=None)).openapi()\n"
        "from smallcut.celery_config import producer_app; producer_app()\n"
        + _REPORT
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("argv", [
    ["status", "some-batch"],
    ["status", "s3://catalog/a.jpg", "--json"],
    ["enqueue", "s3://catalog/photos/", "--out", "s3://cutouts/x"],
    ["retry-failed", "some-batch"],
    ["events", "serve", "--help"],
    ["api", "--help"],
    ["--help"],
])
def test_each_producer_verb_runs_without_the_ml_stack(argv):
    code = (
        "import sys\n"
        "from smallcut.cli import main\n"
        f"try:\n    rc = main({argv!r})\nexcept SystemExit as exc:\n    rc = exc.code\n"
        + _REPORT
    )
    env = {**UNREACHABLE, "AWS_MAX_ATTEMPTS": "1", "AWS_RETRY_MODE": "standard"}
    proc = _python(code, env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout + proc.stderr
    if argv[-1] != "--help":
        assert "error:" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr  # it ran as far as the network
