"""Shared parts of the speed benchmarks: the 2000x1500 JPEG sets, the two contenders, and stats.

Both contenders see the same JPEG bytes: smallcut's `Engine.cutout` and rembg's `remove(bytes)`
(u2netp, one session), each producing an RGBA PNG. Timings on a shared machine are noisy, so the
scripts alternate methods image by image and report medians, with the load average alongside.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from .paths import OUT, ecssd_dir

FRAME = (2000, 1500)  # (width, height) of every benchmark input
JPEG_QUALITY = 90
SETS = ("catalog", "small-objects")
STAGES = ("decode", "coarse", "detect", "roi", "shadows", "postprocess", "compose", "encode")


def _fit(rgb: np.ndarray, size: tuple[int, int] = FRAME) -> np.ndarray:
    """Scale to cover `size`, then centre-crop: no stretching."""
    w, h = size
    ih, iw = rgb.shape[:2]
    s = max(w / iw, h / ih)
    nw, nh = max(w, round(iw * s)), max(h, round(ih * s))
    big = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_CUBIC if s > 1 else cv2.INTER_AREA)
    x0, y0 = (nw - w) // 2, (nh - h) // 2
    return big[y0 : y0 + h, x0 : x0 + w]


def _sources(set_name: str, n: int) -> list[tuple[str, np.ndarray]]:
    """(name, BGR pixels) of the first `n` photos of a set, before resizing."""
    if set_name == "catalog":  # ECSSD evaluation photos: one large object each
        root = ecssd_dir() / "images"
        if not root.is_dir():
            raise SystemExit(f"ECSSD not found at {root} (set BENCH_ECSSD_DIR)")
        names = [f"{i:04d}" for i in range(801, 801 + n)]
        return [(name, cv2.imread(str(root / f"{name}.jpg"))) for name in names]
    if set_name == "small-objects":  # synthetic composites: 1-4 objects of 0.05-5 % of the frame
        from . import synth

        set_dir = synth.build_set("synth-eval")
        out = []
        for name in synth.list_samples(set_dir):
            bgr = cv2.imread(str(set_dir / "images" / f"{name}.jpg"))
            if bgr is not None and bgr.shape[1] > bgr.shape[0]:  # landscape: the crop keeps the objects
                out.append((name, bgr))
            if len(out) >= n:
                break
        return out
    raise SystemExit(f"unknown set {set_name!r}: one of {', '.join(SETS)}")


def jpeg_set(set_name: str, n: int = 20, root: Path | None = None) -> list[Path]:
    """The set's 2000x1500 JPEGs (quality 90), written once under bench/out/speed/inputs/<set>/."""
    folder = (root or OUT / "speed" / "inputs") / set_name
    folder.mkdir(parents=True, exist_ok=True)
    paths = sorted(folder.glob("*.jpg"))[:n]
    if len(paths) >= n:
        return paths
    paths = []
    for name, bgr in _sources(set_name, n):
        path = folder / f"{name}.jpg"
        if not path.exists():
            ok, buf = cv2.imencode(".jpg", _fit(bgr), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise RuntimeError(f"could not encode {name}")
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(buf.tobytes())
            os.replace(tmp, path)
        paths.append(path)
    return paths


def load_engine(threads: int = 0, precision: str | None = None):
    """The engine as a worker builds it (`threads` ONNX intra-op threads, 0 = all cores), warmed up.

    On the CPU unless SMALLCUT_PROVIDERS names others (a GPU run sets it for the workers too);
    `precision` (fp32, fp16 or int8) overrides SMALLCUT_PRECISION.
    """
    from smallcut.settings import Settings
    from workers.engine import Engine

    kw = {} if os.environ.get("SMALLCUT_PROVIDERS") else {"providers": ["CPUExecutionProvider"]}
    if precision:
        kw["precision"] = precision
    if threads:
        kw["intra_op_threads"] = threads
    engine = Engine.from_settings(Settings(**kw))
    engine.matte(np.zeros((480, 640, 3), np.uint8))
    return engine


def rembg_session():
    """rembg's u2netp session, read from ~/.u2net (bench.methods copies it there if missing), warmed up."""
    from .methods import Rembg

    session = Rembg()._ensure_session()
    return session


def rembg_png(data: bytes, session) -> bytes:
    """What a rembg user runs: `remove(bytes)` -> RGBA PNG bytes."""
    import rembg

    return rembg.remove(data, session=session)


def median(xs) -> float:
    xs = list(xs)
    return float(statistics.median(xs)) if xs else float("nan")


def load() -> dict:
    """The machine's state while measuring (shared machine: the load says how much to trust)."""
    import onnxruntime

    la = os.getloadavg()
    return {
        "load_avg_1_5_15": [round(x, 2) for x in la],
        "cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "onnxruntime": onnxruntime.__version__,
        "opencv": cv2.__version__,
        "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def table(rows: list[list], header: list[str]) -> str:
    """Plain markdown table."""
    fmt = lambda c: (f"{c:.3g}" if abs(c) < 10 else f"{c:.1f}") if isinstance(c, float) else str(c)  # noqa: E731
    cells = [header] + [[fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in cells[1:]])


def write_outputs(out: Path, result: dict, text: str, chart, chart_name: str, command: str) -> None:
    """results.json, summary.md and the chart of one bench run, then the table on stdout."""
    result["command"] = command
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=1))
    (out / "summary.md").write_text(text + "\n")
    chart(result, out / chart_name)
    print(text)
    print(f"\nwrote {out}/results.json, summary.md, {chart_name}")


class GpuSampler:
    """GPU utilisation and memory, sampled from NVML every `period` s while the block runs.

    `summary` is empty on a machine without NVML (no driver, no `nvidia-ml-py`): CPU runs report nothing.
    """

    def __init__(self, period: float = 0.1, read=None) -> None:
        from smallcut.gpu_metrics import NvmlReader

        self.period, self.read = period, read or NvmlReader()
        self.readings: list = []
        self._stop = None

    def __enter__(self) -> "GpuSampler":
        import threading

        self._stop = threading.Event()

        def poll() -> None:
            while not self._stop.is_set():
                self.readings.extend(r for r in self.read() if r.index == 0)
                self._stop.wait(self.period)

        self._thread = threading.Thread(target=poll, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def summary(self) -> dict:
        if not self.readings:
            return {}
        util = [r.utilization for r in self.readings]
        return {"gpu": self.readings[0].name, "gpu_util_mean": round(float(np.mean(util)), 3),
                "gpu_util_median": round(float(np.median(util)), 3),
                "gpu_mem_peak_mb": round(max(r.memory_used for r in self.readings) / 2**20), "samples": len(util)}
