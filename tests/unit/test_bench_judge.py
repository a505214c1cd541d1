"""The catalog-judge family and the catalog format: frames repeatable to the byte, ground truth that
leaves shadows out, twins that differ only where the shadow is, and the metrics that use them.
Procedural products only (no ECSSD directory needed)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import catalog_format as fmt
from bench import judge, metrics, report
from bench.judge import scene

SEED = judge.BASE_SEED
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def frames():
    """A few frames' renders (with twins), procedural only: {index: [frame, twin?]}."""
    return {i: scene.render(i, SEED, None) for i in range(6)}


def _shadowed(frames):
    return [fr for fr in frames.values() if len(fr) == 2]


def test_render_is_deterministic_to_the_byte(frames, tmp_path):
    again = scene.render(0, SEED, None)
    for a, b in zip(frames[0], again):
        assert a.name == b.name and a.meta == b.meta
        assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.alpha, b.alpha) and np.array_equal(a.shadow, b.shadow)
    # and on disk: two builds write identical files
    d1 = judge.build_set(tmp_path / "one", n=2, use_ecssd=False)
    d2 = judge.build_set(tmp_path / "two", n=2, use_ecssd=False)
    files = sorted(p.name for p in d1.iterdir())
    assert files == sorted(p.name for p in d2.iterdir()) and "cj-0000.jpg" in files
    for f in files:
        assert (d1 / f).read_bytes() == (d2 / f).read_bytes(), f
    other = scene.render(0, SEED + 1, None)[0]
    assert other.meta != frames[0][0].meta or not np.array_equal(other.rgb, frames[0][0].rgb)


def test_frames_follow_the_format_and_the_brief(frames):
    for fr in frames.values():
        f = fr[0]
        fmt.validate_meta(f.meta)
        w, h = f.meta["size"]
        assert 1200 <= max(w, h) <= 2000 and f.rgb.shape == (h, w, 3)
        assert 1 <= len(f.meta["objects"]) <= 4
        assert 60 <= f.meta["jpeg_quality"] <= 95
        assert f.meta["background"]["kind"] in fmt.BACKGROUND_KINDS
        for o in f.meta["objects"]:
            assert 0.0003 <= o["area_frac"] <= 0.26
        # products never overlap: their boxes are disjoint
        boxes = [o["bbox"] for o in f.meta["objects"]]
        for i, (x, y, bw, bh) in enumerate(boxes):
            for (x2, y2, bw2, bh2) in boxes[i + 1 :]:
                assert x + bw <= x2 or x2 + bw2 <= x or y + bh <= y2 or y2 + bh2 <= y


def test_format_round_trip(tmp_path, frames):
    f, twin = _shadowed(frames)[0]
    fmt.write_sample(tmp_path, f.name, f.rgb, f.alpha, f.shadow, f.meta)
    fmt.write_sample(tmp_path, twin.name, twin.rgb, twin.alpha, twin.shadow, twin.meta)
    assert fmt.list_samples(tmp_path) == [f.name, twin.name]
    assert fmt.list_samples(tmp_path, twins=False) == [f.name]
    rgb, alpha, shadow, meta = fmt.load_sample(tmp_path, f.name)
    assert np.array_equal(alpha, f.alpha) and np.array_equal(shadow, f.shadow)
    assert meta == json.loads(json.dumps(f.meta))
    # the frame is a JPEG at the drawn quality: close, not equal
    assert rgb.shape == f.rgb.shape and np.abs(rgb.astype(int) - f.rgb).mean() < 6
    assert meta["twin"] == twin.name and fmt.load_meta(tmp_path, twin.name)["twin_of"] == f.name
    # no temporary files are left behind, and a sample without its metadata is not listed
    assert not list(tmp_path.glob("*.tmp"))
    (tmp_path / f"{f.name}.json").rename(tmp_path / "x.bak")
    assert fmt.list_samples(tmp_path) == [twin.name]


def test_format_rejects_bad_samples(tmp_path, frames):
    f = frames[0][0]
    with pytest.raises(fmt.FormatError, match="unknown effects"):
        fmt.write_sample(tmp_path, "bad", f.rgb, f.alpha, f.shadow, {**f.meta, "effects": ["lens-flare"]})
    with pytest.raises(fmt.FormatError, match="lacks twin_of"):
        fmt.write_sample(tmp_path, "bad", f.rgb, f.alpha, f.shadow, {k: v for k, v in f.meta.items() if k != "twin_of"})
    with pytest.raises(fmt.FormatError, match="alpha must be uint8"):
        fmt.write_sample(tmp_path, "bad", f.rgb, f.alpha[:-1], f.shadow, f.meta)
    assert fmt.list_samples(tmp_path) == [] and not list(tmp_path.iterdir())


def test_twins_differ_only_where_the_shadow_is(frames):
    pairs = _shadowed(frames)
    assert pairs, "no shadowed frame among the first six"
    for f, twin in pairs:
        assert twin.name == f"{f.name}-clean" and twin.meta["twin_of"] == f.name and f.meta["twin"] == twin.name
        assert np.array_equal(twin.alpha, f.alpha) and twin.meta["objects"] == f.meta["objects"]
        assert twin.meta["jpeg_quality"] == f.meta["jpeg_quality"] and twin.meta["background"] == f.meta["background"]
        assert not twin.shadow.any()
        assert not set(twin.meta["effects"]) & fmt.SHADOW_EFFECTS
        assert set(f.meta["effects"]) - set(twin.meta["effects"]) <= fmt.SHADOW_EFFECTS
        diff = np.abs(f.rgb.astype(int) - twin.rgb.astype(int)).max(axis=2)
        outside = f.shadow == 0
        # outside the mask the frames agree (noise scales with the signal: a level at most where a
        # shadow's faint tail rounds to 0 in the mask)
        assert diff[outside].max() <= 1
        assert np.mean(diff[outside] == 0) > 0.99
        # and inside it the shadow or reflection is really there
        assert diff[f.shadow > 127].mean() > 3


def test_shadow_mask_is_empty_without_shadow_effects_and_alpha_leaves_shadows_out(frames):
    plain = [fr[0] for fr in frames.values() if len(fr) == 1]
    assert plain, "no frame without shadows among the first six"
    for f in plain:
        assert not set(f.meta["effects"]) & fmt.SHADOW_EFFECTS and f.meta["twin"] is None
        assert not f.shadow.any()
    for f, _ in _shadowed(frames):
        assert set(f.meta["effects"]) & fmt.SHADOW_EFFECTS
        assert np.count_nonzero(f.shadow > 127) > 50
        outside_objects = np.ones(f.alpha.shape, bool)
        for x, y, bw, bh in (o["bbox"] for o in f.meta["objects"]):
            outside_objects[y : y + bh, x : x + bw] = False
        # shadows reach past the products' boxes, the ground truth never does
        assert np.count_nonzero((f.shadow > 127) & outside_objects) > 0
        assert not f.alpha[outside_objects].any()
        assert f.alpha[f.shadow > 200].max() <= 127


def test_the_judge_family_shares_no_code_with_other_generators():
    banned = {"bench.synth", "bench.backgrounds", "bench.shapes", "smallcut.samples", "bench.tune"}
    files = [*sorted((ROOT / "bench" / "judge").glob("*.py")), ROOT / "bench" / "catalog_format.py"]
    for path in files:
        tree = ast.parse(path.read_text())
        pkg = "bench.judge" if path.parent.name == "judge" else "bench"
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = pkg.rsplit(".", node.level - 1)[0] if node.level else ""
                mod = ".".join(p for p in (base, node.module) if p)
                mods = [mod] + [f"{mod}.{a.name}" for a in node.names]
            else:
                continue
            for m in mods:
                assert not any(m == b or m.startswith(b + ".") for b in banned), f"{path.name} imports {m}"
    code = "import sys, bench.judge, bench.judge.__main__; print(sorted(m for m in sys.modules if m.startswith(('bench', 'smallcut'))))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert not any(f"'{b}'" in loaded for b in banned), loaded


def test_shadow_kept_on_a_hand_made_frame():
    gt = np.zeros((10, 10), np.uint8)
    gt[0:4, 0:4] = 255  # the object
    shadow = np.zeros((10, 10), np.uint8)
    shadow[2:6, 2:8] = 255  # 24 px, of which 4 lie under the object: 20 px of visible shadow
    shadow[9, 9] = 100  # too faint to count
    pred = np.zeros((10, 10), np.uint8)
    pred[0:4, 0:4] = 255
    pred[4:6, 2:7] = 200  # 10 px of the shadow kept
    pred[9, 9] = 255
    kept, area = metrics.shadow_kept(pred, gt, shadow)
    assert area == 20 and kept == pytest.approx(0.5)
    assert metrics.shadow_kept(pred, gt, np.zeros_like(shadow)) == (None, 0)
    assert metrics.shadow_kept(pred, gt, None) == (None, 0)
    # the soft measure sees what the count over half misses: 10 px at 200/255 over 20 px
    assert metrics.shadow_opacity(pred, gt, shadow) == pytest.approx(10 * 200 / 255 / 20)
    film = np.where(shadow > 127, 30, pred).astype(np.uint8)  # a faint grey film over the whole shadow
    assert metrics.shadow_kept(film, gt, shadow)[0] == 0.0 and metrics.shadow_opacity(film, gt, shadow) == pytest.approx(30 / 255)
    assert metrics.shadow_opacity(pred, gt, np.zeros_like(shadow)) is None and metrics.shadow_opacity(pred, gt, None) is None


def test_report_by_effect_and_clean_twins():
    def img(name, iou, kept, bg="sweep", effects=("contact-shadow",), twin_of=None):
        return {"name": name, "method": "m", "background": bg, "iou": iou, "obj_iou": iou, "mae": 0.0, "fp_frac": 0.0, "fp_blobs": 0,
                "seconds": 0.1, "cached": False, "shadow_kept": kept, "effects": list(effects), "twin_of": twin_of,
                "shadow_opacity": None if kept is None else kept / 2}

    def obj(name, iou, effects=("contact-shadow",), twin_of=None):
        return {"name": name, "method": "m", "bucket": "1-5%", "iou": iou, "mae": 0.0, "bf": iou, "recall": 1.0, "precision": 1.0,
                "hole_fg": None, "background": "sweep", "kind": "ring", "effects": list(effects), "twin_of": twin_of}

    images = [img("a", 0.7, 0.4), img("a-clean", 0.9, None, effects=(), twin_of="a"),
              img("b", 0.8, 0.2, bg="wood", effects=("hard-shadow", "noise")), img("b-clean", 0.8, None, bg="wood", effects=("noise",), twin_of="b"),
              img("c", 0.6, None, effects=("noise",))]
    objects = [obj("a", 0.7), obj("a-clean", 0.9, (), "a"), obj("b", 0.8, ("hard-shadow", "noise")), obj("b-clean", 0.8, ("noise",), "b"), obj("c", 0.6, ("noise",))]
    s = report.summarize(objects, images, ["m"])["m"]
    assert s["images"]["n"] == 3 and s["buckets"]["all"]["n"] == 3  # twins are left out of the main tables
    assert s["images"]["shadow_kept"] == pytest.approx(0.3) and s["images"]["n_shadow"] == 2
    assert s["images"]["shadow_opacity"] == pytest.approx(0.15)
    assert s["effects"]["contact-shadow"]["n"] == 1 and s["effects"]["contact-shadow"]["shadow_kept"] == pytest.approx(0.4)
    assert s["effects"]["noise"]["images"] == 2 and s["effects"]["noise"]["iou"] == pytest.approx(0.7)
    assert s["effects"][report.NO_SHADOW]["images"] == 1 and s["effects"][report.NO_SHADOW]["iou"] == pytest.approx(0.6)
    tw = s["twins"]
    assert tw["all"]["pairs"] == 2 and tw["all"]["iou_shadow"] == pytest.approx(0.75) and tw["all"]["iou_clean"] == pytest.approx(0.85)
    studio = [k for k in tw if k.startswith("studio")][0]
    assert tw[studio]["pairs"] == 1 and tw[studio]["iou_clean"] - tw[studio]["iou_shadow"] == pytest.approx(0.2)
    titles = [t[0] for t in report.tables(report.summarize(objects, images, ["m"]), "x")]
    assert any("by effect" in t for t in titles) and any("clean twins" in t for t in titles)


def test_worst_case_sheet_colours_the_kept_shadow():
    w = report.WorstCases(k=1, cell=40)
    img = np.full((40, 40, 3), 128, np.uint8)
    gt = np.zeros((40, 40), np.uint8)
    gt[5:15, 5:15] = 255
    shadow = np.zeros((40, 40), np.uint8)
    shadow[15:25, 5:15] = 255
    pred = gt.copy()
    pred[15:20, 5:15] = 255  # half the shadow kept
    w.offer("m", 0.5, "x", img, gt, pred, (0, 0, 40, 40), shadow)
    crops = w.heaps["m"][0][3]
    err = crops[:, 120:160]
    assert (err[17, 10] == (255, 60, 255)).all()  # kept shadow: magenta
    assert (err[22, 10] == (70, 30, 70)).all()  # shadow left as background: dark magenta
    assert (crops[15, 5] == (255, 0, 255)).all()  # the shadow outlined on the image


def test_quality_on_the_judge_family_with_twins_and_the_oracle(tmp_path, monkeypatch):
    from bench import datasets, quality

    monkeypatch.setattr(fmt, "OUT", tmp_path / "out")
    monkeypatch.setenv("BENCH_ECSSD_DIR", str(tmp_path / "no-ecssd"))
    d = judge.build_set(fmt.set_dir("catalog-judge"), n=3)
    assert judge.build_set(fmt.set_dir("catalog-judge")) == d  # the set keeps its count: nothing drawn
    assert len(fmt.list_samples(d, twins=False)) == 3
    assert datasets.cache_tag("catalog-judge") == f"catalog-judge-{judge.VERSION}-{SEED}-e0"
    names = datasets.names("catalog-judge", twins=True)
    assert set(names) == set(fmt.list_samples(d)) and all(not n.endswith("-clean") for n in datasets.names("catalog-judge"))
    kind = fmt.load_meta(d, "cj-0001")["background"]["kind"]
    only = datasets.names("catalog-judge", backgrounds=(kind,))
    assert "cj-0001" in only and all(fmt.load_meta(d, n)["background"]["kind"] == kind for n in only)
    item = datasets.load("catalog-judge", names[0])
    assert item.shadow is not None and item.backdrop["kind"] == item.background and isinstance(item.effects, tuple)

    rc = quality.main(["--set", "catalog-judge", "--methods", "oracle", "--twins", "--out", str(tmp_path / "q")])
    assert rc == 0
    res = json.loads((tmp_path / "q" / "catalog-judge" / "results.json").read_text())
    shadowed = [i for i in res["images"] if i["twin"]]
    assert len(res["images"]) == len(names) and shadowed
    assert all(i["shadow_kept"] is not None and 0 <= i["shadow_kept"] <= 1 for i in shadowed)
    assert all(i["shadow_kept"] is None for i in res["images"] if i["twin_of"])
    assert all(0 <= i["shadow_opacity"] <= 1 for i in shadowed)
    summary = res["summary"]["oracle"]
    assert summary["twins"]["all"]["pairs"] == len(shadowed) and summary["effects"]
    # the network on crops around the true objects finds them
    assert summary["buckets"]["all"]["iou"] > 0.3
    assert (tmp_path / "q" / "catalog-judge" / "worst_oracle.png").stat().st_size > 0


def test_oracle_predicts_only_inside_the_true_objects_crops():
    from bench import methods

    rgb = np.full((600, 800, 3), 230, np.uint8)
    rgb[100:160, 100:160] = (30, 60, 200)  # an object
    rgb[400:430, 600:640] = (200, 40, 40)  # another, not given to the oracle
    pred = methods.make("oracle")(rgb, "t", "t", objects=[{"id": 1, "bbox": [100, 100, 60, 60]}])
    a = pred.alpha
    assert a[100:160, 100:160].mean() > 127
    assert not a[300:, 400:].any()  # outside the one crop nothing is predicted
    with pytest.raises(ValueError, match="true objects"):
        methods.make("oracle")(rgb, "t", "t")


def test_catalog_tune_without_its_generator_fails_clearly(monkeypatch):
    from bench import datasets

    monkeypatch.setitem(sys.modules, "bench.tune", None)
    with pytest.raises(SystemExit, match="bench.tune"):
        datasets.names("catalog-tune")
