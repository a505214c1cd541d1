"""One cut-out's outputs under a list of profiles: what the engine is asked for, and what is made
from its result. Shared by `smallcut cutout` and the queue's pipeline; no I/O.

The engine's own output (the `default` profile, honouring mask_only / bg_color) goes out unchanged;
any other profile renders from the engine's transparent RGBA (workers/render.py), taken as pixels
(`cutout_pixels`: the engine's public decode, matte and compose, no full-frame RGBA PNG made and read
back; a `zip` never has one) or, after a batched GPU run, decoded from its PNG.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from smallcut.options import color_hex
from smallcut.profiles import DEFAULT, PRESETS, Profile

from . import render

if TYPE_CHECKING:
    from workers.engine import CutoutOptions, CutoutResult


def only_default(profiles: list[Profile], split: bool) -> bool:
    """Today's single output at today's key: the engine's bytes, nothing to render."""
    return not split and all(p.name == DEFAULT for p in profiles)


def engine_options(options: CutoutOptions, profiles: list[Profile], split: bool) -> CutoutOptions:
    """What the engine runs with: the job's options, or transparent RGBA when profiles render from it."""
    if only_default(profiles, split):
        return options
    return replace(options, bg_color=None, mask_only=False)


def legacy_profile(options: CutoutOptions) -> Profile:
    """The default profile as the job's options shape it (a mask, or a flat colour)."""
    return PRESETS[DEFAULT].model_copy(update={
        "channels": "alpha" if options.mask_only else "rgba",
        "bg_color": color_hex(options.bg_color) if options.bg_color and not options.mask_only else None})


@dataclass
class Pixels:
    """A cut-out as pixels: the engine's CutoutResult (its stats; `png` empty) and its RGBA."""

    result: CutoutResult
    rgba: np.ndarray


def cutout(engine, data: bytes, options: CutoutOptions, plan: Plan) -> tuple[CutoutResult, list[render.Rendered]]:
    """One input's cut-out and the outputs of the plan's profiles (rendered where it runs, so that only
    their bytes wait for the upload, not a frame of pixels). `options`: the job's (plan.options)."""
    if plan.only_default:
        result = engine.cutout(data, plan.run_options)
        return result, make(result, options, plan.profiles)
    px = cutout_pixels(engine, data, options)
    return px.result, _timed(px, options, plan, data)


def from_result(result: CutoutResult, options: CutoutOptions, plan: Plan, data: bytes) -> list[render.Rendered]:
    """The outputs of an Engine.cutout / cutout_many result made with plan.run_options (its PNG)."""
    if plan.only_default:
        return make(result, options, plan.profiles)
    return _timed(result, options, plan, data)


def _timed(result: CutoutResult | Pixels, options: CutoutOptions, plan: Plan, data: bytes) -> list[render.Rendered]:
    """make(), timed as the result's `render` stage."""
    t0 = time.perf_counter()
    made = make(result, options, plan.profiles, plan.split, render.icc_profile(data))
    stats = result.result if isinstance(result, Pixels) else result
    stats.timings["render"] = (time.perf_counter() - t0) * 1000
    return made


def cutout_pixels(engine, data: bytes, options: CutoutOptions) -> Pixels:
    """The engine's transparent RGBA of `data` (Engine.cutout_pixels: as Engine.cutout makes it but
    without the PNG encode): profiles encode what they need themselves. A frame the engine takes on
    its large path (bounded memory, band by band) goes through Engine.cutout itself, and its PNG is
    read back."""
    options = replace(options, bg_color=None, mask_only=False)
    made = engine.cutout_pixels(data, options)
    if made is None:
        result = engine.cutout(data, options)
        return Pixels(result, render.decode_rgba(result.png))
    return Pixels(*made)


def make(result: CutoutResult | Pixels, options: CutoutOptions, profiles: list[Profile], split: bool = False,
         icc: bytes | None = None) -> list[render.Rendered]:
    """The outputs of `result` (made with engine_options(options, profiles, split), as a PNG or as
    pixels) for each profile."""
    if only_default(profiles, split) and not isinstance(result, Pixels):
        return [render.Rendered(p, result.png, result.width, result.height) for p in profiles]
    transparent = engine_options(options, profiles, split) == options
    if isinstance(result, Pixels):
        rgba, result = result.rgba, result.result
    else:
        rgba = render.decode_rgba(result.png)
    out: list[render.Rendered] = []
    for p in profiles:
        if p.name == DEFAULT and not split:
            # the engine's own output for the job's options, made from its transparent RGBA as its
            # compose makes it (a flattened frame stays RGBA with its alpha, a mask stays one channel)
            png = result.png if transparent else b""
            out.append(render.Rendered(p, png or render.encode_png(_as_engine_output(rgba, options)),
                                       result.width, result.height))
            continue
        # the default profile's split outputs keep the engine's look: no ICC, as before profiles
        shaped = legacy_profile(options) if p.name == DEFAULT else p
        for r in render.render(rgba, shaped, None if p.name == DEFAULT else icc, split=split):
            r.profile = p
            out.append(r)
    return out


def _as_engine_output(rgba: np.ndarray, options: CutoutOptions) -> np.ndarray:
    """What Engine.cutout returns for `options`, from its transparent RGBA (bleed and any kept shadow
    already in it): the mask, the frame flattened on bg_color, or the RGBA itself."""
    from workers.engine.compose import flatten

    if options.mask_only:
        return np.ascontiguousarray(rgba[..., 3])
    if options.bg_color is not None:
        return flatten(rgba[..., :3], rgba[..., 3], options.bg_color)
    return rgba


class Plan:
    """A job's outputs: its profiles, whether frames split into objects, the engine's options, and the
    key and fingerprint of each output (what the pipeline checks for idempotency and uploads)."""

    def __init__(self, profiles: list[Profile], split: bool, options: CutoutOptions):
        self.profiles, self.split, self.options = profiles, split, options
        self.run_options = engine_options(options, self.profiles, self.split)

    @classmethod
    def for_job(cls, job_options: dict | None, options: CutoutOptions, default_profiles: list[str] | None = None) -> Plan:
        """A queued job's plan: its options' profiles, else the worker's SMALLCUT_PROFILES."""
        from smallcut.profiles import for_job

        return cls(*for_job(job_options, default_profiles), options)

    @property
    def only_default(self) -> bool:
        return only_default(self.profiles, self.split)

    def key(self, key: str, out_prefix: str, in_prefix: str, profile: Profile, obj: int | None = None) -> str:
        from smallcut.profiles import output_key

        return output_key(key, out_prefix, in_prefix, profile, obj)

    def primary_key(self, key: str, out_prefix: str, in_prefix: str) -> str:
        """The output the status names first: the first profile's (a split frame's first object's);
        a zip (no preview) only when every profile is one."""
        shown = next((p for p in self.profiles if p.format != "zip"), self.profiles[0])
        return self.key(key, out_prefix, in_prefix, shown, 1 if self.split else None)

    def check_keys(self, key: str, out_prefix: str, in_prefix: str) -> list[tuple[str, Profile]]:
        """Outputs that must all be current for a key to be skipped; a split frame's first object
        stands for its others (one cut-out makes them all, from one fingerprint)."""
        return [(self.key(key, out_prefix, in_prefix, p, 1 if self.split else None), p) for p in self.profiles]

    def fingerprint(self, engine_fingerprint: str, profile: Profile, obj: int | None = None) -> str:
        from smallcut.profiles import fingerprint

        return fingerprint(engine_fingerprint, profile, 1 if self.split and obj is None else obj)


def describe(out: render.Rendered, url: str) -> dict:
    """One output as the status lists it: where, which profile, its canvas and the product's box on it;
    for an object of a split frame its number, box and area in the input frame."""
    d = {"profile": out.profile.name, "output": url, "bytes": len(out.data), "width": out.width, "height": out.height}
    if out.box is not None:
        d["box"] = out.box
    if out.obj is not None:
        d.update(object=out.obj, source_box=out.source_box, area=out.area)
    return d
