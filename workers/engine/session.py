"""ONNX Runtime session: provider choice from an ordered wish list, threads, per-provider options.

Kept apart from the model code so CPU/GPU policy lives in one place. Create one per process (the
worker does it in the prefork child, never in the parent: CUDA contexts do not survive fork).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import onnxruntime as ort

log = logging.getLogger(__name__)


def choose_providers(wanted: list[str], available: list[str] | None = None) -> list[str]:
    """The wanted providers that this onnxruntime build has, in the wanted order; CPU always last."""
    available = ort.get_available_providers() if available is None else available
    chosen = [p for p in wanted if p in available and p != "CPUExecutionProvider"]
    chosen.append("CPUExecutionProvider")
    return chosen


def uses_accelerator(wanted: list[str], available: list[str] | None = None) -> bool:
    """Whether a session for `wanted` would run on something other than the CPU (a GPU provider
    that this onnxruntime build has)."""
    return any(p != "CPUExecutionProvider" for p in choose_providers(wanted, available))


def precision_for(requested: str, wanted: list[str], available: list[str] | None = None) -> str:
    """The precision a session runs at: `requested`, or for "auto" int8 on the CPU (a checked copy,
    faster per pass at nearly the float network's quality: docs/benchmarks.md) and fp32 where a GPU
    provider is available (int8 is a CPU format)."""
    if requested != "auto":
        return requested
    return "fp32" if uses_accelerator(wanted, available) else "int8"


def _provider_options(name: str, trt_cache_dir: Path | None) -> dict:
    if name == "TensorrtExecutionProvider":
        opts = {"trt_fp16_enable": True}
        if trt_cache_dir is not None:
            trt_cache_dir.mkdir(parents=True, exist_ok=True)
            opts.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(trt_cache_dir))
        return opts
    if name == "CUDAExecutionProvider":
        return {"cudnn_conv_algo_search": "HEURISTIC", "arena_extend_strategy": "kSameAsRequested"}
    return {}


# ONNX Runtime's environment is one per process, and so is an allocator registered in it: this
# records, per GPU, whether registering worked (a second registration would be refused).
_shared_gpu_arena: dict[int, bool] = {}


def share_gpu_arena(device_id: int = 0) -> bool:
    """Register one CUDA arena in ONNX Runtime's environment, for every session that opts in.

    Why: with a session per input shape (net.SaliencyNet), each session's own arena kept the peak of
    its shape, so a worker process held the sum over every shape (more than a card can give a few
    processes), where one shared arena needs only the largest shape's peak. False (and a warning) where this build cannot do it.
    """
    if device_id not in _shared_gpu_arena:
        try:
            mem = ort.OrtMemoryInfo("Cuda", ort.OrtAllocatorType.ORT_ARENA_ALLOCATOR, device_id, ort.OrtMemType.DEFAULT)
            cfg = ort.OrtArenaCfg(0, 1, -1, -1)  # no cap, grow by what is asked (kSameAsRequested)
            ort.create_and_register_allocator_v2("CUDAExecutionProvider", mem, {"device_id": str(device_id)}, cfg)
            _shared_gpu_arena[device_id] = True
        except Exception as exc:  # noqa: BLE001 - an older build or no CUDA: sessions keep their own arenas
            log.warning("no shared GPU arena (%s): every session keeps its own", exc)
            _shared_gpu_arena[device_id] = False
    return _shared_gpu_arena[device_id]


def cpu_threads(requested: int = 0) -> int:
    """Intra-op threads: the request, else the cores this process may use."""
    if requested > 0:
        return requested
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def create_session(
    model_path: Path,
    providers: list[str],
    intra_op_threads: int = 0,
    trt_cache_dir: Path | None = None,
    quiet: bool = False,
    shared_arena: bool = False,
    cpu_arena: bool = True,
) -> ort.InferenceSession:
    """A session on the first available of `providers`. `shared_arena`: on CUDA, allocate from the
    process's one shared GPU arena (share_gpu_arena) instead of an arena of the session's own.
    `cpu_arena` False: CPU buffers come straight from the process's allocator."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = cpu_threads(intra_op_threads)
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # an arena only grows (to gigabytes over tile and zoom batches): SaliencyNet shrinks it after every
    # odd-shaped run, or runs those on a session without one (Settings.cpu_arena)
    opts.enable_cpu_mem_arena = cpu_arena
    chosen = choose_providers(providers)
    if shared_arena and "CUDAExecutionProvider" in chosen and share_gpu_arena():
        opts.add_session_config_entry("session.use_env_allocators", "1")
    session = ort.InferenceSession(
        str(model_path),
        sess_options=opts,
        providers=[(p, _provider_options(p, trt_cache_dir)) for p in chosen],
    )
    (log.debug if quiet else log.info)(
        "onnxruntime session for %s: providers %s (threads %d)",
        Path(model_path).name,
        session.get_providers(),
        opts.intra_op_num_threads,
    )
    return session


def open_net(model, settings, warm_sizes: tuple[int, ...] = ()):
    """The network (net.SaliencyNet) for a prepared model (models.Prepared), with the session policy
    of `settings`:

    - on a GPU with `session_per_shape`: a session per input shape sharing one arena, built for
      `warm_sizes` now (each shape's first run plans its convolutions);
    - on the CPU unless `cpu_arena` is "all": odd shapes run on a session without an arena (an
      arena only grows); "off": the one arena-less session serves every shape.
    """
    import functools
    import time

    from .net import SaliencyNet

    s, path, providers = settings, model.path, model.providers
    on_cpu = not uses_accelerator(providers)
    session = create_session(path, providers, s.intra_op_threads, s.trt_cache_dir, shared_arena=s.session_per_shape,
                             cpu_arena=not (on_cpu and s.cpu_arena == "off"))
    per_shape = other = None
    if s.session_per_shape and session.get_providers()[0] != "CPUExecutionProvider":
        per_shape = functools.partial(create_session, path, providers, s.intra_op_threads, s.trt_cache_dir,
                                      quiet=True, shared_arena=True)
    elif session.get_providers()[0] == "CPUExecutionProvider" and s.cpu_arena != "all":
        other = session if s.cpu_arena == "off" else create_session(path, ["CPUExecutionProvider"], s.intra_op_threads,
                                                                     quiet=True, cpu_arena=False)
    net = SaliencyNet(session, model.spec, session_for_shape=per_shape, other_session=other)
    if per_shape is not None:
        t0 = time.perf_counter()
        count = net.warm(warm_sizes)
        log.info("%d sessions, one per input shape, ready in %.1f s", count, time.perf_counter() - t0)
    return net
