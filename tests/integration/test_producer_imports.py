"""Producer hosts carry no ML stack: importing every producer module loads neither onnxruntime nor OpenCV."""

from __future__ import annotations

import subprocess
import sys

PRODUCER_MODULES = [
    "producer.enqueue", "producer.events", "producer.report", "producer.cli_enqueue", "producer.cli_status",
    "producer.cli_retry", "producer.cli_events", "smallcut.keys", "smallcut.status", "smallcut.storage",
    "smallcut.settings", "workers.celery_app", "smallcut.metrics", "smallcut.metrics_http", "producer.api",
    "producer.api_batches", "producer.api_cutout", "producer.api_limits", "producer.api_metrics",
    "producer.api_review", "producer.cli_api",
]


def test_producer_imports_no_ml_stack():
    code = (
        "import sys, importlib\n"
        f"for m in {PRODUCER_MODULES!r}: importlib.import_module(m)\n"
        "from producer.events import make_app, Intake\n"
        "from smallcut.settings import Settings\n"
        "make_app(Settings(_env_file=None), Intake(Settings(_env_file=None), None, None))\n"
        "import producer.api; producer.api.make_app(Settings(_env_file=None)).openapi()\n"
        "print(sorted(m for m in ('onnxruntime', 'cv2', 'workers.engine') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
