"""The engine end to end on pixels: small objects found, large ones unchanged, options honoured."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.conftest import ecssd_image, ecssd_mask
from workers.engine import CutoutOptions, DecodeError
from tests.photos import needs_ecssd


def _iou(alpha: np.ndarray, gt: np.ndarray) -> float:
    p, g = alpha > 127, gt > 127
    return float((p & g).sum() / max(1, (p | g).sum()))


def _ring_on_texture(h=1200, w=1600, r=28, seed=0):
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.integers(90, 170, (h, w, 3)).astype(np.uint8), (0, 0), 3)
    gt = np.zeros((h, w), np.uint8)
    cx, cy = int(w * 0.7), int(h * 0.3)
    cv2.circle(gt, (cx, cy), r, 255, -1)
    cv2.circle(gt, (cx, cy), int(r * 0.55), 0, -1)
    img[gt > 0] = (200, 150, 30)
    return img, gt, (cx, cy)


def test_small_ring_is_found_and_keeps_its_hole(engine):
    img, gt, (cx, cy) = _ring_on_texture()
    assert gt.mean() / 255 < 0.002
    plain = engine.matte(img, roi_on=False)
    zoomed = engine.matte(img, roi_on=True)
    assert len(zoomed.rois) >= 1 and zoomed.passes >= 2 and plain.passes == 1
    assert _iou(zoomed.alpha, gt) > 0.9
    assert _iou(zoomed.alpha, gt) >= _iou(plain.alpha, gt)
    assert zoomed.alpha[cy, cx] < 64, "the ring's hole shows the background"


def test_large_object_matches_the_plain_path(engine):
    rgb = np.asarray(Image.open(ecssd_image(812)).convert("RGB"))
    gt = np.asarray(Image.open(ecssd_mask(812)).convert("L"))
    plain = _iou(engine.matte(rgb, roi_on=False, postprocess_on=False).alpha, gt)
    full = _iou(engine.matte(rgb).alpha, gt)
    assert plain > 0.8
    assert full >= plain - 0.02


def test_cutout_bytes_to_rgba_png_with_stage_timings(engine):
    data = ecssd_image(815).read_bytes()
    res = engine.cutout(data)
    im = Image.open(io.BytesIO(res.png))
    assert im.mode == "RGBA" and im.size == (res.width, res.height)
    rgba = np.asarray(im)
    far = cv2.distanceTransform((rgba[..., 3] == 0).astype(np.uint8), cv2.DIST_L2, 3) > 10
    assert far.any() and (rgba[far][:, :3] == 0).all()  # nothing kept far under alpha=0
    assert {"decode", "coarse", "postprocess", "encode"} <= set(res.timings)
    assert res.passes >= 1


def test_mask_only_and_bg_color(engine):
    data = ecssd_image(815).read_bytes()
    mask = np.asarray(Image.open(io.BytesIO(engine.cutout(data, CutoutOptions(mask_only=True)).png)))
    assert mask.ndim == 2
    flat = np.asarray(Image.open(io.BytesIO(engine.cutout(data, CutoutOptions(bg_color=(0, 255, 0, 255))).png)))
    assert (flat[..., 3] == 255).all()
    assert (flat[mask == 0][:, :3] == [0, 255, 0]).all()


def test_bad_bytes_raise_decode_error(engine):
    with pytest.raises(DecodeError):
        engine.cutout(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)


def test_fingerprint_changes_with_options_and_model():
    a = CutoutOptions()
    assert a.fingerprint("m1") == CutoutOptions.from_dict({}).fingerprint("m1")
    assert a.fingerprint("m1") != a.fingerprint("m2")
    assert a.fingerprint("m1") != CutoutOptions(roi=False).fingerprint("m1")
    assert CutoutOptions.from_dict({"bg_color": "#102030"}).bg_color == (16, 32, 48, 255)


def test_output_fingerprint_follows_the_engine_settings(engine):
    """Outputs of a retuned engine are not 'current' for one with other settings."""
    import dataclasses

    opts = CutoutOptions()
    assert engine.output_fingerprint(opts) == opts.fingerprint(engine.model_id, engine.config)
    assert engine.output_fingerprint(opts) != opts.fingerprint(engine.model_id)
    retuned = engine.with_config(dataclasses.replace(engine.config, detect_tile=224))
    assert retuned.output_fingerprint(opts) != engine.output_fingerprint(opts)


def test_slivers_and_single_pixels_take_one_pass(engine):
    for shape in [(1, 1, 3), (3, 4000, 3), (4000, 3, 3)]:
        m = engine.matte(np.full(shape, 128, np.uint8))
        assert m.alpha.shape == shape[:2]
        assert m.passes == 1 and not m.detection


def test_cutout_many_batches_coarse_passes_and_isolates_bad_images(engine):
    good = [ecssd_image(n).read_bytes() for n in (820, 821, 822)]
    results = engine.cutout_many([good[0], b"not an image", good[1], good[2]])
    assert isinstance(results[1], DecodeError)
    singles = [engine.cutout(d) for d in good]
    for res, single in zip([results[0], results[2], results[3]], singles):
        assert (res.width, res.height) == (single.width, single.height)
        a = np.asarray(Image.open(io.BytesIO(res.png)))[..., 3].astype(int)
        b = np.asarray(Image.open(io.BytesIO(single.png)))[..., 3].astype(int)
        assert np.abs(a - b).mean() < 1.0  # batched inference gives the same mattes
        assert res.timings["coarse"] > 0


def test_object_sizes_counts_regions_and_the_smallest_share():
    from workers.engine.engine import object_sizes

    alpha = np.zeros((100, 200), np.uint8)
    alpha[10:50, 10:60] = 255  # 2,000 px
    alpha[70:75, 150:160] = 200  # 50 px
    alpha[90, 5:8] = 255  # 3 px of dust: not an object
    alpha[0:5, 190:200] = 100  # translucent haze below half: background
    assert object_sizes(alpha) == {"objects": 2, "min_object_frac": 50 / 20_000}
    assert object_sizes(np.zeros((10, 10), np.uint8)) == {"objects": 0, "min_object_frac": 0.0}


def test_cutout_reports_the_small_object_it_kept(engine):
    img, gt, _ = _ring_on_texture()
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    res = engine.cutout(jpg.tobytes())
    assert res.objects >= 1
    assert res.min_object_frac <= 1.5 * (gt > 0).sum() / gt.size  # the ring, not only something large


@needs_ecssd
def test_tiny_objects_near_a_larger_one_get_their_own_zoom(engine):
    """A synth-dev frame (objects of 2 %, 0.1 % and 0.09 %): merged into the larger object's crop, the
    two tiny ones were as small in its zoom as in the frame and vanished."""
    import dataclasses

    from bench import synth

    s = synth.render("dev", 70)
    objects = s.meta["objects"]
    tiny = [o["id"] for o in objects if o["area_frac"] < 0.002]
    assert len(tiny) == 2

    def found(eng) -> list[float]:
        alpha = eng.matte(s.image).alpha
        return [float((alpha[s.instances == k] > 127).mean()) for k in tiny]

    assert min(found(engine)) > 0.8
    merged = engine.with_config(dataclasses.replace(engine.config, merge_max_ratio=1e9))
    assert max(found(merged)) < 0.1


@needs_ecssd
def test_the_learned_gate_looks_beside_a_large_subject(engine):
    """The same synth-dev frame scheme, on a photo whose own subject is large and confident: the
    hand-set gate alone skips detection and the tiny object is lost; the learned gate (default) and
    `detection="always"` run the pass and find it."""
    import dataclasses

    from bench import synth

    s = synth.render("dev", 52)
    tiny = [o["id"] for o in s.meta["objects"] if o["area_frac"] < 0.002]
    hand = engine.with_config(dataclasses.replace(engine.config, learned_gate=0.0)).matte(s.image)
    auto = engine.matte(s.image)
    always = engine.with_config(dataclasses.replace(engine.config, detection="always")).matte(s.image)
    assert not hand.detection and auto.detection and always.detection and auto.passes > hand.passes
    missed = [float((hand.alpha[s.instances == k] > 127).mean()) for k in tiny]
    for found in (auto, always):
        assert max(float((found.alpha[s.instances == k] > 127).mean()) for k in tiny) > 0.5
    assert max(missed) < 0.1


@needs_ecssd
def test_detection_never_keeps_a_medium_subject_to_the_coarse_pass(engine):
    """ECSSD 0801 at 2000x1500: an otter covering 5 % of the frame is not large enough for the
    cascade's gate, so `auto` searches the frame (tiles, zooms); `never` does not, and keeps the
    otter all the same."""
    import dataclasses

    rgb = cv2.resize(np.asarray(Image.open(ecssd_image(801)).convert("RGB")), (2000, 1500))
    gt = cv2.resize(np.asarray(Image.open(ecssd_mask(801)).convert("L")), (2000, 1500)) > 127
    auto = engine.matte(rgb)
    never = engine.with_config(dataclasses.replace(engine.config, detection="never")).matte(rgb)
    assert auto.detection and auto.passes >= 3
    assert not never.detection and never.passes < auto.passes  # the coarse pass (and a zoom of its own blobs)
    fg = never.alpha > 127
    assert float((fg & gt).sum() / (fg | gt).sum()) > 0.7


def test_a_chain_on_wood_grain_is_cut_out_not_the_whole_surface(engine):
    """synth-dev 112: u2netp calls the whole grained surface salient (tiles too). The flood is told
    from a subject by colour statistics and dropped; the chain is found by its colours."""
    import dataclasses

    from bench import synth

    s = synth.render("dev", 112)
    assert s.meta["background"]["kind"] == "wood"
    gt = s.alpha > 127
    fixed = engine.matte(s.image).alpha > 127
    raw = dataclasses.replace(engine.config, texture_floods=False, post_steps=tuple(p for p in engine.config.post_steps if p != "shadows"))
    flooded = engine.with_config(raw).matte(s.image).alpha > 127
    assert flooded.mean() > 0.5, "the network floods this surface"
    # the object-vs-backdrop step alone also gives the surface back to the backdrop
    learned = engine.with_config(dataclasses.replace(engine.config, texture_floods=False)).matte(s.image).alpha > 127
    assert learned.mean() < 2 * gt.mean()
    assert fixed.mean() < 2 * gt.mean()
    # IoU 0.75 with fp32 passes, 0.64 with int8 (a little grain kept beside the links); flooded: ≈ 0
    assert float((fixed & gt).sum() / (fixed | gt).sum()) > 0.6


@needs_ecssd
def test_on_wood_rare_colours_find_a_tiny_object_the_tiles_miss(engine):
    """synth-dev 73: a dog (3 % of the frame) and tiny pieces on wood; the tiles do not see the
    0.07 % one, its colours stand out from the wood's."""
    import dataclasses

    from bench import synth

    s = synth.render("dev", 73)
    tiny = [o["id"] for o in s.meta["objects"] if o["area_frac"] < 0.001]
    assert len(tiny) == 1

    def found(eng) -> float:
        alpha = eng.matte(s.image).alpha
        return float((alpha[s.instances == tiny[0]] > 127).mean())

    without = engine.with_config(dataclasses.replace(engine.config, rare_colours=False))
    assert found(engine) > 0.7 and found(without) < 0.1


@needs_ecssd
def test_on_shaded_fabric_rare_colours_find_a_button_the_tiles_miss(engine):
    """synth-dev 21: a brown button (0.5 % of the frame) on a shaded fabric that is not uniform
    enough to count as one surface; the tiles do not see it, its colours are rare on the frame."""
    import dataclasses

    from bench import synth

    s = synth.render("dev", 21)
    assert s.meta["background"]["kind"] == "fabric"
    button = [o["id"] for o in s.meta["objects"] if o["kind"] == "button"]
    assert len(button) == 1

    gt = s.instances == button[0]
    near = cv2.dilate(gt.view(np.uint8), np.ones((61, 61), np.uint8)) > 0  # the button and what is around it

    def iou(eng) -> float:
        fg = eng.matte(s.image).alpha > 127
        return float((fg & gt).sum() / ((fg | gt) & near).sum())

    without = engine.with_config(dataclasses.replace(engine.config, rare_colours=False))
    assert iou(engine) > 0.8 and iou(without) < 0.1


@needs_ecssd
def test_a_flood_along_a_striped_fabric_is_dropped_and_the_objects_found(engine):
    """synth-dev 2: u2netp lights up most of a striped fabric as one large blob that follows the
    stripes (its outline is 72 × sqrt(area); real subjects' at most 23). Dropped as a pattern, the
    buttons and the screw are found by their colours."""
    import dataclasses

    from bench import synth

    s = synth.render("dev", 2)
    gt = s.alpha > 127
    fixed = engine.matte(s.image).alpha > 127
    raw = dataclasses.replace(engine.config, max_outline=0.0, post_steps=tuple(p for p in engine.config.post_steps if p != "shadows"))
    flooded = engine.with_config(raw).matte(s.image).alpha > 127
    assert flooded.mean() > 0.3, "the network floods this fabric"
    assert fixed.mean() < 1.5 * gt.mean()
    assert float((fixed & gt).sum() / gt.sum()) > 0.9


def test_a_nested_crop_is_a_fragment_only_when_the_larger_zooms_object_crosses_it():
    from workers.engine import roi
    from workers.engine.zooms import is_fragment

    prob = np.zeros((400, 400), np.float32)
    cv2.circle(prob, (200, 200), 120, 1.0, -1)  # a button the larger zoom drew whole
    cv2.circle(prob, (60, 340), 10, 1.0, -1)  # a separate tiny object
    assert is_fragment(prob, roi.Box(250, 250, 330, 330))  # part of the button's rim
    assert not is_fragment(prob, roi.Box(30, 310, 90, 370))  # the tiny object, whole
    assert not is_fragment(np.zeros_like(prob), roi.Box(30, 310, 90, 370))


def test_detection_setting_is_checked():
    from pydantic import ValidationError

    from smallcut.settings import Settings

    assert Settings(_env_file=None, detection="always").detection == "always"
    assert Settings(_env_file=None, detection="never").detection == "never"
    with pytest.raises(ValidationError):
        Settings(_env_file=None, detection="sometimes")


def test_post_steps_switch_one_by_one(engine):
    """Each post-processing step can be left out: none of them is the plain map (up to the crop's
    2 % floor), edges alone refine it, and without the bleed the RGB under soft edges is the photo's."""
    from dataclasses import replace

    img, gt, _ = _ring_on_texture()
    plain = engine.matte(img, postprocess_on=False).alpha
    without = engine.with_config(replace(engine.config, post_steps=()))
    none = without.matte(img).alpha
    assert np.abs(none.astype(int) - plain).max() <= 6
    edges = engine.with_config(replace(engine.config, post_steps=("edges",))).matte(img).alpha
    assert np.abs(edges.astype(int) - plain).max() > 20 and _iou(edges, gt) > 0.85

    data = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))[1].tobytes()
    rgba = np.asarray(Image.open(io.BytesIO(without.cutout(data).png)))
    soft = (rgba[..., 3] > 0) & (rgba[..., 3] < 255)
    assert soft.any() and (rgba[soft][:, :3] == img[soft]).all()  # no bleed: the photo's own colours
    bled = np.asarray(Image.open(io.BytesIO(engine.cutout(data).png)))
    assert (bled[soft][:, :3] != img[soft]).any()
    assert without.output_fingerprint(CutoutOptions()) != engine.output_fingerprint(CutoutOptions())


def test_holes_of_a_small_object_too_fine_for_the_working_size_are_opened_at_full_resolution():
    """A button of 0.2 % of a 2000×1500 frame with four 4-px holes, a larger object across the
    frame: at post-processing's working size (768 px for the crop of both) each hole is under 2 px
    and blurred into the button; at full resolution it shows the backdrop. The network's map (a solid disc) is all the engine needs here: no passes run."""
    from dataclasses import replace

    from workers.engine import steps
    from workers.engine.engine import EngineConfig

    h, w = 1500, 2000
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (60, 160, 120)
    cv2.circle(img, (700, 600), 40, (120, 30, 40), -1)
    holes = [(688, 588), (712, 588), (688, 612), (712, 612)]
    for centre in holes:
        cv2.circle(img, centre, 4, (60, 160, 120), -1)
    cv2.circle(img, (1700, 1200), 150, (200, 180, 60), -1)  # a second object far away: the crop is most of the frame
    prob = np.zeros((h, w), np.float32)
    cv2.circle(prob, (700, 600), 40, 1.0, -1)
    cv2.circle(prob, (1700, 1200), 150, 1.0, -1)
    prob = cv2.GaussianBlur(prob, (0, 0), 2)  # an upsampled map's soft rim
    def postprocess(cfg):
        return steps.postprocess_region(steps.PostState(cfg, img, prob.copy(), []), cfg.post_steps)

    opened = postprocess(EngineConfig())
    assert all(opened[y, x] < 0.2 for x, y in holes)
    assert opened[600, 700] > 0.9 and opened[600, 735] > 0.9  # the button's middle and rim stay
    kept = postprocess(replace(EngineConfig(), fine_holes_below=0.0))
    assert all(kept[y, x] > 0.5 for x, y in holes)  # the working size alone does not see them


class _CentreNet:
    """Sees an object only when one sits in the middle of its input (as u2netp does with two
    objects far apart in one small zoom): a disc there, else nothing."""

    passes = 0

    def predict(self, images):
        out = []
        for im in images:
            s = im.shape[0]
            m = np.zeros((s, s), np.float32)
            if im[int(s * 0.45) : int(s * 0.55), int(s * 0.45) : int(s * 0.55)].mean() > 128:
                cv2.circle(m, (s // 2, s // 2), int(s * 0.25), 0.99, -1)
            out.append(m)
        return out


@pytest.mark.parametrize("split", [True, False])
def test_a_rejected_merged_crop_is_zoomed_again_one_sure_object_each(split):
    from dataclasses import replace

    from workers.engine import roi
    from workers.engine.engine import EngineConfig
    from workers.engine.zooms import zoom_candidates

    rgb = np.zeros((1000, 1000, 3), np.uint8)
    rgb[430:570, 230:370] = 255  # two objects whose crops overlap enough to be merged
    rgb[430:570, 400:540] = 255
    boxes = [roi.Box(230, 430, 370, 570), roi.Box(400, 430, 540, 570)]
    labels = np.zeros((100, 100), np.int32)
    labels[43:57, 23:37], labels[43:57, 40:54] = 1, 2
    cands = [roi.Candidate(b, 0.02, 0.9, 0.7, i + 1) for i, b in enumerate(boxes)]
    crops = roi.merge_boxes([roi.expand_box(b, (1000, 1000), 0.45) for b in boxes], max_ratio=2.0)
    assert len(crops) == 1  # the premise: one zoom for both, centred on the gap between them
    prob = np.full((1000, 1000), 0.3, np.float32)
    result = zoom_candidates(_CentreNet(), rgb, prob, cands, labels, True, None, replace(EngineConfig(), split_merged=split))
    if split:
        assert len(result.accepted) == 2 and len(result.rejected) == 1
        assert prob[500, 300] > 0.9 and prob[500, 470] > 0.9
    else:
        assert result.accepted == [] and len(result.rejected) == 1
        assert prob[500, 300] == 0.0 and prob[500, 470] == 0.0  # both erased with the merged zoom


@pytest.mark.parametrize("keep", [True, False])
def test_a_rejected_merged_crop_leaves_a_sure_member_too_large_to_zoom_alone(keep):
    """A ring whose own crop is nearly the union's, merged with a faint blob beside it: the union's
    zoom centres on the ring's hole, sees nothing and is rejected. The faint blob goes; the ring,
    which no zoom judged on its own, keeps its confident coarse map (`keep_sure_members`)."""
    from dataclasses import replace

    from workers.engine import roi
    from workers.engine.engine import EngineConfig
    from workers.engine.zooms import zoom_candidates

    rgb = np.zeros((1000, 1000, 3), np.uint8)
    cv2.circle(rgb, (450, 450), 150, (255, 255, 255), 40)  # a ring, dark in the middle
    boxes = [roi.Box(300, 300, 600, 600), roi.Box(380, 320, 640, 620)]
    labels = np.zeros((100, 100), np.int32)
    cv2.circle(labels, (45, 45), 15, 1, 4)
    labels[32:62, 61:64] = 2
    cands = [roi.Candidate(boxes[0], 0.05, 0.95, 0.9, 1), roi.Candidate(boxes[1], 0.01, 0.5, 0.4, 2)]
    crops = roi.merge_boxes([roi.expand_box(b, (1000, 1000), 0.45) for b in boxes], max_ratio=2.0)
    assert len(crops) == 1  # the premise: one zoom for both
    prob = np.full((1000, 1000), 0.3, np.float32)
    ring = cv2.resize((labels == 1).astype(np.uint8), (1000, 1000), interpolation=cv2.INTER_NEAREST) > 0
    prob[ring] = 0.95
    result = zoom_candidates(_CentreNet(), rgb, prob, cands, labels, True, None, replace(EngineConfig(), keep_sure_members=keep))
    assert result.accepted == [] and len(result.rejected) == 1
    assert prob[500, 625] == 0.0  # the faint blob is erased either way
    assert prob[450, 300] == (0.95 if keep else 0.0)


def test_a_sure_member_cut_by_the_frame_edge_is_erased_with_its_rejected_union():
    """A stripe lit up along the frame's left edge, merged with a faint blob: the union's zoom is
    rejected and the stripe, running off the frame (a surface, not a product), goes with it."""
    from workers.engine import roi
    from workers.engine.engine import EngineConfig
    from workers.engine.zooms import zoom_candidates

    rgb = np.zeros((1000, 1000, 3), np.uint8)
    boxes = [roi.Box(0, 250, 300, 750), roi.Box(120, 300, 420, 700)]
    labels = np.zeros((100, 100), np.int32)
    labels[25:75, 0:8], labels[30:70, 30:42] = 1, 2
    cands = [roi.Candidate(boxes[0], 0.04, 0.95, 0.9, 1), roi.Candidate(boxes[1], 0.01, 0.5, 0.4, 2)]
    crops = roi.merge_boxes([roi.expand_box(b, (1000, 1000), 0.45) for b in boxes], max_ratio=2.0)
    assert len(crops) == 1
    prob = np.full((1000, 1000), 0.3, np.float32)
    prob[250:750, 0:80] = 0.95
    result = zoom_candidates(_CentreNet(), rgb, prob, cands, labels, True, None, EngineConfig())
    assert result.accepted == [] and len(result.rejected) == 1
    assert prob[500, 40] == 0.0


class _FaintUnionNet(_CentreNet):
    """As _CentreNet, but off-centre objects come back faint (0.8 where they are): a union's zoom
    that is accepted, barely."""

    def predict(self, images):
        out = super().predict(images)
        for im, m in zip(images, out):
            if not m.any():
                m[im.mean(axis=2) > 128] = 0.8
        return out


@pytest.mark.parametrize("split_below", [0.5, 0.0])
def test_a_merged_crop_accepted_barely_is_zoomed_again_one_sure_object_each(split_below):
    from dataclasses import replace

    from workers.engine import roi
    from workers.engine.engine import EngineConfig
    from workers.engine.zooms import zoom_candidates

    rgb = np.zeros((1000, 1000, 3), np.uint8)
    rgb[430:570, 230:370] = 255
    rgb[430:570, 400:540] = 255
    boxes = [roi.Box(230, 430, 370, 570), roi.Box(400, 430, 540, 570)]
    labels = np.zeros((100, 100), np.int32)
    labels[43:57, 23:37], labels[43:57, 40:54] = 1, 2
    cands = [roi.Candidate(b, 0.02, 0.9, 0.7, i + 1) for i, b in enumerate(boxes)]
    prob = np.full((1000, 1000), 0.3, np.float32)
    result = zoom_candidates(_FaintUnionNet(), rgb, prob, cands, labels, True, None, replace(EngineConfig(), split_below=split_below))
    if split_below:
        assert len(result.accepted) == 3 and result.rejected == []  # the union, then each object alone
        assert prob[500, 300] > 0.95 and prob[500, 470] > 0.95
        assert prob[500, 385] < 0.1  # the gap between them stays background
    else:
        assert len(result.accepted) == 1
        assert 0.5 < prob[500, 300] < 0.9 and 0.5 < prob[500, 470] < 0.9  # faint, as the union's zoom drew them


def test_every_post_step_setting_names_a_registered_step_and_the_registry_runs_in_settings_order():
    from smallcut.settings import POST_STEPS
    from workers.engine import steps

    names = [s.name for s in steps.REGISTRY]
    assert set(names) == set(POST_STEPS)
    phases = [s.phase for s in steps.REGISTRY]
    assert phases == sorted(phases, key=["frame", "work", "detail", "compose"].index)  # phases in order
    assert all((s.run is None) == (s.phase == "compose") for s in steps.REGISTRY)
    assert [s.name for s in steps.enabled(("edges", "smooth", "open-holes"), "work")] == ["open-holes", "smooth"]


class _WholeNet:
    """Sees an object only when all of it is in view (as u2netp on a crop cut through a ring): a
    disc over the bright pixels when none touches the input's border, else nothing."""

    passes = 0

    def predict(self, images):
        out = []
        for im in images:
            bright = im.mean(axis=2) > 128
            edge = np.concatenate([bright[0], bright[-1], bright[:, 0], bright[:, -1]])
            out.append((bright & ~edge.any()).astype(np.float32) * 0.99)
        return out


@pytest.mark.parametrize("widen", [2.0, 0.0])
def test_a_rejected_crop_cut_through_its_object_is_zoomed_again_wider(widen):
    """The detection lit only the bottom arc of a ring: the crop around that arc cuts the ring and
    the zoom sees nothing. With `widen_rejected` the crop is zoomed again twice as wide, where the
    whole object is in view, and that zoom is kept."""
    from dataclasses import replace

    from workers.engine import roi
    from workers.engine.engine import EngineConfig
    from workers.engine.zooms import zoom_candidates

    rgb = np.zeros((2000, 2000, 3), np.uint8)
    cv2.circle(rgb, (1000, 1000), 85, (255, 255, 255), -1)
    arc = roi.Box(950, 1065, 1050, 1085)
    labels = np.zeros((100, 100), np.int32)
    labels[53:54, 48:52] = 1
    cand = roi.Candidate(arc, 0.0005, 0.6, 0.4, 1)
    prob = np.zeros((2000, 2000), np.float32)
    prob[1065:1085, 950:1050] = 0.6
    result = zoom_candidates(_WholeNet(), rgb, prob, [cand], labels, True, None, replace(EngineConfig(), widen_rejected=widen))
    assert len(result.rejected) == 1  # the first crop, cut through the disc
    if widen:
        assert len(result.accepted) == 1 and result.accepted[0].area > 3 * result.rejected[0].area
        assert prob[1000, 1000] > 0.9 and prob[930, 1000] > 0.9  # the whole disc, not only the arc
    else:
        assert result.accepted == [] and prob[1075, 1000] == 0.0


def test_a_crop_is_not_widened_towards_the_whole_frame():
    """The same scene on a frame four times smaller: the wider crop would be over a quarter of the
    frame's side, where the zoom shows what the coarse pass saw; the rejected crop stays rejected."""
    from workers.engine import roi
    from workers.engine.engine import EngineConfig
    from workers.engine.zooms import zoom_candidates

    rgb = np.zeros((1000, 1000, 3), np.uint8)
    cv2.circle(rgb, (500, 500), 85, (255, 255, 255), -1)
    labels = np.zeros((100, 100), np.int32)
    labels[57:58, 45:55] = 1
    prob = np.zeros((1000, 1000), np.float32)
    result = zoom_candidates(_WholeNet(), rgb, prob, [roi.Candidate(roi.Box(450, 565, 550, 585), 0.002, 0.6, 0.4, 1)],
                             labels, True, None, EngineConfig())
    assert result.accepted == [] and len(result.rejected) == 1


def test_only_the_likeliest_rejected_crops_are_widened():
    """Three rings each lit only on their lower arc: with `widen_max=2` the two likeliest candidates
    (coarse peak × √area) get a wider zoom and the third's crop stays rejected."""
    from dataclasses import replace

    from workers.engine import roi
    from workers.engine.engine import EngineConfig
    from workers.engine.zooms import zoom_candidates

    rgb = np.zeros((3000, 3000, 3), np.uint8)
    labels = np.zeros((100, 100), np.int32)
    cands = []
    for i, (cx, area) in enumerate([(600, 0.0004), (1500, 0.0006), (2400, 0.0005)]):
        cv2.circle(rgb, (cx, 1500), 85, (255, 255, 255), -1)
        labels[52, cx // 30 - 1 : cx // 30 + 2] = i + 1
        cands.append(roi.Candidate(roi.Box(cx - 50, 1565, cx + 50, 1585), area, 0.6, 0.4, i + 1))
    prob = np.zeros((3000, 3000), np.float32)
    result = zoom_candidates(_WholeNet(), rgb, prob, cands, labels, True, None, replace(EngineConfig(), widen_max=2))
    assert len(result.accepted) == 2 and len(result.rejected) == 3
    assert prob[1500, 1500] > 0.9 and prob[1500, 2400] > 0.9  # the two larger candidates' rings
    assert prob[1500, 600] == 0.0
