"""`smallcut worker` arguments and CPU thread sharing between prefork children."""

from __future__ import annotations

import argparse
import os

from smallcut.settings import Settings, get_settings
from workers import cli_worker


def parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    cli_worker.add_arguments(p)
    return p.parse_args(argv)


def test_argv_defaults_come_from_settings():
    argv = cli_worker.build_argv(parse(), Settings(_env_file=None, queue="gpu", concurrency=3))
    assert "--queues=gpu" in argv and "--concurrency=3" in argv and "--pool=prefork" in argv
    argv = cli_worker.build_argv(parse("--queues", "cpu,gpu", "-c", "2", "--pool", "solo"), Settings(_env_file=None))
    assert "--queues=cpu,gpu" in argv and "--concurrency=2" in argv and "--pool=solo" in argv


def test_children_share_the_cores(monkeypatch):
    monkeypatch.delenv("SMALLCUT_INTRA_OP_THREADS", raising=False)
    cores = len(os.sched_getaffinity(0))
    cli_worker.share_cores(Settings(_env_file=None), concurrency=2, pool="prefork")
    assert os.environ["SMALLCUT_INTRA_OP_THREADS"] == str(max(1, cores // 2))
    assert get_settings().intra_op_threads == max(1, cores // 2)
    monkeypatch.delenv("SMALLCUT_INTRA_OP_THREADS")
    get_settings.cache_clear()
    cli_worker.share_cores(Settings(_env_file=None, intra_op_threads=1), concurrency=4, pool="prefork")
    assert "SMALLCUT_INTRA_OP_THREADS" not in os.environ  # explicit setting wins


def test_auto_concurrency_fills_a_gpu_host_and_keeps_one_float_process_on_a_cpu_host():
    from smallcut.gpu_metrics import GpuReading

    def gpu(gb: int) -> list[GpuReading]:
        return [GpuReading(0, "GPU", 0, gb * 2**30, 0.0)]

    assert cli_worker.auto_concurrency(16, [], gpu_wanted=False)[0] == 1
    assert cli_worker.auto_concurrency(16, [], gpu_wanted=True) == (1, "no GPU found through NVML")
    assert cli_worker.auto_concurrency(16, gpu(80), gpu_wanted=False)[0] == 1  # CPU providers asked for
    assert cli_worker.auto_concurrency(16, gpu(80), gpu_wanted=True)[0] == 8  # by cores (the H100 host)
    assert cli_worker.auto_concurrency(8, gpu(24), gpu_wanted=True)[0] == 3  # by memory
    assert cli_worker.auto_concurrency(4, gpu(16), gpu_wanted=True)[0] == 2
    assert cli_worker.auto_concurrency(1, gpu(80), gpu_wanted=True)[0] == 1
    assert cli_worker.auto_concurrency(16, gpu(4), gpu_wanted=True)[0] == 1  # never zero


def test_auto_concurrency_runs_a_process_per_core_with_int8_on_the_cpu():
    gb = 2**30
    assert cli_worker.auto_concurrency(2, [], gpu_wanted=False, int8=True, memory=24 * gb)[0] == 2
    assert cli_worker.auto_concurrency(16, [], gpu_wanted=False, int8=True, memory=12 * gb)[0] == 8  # by memory
    assert cli_worker.auto_concurrency(4, [], gpu_wanted=False, int8=True, memory=1 * gb)[0] == 1  # never zero
    assert cli_worker.auto_concurrency(4, [], gpu_wanted=False, int8=False, memory=24 * gb)[0] == 1  # fp32: one
    assert 0 < cli_worker.host_memory() <= os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def test_resolve_concurrency_keeps_a_request_and_fills_this_cpu_host_with_int8():
    from workers.engine.session import cpu_threads

    assert cli_worker.resolve_concurrency(3, Settings(_env_file=None)) == 3
    import onnxruntime as ort

    per_core = min(cpu_threads(), max(1, int(cli_worker.host_memory() // cli_worker.CPU_MEMORY_PER_PROCESS)))
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        # the default settings ask for TensorRT/CUDA first; a CPU-only onnxruntime runs int8 (auto)
        assert cli_worker.resolve_concurrency(0, Settings(_env_file=None)) == per_core
        assert cli_worker.resolve_concurrency(0, Settings(_env_file=None, precision="fp32")) == 1
    assert cli_worker.resolve_concurrency(0, Settings(_env_file=None, precision="int8")) == per_core
    argv = cli_worker.build_argv(parse(), Settings(_env_file=None), concurrency=5)
    assert "--concurrency=5" in argv
    assert "--concurrency=1" in cli_worker.build_argv(parse(), Settings(_env_file=None))  # 0 never reaches Celery
