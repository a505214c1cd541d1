"""The small-object benchmark: its generator must be repeatable and its ground truth exact, and its
metrics must give known values on hand-made masks."""

from __future__ import annotations

import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from bench import metrics, shapes, synth
from tests.photos import needs_ecssd

# a few cheap samples; rendering is a pure function of (split, index, seed)
DEV_INDICES = (1, 4, 5)
EVAL_INDICES = (0, 5)


@pytest.fixture(scope="module")
def dev_samples():
    return [synth.render("dev", i) for i in DEV_INDICES]


@pytest.fixture(scope="module")
def eval_samples():
    return [synth.render("eval", i) for i in EVAL_INDICES]


@needs_ecssd
def test_render_is_deterministic(dev_samples):
    again = synth.render("dev", DEV_INDICES[0])
    first = dev_samples[0]
    assert np.array_equal(again.image, first.image)
    assert np.array_equal(again.alpha, first.alpha)
    assert np.array_equal(again.instances, first.instances)
    assert again.meta == first.meta
    other_seed = synth.render("dev", DEV_INDICES[0], seed=synth.BASE_SEED + 1)
    assert not np.array_equal(other_seed.image, first.image) or other_seed.meta != first.meta


@needs_ecssd
def test_ground_truth_is_what_was_pasted(dev_samples):
    for s in dev_samples:
        # the image is exactly the blend of the pasted objects over the background by the gt alpha
        assert np.array_equal(synth.composite(s.fg, s.bg, s.alpha), s.image)
        # where the gt says opaque the image is the object, where it says transparent the background
        assert np.array_equal(s.image[s.alpha == 255], s.fg[s.alpha == 255])
        assert np.array_equal(s.image[s.alpha == 0], s.bg[s.alpha == 0])
        # alpha lives only on instance pixels, and every instance belongs to its own box
        assert not np.any(s.alpha[s.instances == 0])
        h, w = s.alpha.shape
        for obj in s.meta["objects"]:
            x, y, bw, bh = obj["bbox"]
            inst = s.instances == obj["id"]
            ys, xs = np.nonzero(inst)
            assert xs.min() >= x and xs.max() < x + bw and ys.min() >= y and ys.max() < y + bh
            assert s.alpha[inst].sum() / 255.0 / (w * h) == pytest.approx(obj["area_frac"], rel=1e-9)


@needs_ecssd
def test_objects_are_small_separate_and_counted(dev_samples, eval_samples):
    for s in dev_samples + eval_samples:
        objs = s.meta["objects"]
        assert 1 <= len(objs) <= 4
        assert (s.meta["width"], s.meta["height"]) in synth.FRAMES
        for o in objs:
            assert synth.AREA_RANGE[0] <= o["area_frac"] <= synth.AREA_RANGE[1]
        # boxes do not overlap, so each object's window can be scored on its own
        for i, a in enumerate(objs):
            for b in objs[i + 1 :]:
                ax, ay, aw, ah = a["bbox"]
                bx, by, bw, bh = b["bbox"]
                assert ax + aw <= bx or bx + bw <= ax or ay + ah <= by or by + bh <= ay


def _ecssd_ids(sample) -> set[int]:
    ids = {o["ecssd_id"] for o in sample.meta["objects"] if "ecssd_id" in o}
    if "ecssd_id" in sample.meta["background"]:
        ids.add(sample.meta["background"]["ecssd_id"])
    return ids


@needs_ecssd
def test_dev_and_eval_use_disjoint_ecssd_ids(dev_samples, eval_samples):
    assert not set(synth.split_ids("dev")) & set(synth.split_ids("eval"))
    dev_ids = set().union(*map(_ecssd_ids, dev_samples))
    eval_ids = set().union(*map(_ecssd_ids, eval_samples))
    assert dev_ids and eval_ids  # the samples do use real photos
    assert all(1 <= i <= 800 for i in dev_ids)
    assert all(801 <= i <= 1000 for i in eval_ids)


@needs_ecssd
def test_written_set_round_trips_and_is_cached(tmp_path):
    d = synth.build_set("synth-dev", n=2, out_root=tmp_path, workers=1)
    names = synth.list_samples(d)
    assert names == ["dev-0000", "dev-0001"]
    stamp = {p: p.stat().st_mtime_ns for p in d.rglob("*.*") if p.name != "manifest.json"}
    img, alpha, inst, meta = synth.load_sample(d, "dev-0001")
    ref = synth.render("dev", 1)
    assert np.array_equal(alpha, ref.alpha) and np.array_equal(inst, ref.instances)
    assert meta == json.loads(json.dumps(ref.meta)) == synth.load_meta(d, "dev-0001")
    assert np.abs(img.astype(int) - ref.image.astype(int)).mean() < 3.0  # JPEG q=92
    synth.build_set("synth-dev", n=2, out_root=tmp_path, workers=1)
    assert stamp == {p: p.stat().st_mtime_ns for p in d.rglob("*.*") if p.name != "manifest.json"}
    (d / "alpha" / "dev-0000.png").unlink()  # a missing file is regenerated, the rest kept
    synth.build_set("synth-dev", n=2, out_root=tmp_path, workers=1)
    assert (d / "alpha" / "dev-0000.png").exists()
    assert (d / "meta" / "dev-0001.json").stat().st_mtime_ns == stamp[d / "meta" / "dev-0001.json"]


@needs_ecssd
def test_the_second_dev_draw_uses_dev_photos_and_other_frames(tmp_path):
    d = synth.build_set("synth-dev2", n=2, out_root=tmp_path, workers=1)
    assert synth.list_samples(d) == ["dev2-0000", "dev2-0001"]
    for i, name in enumerate(synth.list_samples(d)):
        _, alpha, _, meta = synth.load_sample(d, name)
        assert meta["name"] == name and meta["split"] == "dev"
        assert all(1 <= j <= 800 for j in _ecssd_ids(SimpleNamespace(meta=meta)))
        assert not np.array_equal(alpha, synth.render("dev", i).alpha)  # another seed: other frames
        assert np.array_equal(alpha, synth.render("dev", i, synth.BASE_SEED + 1).alpha)


@pytest.mark.parametrize("kind", ["ring", "button", "washer", "hoop_chain"])
def test_procedural_objects_have_real_holes(kind):
    p = shapes.sample_params(kind, np.random.default_rng(3))
    _, m = shapes.draw(p, 512)
    assert m.any()
    assert metrics.holes(m > 0).sum() > 100


# ----------------------------------------------------------------------------------- metrics
def _square(x: int, y: int, s: int = 20, shape=(100, 100)) -> np.ndarray:
    m = np.zeros(shape, bool)
    m[y : y + s, x : x + s] = True
    return m


def test_iou_known_values():
    a = _square(10, 10)
    assert metrics.iou(a, a) == 1.0
    assert metrics.iou(a, _square(60, 60)) == 0.0
    assert metrics.iou(a, _square(20, 10)) == pytest.approx(200 / 600)
    assert metrics.iou(np.zeros_like(a), np.zeros_like(a)) == 1.0


def test_mae_known_values():
    gt = np.zeros((10, 10), np.uint8)
    pred = gt.copy()
    pred[:5] = 255
    assert metrics.mae(gt, gt) == 0.0
    assert metrics.mae(pred, gt) == pytest.approx(0.5)


def test_boundary_f():
    a = _square(30, 30)
    assert metrics.boundary_f(a, a, 2.0) == 1.0
    assert metrics.boundary_f(a, _square(31, 30), 2.0) == 1.0  # within tolerance
    shifted = metrics.boundary_f(a, _square(38, 30), 2.0)
    assert 0.0 < shifted < 1.0
    assert metrics.boundary_f(a, np.zeros_like(a), 2.0) == 0.0
    assert metrics.boundary_tolerance(2000, 1500) == pytest.approx(6.25)
    assert metrics.boundary_tolerance(100, 100) == 2.0


def test_buckets():
    assert metrics.bucket(0.001) == "<0.2%"
    assert metrics.bucket(0.002) == "0.2-1%"
    assert metrics.bucket(0.03) == "1-5%"
    assert metrics.bucket(0.2) == ">5%"


def _ring(shape=(200, 200), centre=(100, 100), r_out=40, r_in=25) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.circle(m, centre, r_out, 255, -1)
    cv2.circle(m, centre, r_in, 0, -1)
    return m


def test_holes_and_per_object_scores():
    gt = _ring()
    win = metrics.object_windows([[60, 60, 81, 81]], 200, 200)[0]
    assert metrics.holes(gt > 127).sum() == pytest.approx(np.pi * 25**2, rel=0.1)
    perfect = metrics.score_object(gt, gt, win, 2.0)
    assert perfect["iou"] == 1.0 and perfect["bf"] == 1.0 and perfect["hole_fg"] == 0.0
    disc = np.zeros_like(gt)
    cv2.circle(disc, (100, 100), 40, 255, -1)  # the ring with its hole filled in
    filled = metrics.score_object(disc, gt, win, 2.0)
    assert filled["hole_fg"] == 1.0
    assert filled["iou"] == pytest.approx(np.count_nonzero(gt) / np.count_nonzero(disc), rel=0.01)


def test_each_object_is_scored_in_its_own_window():
    gt = np.zeros((200, 400), np.uint8)
    gt[50:70, 50:70] = 255  # object 1 (found)
    gt[120:130, 300:310] = 255  # object 2 (missed)
    pred = np.zeros_like(gt)
    pred[50:70, 50:70] = 255
    pred[10:40, 200:230] = 255  # a false positive away from both
    boxes = [[50, 50, 20, 20], [300, 120, 10, 10]]
    wins = metrics.object_windows(boxes, 400, 200)
    s1 = metrics.score_object(pred, gt, wins[0], 2.0)
    s2 = metrics.score_object(pred, gt, wins[1], 2.0)
    assert s1["iou"] == 1.0 and s2["iou"] == 0.0
    img = metrics.score_image(pred, gt, wins)
    assert img["iou"] == pytest.approx(400 / (400 + 100 + 900))
    assert img["fp_blobs"] == 1 and img["fp_frac"] == pytest.approx(900 / (400 * 200))


def test_windows_exclude_other_objects():
    boxes = [[10, 10, 40, 40], [70, 10, 40, 40]]  # windows grown by 12 px overlap the other box
    w0 = metrics.object_windows(boxes, 200, 100)[0]
    gt = np.zeros((100, 200), np.uint8)
    gt[10:50, 70:110] = 255  # only the second object
    inside = gt[w0.slices()] & w0.keep
    assert not inside.any()
