"""Profile rendering on real photos (their masks as the alpha): geometry, backgrounds, formats, objects."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from PIL import Image, ImageCms

from smallcut import samples
from smallcut.profiles import PRESETS, parse
from tests.conftest import ecssd_image, ecssd_mask
from workers import render

PHOTOS = (801, 802, 803, 804)


def photo_rgba(n: int) -> np.ndarray:
    rgb = np.asarray(Image.open(ecssd_image(n)).convert("RGB"))
    alpha = np.asarray(Image.open(ecssd_mask(n)).convert("L"))
    return np.dstack([rgb, alpha])


def canvas_of(rgba: np.ndarray, spec: str) -> tuple[np.ndarray, render.Box]:
    profile = parse(spec)
    lay = render.layout((rgba.shape[1], rgba.shape[0]), render.product_box(rgba[..., 3]), profile)
    canvas = render.place(rgba, lay)
    assert canvas.shape[1::-1] == lay.canvas
    box = render.product_box(canvas[..., 3])
    assert box is not None
    return canvas, box


@pytest.mark.parametrize("n", PHOTOS)
def test_amazon_main_geometry(n):
    canvas, box = canvas_of(photo_rgba(n), "amazon-main")
    h, w = canvas.shape[:2]
    assert w == h >= 1000
    assert abs(max(box.w, box.h) / w - 0.85) <= 0.01
    assert abs((box.x0 + box.w / 2) / w - 0.5) <= 0.01 and abs((box.y0 + box.h / 2) / h - 0.5) <= 0.01


@pytest.mark.parametrize("n", PHOTOS[:2])
def test_fixed_canvas_share_and_position(n):
    canvas, box = canvas_of(photo_rgba(n), "name=t,size=1200x800,scale=60%,position=25% 75%")
    assert canvas.shape[:2] == (800, 1200)
    # the limiting side fills 60 % of its canvas side, the other no more
    share = max(box.w / 1200, box.h / 800)
    assert abs(share - 0.6) <= 0.01 and box.w / 1200 <= 0.61 and box.h / 800 <= 0.61
    assert abs(box.x0 - (1200 - box.w) * 0.25) <= 12 and abs(box.y0 - (800 - box.h) * 0.75) <= 8


def test_crop_with_margin_px_and_percent():
    rgba = photo_rgba(805)
    src = render.product_box(rgba[..., 3])
    canvas, box = canvas_of(rgba, "name=t,crop=true,crop_margin=20px")
    H, W = rgba.shape[:2]  # the crop stops at the frame's edges (the photos differ in size)
    assert canvas.shape[:2] == (min(src.y1 + 20, H) - max(0, src.y0 - 20), min(src.x1 + 20, W) - max(0, src.x0 - 20))
    assert (box.w, box.h) == (src.w, src.h)  # no scaling: pixels are copied
    _, box10 = canvas_of(rgba, "name=t,crop=true,crop_margin=10%,scale=original")
    assert (box10.w, box10.h) == (src.w, src.h)


def test_auto_canvas_grows_to_the_aspect_and_min_side():
    canvas, box = canvas_of(photo_rgba(806), "name=t,crop=true,aspect=4:5,min_side=1500")
    h, w = canvas.shape[:2]
    assert h == 1500 and abs(w / h - 0.8) < 0.002


@pytest.mark.parametrize("fmt", ["png", "webp"])
def test_background_pixels_exact_where_alpha_is_zero(fmt):
    rgba = photo_rgba(807)
    profile = parse(f"name=t,crop=true,scale=0.7,size=640x640,bg_color=#12ab34,format={fmt}")
    lay = render.layout((400, 300), render.product_box(rgba[..., 3]), profile)
    canvas = render.place(rgba, lay)
    out = np.asarray(Image.open(io.BytesIO(render.encode(canvas, profile))).convert("RGB"))
    assert out.shape == (640, 640, 3)
    clear = canvas[..., 3] == 0
    assert clear.mean() > 0.4
    assert (out[clear] == (0x12, 0xAB, 0x34)).all()
    opaque = canvas[..., 3] == 255
    assert (out[opaque] == canvas[..., :3][opaque]).all()  # lossless: the product's pixels as placed


def test_formats_read_back():
    rgba = photo_rgba(808)
    for spec, mode in [("transparent-png", "RGBA"), ("mask", "L"), ("name=w,format=webp", "RGBA"),
                       ("name=w,format=webp,quality=70", "RGBA"), ("amazon-main", "RGB"), ("name=j,format=jpg", "RGB")]:
        [out] = render.render(rgba, parse(spec))
        im = Image.open(io.BytesIO(out.data))
        im.load()
        assert im.mode == mode, spec
        assert im.size == (out.width, out.height), spec
    # lossless outputs are the pixels themselves
    [png] = render.render(rgba, PRESETS["transparent-png"])
    assert (np.asarray(Image.open(io.BytesIO(png.data))) == rgba).all()
    [webp] = render.render(rgba, parse("name=w,format=webp"))
    back = np.asarray(Image.open(io.BytesIO(webp.data)))
    assert (back[..., 3] == rgba[..., 3]).all() and (back[rgba[..., 3] > 0] == rgba[rgba[..., 3] > 0]).all()
    [mask] = render.render(rgba, PRESETS["mask"])
    assert (np.asarray(Image.open(io.BytesIO(mask.data))) == rgba[..., 3]).all()


def test_jpeg_has_no_alpha():
    with pytest.raises(ValueError, match="no alpha"):
        render.encode_jpeg(photo_rgba(801))


def test_zip_holds_colour_jpeg_and_alpha_png_of_the_canvas():
    rgba = photo_rgba(809)
    [out] = render.render(rgba, parse("base=zip,name=z,crop=true,size=500x500,scale=0.8"))
    with zipfile.ZipFile(io.BytesIO(out.data)) as zf:
        assert sorted(zf.namelist()) == ["alpha.png", "color.jpg"]
        colour = Image.open(io.BytesIO(zf.read("color.jpg")))
        alpha = Image.open(io.BytesIO(zf.read("alpha.png")))
    assert (colour.format, colour.mode, colour.size) == ("JPEG", "RGB", (500, 500))
    assert (alpha.format, alpha.mode, alpha.size) == ("PNG", "L", (500, 500))
    box = render.product_box(np.asarray(alpha))
    assert abs(max(box.w, box.h) / 500 - 0.8) <= 0.01


def test_icc_profile_is_carried_over():
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = io.BytesIO()
    Image.open(ecssd_image(801)).save(src, "JPEG", icc_profile=icc)
    assert render.icc_profile(src.getvalue()) == icc
    rgba = photo_rgba(801)
    for spec in ("transparent-png", "amazon-main", "name=w,format=webp"):
        [out] = render.render(rgba, parse(spec), icc=icc)
        assert Image.open(io.BytesIO(out.data)).info.get("icc_profile") == icc, spec
    assert render.icc_profile(ecssd_image(801).read_bytes()) is None


def test_empty_cutout_renders_the_background_only():
    rgba = photo_rgba(801)
    rgba[..., 3] = 0
    [out] = render.render(rgba, PRESETS["amazon-main"])
    im = np.asarray(Image.open(io.BytesIO(out.data)))
    assert im.shape[0] == im.shape[1] >= 1000 and im.min() >= 250
    assert render.render(rgba, PRESETS["amazon-main"], split=True) == []


def test_split_objects_one_output_per_earring():
    names = dict(samples.masks())
    alpha = names["02-earrings-linen.jpg"]
    objs, _ = render.split_objects(alpha)
    assert len(objs) == 2
    assert objs[0].box.y1 <= objs[1].box.y0  # reading order: this pair sits on two rows, the upper first
    rgb = np.asarray(Image.open(io.BytesIO(dict(samples.generate())["02-earrings-linen.jpg"])).convert("RGB"))
    outs = render.render(np.dstack([rgb, alpha]), PRESETS["amazon-main"], split=True)
    assert [o.obj for o in outs] == [1, 2]
    for o, obj in zip(outs, objs):
        assert o.source_box == obj.box.as_list() and o.area == obj.area
        assert abs(max(o.box[2], o.box[3]) / o.width - 0.85) <= 0.01
    # full frame, one object each: the other one is cleared
    first, second = render.render(np.dstack([rgb, alpha]), PRESETS["transparent-png"], split=True)
    a1 = np.asarray(Image.open(io.BytesIO(first.data)))[..., 3]
    b = objs[1].box
    assert a1[b.y0:b.y1, b.x0:b.x1].max() == 0 and render.product_box(a1) == objs[0].box
    assert len(render.split_objects(names["03-buttons-wood.jpg"])[0]) == 3


def test_split_floor_drops_specks():
    alpha = np.zeros((300, 400), np.uint8)
    alpha[100:140, 100:140] = 255
    alpha[10:13, 10:13] = 255  # 9 px: a speck
    objs, labels = render.split_objects(alpha)
    assert len(objs) == 1 and (labels[100:140, 100:140] == objs[0].label).all()
    assert len(objs) == 1 and objs[0].box == render.Box(100, 100, 140, 140) and objs[0].area == 1600
