"""The Grafana dashboard and the Prometheus scrape config match what smallcut exports and serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from smallcut import metrics

ROOT = Path(__file__).resolve().parents[2]
API_ONLY = {"smallcut_queue_depth", "smallcut_batch_objects", "smallcut_status_store_up"}  # producer/api_metrics.py


def exported_names() -> set[str]:
    names = set(API_ONLY)
    for family in (metrics.STAGE_SECONDS, metrics.OBJECTS, metrics.MODEL_LOAD_SECONDS, metrics.IN_FLIGHT):
        for m in family.describe():
            suffixes = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("_total",)}.get(m.type, ("",))
            names |= {m.name + suffix for suffix in suffixes}
    from smallcut.gpu_metrics import GpuCollector, GpuReading

    names |= {f.name for f in GpuCollector(read=lambda: [GpuReading(0, "gpu", 1, 2, 0.5)]).collect()}
    return names


def test_dashboard_queries_only_exported_metrics():
    dash = json.loads((ROOT / "infra/grafana/smallcut.json").read_text())
    used = {name for p in dash["panels"] for t in p["targets"] for name in re.findall(r"smallcut_\w+", t["expr"])}
    assert used and used <= exported_names(), used - exported_names()
    assert "smallcut_stage_seconds_bucket" in used


def test_prometheus_scrapes_the_ports_compose_serves():
    prom = yaml.safe_load((ROOT / "infra/prometheus/prometheus.yml").read_text())
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    api_cmd = services["api"]["command"]
    assert jobs["smallcut-api"]["static_configs"][0]["targets"] == [f"api:{api_cmd[api_cmd.index('--port') + 1]}"]
    sd = jobs["smallcut-worker"]["dns_sd_configs"][0]
    for name in sd["names"]:
        assert services[name]["environment"]["SMALLCUT_METRICS_PORT"] == str(sd["port"])


def test_reason_classes_are_bounded():
    assert metrics.reason_class("") == ""
    assert metrics.reason_class("refused: key contains a '..' path segment") == "refused"
    assert metrics.reason_class("soft time limit (300s) exceeded") == "timeout"
    assert metrics.reason_class("NoSuchKey: s3://a/b does not exist") == "missing"
    assert metrics.reason_class("something nobody foresaw") == "other"
