"""`smallcut worker`: one Celery worker in the foreground (what a fleet node runs).

prefork (default) loads the model once in each child process; `--pool solo` runs one process with
the model loaded on first use. Without a process count (SMALLCUT_CONCURRENCY=0) the worker picks
one for the host: see auto_concurrency.
"""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)

# GPU memory to plan per worker process: what one process holds at its peak (the per-shape sessions
# on one shared arena, docs/gpu.md) plus headroom, so auto concurrency never starts more processes
# than the card can hold
GPU_MEMORY_PER_PROCESS = 8 * 2**30
# Memory to plan per int8 CPU worker process: its peak on a large frame's detection tiles (the
# allocator keeps freed memory, docs/benchmarks.md) plus headroom, so auto concurrency stays
# inside the container's limit
CPU_MEMORY_PER_PROCESS = 1.5 * 2**30


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--concurrency", "-c", type=int, default=None,
                   help="worker processes (default: SMALLCUT_CONCURRENCY; 0: auto, see auto_concurrency)")
    p.add_argument("--queues", "-Q", default=None,
                   help="comma-separated queues to consume (default: SMALLCUT_QUEUE; e.g. gpu or cpu or gpu,cpu)")
    p.add_argument("--pool", default="prefork", choices=["prefork", "solo", "threads"], help="execution pool")
    p.add_argument("--loglevel", "-l", default="INFO", help="log level")
    p.add_argument("--hostname", "-n", default=None, help="node name (default: smallcut@<host>)")
    p.add_argument("--max-tasks-per-child", type=int, default=None, help="recycle children (reloads the model)")


def auto_concurrency(cores: int, gpus: list, gpu_wanted: bool, int8: bool = False, memory: int = 0) -> tuple[int, str]:
    """Worker processes for this host when none is asked for, and why.

    CPU host, int8 (the CPU default): one single-threaded process per core, at most one per 1.5 GB
    of `memory`: int8 passes gain little from a second thread and a third of each image is
    single-threaded Python/OpenCV work, so a process per core keeps every core busy. CPU host,
    fp32: one (ONNX Runtime already spreads a float pass over the cores). GPU host: the GPU idles
    while the CPU side of each image (decode, post-processing, encode) runs, so one process per 2
    cores, at most one per 8 GB of the first GPU's memory. The measurements behind each choice are
    in docs/benchmarks.md and docs/gpu.md.
    """
    if not (gpu_wanted and gpus):
        if int8 and not gpu_wanted:
            by_memory = max(1, int(memory // CPU_MEMORY_PER_PROCESS)) if memory else cores
            return max(1, min(cores, by_memory)), f"int8 on the CPU: {cores} cores, {memory / 2**30:.0f} GB / 1.5 GB = {by_memory}"
        return 1, "CPU inference" if not gpu_wanted else "no GPU found through NVML"
    by_cores = max(1, cores // 2)
    by_memory = max(1, int(gpus[0].memory_total // GPU_MEMORY_PER_PROCESS))
    n = min(by_cores, by_memory)
    return n, f"GPU {gpus[0].name}: {cores} cores / 2 = {by_cores}, {gpus[0].memory_total / 2**30:.0f} GB / 8 GB = {by_memory}"


def host_memory() -> int:
    """Bytes of memory this process's container may use: the cgroup limit when there is one, else RAM."""
    import os

    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = open(path).read().strip()
        except OSError:
            continue
        if text.isdigit():
            return min(total, int(text))
    return total


def resolve_concurrency(requested: int, settings) -> int:
    """The process count: `requested` (flag or SMALLCUT_CONCURRENCY) when > 0, else auto_concurrency."""
    if requested > 0:
        return requested
    from smallcut.gpu_metrics import NvmlReader

    from .engine.session import cpu_threads, precision_for, uses_accelerator

    int8 = precision_for(settings.precision, settings.providers) == "int8"
    gpu_wanted = not int8 and uses_accelerator(settings.providers)  # int8 runs on the CPU
    n, why = auto_concurrency(cpu_threads(), NvmlReader()() if gpu_wanted else [], gpu_wanted, int8=int8, memory=host_memory())
    log.info("worker processes: %d (auto; %s)", n, why)
    return n


def build_argv(args: argparse.Namespace, settings, concurrency: int | None = None) -> list[str]:
    argv = [
        "worker",
        f"--concurrency={concurrency or args.concurrency or settings.concurrency or 1}",
        f"--queues={args.queues or settings.queue}",
        f"--pool={args.pool}",
        f"--loglevel={args.loglevel}",
        f"--hostname={args.hostname or 'smallcut@%h'}",
        "--without-mingle",
        "--without-gossip",
    ]
    if args.max_tasks_per_child:
        argv.append(f"--max-tasks-per-child={args.max_tasks_per_child}")
    return argv


def share_cores(settings, concurrency: int, pool: str) -> None:
    """CPU inference: each prefork child gets cores/concurrency ONNX threads unless set explicitly,
    so N children do not oversubscribe the machine (children inherit the environment)."""
    import os

    from smallcut.settings import get_settings

    from .engine.session import cpu_threads

    if settings.intra_op_threads or pool != "prefork" or concurrency <= 1:
        return
    os.environ["SMALLCUT_INTRA_OP_THREADS"] = str(max(1, cpu_threads() // concurrency))
    get_settings.cache_clear()


def run(args: argparse.Namespace) -> int:
    from smallcut.settings import get_settings

    settings = get_settings()
    concurrency = resolve_concurrency(args.concurrency or settings.concurrency, settings)
    share_cores(settings, concurrency, args.pool)
    if settings.metrics_port > 0:  # before Celery forks and before prometheus-client is imported
        from smallcut.metrics_http import start_worker_endpoint

        start_worker_endpoint(settings.metrics_port)

    from .celery_app import app

    app.worker_main(build_argv(args, get_settings(), concurrency))
    return 0
