"""One cut-out's outputs under a list of profiles: what the engine is asked for, and what is made
from its result. Shared by `smallcut cutout` and the queue's pipeline; no I/O.

The engine's own output (the `default` profile, honouring mask_only / bg_color) goes out unchanged;
any other profile renders from the engine's transparent RGBA (workers/render.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

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


def make(result: CutoutResult, options: CutoutOptions, profiles: list[Profile], split: bool = False,
         icc: bytes | None = None) -> list[render.Rendered]:
    """The outputs of `result` (made with engine_options(options, profiles, split)) for each profile."""
    if only_default(profiles, split):
        return [render.Rendered(p, result.png, result.width, result.height) for p in profiles]
    transparent = engine_options(options, profiles, split) == options
    rgba = render.decode_rgba(result.png)
    out: list[render.Rendered] = []
    for p in profiles:
        if p.name == DEFAULT and not split and transparent:
            out.append(render.Rendered(p, result.png, result.width, result.height))
            continue
        # the default profile's outputs keep the engine's look: no ICC, as before profiles
        shaped = legacy_profile(options) if p.name == DEFAULT else p
        for r in render.render(rgba, shaped, None if p.name == DEFAULT else icc, split=split):
            r.profile = p
            out.append(r)
    return out


class Plan:
    """A job's outputs: its profiles, whether frames split into objects, the engine's options, and the
    key and fingerprint of each output (what the pipeline checks for idempotency and uploads)."""

    def __init__(self, job_options: dict | None, options: CutoutOptions, default_profiles: list[str] | None = None):
        from smallcut.profiles import for_job

        self.profiles, self.split = for_job(job_options, default_profiles)
        self.options = options
        self.run_options = engine_options(options, self.profiles, self.split)

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
