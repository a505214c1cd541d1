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
