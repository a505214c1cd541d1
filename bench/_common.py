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
    from workers.engine.timing import count_network_passes

    engine = Engine.from_settings(Settings(**kw))
    count_network_passes(engine.net)  # stage timings then say how much of each stage was network
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
        "opencv_threads": cv2.getNumThreads(),
        "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def table(rows: list[list], header: list[str]) -> str:
    """Plain markdown table."""
    fmt = lambda c: (f"{c:.3g}" if abs(c) < 10 else f"{c:.1f}") if isinstance(c, float) else str(c)  # noqa: E731
    cells = [header] + [[fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    return "\n".join([line(cells[0]), "|" + "|".join("-" * (w + 2) for w in widths) + "|"] + [line(r) for r in cells[1:]])


def write_outputs(out: Path, result: dict, text: str, chart, chart_name: str, command: str,
                  more_charts: dict | None = None) -> None:
    """results.json, summary.md and the charts of one bench run (`chart` to `chart_name`, and each of
    `more_charts`, file name -> chart function), then the table on stdout."""
    result["command"] = command
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=1))
    (out / "summary.md").write_text(text + "\n")
    charts = {chart_name: chart, **(more_charts or {})}
    for name, fn in charts.items():
        fn(result, out / name)
    print(text)
    print(f"\nwrote {out}/results.json, summary.md, {', '.join(charts)}")


# ---------------------------------------------------------------------- CPU accounting
HEADLINE = "CPU ms per image outside network passes"


def cpu_accounting(timings) -> dict:
    """One cut-out's CPU accounting from its stage timings (workers/engine/timing.py, StageTimes): per
    stage, thread CPU ms, network-pass wall ms and thread CPU ms outside network passes, and the last
    summed over the stages (the headline). Empty for timings without CPU figures (rembg, statuses)."""
    cpu = getattr(timings, "cpu", None)
    if not cpu:
        return {}
    outside = timings.cpu_outside_network()
    return {"stage_cpu": {k: round(cpu.get(k, 0.0), 2) for k in timings},
            "stage_network": {k: round(v, 2) for k, v in timings.net.items()},
            "stage_cpu_outside_network": {k: round(v, 2) for k, v in outside.items()},
            "cpu_outside_network_ms": round(sum(outside.values()), 2)}


def summarise_cpu(rows: list[dict]) -> dict:
    """Over images (each a cpu_accounting() dict with the wall timings under "timings"): mean ms per
    stage of wall, thread CPU, CPU outside network passes and network wall, and the headline's median
    and mean. Empty when no row has CPU figures."""
    rows = [r for r in rows if r.get("stage_cpu")]
    if not rows:
        return {}

    def mean(field: str) -> dict[str, float]:
        return {k: round(float(np.mean([r[field].get(k, 0.0) for r in rows])), 1) for k in STAGES}

    return {"images": len(rows),
            "cpu_outside_network_ms_median": round(median(r["cpu_outside_network_ms"] for r in rows), 1),
            "cpu_outside_network_ms_mean": round(float(np.mean([r["cpu_outside_network_ms"] for r in rows])), 1),
            "network_ms_mean": round(float(np.mean([sum(r["stage_network"].values()) for r in rows])), 1),
            "wall_ms_mean": round(float(np.mean([sum(r["timings"].get(k, 0.0) for k in STAGES) for r in rows])), 1),
            "stage_wall_mean_ms": mean("timings"), "stage_cpu_mean_ms": mean("stage_cpu"),
            "stage_cpu_outside_network_mean_ms": mean("stage_cpu_outside_network"),
            "stage_network_mean_ms": mean("stage_network")}


def cpu_report(summaries: dict[str, dict]) -> str:
    """The headline per row, then per stage mean wall / thread CPU / CPU outside network passes."""
    summaries = {k: v for k, v in summaries.items() if v}
    if not summaries:
        return ""
    lines = [f"{HEADLINE} (thread CPU, workers/engine/timing.py):", ""]
    lines.append(table([[name, s["cpu_outside_network_ms_median"], s["cpu_outside_network_ms_mean"], s["network_ms_mean"],
                         s["wall_ms_mean"], s["images"]] for name, s in summaries.items()],
                       ["", "median", "mean", "network passes, wall ms (mean)", "stages, wall ms (mean)", "images"]))
    lines += ["", "per stage, mean ms: wall / thread CPU / CPU outside network passes:", ""]
    lines.append(table([[name, *[f"{s['stage_wall_mean_ms'][k]:.0f} / {s['stage_cpu_mean_ms'][k]:.0f} / "
                                 f"{s['stage_cpu_outside_network_mean_ms'][k]:.0f}" for k in STAGES]]
                        for name, s in summaries.items()], ["", *STAGES]))
    return "\n".join(lines)


def cpu_chart(groups: dict[str, dict[str, dict]], path: Path) -> None:
    """One panel per group (a set, a configuration), one pair of bars per row: CPU ms outside network
    passes stacked by stage (the headline on top) beside the network passes' wall ms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = {g: {k: v for k, v in rows.items() if v} for g, rows in groups.items()}
    groups = {g: rows for g, rows in groups.items() if rows} or {"no CPU figures": {}}
    fig, axes = plt.subplots(1, len(groups), figsize=(5.5 * len(groups), 4.5), squeeze=False)
    colours = plt.cm.tab10.colors
    for ax, (title, rows) in zip(axes[0], groups.items()):
        for i, s in enumerate(rows.values()):
            bottom = 0.0
            for k, stage in enumerate(STAGES):
                v = s["stage_cpu_outside_network_mean_ms"][stage]
                ax.bar(i - 0.2, v, width=0.4, bottom=bottom, color=colours[k % 10], label=stage if i == 0 else None)
                bottom += v
            ax.text(i - 0.2, bottom, f"{s['cpu_outside_network_ms_median']:.0f}\n(median)", ha="center", va="bottom",
                    fontsize=7)
            ax.bar(i + 0.2, s["network_ms_mean"], width=0.4, color="lightgrey", hatch="//",
                   label="network passes (wall)" if i == 0 else None)
        ax.set_xticks(range(len(rows)), list(rows), rotation=15, fontsize=8)
        ax.set_ylabel("mean ms per image")
        ax.set_title(f"{title}: {HEADLINE}", fontsize=9)
        if rows:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
