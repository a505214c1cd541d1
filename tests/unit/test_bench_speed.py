"""The speed benchmarks' core functions on two small images: keeps the scripts from rotting.

No timing assertions: only that every method ran, produced valid PNGs, and that the summaries,
tables and charts hold what the scripts report.
"""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench import _common as C
from bench import speed, throughput


def _jpeg(tmp: Path, name: str, seed: int) -> Path:
    """A 400x300 scene: textured background, one large disc and one small ring."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(90, 170, (300, 400, 3), dtype=np.uint8), (0, 0), 3)
    cv2.circle(img, (200, 150), 80, (30, 60, 220), -1)
    cv2.circle(img, (350, 50), 12, (240, 240, 40), 4)
    path = tmp / f"{name}.jpg"
    path.write_bytes(cv2.imencode(".jpg", img)[1].tobytes())
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("bench-speed")
    return [_jpeg(tmp, "a", 1), _jpeg(tmp, "b", 2)]


@pytest.fixture(scope="module")
def engine():
    return C.load_engine(1)


def test_fit_covers_the_frame_without_stretching():
    wide = np.zeros((100, 300, 3), np.uint8)
    wide[:, 140:160] = 255  # a centred stripe survives the centre crop, still vertical
    out = C._fit(wide, (200, 150))
    assert out.shape == (150, 200, 3)
    cols = np.nonzero(out[75, :, 0] > 127)[0]
    assert 80 < cols.min() < cols.max() < 120


def test_timer_records_wall_and_thread_cpu_and_the_network_share():
    import pickle

    from workers.engine.timing import Timer, network_pass

    timer = Timer()
    with timer.stage("sleep"):
        time.sleep(0.05)  # wall, no CPU
    with timer.stage("mixed"):
        with network_pass():
            _spin(0.03)
        _spin(0.02)
    with timer.stage("sleep"):  # a stage entered twice adds up
        time.sleep(0.02)
    ms = timer.ms
    assert set(ms) == {"sleep", "mixed"} and ms["sleep"] >= 70
    assert ms.cpu["sleep"] < 0.5 * ms["sleep"]  # sleeping is not CPU work
    assert 0 < ms.cpu["mixed"] <= ms["mixed"] + 1  # one thread: never more CPU than wall
    assert set(ms.net) == set(ms.net_cpu) == {"mixed"} and 0 < ms.net_cpu["mixed"] <= ms.cpu["mixed"]
    outside = ms.cpu_outside_network()
    assert outside["mixed"] == pytest.approx(ms.cpu["mixed"] - ms.net_cpu["mixed"])
    assert outside["sleep"] == pytest.approx(ms.cpu["sleep"])
    with network_pass():  # outside any stage: counted nowhere
        pass
    assert set(ms.net) == {"mixed"}
    # what the workers, logs and statuses see is the wall mapping; the pools pickle it whole
    assert json.loads(json.dumps(ms)) == dict(ms)
    again = pickle.loads(pickle.dumps(ms))
    assert again == ms and again.cpu == ms.cpu and again.net_cpu == ms.net_cpu


def _spin(seconds: float) -> None:
    """Busy for `seconds` of this thread's CPU time."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_engine_stages_carry_cpu_and_count_every_network_pass(images, engine):
    from workers.engine import CutoutOptions
    from workers.engine.timing import count_network_passes

    count_network_passes(engine.net)  # load_engine did it already: idempotent, passes counted once
    calls = []
    inner = engine.net._run
    engine.net._run = lambda batch: calls.append(batch.shape[0]) or inner(batch)
    try:
        r = engine.cutout(images[0].read_bytes(), CutoutOptions())
    finally:
        engine.net._run = inner
    t = r.timings
    assert calls and set(t.cpu) == set(t)
    for stage in t:
        assert 0 <= t.cpu[stage] <= t[stage] + 1, (stage, t[stage], t.cpu[stage])  # one thread per stage
    assert set(t.net) <= {"coarse", "detect", "roi"} and t.net["coarse"] > 0  # passes only where the network runs
    assert all(t.net[k] <= t[k] + 1 and t.net_cpu[k] <= t.cpu[k] + 1 for k in t.net)
    acc = C.cpu_accounting(t)
    assert acc["cpu_outside_network_ms"] == pytest.approx(sum(acc["stage_cpu_outside_network"].values()), abs=0.1)
    assert 0 < acc["cpu_outside_network_ms"] < sum(t.values())
    assert acc["stage_cpu_outside_network"]["encode"] == pytest.approx(t.cpu["encode"], abs=0.01)
    assert C.cpu_accounting({"coarse": 5.0}) == {}  # wall-only timings (rembg, statuses): no CPU figures


def test_speed_core_runs_every_method_and_reports(images, engine, tmp_path):
    result = speed.run_speed({"tiny": images}, engine, None, methods=("smallcut", "smallcut-noroi"), codec_images=1, repeats=1)
    r = result["sets"]["tiny"]
    assert len(r["records"]) == 2 * len(images)
    assert {rec["method"] for rec in r["records"]} == {"smallcut", "smallcut-noroi"}
    for rec in r["records"]:
        assert rec["png_bytes"] > 0 and rec["ms"] > 0
        assert set(rec["timings"]) >= {"decode", "coarse", "compose", "encode"}
        assert set(rec["stage_cpu"]) == set(rec["timings"]) and rec["stage_network"]["coarse"] > 0
        assert 0 < rec["cpu_outside_network_ms"] <= rec["ms"] + 1
    assert r["summary"]["smallcut-noroi"]["mean_passes"] == 1.0
    for m in ("smallcut", "smallcut-noroi"):
        cpu = r["summary"][m]["cpu"]
        assert cpu["images"] == len(images) and 0 < cpu["cpu_outside_network_ms_median"] <= cpu["wall_ms_mean"] * 2
        assert cpu["network_ms_mean"] > 0 and set(cpu["stage_cpu_mean_ms"]) == set(C.STAGES)
        assert cpu["cpu_outside_network_ms_mean"] == pytest.approx(
            np.mean([rec["cpu_outside_network_ms"] for rec in r["records"] if rec["method"] == m]), abs=0.1)
    assert set(r["encoders"]) >= {"PIL level 1", "fpng (smallcut default)"}
    assert all(v["median_kb"] > 0 for v in r["encoders"].values())
    assert "OpenCV imdecode" in r["decoders"]
    text = speed.report(result)
    assert "### tiny" in text and "smallcut-noroi" in text
    assert C.HEADLINE in text and "wall / thread CPU / CPU outside network passes" in text
    out = tmp_path / "out"
    C.write_outputs(out, result, text, speed.chart, "speed.png", "python -m bench.speed --n 2",
                    more_charts={"cpu.png": speed.cpu_chart})
    for name in ("speed.png", "cpu.png"):
        assert cv2.imread(str(out / name)) is not None
    assert json.loads((out / "results.json").read_text())["command"] == "python -m bench.speed --n 2"


def test_speed_runners_produce_valid_rgba_pngs(images, engine):
    png, timings, info = speed.make_runners(engine, None, ("smallcut",))["smallcut"](images[0].read_bytes())
    out = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    assert out.shape == (300, 400, 4)
    assert out[150, 200, 3] > 200 and out[5, 5, 3] < 50  # disc kept, corner background removed
    assert info["passes"] >= 1


def test_rembg_contender_writes_a_png_when_available(images):
    rembg = pytest.importorskip("rembg")  # noqa: F841 - the bench extra
    if not (Path.home() / ".u2net" / "u2netp.onnx").exists():
        pytest.skip("rembg's u2netp is not in ~/.u2net")
    session = C.rembg_session()
    png = C.rembg_png(images[0].read_bytes(), session)
    from PIL import Image

    im = Image.open(io.BytesIO(png))
    assert im.mode == "RGBA" and im.size == (400, 300)


def test_throughput_loop_and_summary(images, engine, tmp_path):
    out = throughput.loop(images, engine, None)
    assert out["engine"]["images"] == 2 and out["engine"]["images_per_s"] > 0
    assert out["engine"]["stage_mean_ms"]["coarse"] > 0
    timings = {"download": 5.0, "upload": 7.0, "decode": 10.0, "coarse": 300.0, "encode": 10.0}
    # two worker processes, two images each, back to back: w1 busy 100.5 -> 101.2, w2 100.5 -> 101.5
    objs = [{"state": "done", "queued_at": "100.0", "started_at": str(a), "finished_at": str(b), "worker": w, "timings": timings}
            for w, a, b in (("h:1", 100.5, 100.85), ("h:1", 100.85, 101.2), ("h:2", 100.5, 101.0), ("h:2", 101.0, 101.5))]
    s = throughput._summarise_e2e(2, 2, wall=1.0, objs=objs, model_loads=2)
    # 2 processes x 1 s / 4 images = 500 ms per image per process vs 320 ms engine: 56.2 % overhead
    assert s["process_ms_per_image"] == 500.0 and s["engine_mean_ms"] == 320.0
    assert s["overhead_pct_of_engine"] == 56.2 and s["queue_wait_median_ms"] == 675.0  # waits 500, 850, 500, 1000 ms
    # busy spans (0.7 s + 1.0 s) / 4 images = 425 ms per image: 32.8 %; the 0.3 s w1 sat idle does not count
    assert s["busy_ms_per_image"] == 425.0 and s["busy_overhead_pct_of_engine"] == 32.8
    result = {"machine_before": C.load(), "machine_after": C.load(), "images": ["a", "b"], "loop": out, "end_to_end": [s]}
    assert "end to end, 2 process(es)" in throughput.report(result) and "times (" not in throughput.report(result)
    assert "end to end each image 3 times (6 keys)" in throughput.report({**result, "end_to_end_repeat": 3})
    throughput.chart(result, tmp_path / "t.png")
    assert cv2.imread(str(tmp_path / "t.png")) is not None
    cpu = out["engine"]["cpu"]
    assert cpu["images"] == 2 and 0 < cpu["cpu_outside_network_ms_median"] and cpu["network_ms_mean"] > 0
    text = throughput.report(result)
    assert C.HEADLINE in text and "engine loop (1 process)" in text
    throughput.cpu_chart(result, tmp_path / "cpu.png")
    assert cv2.imread(str(tmp_path / "cpu.png")) is not None
    throughput.cpu_chart({"loop": {"rembg": {}}}, tmp_path / "none.png")  # no CPU figures: an empty chart, no error
    assert cv2.imread(str(tmp_path / "none.png")) is not None


def test_throughput_end_to_end_through_real_servers(images):
    """One worker process, two images through valkey + moto S3 + Celery: statuses read back."""
    pytest.importorskip("moto")
    [s] = throughput.end_to_end(images, processes_list=(1,), chunk=2, timeout=300)
    assert s["done"] == 2 and s["failed"] == []
    assert s["model_loads"] == 1  # one worker process: the model loads once
    assert s["stage_mean_ms"]["download"] > 0 and s["stage_mean_ms"]["upload"] > 0
    assert s["stage_mean_ms"]["coarse"] > 0 and s["images_per_s"] > 0


def test_ab_runs_both_sides_on_the_same_blocks(images):
    from bench import ab

    r = ab.ab(images * 2, {"SMALLCUT_KEEP_FREED_MEMORY": "false"}, block=2)
    a, b = r["sides"]
    assert a == "A (default)" and b == "B (SMALLCUT_KEEP_FREED_MEMORY=false)"
    assert all(len(v["blocks"]) == 2 and min(v["blocks"]) > 0 for v in r["sides"].values())
    assert all(v["peak_rss_mb"] >= v["rss_mb"] > 100 for v in r["sides"].values())  # a loaded model
    assert r["ratio_b_over_a_median"] > 0


def test_gpu_sampler_summarises_device_zero_and_the_report_shows_it(monkeypatch):
    from smallcut.gpu_metrics import GpuReading

    ticks = iter(range(1000))

    def read():  # device 0 busy 20 %, 40 %, 60 % ...; a second device that must be ignored
        i = next(ticks)
        return [GpuReading(0, "H100", (1000 + 10 * i) * 2**20, 80 * 2**30, min(1.0, 0.2 * (i % 3 + 1))),
                GpuReading(1, "other", 0, 1, 1.0)]

    with C.GpuSampler(period=0.01, read=read) as gpu:
        time.sleep(0.2)
    s = gpu.summary
    n = s["samples"]
    assert n >= 5 and s["gpu"] == "H100"
    assert s["gpu_mem_peak_mb"] == 1000 + 10 * (n - 1)  # the last sample is the largest
    utils = [min(1.0, 0.2 * (i % 3 + 1)) for i in range(n)]
    assert s["gpu_util_mean"] == round(sum(utils) / n, 3) and s["gpu_util_median"] == round(float(np.median(utils)), 3)
    assert C.GpuSampler(read=lambda: []).summary == {}  # no NVML: nothing, CPU runs report no GPU rows
    monkeypatch.setenv("SMALLCUT_PROVIDERS", "CUDAExecutionProvider,CPUExecutionProvider")
    assert throughput._queue() == "gpu"
    monkeypatch.setenv("SMALLCUT_PROVIDERS", "CPUExecutionProvider")
    assert throughput._queue() == "cpu"
    e2e = {"processes": 2, "threads_per_process": 8, "images_per_s": 8.0, "ms_per_image": 125.0, "engine_mean_ms": 200.0,
           "overhead_pct_of_engine": 15.0, "busy_overhead_pct_of_engine": 14.0, "stage_mean_ms": {}, "queue_wait_median_ms": 1.0,
           "started_to_finished_median_ms": 1.0, **s}
    e2e["stage_mean_ms"] = {k: 1.0 for k in (*throughput.IO_STAGES, *C.STAGES)}
    result = {"machine_before": C.load(), "machine_after": C.load(), "images": ["a"], "loop": {"engine": {"images_per_s": 5.0, "ms_per_image": 200.0}},
              "end_to_end": [e2e], "providers": {"smallcut": ["CUDAExecutionProvider"]}}
    text = throughput.report(result)
    assert "GPU, sampled from NVML" in text and f"| {s['gpu_util_mean']}" in text
