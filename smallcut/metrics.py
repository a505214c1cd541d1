"""Prometheus metrics of smallcut: every definition in one place, no heavy imports.

Workers run prefork children: with PROMETHEUS_MULTIPROC_DIR set (`smallcut.metrics_http` sets it
when SMALLCUT_METRICS_PORT > 0, before prometheus-client is imported) each child writes its samples to
files there and the worker's main process serves them all, summed, on /metrics. The API serves its own process's metrics plus live gauges read
from Redis at scrape time (queue depth, objects in flight per state).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

STAGES = ("head", "download", "decode", "coarse", "roi", "postprocess", "encode", "upload")
# stage latencies in seconds: tens of milliseconds for small images up to a minute for huge ones on CPU
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

STAGE_SECONDS = Histogram("smallcut_stage_seconds", "Time per pipeline stage of one object", ["stage"],
                          buckets=_BUCKETS)
OBJECTS = Counter("smallcut_objects", "Objects that reached a final state, by state and reason class",
                  ["state", "reason"])
MODEL_LOAD_SECONDS = Histogram("smallcut_model_load_seconds", "Time to load the model in a worker process",
                               buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120))
IN_FLIGHT = Gauge("smallcut_in_flight", "Objects being processed by this worker right now",
                  multiprocess_mode="livesum")


def reason_class(reason: str) -> str:
    """Bounded label for a free-text failure reason (the text itself lives in the status store)."""
    r = (reason or "").lower()
    if not r:
        return ""
    for needle, label in (("refused", "refused"), ("time limit", "timeout"), ("gave up", "gave_up"),
                          ("internal error", "internal"), ("nosuchkey", "missing"), ("does not exist", "missing"),
                          ("input limit", "too_large"), ("pixels", "too_large"), ("decode", "decode"),
                          ("image", "decode")):
        if needle in r:
            return label
    return "other"


def observe_object(state: str, reason: str = "", timings: dict | None = None) -> None:
    """One object ended in `state`: count it and record its stage latencies (timings in ms)."""
    OBJECTS.labels(state=state, reason=reason_class(reason) if state == "failed" else "").inc()
    for stage, ms in (timings or {}).items():
        if stage in STAGES:
            STAGE_SECONDS.labels(stage=stage).observe(float(ms) / 1000.0)
