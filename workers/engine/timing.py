"""Per-stage timing of a cut-out: wall ms, CPU ms of the stage's own thread, and how much of both went
into network passes (session runs) inside the stage.

`Timer.ms` is what `CutoutResult.timings` carries (and workers log and store): wall ms per stage, a
plain mapping. Its `cpu`, `net` and `net_cpu` attributes ride along for the benchmarks; `dict(...)`,
JSON and the workers' `update` keep only the wall figures, so nothing downstream changes.
"""

from __future__ import annotations

import functools
import threading
import time
from contextlib import contextmanager

_current = threading.local()  # (StageTimes, stage name) of the stage running on this thread


class StageTimes(dict):
    """Wall ms per stage (the mapping itself), with per stage:
    - `cpu`: CPU ms of the thread that ran the stage (time.thread_time);
    - `net`, `net_cpu`: wall and thread CPU ms of the network passes inside it, where counted
      (count_network_passes; absent otherwise).

    Why thread time and not process time: onnxruntime's intra-op pool threads run (and spin after) a
    network pass outside this thread, so they never land on a stage's `cpu`; what does is the work
    of the stage's thread itself, which for the stages without a network pass is exactly the CPU work
    outside network passes. Stages with passes (coarse, detect, roi) mix both, and the calling thread
    takes part in the pool's work: `cpu - net_cpu` is their share outside the passes. A stage's wall
    time says what the network cost. OpenCV's own worker threads (resizes, filters on large frames)
    are not counted either: on a many-core host the true CPU work of those stages is somewhat higher.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.cpu: dict[str, float] = {}
        self.net: dict[str, float] = {}
        self.net_cpu: dict[str, float] = {}

    def cpu_outside_network(self) -> dict[str, float]:
        """Per stage, thread CPU ms outside network passes (a stage timed without CPU counts 0: the
        batched coarse pass's share, set as wall only)."""
        return {k: max(0.0, self.cpu.get(k, 0.0) - self.net_cpu.get(k, 0.0)) for k in self}


def _add(d: dict[str, float], name: str, ms: float) -> None:
    d[name] = d.get(name, 0.0) + ms


class Timer:
    def __init__(self) -> None:
        self.ms = StageTimes()

    @contextmanager
    def stage(self, name: str):
        outer = getattr(_current, "stage", None)
        _current.stage = (self.ms, name)
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            _add(self.ms.cpu, name, (time.thread_time() - c0) * 1000.0)
            _add(self.ms, name, (time.perf_counter() - t0) * 1000.0)
            _current.stage = outer


@contextmanager
def network_pass():
    """Count the block's wall and thread CPU ms as network time of the stage running on this thread."""
    current = getattr(_current, "stage", None)
    t0, c0 = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        if current is not None:
            times, name = current
            _add(times.net_cpu, name, (time.thread_time() - c0) * 1000.0)
            _add(times.net, name, (time.perf_counter() - t0) * 1000.0)


def count_network_passes(net) -> None:
    """Time every session run of `net` (a SaliencyNet) as a network pass of the current stage. On this
    one instance, for the benchmarks: workers do not carry the wrapper. Idempotent."""
    run = net._run  # every pass of SaliencyNet goes through it: predict, batched or not
    if getattr(run, "counts_network_passes", False):
        return

    @functools.wraps(run)
    def counted(batch):
        with network_pass():
            return run(batch)

    counted.counts_network_passes = True
    net._run = counted
