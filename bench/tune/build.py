"""Render and store catalog-tune frames (the on-disk layout of bench.catalog_format)."""

from __future__ import annotations

import argparse
import copy
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from .. import backgrounds, catalog_format, synth
from ..paths import ecssd_dir
from . import effects, surfaces

VERSION = 1  # the generator's draw (its manifest); the files' format is catalog_format.FORMAT_VERSION
SEED = 20261205
DEV_IDS = list(range(1, 801))  # ECSSD's development half only
FRAMES = ((1600, 1200), (2000, 1500), (1200, 1600), (1500, 1500))
# backdrop -> weight; "photo" is a whole ECSSD development photo (its own subject counts as background)
BACKDROPS = {"gradient": 5, "paper": 3, "fabric": 2, "wood": 2, "stone": 2, "tiles": 2, "knit": 1, "print": 1, "gloss": 2, "photo": 1}
# Draw 2 (set catalog-tune2) adds what draw 1 lacks of a studio: neutral light sweeps, and deeper
# shadows under a key light with little fill. Draw 1 stays the tuning check (frames 240-299).
# Draw 3 (catalog-tune3) is draw 2 with veined stone, where dark small objects sit among dark veins.
# Draw 4 (catalog-tune4) is draw 3 under hard light: nearly every frame shadowed, each product with
# an occlusion line along its base, a long cast shadow, often a second light's shadow or a halo
# (effects.hard_light_shadows): draws 1-3's shadows were too easy to choose a shadow trade on.
# Draw 5 (catalog-tune5) is draw 4 with a third of the products in dark materials (black straps,
# dark plastic: effects.dark_material), flat and dark like the shadows beside them.
DRAWS = {1: {"backdrops": BACKDROPS, "deep_shadows": False},
         2: {"backdrops": {"studio": 4, **BACKDROPS}, "deep_shadows": True},
         3: {"backdrops": {"veined": 8, "studio": 4, **BACKDROPS}, "deep_shadows": True},
         4: {"backdrops": {"veined": 8, "studio": 4, **BACKDROPS}, "deep_shadows": True, "hard_light": True},
         5: {"backdrops": {"veined": 8, "studio": 4, **BACKDROPS}, "deep_shadows": True, "hard_light": True, "dark_goods": 0.35}}


def set_name(draw: int = 1) -> str:
    return "catalog-tune" if draw == 1 else f"catalog-tune{draw}"


def _backdrop(rng: np.random.Generator, W: int, H: int, backdrops: dict[str, int]) -> tuple[np.ndarray, dict]:
    kinds = list(backdrops)
    p = np.array([backdrops[k] for k in kinds], float)
    kind = kinds[int(rng.choice(len(kinds), p=p / p.sum()))]
    if kind == "photo":
        n = DEV_IDS[int(rng.integers(len(DEV_IDS)))]
        return backgrounds.photo(ecssd_dir() / "images" / f"{n:04d}.jpg", W, H, float(rng.choice([0.0, 2.0, 5.0]))), {"kind": kind, "ecssd_id": n}
    if kind in backgrounds.TEXTURES:
        return backgrounds.texture(kind, rng, W, H), {"kind": kind}
    return surfaces.SURFACES[kind](rng, W, H), {"kind": kind}


def _targets(rng: np.random.Generator, frame_px: float) -> list[float]:
    count = int(rng.integers(1, 5))
    t = list(np.exp(rng.uniform(np.log(0.0006), np.log(0.045), count)) * frame_px)
    if rng.random() < 0.2:
        t[0] = rng.uniform(0.05, 0.25) * frame_px  # one large product
    return sorted(t, reverse=True)


def render(index: int, seed: int = SEED, with_ecssd: bool = True, draw: int = 1):
    """Frame `index` of draw `draw`: (RGB uint8 after the camera, alpha uint8, shadow uint8, meta). JPEG not applied."""
    return render_with_twin(index, seed, with_ecssd, draw, twin=False)[0]


def render_with_twin(index: int, seed: int = SEED, with_ecssd: bool = True, draw: int = 1, twin: bool = True) -> list[tuple]:
    """[frame] or, when it has a shadow or a reflection and `twin`, [frame, its clean twin]: the same
    products, backdrop and camera (the same draws of cast, vignette, defocus and noise) without the
    shadows and reflections, named NAME-clean. The frame itself is `render`'s, pixel for pixel: the
    twin takes no draw from the frame's generator, so adding twins leaves every frame as it was."""
    look = DRAWS[draw]
    rng = np.random.default_rng([seed, index])
    W, H = FRAMES[int(rng.integers(len(FRAMES)))]
    frame_px = float(W * H)
    bg, bg_meta = _backdrop(rng, W, H, look["backdrops"]) if with_ecssd else (surfaces.paper(rng, W, H), {"kind": "paper"})
    fg = np.zeros((H, W, 3), np.float32)
    alpha = np.zeros((H, W), np.float32)
    atten = np.zeros((H, W), np.float32)
    refl_col = np.zeros((H, W, 3), np.float32)
    refl_op = np.zeros((H, W), np.float32)
    boxes, objects, fx = [], [], set()
    glossy = bg_meta["kind"] in surfaces.GLOSSY or rng.random() < 0.08
    shadowed = rng.random() < (0.95 if look.get("hard_light") else 0.75)
    for target in _targets(rng, frame_px):
        layer = pos = None
        max_side = int(0.8 * min(W, H)) if target > 0.05 * frame_px else int(synth.MAX_SIDE_FRAC * min(W, H))
        for _ in range(5):
            if with_ecssd and (rng.random() < 0.5 or target > 0.05 * frame_px):
                layer = synth._ecssd_object(rng, DEV_IDS, target, max_side)
            else:
                layer = synth._procedural(rng, target, max_side)
            lh, lw = layer.alpha.shape
            pos = synth._place(rng, boxes, lw, lh, W, H)
            if pos is not None:
                break
            layer, target = None, target * 0.6
        if layer is None:
            continue
        if "dark_goods" in look and rng.random() < look["dark_goods"]:  # no draw taken in draws 1-4
            layer = replace(layer, rgb=effects.dark_material(rng, layer.rgb, layer.alpha))
        x, y = pos
        lh, lw = layer.alpha.shape
        a = np.zeros((H, W), np.float32)
        a[y : y + lh, x : x + lw] = layer.alpha / 255.0
        f = np.zeros((H, W, 3), np.float32)
        f[y : y + lh, x : x + lw] = layer.rgb
        box = (x, y, lw, lh)
        if shadowed:
            if look.get("hard_light"):
                s, kinds = effects.hard_light_shadows(rng, a, box)
            else:
                s, kind = effects.object_shadow(rng, a, box, deep=look["deep_shadows"])
                kinds = [kind]
            atten = 1 - (1 - atten) * (1 - s)
            fx.update(f"{k}-shadow" for k in kinds)
        if glossy:
            c, o = effects.reflection(rng, f, a, box)
            refl_col = refl_col * (1 - o[..., None]) + c * o[..., None]
            refl_op = 1 - (1 - refl_op) * (1 - o)
            fx.add("reflection")
        fg = fg * (1 - a[..., None]) + f * a[..., None]
        alpha = np.maximum(alpha, a)
        boxes.append(box)
        objects.append({"id": len(objects) + 1, "kind": layer.meta["kind"], "bbox": [x, y, lw, lh],
                        "area_frac": float(layer.alpha.sum()) / 255.0 / frame_px, "pair": False})
    back = bg.astype(np.float32)
    if atten.any():
        back = effects.apply_shadows(back, atten, rng)
    if refl_op.any():
        back = back * (1 - refl_op[..., None]) + refl_col * refl_op[..., None]
    img = fg * alpha[..., None] + back * (1 - alpha[..., None])
    affected = np.maximum(atten, refl_op)
    twin = twin and bool(affected.any())
    if twin:
        clean = fg * alpha[..., None] + bg.astype(np.float32) * (1 - alpha[..., None])
        camera_rng = copy.deepcopy(rng)  # the twin's camera: the frame's draws, none taken from it
    img, cam = effects.camera(rng, img)
    a8 = np.round(alpha * 255).astype(np.uint8)
    shadow = np.clip(affected * (255 / 0.08), 0, 255).astype(np.uint8)
    shadow[a8 > 0] = 0
    quality = int(rng.integers(60, 96))
    name = f"tune-{index:04d}"
    meta = {"version": catalog_format.FORMAT_VERSION, "family": "catalog-tune", "name": name, "size": [W, H], "background": bg_meta,
            "effects": sorted(fx | set(cam) | {"jpeg"}), "jpeg_quality": quality, "twin": f"{name}-clean" if twin else None, "twin_of": None,
            "objects": objects}
    frames = [(np.round(img).astype(np.uint8), a8, shadow, meta)]
    if twin:
        clean, clean_cam = effects.camera(camera_rng, clean)
        clean_meta = {**meta, "name": f"{name}-clean", "effects": sorted(set(clean_cam) | {"jpeg"}), "twin": None, "twin_of": name}
        frames.append((np.round(clean).astype(np.uint8), a8, np.zeros_like(shadow), clean_meta))
    return frames


def set_dir(name: str = "catalog-tune") -> Path:
    return catalog_format.set_dir(name)


def _one(args) -> str:
    d, i, seed, draw = args
    # the twin first: a frame whose JSON exists is complete
    for rgb, a, s, meta in reversed(render_with_twin(i, seed, draw=draw)):
        catalog_format.write_sample(Path(d), meta["name"], rgb, a, s, meta)
    return meta["name"]


def build_set(d: Path | None = None, n: int = 200, seed: int = SEED, workers: int | None = None, draw: int = 1) -> Path:
    """Render the missing frames of the set, at least `n` and at least as many as it had (all of them
    when VERSION, the seed, the draw or the twins changed)."""
    d = d or set_dir(set_name(draw))
    manifest = d / "manifest.json"
    old = json.loads(manifest.read_text()) if manifest.exists() else {}
    # a smaller request, or a redraw, keeps the set's size: a check of frames 240-299 must not find
    # a set cut back to the default 200
    n = max(n, old.get("count", 0))
    # "twins": sets drawn before the frames had clean twins are drawn again (the frames come out the same)
    want = {"version": VERSION, "seed": seed, "family": "catalog-tune", "twins": True, **({"draw": draw} if draw != 1 else {})}
    if manifest.exists() and any(old.get(k) != v for k, v in want.items()):
        shutil.rmtree(d)
    d.mkdir(parents=True, exist_ok=True)
    todo = [(str(d), i, seed, draw) for i in range(n) if not (d / f"tune-{i:04d}.json").exists()]
    if todo:
        synth.run_jobs(_one, todo, workers)
    catalog_format.write_atomic(manifest, json.dumps({**want, "count": n}).encode())
    return d


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.tune", description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--draw", type=int, default=1, choices=sorted(DRAWS), help="2: set catalog-tune2, studio sweeps and deeper shadows; 3: catalog-tune3, also veined stone; 4: catalog-tune4, also hard light; 5: catalog-tune5, also dark products (training only)")
    args = ap.parse_args(argv)
    d = build_set(n=args.n, draw=args.draw)
    print(f"{args.n} frames in {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
