"""GPU memory and utilisation gauges for a worker's /metrics, read from NVML at scrape time.

Read when Prometheus scrapes (not sampled in the task path), from the worker's main process, so the
figures are the device's own: every process on the GPU counts, which is what capacity planning needs.
On a machine without NVML (no `nvidia-ml-py`, no driver, no GPU) the collector yields nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Iterable

from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GpuReading:
    index: int
    name: str
    memory_used: int  # bytes
    memory_total: int  # bytes
    utilization: float  # 0..1, share of the last sample period a kernel ran


def families(readings: Iterable[GpuReading]) -> list[GaugeMetricFamily]:
    """Prometheus gauge families for a set of readings (none at all when there is no GPU)."""
    readings = list(readings)
    if not readings:
        return []
    used = GaugeMetricFamily("smallcut_gpu_memory_used_bytes", "GPU memory in use (all processes)",
                             labels=["gpu", "name"])
    total = GaugeMetricFamily("smallcut_gpu_memory_total_bytes", "GPU memory in all", labels=["gpu", "name"])
    util = GaugeMetricFamily("smallcut_gpu_utilization_ratio", "Share of time a kernel ran on the GPU",
                             labels=["gpu", "name"])
    for r in readings:
        labels = [str(r.index), r.name]
        used.add_metric(labels, float(r.memory_used))
        total.add_metric(labels, float(r.memory_total))
        util.add_metric(labels, float(r.utilization))
    return [used, total, util]


class NvmlReader:
    """Reads every GPU through NVML; initialises once and stays silent (empty) where NVML is absent."""

    @cached_property
    def _nvml(self):
        try:
            import pynvml  # from the `nvidia-ml-py` package (the `gpu` extra)

            pynvml.nvmlInit()
            return pynvml
        except Exception as exc:  # noqa: BLE001 - no module, no driver or no device: no GPU gauges
            log.info("no GPU gauges: NVML unavailable (%s)", exc)
            return None

    def __call__(self) -> list[GpuReading]:
        nvml = self._nvml
        if nvml is None:
            return []
        out = []
        try:
            for i in range(nvml.nvmlDeviceGetCount()):
                h = nvml.nvmlDeviceGetHandleByIndex(i)
                mem = nvml.nvmlDeviceGetMemoryInfo(h)
                name = nvml.nvmlDeviceGetName(h)
                util = nvml.nvmlDeviceGetUtilizationRates(h)
                out.append(GpuReading(i, name.decode() if isinstance(name, bytes) else str(name),
                                      int(mem.used), int(mem.total), util.gpu / 100.0))
        except Exception as exc:  # noqa: BLE001 - a failing read must not break the scrape
            log.warning("GPU gauges skipped: %s", exc)
        return out


class GpuCollector:
    """A prometheus-client custom collector over a reader (NVML by default)."""

    def __init__(self, read: Callable[[], list[GpuReading]] | None = None) -> None:
        self.read = read or NvmlReader()

    def collect(self):
        yield from families(self.read())

    def describe(self):
        return []  # read at scrape time only, never at registration
