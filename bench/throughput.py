"""Throughput on one machine: rembg loop, smallcut engine alone, and smallcut end to end through
Celery + Redis + S3 (local servers: valkey-server and moto, see smallcut/localstack.py) with 1 and 2
worker processes (ONNX threads per process = cores / processes).

End to end, every object's stage timings (download, decode ... encode, upload) and its queued /
started / finished times are read back from its Redis status. Overhead = what a worker process
spends per image beyond its engine time ((wall x processes / images) - mean engine ms), as % of
engine time: queue, storage, status and any idling together; and the same over each worker's busy
span (its first start to its last finish), which leaves out the run's start and tail.

CPU accounting (the engine in this process and the engine-alone processes): per stage, wall and
thread CPU ms, and the CPU ms per image outside network passes (bench/_common.py, cpu_accounting).
End to end, the statuses carry wall ms per stage only.

    python -m bench.throughput [--n 10] [--processes 1,2] [--chunk 2]
    python -m bench.throughput --providers CUDAExecutionProvider,CPUExecutionProvider --processes 1,2,4,8

On a GPU (--providers naming one), the engine, rembg's session and the workers (on the `gpu`
queue) all run there, and GPU utilisation and memory are sampled from NVML while the images run.

Writes bench/out/throughput/{results.json,summary.md,throughput.png,cpu.png}.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from . import _common as C
from .paths import OUT

IN_BUCKET, OUT_BUCKET = "bench-in", "bench-out"
IO_STAGES = ("head", "download", "upload")


MIXES = ("mixed", "catalog", "small-objects")


def inputs(n: int, mix: str = "mixed") -> list[Path]:
    """n catalog + n small-object JPEGs interleaved, or 2n of one kind (`mix`)."""
    if mix != "mixed":
        return C.jpeg_set(mix, 2 * n)
    a, b = C.jpeg_set("catalog", n), C.jpeg_set("small-objects", n)
    return [p for pair in zip(a, b) for p in pair] + a[len(b):] + b[len(a):]


def loop(paths: list[Path], engine, session) -> dict:
    """rembg remove() and Engine.cutout, one process, alternating image by image after a warm-up."""
    from workers.engine import CutoutOptions

    runners = {"rembg": lambda d: C.rembg_png(d, session), "engine": lambda d: engine.cutout(d, CutoutOptions())}
    if session is None:
        runners.pop("rembg")
    ms: dict[str, list[float]] = {k: [] for k in runners}
    stages: list[dict] = []  # the engine's per image: wall timings and CPU accounting
    for fn in runners.values():
        fn(paths[0].read_bytes())
    for i, p in enumerate(paths):
        data = p.read_bytes()
        order = list(runners) if i % 2 == 0 else list(runners)[::-1]
        for name in order:
            t0 = time.perf_counter()
            r = runners[name](data)
            ms[name].append((time.perf_counter() - t0) * 1000)
            if name == "engine":
                stages.append({"timings": dict(r.timings), **C.cpu_accounting(r.timings)})
    out = {}
    for name, xs in ms.items():
        out[name] = {"images": len(xs), "images_per_s": round(1000 * len(xs) / sum(xs), 3),
                     "ms_per_image": round(sum(xs) / len(xs), 1), "median_ms": round(C.median(xs), 1)}
    out["engine"]["stage_mean_ms"] = {k: round(float(np.mean([t["timings"].get(k, 0.0) for t in stages])), 1)
                                      for k in C.STAGES}
    out["engine"]["cpu"] = C.summarise_cpu(stages)
    return out


_ENGINE = None


def _init(threads: int) -> None:
    global _ENGINE
    _ENGINE = C.load_engine(threads)


def _cut(path: str) -> tuple[float, dict, float]:
    """(wall ms, stage timings, CPU ms of this process and its ONNX threads)."""
    from workers.engine import CutoutOptions

    c0, t0 = time.process_time(), time.perf_counter()
    r = _ENGINE.cutout(Path(path).read_bytes(), CutoutOptions())
    return (time.perf_counter() - t0) * 1000, r.timings, (time.process_time() - c0) * 1000


def engine_processes(paths: list[Path], processes: int) -> dict:
    """The engine alone in `processes` processes (cores/processes ONNX threads each): no queue, no S3."""
    threads = max(1, (os.cpu_count() or 1) // processes)
    with mp.get_context("spawn").Pool(processes, initializer=_init, initargs=(threads,)) as pool:
        pool.map(_cut, [str(paths[0])] * processes, chunksize=1)  # warm-up (model already loaded)
        with C.GpuSampler() as gpu:
            t0 = time.perf_counter()
            res = pool.map(_cut, [str(p) for p in paths], chunksize=1)
            wall = time.perf_counter() - t0
    engine_ms = [sum(t.get(k, 0.0) for k in C.STAGES) for _, t, _ in res]
    return {"processes": processes, "threads_per_process": threads, "images": len(paths),
            "images_per_s": round(len(paths) / wall, 3), "ms_per_image": round(1000 * wall / len(paths), 1),
            "engine_mean_ms": round(float(np.mean(engine_ms)), 1),
            "stage_mean_ms": {k: round(float(np.mean([t.get(k, 0.0) for _, t, _ in res])), 1) for k in C.STAGES},
            "cpu": C.summarise_cpu([{"timings": dict(t), **C.cpu_accounting(t)} for _, t, _ in res]),
            **gpu.summary}


def alternate(pools: dict, paths: list[Path], block: int) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Blocks of the same images through every pool in turn, the order flipping every block (a shared
    machine's load drifts; alternating cancels most of it): per pool, images/s and cores kept busy
    (CPU time of its processes / wall) per block."""
    rates: dict[str, list[float]] = {k: [] for k in pools}
    busy: dict[str, list[float]] = {k: [] for k in pools}
    for b, start in enumerate(range(0, len(paths) - block + 1, block)):
        chunk = [str(p) for p in paths[start : start + block]]
        for name in (list(pools) if b % 2 == 0 else list(pools)[::-1]):
            t0 = time.perf_counter()
            res = pools[name].map(_cut, chunk, chunksize=1)
            wall = time.perf_counter() - t0
            rates[name].append(len(chunk) / wall)
            busy[name].append(sum(c for _, _, c in res) / 1000 / wall)
    return rates, busy


def scaling(paths: list[Path], block: int = 4, configs=((1, 0), (2, 1))) -> dict:
    """1 process x all cores vs 2 processes x 1 thread, engine alone, alternating blocks of the same
    images (a shared machine's load drifts; alternating cancels most of it). Per config: images/s
    per block (median) and cores kept busy (CPU time of the processes / wall)."""
    cores = os.cpu_count() or 1
    pools = {}
    try:
        for procs, threads in configs:
            threads = threads or max(1, cores // procs)
            pool = mp.get_context("spawn").Pool(procs, initializer=_init, initargs=(threads,))
            pool.map(_cut, [str(paths[0])] * procs, chunksize=1)
            pools[f"{procs} proc x {threads} thr"] = pool
        rates, busy = alternate(pools, paths, block)
    finally:
        for pool in pools.values():
            pool.terminate()
    out = {k: {"images_per_s_median": round(C.median(v), 3), "blocks": len(v),
               "cores_busy_median": round(C.median(busy[k]), 2)} for k, v in rates.items()}
    a, b = list(out)[:2]
    ratios = [y / x for x, y in zip(rates[a], rates[b])]
    out["ratio_2_over_1_median"] = round(C.median(ratios), 3)
    return out


def _settings(env: dict):
    from smallcut.settings import Settings

    return Settings(_env_file=None, **{k.removeprefix("SMALLCUT_").lower(): v for k, v in env.items()})


def _providers() -> str:
    """The workers' ONNX Runtime providers: the environment's SMALLCUT_PROVIDERS, else the CPU."""
    return os.environ.get("SMALLCUT_PROVIDERS", "CPUExecutionProvider")


def _queue() -> str:
    return "cpu" if _providers().split(",")[0].strip() == "CPUExecutionProvider" else "gpu"


def _run_batch(prefix: str, out_prefix: str, *, settings, status, s3, app, chunk: int, timeout: float) -> tuple[str, float]:
    from producer.enqueue import Request, enqueue
    from smallcut.keys import S3Url

    req = Request(source=S3Url(IN_BUCKET, prefix), out_bucket=OUT_BUCKET, out_prefix=out_prefix, queue=_queue(),
                  chunk_size=chunk, force=True)
    t0 = time.perf_counter()
    res = enqueue(req, settings=settings, status=status, s3=s3, celery_app=app)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        summary = status.get_batch(res.batch)
        if summary is not None and summary.is_finished:
            return res.batch, time.perf_counter() - t0
        time.sleep(0.1)
    raise TimeoutError(f"batch {res.batch} not finished in {timeout:.0f}s")


def end_to_end(paths: list[Path], processes_list=(1, 2), chunk: int = 2, timeout: float = 900.0,
               workdir: Path | None = None) -> list[dict]:
    """Local servers once; per process count a fresh worker, a warm-up batch, then the measured batch."""
    from smallcut import keys as keyrules
    from smallcut import localstack
    from smallcut.status import StatusStore
    from smallcut.storage import make_client
    from workers.celery_app import make_app

    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="smallcut-throughput-")
        workdir = Path(tmp.name)
    state = localstack.up(workdir, workers=0)
    results = []
    try:
        env = {**state.env, "SMALLCUT_QUEUE": _queue(), "SMALLCUT_PROVIDERS": _providers(),
               "SMALLCUT_ALLOWED_BUCKETS": f"{IN_BUCKET},{OUT_BUCKET}"}
        settings = _settings(env)
        s3 = make_client(settings)
        for b in (IN_BUCKET, OUT_BUCKET):
            s3.create_bucket(Bucket=b)
        warm = max(processes_list) * 2
        for i, p in enumerate(paths):
            s3.put_object(Bucket=IN_BUCKET, Key=f"run/{i:03d}-{p.name}", Body=p.read_bytes())
        for i in range(warm):
            s3.put_object(Bucket=IN_BUCKET, Key=f"warm/{i:03d}.jpg", Body=paths[i % len(paths)].read_bytes())
        status = StatusStore.from_settings(settings)
        app = make_app(settings)
        for procs in processes_list:
            name = f"bench{procs}"
            loads_before = sum(status.model_loads().values())
            proc = localstack.start_worker(env, workdir, name, concurrency=procs, queues=_queue())
            try:
                localstack.wait_for_workers(settings.broker, 1, timeout=180, pids=[proc.pid])
                _run_batch("warm/", f"warm-p{procs}", settings=settings, status=status, s3=s3, app=app, chunk=1, timeout=timeout)
                with C.GpuSampler() as gpu:
                    batch, wall = _run_batch("run/", f"p{procs}", settings=settings, status=status, s3=s3, app=app,
                                             chunk=chunk, timeout=timeout)
                objs = [status.get_object(keyrules.object_id(IN_BUCKET, f"run/{i:03d}-{p.name}")) or {} for i, p in enumerate(paths)]
                model_loads = sum(status.model_loads().values()) - loads_before  # per child, once each
            finally:
                localstack.stop(proc.pid)
            results.append({**_summarise_e2e(procs, chunk, wall, objs, model_loads), **gpu.summary})
    finally:
        localstack.down(workdir)
        if tmp is not None:
            tmp.cleanup()
    return results



def busy_ms_per_image(done: list[dict]) -> float:
    """Per worker process (the status's host:pid), first start to last finish, summed, per image.

    What a long run costs per image and process: it counts the worker's download, upload, status
    writes and the gaps between its tasks, but not the run's start (enqueue, first dispatch) or its
    tail (one process done while the other finishes its last chunk), which a 20-image run magnifies.
    """
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    count: dict[str, int] = {}
    for o in done:
        w = o.get("worker")
        if not (w and o.get("started_at") and o.get("finished_at")):
            continue
        first[w] = min(first.get(w, float("inf")), float(o["started_at"]))
        last[w] = max(last.get(w, 0.0), float(o["finished_at"]))
        count[w] = count.get(w, 0) + 1
    n = sum(count.values())
    return 1000 * sum(last[w] - first[w] for w in count) / n if n else float("nan")


def _summarise_e2e(procs: int, chunk: int, wall: float, objs: list[dict], model_loads: int) -> dict:
    done = [o for o in objs if o.get("state") == "done"]
    n = len(objs)
    engine_ms = [sum(o["timings"].get(k, 0.0) for k in C.STAGES) for o in done]
    mean_engine = float(np.mean(engine_ms)) if engine_ms else float("nan")
    per_image_process_ms = 1000 * wall * procs / max(1, n)
    waits = [(float(o["started_at"]) - float(o["queued_at"])) * 1000 for o in done if o.get("queued_at") and o.get("started_at")]
    spans = [(float(o["finished_at"]) - float(o["started_at"])) * 1000 for o in done if o.get("finished_at") and o.get("started_at")]
    busy_ms = busy_ms_per_image(done)
    return {
        "processes": procs,
        "threads_per_process": max(1, (os.cpu_count() or 1) // procs),
        "chunk_size": chunk,
        "images": n,
        "done": len(done),
        "failed": [o.get("error") for o in objs if o.get("state") != "done"],
        "model_loads": model_loads,
        "wall_s": round(wall, 2),
        "images_per_s": round(n / wall, 3),
        "ms_per_image": round(1000 * wall / n, 1),
        "engine_mean_ms": round(mean_engine, 1),
        "process_ms_per_image": round(per_image_process_ms, 1),
        "overhead_pct_of_engine": round(100 * (per_image_process_ms - mean_engine) / mean_engine, 1),
        "busy_ms_per_image": round(busy_ms, 1),
        "busy_overhead_pct_of_engine": round(100 * (busy_ms - mean_engine) / mean_engine, 1),
        "stage_mean_ms": {k: round(float(np.mean([o["timings"].get(k, 0.0) for o in done])), 1) for k in (*IO_STAGES, *C.STAGES)},
        "queue_wait_median_ms": round(C.median(waits), 1),
        "started_to_finished_median_ms": round(C.median(spans), 1),
    }


def run_throughput(paths: list[Path], engine, session, processes_list=(1, 2), chunk: int = 2, e2e: bool = True,
                   parallel_engine: bool = True, repeat: int = 1) -> dict:
    """The whole measurement as data: what the CLI and the test call. End to end, each image goes
    through `repeat` times under keys of its own (a longer run: its start and tail weigh less)."""
    result = {"machine_before": C.load(), "images": [p.name for p in paths]}
    result["loop"] = loop(paths, engine, session)
    if parallel_engine:
        result["engine_processes"] = [engine_processes(paths, p) for p in processes_list if p > 1]
        if _queue() == "cpu":  # how to split a CPU's cores between processes; moot on a GPU
            result["scaling_interleaved"] = scaling(paths)
    if e2e:
        repeat = max(1, repeat)
        result["end_to_end"] = end_to_end(paths * repeat, processes_list, chunk)
        result["end_to_end_repeat"] = repeat
    result["machine_after"] = C.load()
    return result


def report(r: dict) -> str:
    mix = {"mixed": "catalog + small-objects"}.get(r.get("mix", "mixed"), r.get("mix"))
    lines = [f"{len(r['images'])} JPEGs 2000x1500 ({mix}), load before {r['machine_before']['load_avg_1_5_15']}, "
             f"after {r['machine_after']['load_avg_1_5_15']} ({r['machine_before']['cpus']} CPUs); "
             f"smallcut precision {r.get('precision', 'fp32')}"
             + (f"; end to end each image {r['end_to_end_repeat']} times ({r['end_to_end_repeat'] * len(r['images'])} keys)"
                if r.get("end_to_end_repeat", 1) > 1 else ""), ""]
    rembg = r["loop"].get("rembg", {}).get("images_per_s")
    rows = []
    for name, s in r["loop"].items():
        rows.append([f"{name} loop (1 process, all cores)", s["images_per_s"], s["ms_per_image"], "-", "-", "-",
                     round(s["images_per_s"] / rembg, 2) if rembg else "-"])
    for s in r.get("engine_processes", []):
        rows.append([f"engine alone, {s['processes']} processes x {s['threads_per_process']} thr", s["images_per_s"],
                     s["ms_per_image"], s["engine_mean_ms"], "-", "-", round(s["images_per_s"] / rembg, 2) if rembg else "-"])
    for s in r.get("end_to_end", []):
        rows.append([f"end to end, {s['processes']} process(es) x {s['threads_per_process']} thr", s["images_per_s"],
                     s["ms_per_image"], s["engine_mean_ms"], s["overhead_pct_of_engine"], s.get("busy_overhead_pct_of_engine", "-"),
                     round(s["images_per_s"] / rembg, 2) if rembg else "-"])
    lines.append(C.table(rows, ["what", "images/s", "ms/image (wall)", "engine ms/image (per process)",
                                "overhead % of engine (wall)", "overhead % of engine (worker busy span)", "x rembg"]))
    cpu = C.cpu_report({"engine loop (1 process)": r["loop"].get("engine", {}).get("cpu"),
                        **{f"engine alone, {s['processes']} processes": s.get("cpu") for s in r.get("engine_processes", [])}})
    if cpu:
        lines += ["", cpu, "", "(end to end, the statuses carry wall ms per stage only)"]
    gpu_rows = [[f"engine alone, {s['processes']} processes", s["gpu"], s["gpu_util_mean"], s["gpu_util_median"], s["gpu_mem_peak_mb"]]
                for s in r.get("engine_processes", []) if s.get("gpu")]
    gpu_rows += [[f"end to end, {s['processes']} process(es)", s["gpu"], s["gpu_util_mean"], s["gpu_util_median"], s["gpu_mem_peak_mb"]]
                 for s in r.get("end_to_end", []) if s.get("gpu")]
    if gpu_rows:
        lines += ["", f"providers: {r.get('providers')}", "", "GPU, sampled from NVML every 0.1 s while the images ran:", ""]
        lines.append(C.table(gpu_rows, ["what", "device", "utilisation mean", "utilisation median", "memory peak MB"]))
    sc = r.get("scaling_interleaved")
    if sc:
        lines += ["", "engine alone, alternating blocks of 4 images (load drift cancels):", ""]
        lines.append(C.table([[k, v["images_per_s_median"], v["cores_busy_median"], v["blocks"]] for k, v in sc.items() if isinstance(v, dict)],
                             ["config", "images/s (median of blocks)", "cores busy", "blocks"]))
        lines.append(f"\n2 processes / 1 process, paired by block: {sc['ratio_2_over_1_median']}x")
    if r.get("end_to_end"):
        stages = (*IO_STAGES, *C.STAGES)
        lines += ["", "end to end, mean ms per image per stage (from each object's Redis status):", ""]
        lines.append(C.table([[f"{s['processes']} proc", *[s["stage_mean_ms"][k] for k in stages], s["queue_wait_median_ms"],
                               s["started_to_finished_median_ms"]] for s in r["end_to_end"]],
                             ["", *stages, "queue wait (median)", "started->finished (median)"]))
    return "\n".join(lines)


def chart(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, vals = [], []
    for name, s in r["loop"].items():
        labels.append(f"{name} loop")
        vals.append(s["images_per_s"])
    for s in r.get("engine_processes", []):
        labels.append(f"engine x{s['processes']} proc")
        vals.append(s["images_per_s"])
    for s in r.get("end_to_end", []):
        labels.append(f"e2e {s['processes']} proc")
        vals.append(s["images_per_s"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    axes[0].bar(range(len(vals)), vals, color=["grey" if lab.startswith("rembg") else "tab:blue" for lab in labels])
    axes[0].set_xticks(range(len(vals)), labels, rotation=20, fontsize=8)
    axes[0].set_ylabel("images/s (2000x1500 JPEG -> PNG)")
    axes[0].set_title("throughput on this machine")
    e2e = r.get("end_to_end", [])
    if e2e:
        stages = (*IO_STAGES, *C.STAGES)
        colours = plt.cm.tab10.colors
        for i, s in enumerate(e2e):
            bottom = 0.0
            for k, st in enumerate(stages):
                v = s["stage_mean_ms"][st]
                axes[1].bar(i, v, bottom=bottom, color=colours[k % 10], label=st if i == 0 else None)
                bottom += v
            axes[1].plot([i - 0.4, i + 0.4], [s["process_ms_per_image"]] * 2, color="k", lw=2,
                         label="process time per image" if i == 0 else None)
        axes[1].set_xticks(range(len(e2e)), [f"{s['processes']} proc" for s in e2e])
        axes[1].set_ylabel("mean ms per image per process")
        axes[1].set_title("end to end: stages vs process time")
        axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cpu_chart(r: dict, path: Path) -> None:
    """CPU ms per image outside network passes, by stage: the engine loop and the engine-alone pools."""
    rows = {"loop (1 process)": r["loop"].get("engine", {}).get("cpu"),
            **{f"{s['processes']} processes": s.get("cpu") for s in r.get("engine_processes", [])}}
    C.cpu_chart({"engine": rows}, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10, help="images per set (catalog and small-objects)")
    ap.add_argument("--mix", choices=MIXES, default="mixed",
                    help="mixed: half single-product catalog frames, half small-object frames; or only one kind")
    ap.add_argument("--processes", default="1,2")
    ap.add_argument("--chunk", type=int, default=2, help="keys per task (small: both processes stay busy to the end)")
    ap.add_argument("--no-e2e", action="store_true")
    ap.add_argument("--repeat", type=int, default=1,
                    help="end to end, each image this many times under keys of its own: a long run, where the start and the "
                         "tail (one process finishing while the others idle) weigh less")
    ap.add_argument("--no-engine-processes", action="store_true", help="skip the engine-alone pools (and their scaling)")
    ap.add_argument("--precision", choices=("auto", "fp32", "fp16", "int8"), default=None,
                    help="SMALLCUT_PRECISION for the engine and the workers (default: the environment's, else auto: "
                         "int8 on the CPU, fp32 on a GPU)")
    ap.add_argument("--providers", default=None,
                    help="SMALLCUT_PROVIDERS for the engine and the workers, e.g. CUDAExecutionProvider,CPUExecutionProvider "
                         "(default: the environment's, else the CPU); a GPU run uses the `gpu` queue")
    ap.add_argument("--out", type=Path, default=OUT / "throughput")
    args = ap.parse_args(argv)
    if args.precision:
        os.environ["SMALLCUT_PRECISION"] = args.precision  # the workers inherit it
    if args.providers:
        os.environ["SMALLCUT_PROVIDERS"] = args.providers
    paths = inputs(args.n, args.mix)
    procs = tuple(int(x) for x in args.processes.split(","))
    engine = C.load_engine()
    session = C.rembg_session()
    result = run_throughput(paths, engine, session, procs, args.chunk, e2e=not args.no_e2e,
                            parallel_engine=not args.no_engine_processes, repeat=args.repeat)
    result["precision"] = "int8" if ":int8-" in engine.model_id else "fp16" if ":fp16-" in engine.model_id else "fp32"  # as run
    result["providers"] = {"smallcut": engine.net.session.get_providers(),
                           "rembg": session.inner_session.get_providers() if session is not None else None}
    result["mix"] = args.mix
    argv_text = " ".join(argv if argv is not None else __import__("sys").argv[1:])
    C.write_outputs(args.out, result, report(result), chart, "throughput.png", "python -m bench.throughput " + argv_text,
                    more_charts={"cpu.png": cpu_chart})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
