"""The object-vs-backdrop step (workers/engine/shadow.py): features, classifier, layer, compose."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from workers.engine import shadow
from workers.engine.mlp import Classifier
from workers.engine.engine import CutoutOptions, compose


def _scene(h=120, w=160):
    """A textured backdrop, a red disc (object, prob 1) and its shadow (backdrop x 0.55, prob 0.5)."""
    rng = np.random.default_rng(0)
    back = np.full((h, w, 3), (180, 170, 150), np.float32) + rng.normal(0, 6, (h, w, 1)).astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    disc = (yy - 50) ** 2 + (xx - 70) ** 2 < 18**2
    shadow_m = ((yy - 62) ** 2 + (xx - 84) ** 2 < 20**2) & ~disc
    img = back.copy()
    img[shadow_m] *= 0.55
    img[disc] = (200, 30, 30)
    prob = np.zeros((h, w), np.float32)
    prob[disc] = 1.0
    prob[shadow_m] = 0.5
    return img, prob, disc, shadow_m


def test_features_see_the_shadow_as_darkened_backdrop():
    img, prob, disc, sh = _scene()
    x, cand, maps = shadow.features(img, prob)
    assert x.shape == (int(cand.sum()), len(shadow.FEATURES))
    col = {n: x[:, i] for i, n in enumerate(shadow.FEATURES)}
    on_shadow = sh[cand]
    on_disc = disc[cand]
    # a shadow is the backdrop times ~0.55: log ratio ~ log(0.55), chromaticity unchanged
    assert abs(float(np.median(col["log_lum_ratio"][on_shadow])) - np.log(0.55)) < 0.08
    assert float(np.median(col["chroma_diff"][on_shadow])) < 0.03
    # the red disc is a different colour, not a darker backdrop
    assert float(np.median(col["chroma_diff"][on_disc])) > 0.2
    assert np.isfinite(x).all()
    assert maps["back"].shape == img.shape


def test_features_on_the_candidates_box_equal_those_on_the_whole_view(monkeypatch):
    """The maps are computed on the candidates' box grown by CROP_MARGIN: the values must be the
    whole view's (the context blur's reach, the distance to the backdrop, the objects' sizes)."""
    img, prob, _, _ = _scene(200, 260)
    prob[150:156, 200:207] = 0.9  # a second object: the box spans both
    x_box, cand_box, _ = shadow.features(img, prob)
    monkeypatch.setattr(shadow, "CROP_MARGIN", 10_000)  # the box grows to the whole view
    x_view, cand_view, _ = shadow.features(img, prob)
    assert np.array_equal(cand_box, cand_view)
    np.testing.assert_allclose(x_box, x_view, rtol=1e-5, atol=1e-6)


def test_crop_margin_covers_the_context_blur():
    import cv2

    reach = (len(cv2.getGaussianKernel(int(round(shadow.CONTEXT_SIGMA * 4 * 2 + 1)) | 1, shadow.CONTEXT_SIGMA)) - 1) // 2
    assert shadow.CROP_MARGIN > reach


def test_work_views_crop_around_each_lit_region_and_cap_the_side():
    img, prob, _, _ = _scene(400, 600)
    prob[300:310, 500:510] = 1.0  # a second, far-away small object: a view of its own, at full resolution
    views = shadow.work_views(img.astype(np.uint8), prob, 128)
    assert len(views) == 2
    for _sub, im, p in views:
        assert max(p.shape) <= 128 and im.shape[:2] == p.shape
    small = min(views, key=lambda v: v[2].size)
    assert small[2].shape == prob[small[0]].shape  # small enough: not downscaled
    assert shadow.work_views(img.astype(np.uint8), np.zeros_like(prob), 128) == []


def test_classifier_round_trips_through_json_and_predicts_probabilities():
    rng = np.random.default_rng(1)
    f = len(shadow.FEATURES)
    clf = Classifier(np.zeros(f, np.float32), np.ones(f, np.float32),
                     (rng.normal(size=(f, 4)).astype(np.float32), rng.normal(size=(4, 1)).astype(np.float32)),
                     (np.zeros(4, np.float32), np.zeros(1, np.float32)), shadow.FEATURES)
    again = Classifier.from_json(clf.to_json(), shadow.FEATURES)
    x = rng.normal(size=(50, f)).astype(np.float32)
    np.testing.assert_allclose(clf.predict(x), again.predict(x), rtol=1e-6)
    assert ((clf.predict(x) >= 0) & (clf.predict(x) <= 1)).all()


def test_classifier_predicts_what_its_layers_compute():
    """The onnxruntime graph (standardisation folded into the first layer) computes the standardised
    ReLU network with a logistic output; no rows, no answers."""
    rng = np.random.default_rng(2)
    f = len(shadow.FEATURES)
    mean, scale = rng.normal(size=f).astype(np.float32), rng.uniform(0.5, 3, f).astype(np.float32)
    ws = (rng.normal(size=(f, 8)), rng.normal(size=(8, 5)), rng.normal(size=(5, 1)))
    bs = (rng.normal(size=8), rng.normal(size=5), rng.normal(size=1))
    clf = Classifier(mean, scale, tuple(np.float32(w) for w in ws), tuple(np.float32(b) for b in bs), shadow.FEATURES)
    x = rng.normal(size=(300, f)).astype(np.float32) * 2
    h = (x.astype(np.float64) - mean) / scale
    for w, b in zip(ws[:-1], bs[:-1]):
        h = np.maximum(h @ w + b, 0.0)
    expected = 1.0 / (1.0 + np.exp(-(h @ ws[-1] + bs[-1])[:, 0]))
    np.testing.assert_allclose(clf.predict(x), expected, atol=2e-5)
    assert clf.predict(x).dtype == np.float32
    assert clf.predict(np.zeros((0, f), np.float32)).shape == (0,)


def test_classifier_trained_on_other_features_is_refused():
    bad = '{"features": ["p"], "mean": [0], "scale": [1], "weights": [[[1]]], "biases": [[0]]}'
    with pytest.raises(ValueError, match="retrain"):
        Classifier.from_json(bad, shadow.FEATURES)


def test_gate_keeps_objects_and_drops_backdrop_smoothly():
    g = shadow.gate(np.float32([0.0, 0.3, 0.5, 0.7, 1.0]))
    assert g[0] == 0 and g[1] == 0 and g[-1] == 1 and g[-2] == 1
    assert 0.4 < g[2] < 0.6
    assert (np.diff(g) >= 0).all()


def test_clear_doubted_drops_the_faint_film_the_gate_leaves_and_nothing_else():
    before = np.float32([[0.9, 0.9, 0.6, 0.3, 0.04]])
    after = np.float32([[0.9, 0.55, 0.12, 0.3, 0.04]])  # kept, lowered but opaque, a film, untouched, untouched
    out = shadow.clear_doubted(before, after, 0.5)
    assert out.dtype == np.float32 and out[0].tolist() == pytest.approx([0.9, 0.55, 0.0, 0.3, 0.04])


def test_shadow_layer_is_dark_where_foreground_was_taken_away_near_the_object():
    h, w = 60, 80
    before = np.zeros((h, w), np.float32)
    before[20:40, 20:40] = 1.0
    before[40:46, 20:40] = 0.6  # the network's grey band
    after = before.copy()
    after[40:46] = 0.0
    ratio = np.ones((h, w), np.float32)
    ratio[40:46, 20:40] = 0.5
    layer = shadow.shadow_layer(before, after, ratio, reach=10)
    assert layer[42, 30] > 0.3
    assert layer[10, 70] == 0 and layer[30, 30] < 0.05


def test_compose_with_a_kept_shadow_darkens_a_new_backdrop_under_the_object():
    rgb = np.full((10, 10, 3), 200, np.uint8)
    alpha = np.zeros((10, 10), np.uint8)
    alpha[2:5, 2:8] = 255
    layer = np.zeros((10, 10), np.uint8)
    layer[5:8, 2:8] = 128
    rgba = compose(rgb, alpha, CutoutOptions(), bleed=False, shadow=layer)
    assert rgba.shape == (10, 10, 4)
    assert rgba[6, 4, 3] == 128 and tuple(rgba[6, 4, :3]) == (0, 0, 0)  # a half-opaque black layer
    assert rgba[3, 4, 3] == 255 and rgba[3, 4, 0] == 200
    on_white = compose(rgb, alpha, CutoutOptions(bg_color=(255, 255, 255, 255)), bleed=False, shadow=layer)
    assert 120 <= on_white[6, 4, 0] <= 135  # white darkened by half
    assert on_white[0, 0, 0] == 255
    mask = compose(rgb, alpha, CutoutOptions(mask_only=True), bleed=False, shadow=layer)
    assert mask[6, 4] == 128 and mask[3, 4] == 255


def test_bad_shadow_mode_is_refused():
    with pytest.raises(ValueError, match="shadow"):
        CutoutOptions(shadow="maybe")
    assert CutoutOptions.from_dict({"shadow": "keep"}).shadow == "keep"
    assert CutoutOptions.from_dict({}).shadow == "remove"


def _shadowed_product(h=900, w=1200):
    """A blue product on a studio sweep with a soft drop shadow (backdrop x 0.45 at its darkest)."""
    import cv2

    yy = np.mgrid[0:h, 0:w][0].astype(np.float32)
    back = np.dstack([235 - 25 * yy / h] * 3) * np.float32([1.0, 0.98, 0.95])
    obj = np.zeros((h, w), np.uint8)
    cv2.ellipse(obj, (600, 420), (150, 90), 0, 0, 360, 255, -1)
    cv2.rectangle(obj, (560, 300), (640, 420), 255, -1)
    objf = cv2.GaussianBlur(obj.astype(np.float32) / 255, (0, 0), 1.0)
    sh = cv2.GaussianBlur(cv2.warpAffine(objf, np.float32([[1, 0, 60], [0, 1, 45]]), (w, h)), (0, 0), 14) * 0.55
    img = back * (1 - sh[..., None])
    img = img * (1 - objf[..., None]) + np.float32([40, 90, 160]) * objf[..., None]
    return np.clip(img, 0, 255).astype(np.uint8), objf > 0.5, (sh > 0.15) & (objf < 0.01)


def test_engine_drops_a_drop_shadow_by_default_and_keeps_it_as_a_dark_layer_on_request(engine):
    from dataclasses import replace

    from smallcut.settings import POST_STEPS

    img, obj, shadow_px = _shadowed_product()
    without_step = engine.with_config(replace(engine.config, post_steps=tuple(s for s in POST_STEPS if s != "shadows")))
    before = without_step.matte(img).alpha > 127
    removed = engine.matte(img)
    kept = engine.matte(img, keep_shadow=True)
    iou = lambda a: (a & obj).sum() / (a | obj).sum()  # noqa: E731
    share = lambda a: (a & shadow_px).sum() / shadow_px.sum()  # noqa: E731
    assert share(before) > 0.8  # the network alone calls the shadow foreground
    assert share(removed.alpha > 127) < 0.6 * share(before)
    assert iou(removed.alpha > 127) > iou(before) and iou(removed.alpha > 127) > 0.75
    assert removed.shadow is None
    # keep: same object, plus a soft layer on the shadow and nothing far from it
    assert np.array_equal(kept.alpha, removed.alpha)
    assert 10 < kept.shadow[shadow_px].mean() < 230
    inner = __import__("cv2").erode(obj.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert kept.shadow[:100].max() == 0 and kept.shadow[inner].max() == 0
    png = engine.cutout(__import__("cv2").imencode(".png", img[..., ::-1])[1].tobytes(), CutoutOptions(shadow="keep")).png
    import cv2

    rgba = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    layer = shadow_px & (removed.alpha == 0) & (rgba[..., 3] > 20) & (rgba[..., 3] < 235)
    assert layer.sum() > 0.2 * shadow_px.sum()
    assert rgba[..., :3][layer].max() < 40  # a black layer: colour comes from the new backdrop


def test_holes_opened_in_a_large_object_are_given_back_small_ones_kept():
    before = np.zeros((200, 200), np.float32)
    before[20:120, 20:120] = 1.0  # a large subject
    before[150:170, 150:170] = 1.0  # a small ring
    after = before.copy()
    after[60:70, 60:70] = 0.0  # a hole the step punched into the large subject
    after[158:162, 158:162] = 0.0  # the ring's hole
    after[120:125, 20:120] = 0.0  # (a band at the large subject's rim: outside, not a hole)
    out = shadow.keep_large_interiors(before, after, max_area=2000)
    assert (out[60:70, 60:70] == 1.0).all()
    assert (out[158:162, 158:162] == 0.0).all()
    assert np.array_equal(out[100:120], after[100:120])


def test_a_thin_ring_whose_outline_encloses_much_keeps_its_hole_open():
    # the ring's outline encloses more than max_area, its metal does not: its size is the metal
    before = np.zeros((200, 200), np.float32)
    cv2.circle(before, (100, 100), 40, 1.0, -1)  # the network's disc
    after = np.zeros_like(before)
    cv2.circle(after, (100, 100), 40, 1.0, -1)
    cv2.circle(after, (100, 100), 34, 0.0, -1)  # the step opened the hole
    assert np.count_nonzero(after) < 2000 < np.count_nonzero(before)
    out = shadow.keep_large_interiors(before, after, max_area=2000)
    assert out[100, 100] == 0.0
    assert np.array_equal(out, after)


def test_small_objects_weigh_more_per_pixel_in_the_classifiers_training():
    from training.matte_classifier import object_weights

    obj = np.zeros((100, 100), bool)
    obj[10:14, 10:14] = True  # 16 px
    obj[40:90, 40:90] = True  # 2,500 px
    frame_px = 100 * 100 * 16  # the view is a quarter of the frame's side
    w = object_weights(obj, view_px_per_frame_px=1 / 16, frame_px=frame_px, max_weight=8.0)
    # in frame pixels: 256 px = 0.16 % of the frame -> sqrt(1 % / 0.16 %) = 2.5; 40,000 px = 25 %: 1
    assert np.isclose(w[11, 11], 2.5) and w[50, 50] == 1.0 and w[0, 0] == 1.0
    assert object_weights(obj, 1 / 16, frame_px * 100, max_weight=8.0)[11, 11] == 8.0  # capped
    assert (object_weights(obj, 1 / 16, frame_px, max_weight=1.0) == 1.0).all()  # off
