"""The speed benchmarks' core functions on two small images: keeps the scripts from rotting.

No timing assertions: only that every method ran, produced valid PNGs, and that the summaries,
tables and charts hold what the scripts report.
"""

from __future__ import annotations

import io
import json
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


def test_speed_core_runs_every_method_and_reports(images, engine, tmp_path):
    result = speed.run_speed({"tiny": images}, engine, None, methods=("smallcut", "smallcut-noroi"), codec_images=1, repeats=1)
    r = result["sets"]["tiny"]
    assert len(r["records"]) == 2 * len(images)
    assert {rec["method"] for rec in r["records"]} == {"smallcut", "smallcut-noroi"}
    for rec in r["records"]:
        assert rec["png_bytes"] > 0 and rec["ms"] > 0
        assert set(rec["timings"]) >= {"decode", "coarse", "compose", "encode"}
    assert r["summary"]["smallcut-noroi"]["mean_passes"] == 1.0
    assert set(r["encoders"]) >= {"PIL level 1", "fpng (smallcut default)"}
    assert all(v["median_kb"] > 0 for v in r["encoders"].values())
    assert "OpenCV imdecode" in r["decoders"]
    text = speed.report(result)
    assert "### tiny" in text and "smallcut-noroi" in text
    speed.chart(result, tmp_path / "c.png")
    assert cv2.imread(str(tmp_path / "c.png")) is not None
    json.dumps(result)  # what main() writes


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
    assert "end to end, 2 process(es)" in throughput.report(result)
    throughput.chart(result, tmp_path / "t.png")
    assert cv2.imread(str(tmp_path / "t.png")) is not None


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
