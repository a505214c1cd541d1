"""The tuning family (bench/tune): deterministic, in the shared catalog format, shadows recorded and
kept out of the ground truth, and no code shared with the judge family."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np

from bench import catalog_format
from bench.tune import build, effects


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
