"""The tuning family (bench/tune): deterministic, in the shared catalog format, shadows recorded and
kept out of the ground truth, and no code shared with the judge family."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from bench import catalog_format
from bench.tune import build, effects, surfaces


def _frames(n=6):
    return [build.render(i, with_ecssd=False) for i in range(n)]


def test_render_is_deterministic():
    a, b = build.render(2, with_ecssd=False), build.render(2, with_ecssd=False)
    assert all(np.array_equal(x, y) for x, y in zip(a[:3], b[:3])) and a[3] == b[3]


def test_frames_follow_the_catalog_format_and_keep_shadows_out_of_the_alpha(tmp_path):
    for rgb, alpha, shadow, meta in _frames():
        catalog_format.validate_meta(meta)
        assert rgb.shape[:2] == alpha.shape == shadow.shape == (meta["size"][1], meta["size"][0])
        assert not (shadow[alpha > 0]).any()  # a shadow is never on the object
        has_shadow = bool(set(meta["effects"]) & catalog_format.SHADOW_EFFECTS)
        assert has_shadow == bool((shadow > 127).any())
        catalog_format.write_sample(tmp_path, meta["name"], rgb, alpha, shadow, meta)
    assert len(catalog_format.list_samples(tmp_path)) == 6


def test_a_shadow_darkens_the_backdrop_it_falls_on():
    rng = np.random.default_rng(0)
    alpha = np.zeros((200, 200), np.float32)
    alpha[60:120, 80:120] = 1.0
    att, kind = effects.object_shadow(rng, alpha, (80, 60, 40, 60))
    assert kind in ("contact", "soft", "hard") and 0 < att.max() <= 1
    bg = np.full((200, 200, 3), 200, np.float32)
    out = effects.apply_shadows(bg, att, rng)
    assert out[att > 0.1].mean() < 200 and np.allclose(out[att == 0], 200)


def test_shares_no_generator_code_with_the_judge_family():
    for path in Path(build.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "judge" not in (node.module or ""), path


def test_studio_sweep_is_light_and_neutral_with_a_falloff():
    img = surfaces.studio(np.random.default_rng(3), 320, 240).astype(np.float32)
    mean = img.reshape(-1, 3).mean(axis=0)
    assert mean.min() > 120  # a light backdrop
    assert (mean.max() - mean.min()) / mean.mean() < 0.1  # a faint cast at most, no colour
    assert img.std() < 30  # flat but for the falloff and the grain


def test_the_second_draw_has_studio_sweeps_and_deeper_shadows_and_leaves_the_first_as_it_was():
    assert build.set_name(1) == "catalog-tune" and build.set_name(2) == "catalog-tune2"
    assert "studio" not in build.DRAWS[1]["backdrops"] and "studio" in build.DRAWS[2]["backdrops"]
    alpha = np.zeros((200, 200), np.float32)
    alpha[60:120, 80:120] = 1.0
    box = (80, 60, 40, 60)
    plain = [effects.object_shadow(np.random.default_rng(s), alpha, box)[0].max() for s in range(60)]
    deep = [effects.object_shadow(np.random.default_rng(s), alpha, box, deep=True)[0].max() for s in range(60)]
    assert max(plain) <= 0.8 and max(deep) > 0.8  # a contact shadow can now leave a tenth of the backdrop
    assert np.mean(deep) > np.mean(plain)
    # the same index in both draws: the same products in the same places, only the shadows differ
    one, two = build.render(4, with_ecssd=False), build.render(4, with_ecssd=False, draw=2)
    assert "contact-shadow" in one[3]["effects"] and one[3]["objects"] == two[3]["objects"]
    assert np.array_equal(one[1], two[1]) and not np.array_equal(one[2], two[2])
    unshadowed = build.render(7, with_ecssd=False), build.render(7, with_ecssd=False, draw=2)
    assert not set(unshadowed[0][3]["effects"]) & catalog_format.SHADOW_EFFECTS
    assert all(np.array_equal(x, y) for x, y in zip(unshadowed[0][:3], unshadowed[1][:3]))


def test_veined_stone_has_thin_veins_of_the_other_tone_and_only_the_third_draw_uses_it():
    assert "veined" in build.DRAWS[3]["backdrops"] and all("veined" not in build.DRAWS[d]["backdrops"] for d in (1, 2))
    assert build.set_name(3) == "catalog-tune3"
    for seed in range(8):
        img = surfaces.veined(np.random.default_rng(seed), 400, 300)
        lum = img.astype(np.float32).mean(axis=2)
        ground = np.median(lum)
        far = np.abs(lum - ground) > 30  # the veins
        assert img.shape == (300, 400, 3) and img.dtype == np.uint8
        assert 0.0002 < far.mean() < 0.35  # thin lines, not a second ground
        # veins run the other way from the ground: darker on light stone, lighter on dark stone
        assert (lum[far] < ground).mean() > 0.65 if ground > 128 else (lum[far] > ground).mean() > 0.65


def test_a_shadowed_frame_has_a_clean_twin_and_stays_as_it_was():
    """The twin is the same shot without shadows and reflections (same camera, same grain); drawing
    it takes nothing from the frame's generator, so the frame is render's, pixel for pixel."""
    import cv2

    pair = build.render_with_twin(4, with_ecssd=False)
    alone = build.render(4, with_ecssd=False)
    assert len(pair) == 2
    (rgb, alpha, shadow, meta), (c_rgb, c_alpha, c_shadow, c_meta) = pair
    assert np.array_equal(rgb, alone[0]) and np.array_equal(shadow, alone[2]) and meta["objects"] == alone[3]["objects"]
    catalog_format.validate_meta(meta), catalog_format.validate_meta(c_meta)
    assert meta["twin"] == c_meta["name"] == f"{meta['name']}-clean" and c_meta["twin_of"] == meta["name"]
    assert np.array_equal(alpha, c_alpha) and not c_shadow.any()
    assert not set(c_meta["effects"]) & catalog_format.SHADOW_EFFECTS
    assert set(meta["effects"]) - set(c_meta["effects"]) <= catalog_format.SHADOW_EFFECTS
    dark = shadow > 127
    assert c_rgb[dark].astype(float).mean() > rgb[dark].astype(float).mean() + 5  # the shadow is gone
    far = cv2.dilate((shadow > 0).astype(np.uint8), np.ones((15, 15), np.uint8)) == 0
    # elsewhere the very same pixels, grain included (but for a soft shadow's faintest tail, under
    # the shadow map's first level: one level off)
    diff = np.abs(c_rgb[far].astype(int) - rgb[far].astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3
    unshadowed = build.render_with_twin(7, with_ecssd=False)
    assert len(unshadowed) == 1 and unshadowed[0][3]["twin"] is None


def test_a_set_keeps_its_size_and_is_redrawn_with_twins(tmp_path, monkeypatch):
    """A set drawn before the twins is drawn again, as large as it was; a smaller request later
    neither shrinks it nor draws anything (a check of frames 240-299 needs them all)."""
    import json

    render = build.render_with_twin
    monkeypatch.setattr(build, "render_with_twin", lambda i, seed, draw=1: render(i, seed, with_ecssd=False, draw=draw))
    d = tmp_path / "catalog-tune"
    d.mkdir()
    (d / "manifest.json").write_text(json.dumps({"version": build.VERSION, "seed": build.SEED, "family": "catalog-tune", "count": 3}))
    (d / "tune-0000.json").write_text("{}")  # a frame of the old draw, without its twin
    build.build_set(d, n=2, workers=1)
    names = catalog_format.list_samples(d)
    assert [n for n in names if not n.endswith("-clean")] == ["tune-0000", "tune-0001", "tune-0002"]
    assert catalog_format.load_meta(d, "tune-0000")["name"] == "tune-0000"  # redrawn, not the stale file
    assert any(n.endswith("-clean") for n in names)
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["count"] == 3 and manifest["twins"] is True
    before = {p.name: p.stat().st_mtime_ns for p in d.iterdir() if p.name != "manifest.json"}
    build.build_set(d, n=2, workers=1)
    assert {p.name: p.stat().st_mtime_ns for p in d.iterdir() if p.name != "manifest.json"} == before


def test_the_fourth_draw_lights_hard_and_shadows_nearly_every_frame_in_the_format_s_kinds():
    assert build.set_name(4) == "catalog-tune4" and build.DRAWS[4].get("hard_light")
    assert not any(build.DRAWS[d].get("hard_light") for d in (1, 2, 3))
    alpha = np.zeros((300, 300), np.float32)
    alpha[100:180, 120:170] = 1.0
    box = (120, 100, 50, 80)
    for seed in range(20):
        s, kinds = effects.hard_light_shadows(np.random.default_rng(seed), alpha, box)
        assert kinds[0] == "contact" and set(kinds) <= {"contact", "soft", "hard"}
        assert s.min() >= 0 and s.max() <= 1
        # the occlusion line: darkness right under the base, none above the object's middle but for the cast shadow
        assert s[181:184, 125:165].mean() > 0.2
    frames = [build.render(i, with_ecssd=False, draw=4) for i in range(8)]
    shadowed = [f for f in frames if set(f[3]["effects"]) & catalog_format.SHADOW_EFFECTS]
    assert len(shadowed) >= 6 and all("contact-shadow" in f[3]["effects"] for f in shadowed)
    for _, a, sh, _ in shadowed:
        assert sh.any() and not sh[a > 0].any()  # recorded as backdrop, never on the product


def test_dark_products_keep_their_shading_at_a_dark_level_and_only_the_fifth_draw_has_them():
    assert build.set_name(5) == "catalog-tune5" and "dark_goods" in build.DRAWS[5]
    assert not any("dark_goods" in build.DRAWS[d] for d in (1, 2, 3, 4))
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[:, :20] = 200
    rgb[:, 20:] = 100  # a lit and a shaded half
    alpha = np.full((40, 40), 255, np.uint8)
    for seed in range(10):
        dark = effects.dark_material(np.random.default_rng(seed), rgb, alpha).astype(np.float32).mean(axis=2)
        assert dark.max() < 110  # dark
        assert dark[:, :20].mean() > dark[:, 20:].mean()  # its own shading, weaker

    def dark_objects(draw):
        n = 0
        for i in range(12):
            img, a, _, meta = build.render(i, with_ecssd=False, draw=draw)
            for o in meta["objects"]:
                x, y, w, h = o["bbox"]
                inside = a[y : y + h, x : x + w] > 250
                n += bool(inside.any()) and img[y : y + h, x : x + w][inside].mean() < 60
        return n

    assert dark_objects(5) >= dark_objects(4) + 3


def test_every_draw_is_a_benchmark_set():
    # bench.datasets lists the tuning draws by hand (it must work in a checkout without bench.tune):
    # a new draw added here and not there could be built but not scored
    from bench import datasets

    assert {build.set_name(d) for d in build.DRAWS} == {s for s in datasets.CATALOG_SETS if s.startswith("catalog-tune")}


def test_a_backdrop_selection_draws_more_frames_until_it_has_the_frames_asked_for(monkeypatch, tmp_path):
    """`names(..., backgrounds=..., limit=N)` on a tuning draw: when the draw's first frames hold
    fewer than N on those backdrops, more frames are drawn (a fake draw: every third frame on linen)."""
    from bench import catalog_format, datasets

    drawn_to = []

    def build(set_name, frames=0):
        drawn_to.append(max(200, frames))
        return tmp_path

    monkeypatch.setattr(datasets, "_build_catalog", build)
    monkeypatch.setattr(catalog_format, "list_samples", lambda d: [f"t-{i:04d}" for i in range(drawn_to[-1])])
    monkeypatch.setattr(catalog_format, "load_meta",
                        lambda d, n: {"background": {"kind": "linen" if int(n[2:]) % 3 == 0 else "paper"}})
    got = datasets.names("catalog-tune", limit=100, skip=20, backgrounds=("linen",))
    assert len(got) == 100 and got[0] == "t-0060" and all(int(n[2:]) % 3 == 0 for n in got)
    assert drawn_to == [200, 400]  # grown once: 200 frames hold 67 on linen, 400 hold 134
    drawn_to.clear()
    assert len(datasets.names("catalog-tune", limit=100)) == 100 and drawn_to == [200]  # no selection: as many as asked
