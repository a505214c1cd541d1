"""Load and soak run: N small images through W worker processes on this machine (a stack of its own).

Measures throughput, end-to-end (queued -> done) and processing (started -> done) latency p50/p95,
lost keys (not `done`), duplicates (more than one delivery, or outputs != inputs), and each worker's
peak resident memory after 100 and after 1,000 finished images (steady state: within 10%).

    python -m bench.load                                  # 2,000 images, 2 workers
    python -m bench.load --images 400 --late 350          # quicker
Writes bench/out/load/results.json and prints a table.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out" / "load"
IN_BUCKET, OUT_BUCKET = "load-in", "load-out"


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory now (VmRSS) or the most it ever was (VmHWM), in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree(pid: int) -> list[int]:
    """The process and its children (prefork pool)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(p) for p in path.read_text().split()] if path.exists() else []
    return [pid, *kids]


def pct(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def images(n_unique: int, size: tuple[int, int]) -> list[bytes]:
    from smallcut import samples

    out = []
    for i in range(n_unique):
        name, bg, objs = samples.SCENES[i % len(samples.SCENES)]
        buf = io.BytesIO()
        samples.scene(name, bg, objs, seed=i, size=size).save(buf, "JPEG", quality=88)
        out.append(buf.getvalue())
    return out


def run(args: argparse.Namespace) -> dict:
    from smallcut import localstack
    from smallcut.settings import Settings
    from smallcut.status import StatusStore
    from smallcut.storage import iter_objects, make_client

    workdir = Path(tempfile.mkdtemp(prefix="smallcut-load-"))
    state = localstack.up(workdir, workers=0)
    env = {**state.env, "SMALLCUT_QUEUE": "cpu", "SMALLCUT_PROVIDERS": "CPUExecutionProvider",
           "SMALLCUT_INTRA_OP_THREADS": str(args.threads), "SMALLCUT_ROI": "true"}
    settings = Settings(_env_file=None, **{k.removeprefix("SMALLCUT_").lower(): v for k, v in env.items()})
    s3, status = make_client(settings), StatusStore.from_settings(settings)
    workers = []
    try:
        for b in (IN_BUCKET, OUT_BUCKET):
            s3.create_bucket(Bucket=b)
        pics = images(args.unique, (args.width, args.height))
        keys = [f"load/{i:05d}.jpg" for i in range(args.images)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda ik: s3.put_object(Bucket=IN_BUCKET, Key=ik[1], Body=pics[ik[0] % len(pics)]),
                          enumerate(keys)))
        for i in range(args.workers):
            workers.append(localstack.start_worker(env, workdir, f"load{i + 1}", concurrency=1, queues="cpu"))
        localstack.wait_for_workers(env["SMALLCUT_REDIS_URL"], args.workers, timeout=180, pids=[w.pid for w in workers])

        t0 = time.time()
        proc = __import__("subprocess").run(
            [sys.executable, "-m", "smallcut.cli", "enqueue", f"s3://{IN_BUCKET}/load/", "--out", f"s3://{OUT_BUCKET}/cut",
             "--chunk-size", str(args.chunk_size), "--json"], env={**os.environ, **env}, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"enqueue failed: {proc.stderr}")
        batch = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])["batch"]
        marks, samples_rss = {args.early: None, args.late: None}, []
        last_done, last_progress = -1, time.time()
        while True:
            summary = status.get_batch(batch)
            done = summary.completed
            if done != last_done:
                last_done, last_progress = done, time.time()
            rss = {w.pid: {p: round(rss_mb(p)) for p in tree(w.pid)} for w in workers}
            samples_rss.append({"t": round(time.time() - t0, 1), "completed": done, "rss_mb": rss})
            for m in marks:
                if marks[m] is None and done >= m:
                    # peak so far: inference memory comes and goes within each image (a reading of the
                    # current RSS swings by ~0.8 GB); growth shows as a higher peak later on
                    marks[m] = {w.pid: {p: round(rss_mb(p, "VmHWM")) for p in tree(w.pid)} for w in workers}
            # a busy machine only makes the run longer: what ends it early is no progress at all
            stalled = time.time() - last_progress > args.stall
            if summary.is_finished or stalled or (args.timeout and time.time() - t0 > args.timeout):
                break
            time.sleep(0.5)

        objs = [status.get_object(f"{IN_BUCKET}/{k}") or {} for k in keys]
        done_objs = [o for o in objs if o.get("state") == "done"]
        e2e = [float(o["finished_at"]) - float(o["queued_at"]) for o in done_objs]
        proc_lat = [float(o["finished_at"]) - float(o["started_at"]) for o in done_objs]
        outputs = sum(1 for _ in iter_objects(s3, OUT_BUCKET, "cut/"))
        redelivered = sum(1 for o in objs if int(o.get("attempts") or 0) > 1)
        alive = all(w.poll() is None for w in workers)
        summary = status.get_batch(batch)
        child_rss = {}  # per worker: the child (where the model lives) at 100 and 1000
        for w in workers:
            at = [marks[m][w.pid] if marks[m] else {} for m in (args.early, args.late)]
            kids = [p for p in at[0] if p != w.pid]
            child_rss[w.pid] = [(at[0].get(p), at[1].get(p)) for p in kids]
        growth = [b / a - 1 for pairs in child_rss.values() for a, b in pairs if a and b]
        result = {
            "images": args.images, "workers": args.workers, "threads_per_worker": args.threads,
            "image_size": f"{args.width}x{args.height}", "chunk_size": args.chunk_size,
            "wall_s": round(summary.elapsed, 1), "throughput_img_s": round(summary.done / max(summary.elapsed, 1e-9), 2),
            "e2e_p50_s": round(pct(e2e, 50), 2), "e2e_p95_s": round(pct(e2e, 95), 2),
            "proc_p50_ms": round(pct(proc_lat, 50) * 1000), "proc_p95_ms": round(pct(proc_lat, 95) * 1000),
            "done": summary.done, "failed": summary.failed, "lost": args.images - len(done_objs),
            "outputs": outputs, "duplicates": redelivered + max(0, outputs - args.images),
            "workers_alive": alive, "rss_marks": [args.early, args.late], "peak_rss_child_mb_at_marks": child_rss,
            "rss_growth_max": round(max(growth), 3) if growth else None,
            "rss_samples": samples_rss[:: max(1, len(samples_rss) // 200)],
        }
    finally:
        for w in workers:
            localstack.stop(w.pid)
        localstack.down(workdir)
    return result


def table(r: dict) -> str:
    rows = [
        ("images / workers x threads", f"{r['images']} ({r['image_size']}) / {r['workers']} x {r['threads_per_worker']}"),
        ("wall time", f"{r['wall_s']} s"),
        ("throughput", f"{r['throughput_img_s']} images/s"),
        ("latency queued->done p50 / p95", f"{r['e2e_p50_s']} s / {r['e2e_p95_s']} s"),
        ("processing p50 / p95 (per image, in a chunk)", f"{r['proc_p50_ms']} ms / {r['proc_p95_ms']} ms"),
        ("done / failed / lost", f"{r['done']} / {r['failed']} / {r['lost']}"),
        ("outputs in bucket / duplicates", f"{r['outputs']} / {r['duplicates']}"),
        ("worker child peak RSS after {} -> {} images (MB)".format(*r["rss_marks"]),
         "; ".join(f"{a}->{b}" for pairs in r["peak_rss_child_mb_at_marks"].values() for a, b in pairs)),
        ("RSS growth (max over workers)", "n/a" if r["rss_growth_max"] is None else f"{r['rss_growth_max'] * 100:+.1f}%"),
        ("workers alive at the end", str(r["workers_alive"])),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"| {k.ljust(width)} | {v} |" for k, v in rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=1, help="ONNX threads per worker")
    p.add_argument("--width", type=int, default=320)
    p.add_argument("--height", type=int, default=240)
    p.add_argument("--unique", type=int, default=40, help="distinct pictures (keys are all distinct)")
    p.add_argument("--chunk-size", type=int, default=8)
    p.add_argument("--stall", type=float, default=600, help="give up after this long without a finished image")
    p.add_argument("--timeout", type=float, default=0, help="overall limit in seconds (0: none)")
    p.add_argument("--early", type=int, default=100, help="finished images at the first memory reading")
    p.add_argument("--late", type=int, default=1000, help="finished images at the second memory reading")
    args = p.parse_args(argv)
    result = run(args)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(result, indent=2))
    print(table(result))
    growth = result["rss_growth_max"]
    ok = result["lost"] == 0 and result["duplicates"] == 0 and result["workers_alive"] and (growth is None or growth < 0.10)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
