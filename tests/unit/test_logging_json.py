"""JSON log lines: one object per line with the pipeline's fields, and no credentials in any line."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

import pytest

from smallcut.logging_json import JsonFormatter, RedactingFormatter, redact
from workers.pipeline import log_finished


@pytest.fixture()
def json_lines():
    """Records of smallcut.pipeline and a test logger, formatted by JsonFormatter into a buffer."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger("smallcut.pipeline"), logging.getLogger("smallcut.test")]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in buf.getvalue().splitlines()]
    for lg, level in saved:
        lg.removeHandler(handler)
        lg.setLevel(level)


def test_finished_key_is_one_json_line_with_its_fields(json_lines):
    log_finished("b1", "shop/ring.jpg", "done", "host:42", task_id="t-1",
                 timings={"download": 1.234, "coarse": 20.0, "upload": 3.333})
    log_finished("b1", "shop/bad.jpg", "failed", "host:42", error="cannot decode image")
    done, failed = json_lines()
    assert done["level"] == "INFO" and done["logger"] == "smallcut.pipeline"
    assert done["ts"].endswith("Z") and "T" in done["ts"]
    assert done["msg"] == "shop/ring.jpg done"
    assert {k: done[k] for k in ("batch", "key", "task_id", "state", "worker")} == {
        "batch": "b1", "key": "shop/ring.jpg", "task_id": "t-1", "state": "done", "worker": "host:42"}
    assert done["timings"] == {"download": 1.23, "coarse": 20.0, "upload": 3.33}
    assert "error" not in done
    assert failed["level"] == "WARNING" and failed["state"] == "failed"
    assert failed["error"] == "cannot decode image" and "task_id" not in failed


def test_extra_fields_and_exception_are_serialised(json_lines):
    log = logging.getLogger("smallcut.test")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("step failed", extra={"duration_ms": 12.5, "key": "k"})
    (line,) = json_lines()
    assert line["duration_ms"] == 12.5 and line["key"] == "k" and line["level"] == "ERROR"
    assert "ValueError: boom" in line["exc"]


def test_credentials_are_masked_in_every_field(json_lines):
    log = logging.getLogger("smallcut.test")
    log.warning("broker redis://admin:s3cr3t@redis:6379/0 down",
                extra={"error": "amqp://guest:hunter2@rabbit:5672// refused"})
    (line,) = json_lines()
    assert line["msg"] == "broker redis://admin:***@redis:6379/0 down"
    assert line["error"] == "amqp://guest:***@rabbit:5672// refused"
    assert redact("redis://:pw@h:1/0 and https://h/path?a=b@c") == "redis://:***@h:1/0 and https://h/path?a=b@c"
    plain = RedactingFormatter("%(message)s").format(
        logging.LogRecord("x", logging.INFO, __file__, 1, "to rediss://u:p@h", None, None))
    assert plain == "to rediss://u:***@h"
    assert redact('"GET /?token=abc123&x=1 HTTP/1.1" 200') == '"GET /?token=***&x=1 HTTP/1.1" 200'
    assert redact("/v1/x?a=1&api_key=k3y") == "/v1/x?a=1&api_key=***"


def test_setting_switches_the_root_handler_to_json(tmp_path):
    """SMALLCUT_LOG_JSON=1 reaches setup_logging as the CLI wires it: stderr lines are JSON objects."""
    code = ("import logging; from smallcut.logging_json import setup_logging; "
            "from smallcut.settings import get_settings; "
            "setup_logging(logging.INFO, json=get_settings().log_json); "
            "logging.getLogger('smallcut.x').info('to redis://u:pw@h/0', extra={'batch': 'b'})")

    def run(flag: str) -> str:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                              cwd=tmp_path, env={**os.environ, "SMALLCUT_LOG_JSON": flag}).stderr

    (line,) = run("1").splitlines()
    assert json.loads(line) | {"ts": ""} == {"ts": "", "level": "INFO", "logger": "smallcut.x",
                                             "msg": "to redis://u:***@h/0", "batch": "b"}
    plain = run("0")
    assert plain.rstrip().endswith("INFO smallcut.x: to redis://u:***@h/0") and not plain.startswith("{")
