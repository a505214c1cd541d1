"""workers/outputs.py with the real engine: the pixels path equals the engine's own PNG, both routes
to a profile's file agree, and the default profile keeps the engine's bytes."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from smallcut.profiles import PRESETS, parse
from tests.conftest import ecssd_image
from workers import outputs, render
from workers.engine import CutoutOptions


def test_pixels_are_the_engines_rgba(engine):
    data = ecssd_image(811).read_bytes()
    opts = CutoutOptions(bg_color=(255, 0, 0, 255))  # the job's flattening does not reach the pixels
    px = outputs.cutout_pixels(engine, data, opts)
    ref = engine.cutout(data, CutoutOptions())
    assert (px.rgba == render.decode_rgba(ref.png)).all()
    assert (px.result.width, px.result.height, px.result.objects, px.result.rois) == (ref.width, ref.height, ref.objects,
                                                                                      ref.rois)
    assert px.result.png == b"" and "compose" in px.result.timings and "encode" not in px.result.timings


def test_both_routes_make_the_same_files(engine):
    data = ecssd_image(812).read_bytes()
    opts = CutoutOptions()
    plan = outputs.Plan([PRESETS["default"], PRESETS["amazon-main"], parse("name=w,format=webp")], False, opts)
    result, made = outputs.cutout(engine, data, opts, plan)
    grouped = outputs.from_result(engine.cutout_many([data], plan.run_options)[0], opts, plan, data)
    assert [m.profile.name for m in made] == ["default", "amazon-main", "w"]
    assert [m.data for m in made[1:]] == [m.data for m in grouped[1:]]
    assert made[0].data == grouped[0].data == engine.cutout(data, opts).png  # fpng both ways
    assert "render" in result.timings


def test_default_alone_is_the_engines_output_and_legacy_options_shape_it(engine):
    data = ecssd_image(813).read_bytes()
    mask_opts = CutoutOptions(mask_only=True)
    plan = outputs.Plan([PRESETS["default"]], False, mask_opts)
    result, [made] = outputs.cutout(engine, data, mask_opts, plan)
    assert made.data == result.png and plan.only_default
    # beside another profile, the default output is still the mask the job asked for
    plan = outputs.Plan([PRESETS["default"], PRESETS["zip"]], False, mask_opts)
    _, (mask, _) = outputs.cutout(engine, data, mask_opts, plan)
    m = np.asarray(Image.open(io.BytesIO(mask.data)))
    assert m.ndim == 2 and (m == np.asarray(Image.open(io.BytesIO(made.data)))).all()


def test_default_beside_other_profiles_is_the_engines_flattened_output(engine):
    """A flat colour asked with --bg-color stays what the engine writes (RGBA, alpha where the
    colour's own alpha puts it) when other profiles run beside the default one."""
    data = ecssd_image(814).read_bytes()
    for bg in ((255, 0, 0, 255), (0, 128, 255, 100)):
        opts = CutoutOptions(bg_color=bg)
        plan = outputs.Plan([PRESETS["default"], PRESETS["amazon-main"]], False, opts)
        _, (default, _) = outputs.cutout(engine, data, opts, plan)
        ref = render.decode_rgba(engine.cutout(data, opts).png)
        assert (render.decode_rgba(default.data) == ref).all()
