"""GPU gauges on a worker's /metrics: what NVML readings become, and silence where there is no GPU."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from smallcut.gpu_metrics import GpuCollector, GpuReading, NvmlReader


def scrape(collector) -> dict[tuple[str, str], float]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {(s.name, s.labels["gpu"]): s.value for f in text_string_to_metric_families(text) for s in f.samples}


def test_readings_become_per_device_gauges():
    readings = [GpuReading(0, "NVIDIA H100", 3 * 2**30, 80 * 2**30, 0.87),
                GpuReading(1, "NVIDIA H100", 2**30, 80 * 2**30, 0.0)]
    got = scrape(GpuCollector(read=lambda: readings))
    assert got[("smallcut_gpu_memory_used_bytes", "0")] == 3 * 2**30
    assert got[("smallcut_gpu_memory_total_bytes", "1")] == 80 * 2**30
    assert got[("smallcut_gpu_utilization_ratio", "0")] == 0.87
    assert got[("smallcut_gpu_utilization_ratio", "1")] == 0.0
    assert len(got) == 6


def test_collector_reads_at_scrape_time():
    state = {"used": 1}
    collector = GpuCollector(read=lambda: [GpuReading(0, "gpu", state["used"], 10, 0.5)])
    assert scrape(collector)[("smallcut_gpu_memory_used_bytes", "0")] == 1
    state["used"] = 7
    assert scrape(collector)[("smallcut_gpu_memory_used_bytes", "0")] == 7


def test_nvml_reader_on_this_machine_never_breaks_a_scrape():
    """No NVML (no package, driver or device): no gauges; with one, a reading per device."""
    read = NvmlReader()
    readings = read()
    for r in readings:
        assert 0 < r.memory_total and 0 <= r.memory_used <= r.memory_total and 0 <= r.utilization <= 1
    got = scrape(GpuCollector(read=read))
    assert len(got) == 3 * len(readings)
