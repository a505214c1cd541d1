"""The engine's tuning knobs, grouped by the part of the plan that reads them.

`EngineConfig` is all groups in one flat, frozen dataclass (each group is a base class): a knob is
`config.<name>` and `dataclasses.replace(config, name=...)` wherever it lives, the output fingerprint
covers every knob, and a step can declare the one group it reads. Defaults were chosen on ECSSD
0001-0800 and the synthetic development sets; docs/engine.md gives the measurements behind them.
"""

from __future__ import annotations

from dataclasses import dataclass

from smallcut.settings import POST_STEPS


@dataclass(frozen=True)
class DetectionKnobs:
    """The coarse pass and where the engine looks harder (tiled detection, proposals)."""

    coarse_size: int = 320  # the network's trained size: large objects keep rembg's exact path
    thresholds: tuple[float, ...] = (0.15,)  # blob levels of the detection map (more levels cost time and found nothing more)
    small_box_frac: float = 0.12  # candidate boxes below this share of the frame get a zoomed pass
    tile_above_px: int = 3000  # frames with a longer side get a tiled detection pass
    large_box_frac: float = 0.12  # a confident blob with a box this big is a subject (or, when it matches the surface, a texture flood)
    gate_box_frac: float = 0.12  # the detection pass is skipped when a confident blob's box covers this share of the frame
    learned_gate: float = 0.5  # beside a large blob the gate's model (gate.py) runs the pass anyway above this probability; 0: off
    detection: str = "auto"  # "always": the tiled detection pass on every frame, large subject or not; "never": on none
    detect_side: int = 640  # long side of the detection map
    min_detect_side: int = 64  # frames thinner than this never get the tiled pass
    coarse_flood: float = 0.7  # whole-frame map more salient than this: it localises nothing either
    tile_flood: float = 0.35  # a detection tile more salient than this share localises nothing
    skip_calm_tiles: bool = True  # detection tiles of plain backdrop (no colour edge above calm_edge) are not run
    calm_edge: float = 30.0  # Sobel magnitude in Lab at the detection map's scale (a step of ≈ 7 levels)
    tile_grid_max: int = 3
    detect_tile: int = 256  # side of each detection tile's pass: as good as the trained size on small objects, cheaper


@dataclass(frozen=True)
class TextureKnobs:
    """Telling a textured surface from a subject, and finding objects by the colours a frame hardly has."""

    texture_floods: bool = True  # large blobs that are texture (wood grain) dropped; objects found by rare colours
    max_outline: float = 40.0  # a large blob with a longer outline (boundary px / sqrt(area)) is a pattern; 0: off
    min_stripes: int = 0  # this many thin large blobs (under 20 % of their box), or thin bands across the frame, are a fabric's stripes; 0: off (retired: it changed no frame of catalog-judge, synth-eval, ECSSD 0801-1000 or catalog-tune 240-299; 3 catches synth-dev's stripe floods)
    min_homogeneity: float = 0.90  # a frame this uniform in colour (cells vs frame) may be one textured surface (photos with a subject are less uniform)
    min_similarity: float = 0.8  # ... and a blob whose colours match its surroundings' this much is that surface
    rare_ratio: float = 0.02  # colours this much rarer than the median pixel's are candidate objects
    rare_colours: bool = True  # rare colours join the tiles' candidates wherever the detection pass runs
    rare_parts: bool = True  # an accepted zoom gains the rare-colour parts joined to it that it left out (each within the crop)
    unswallow_rare: bool = True  # rare-colour blobs a softly flooded large blob swallowed are zoomed on their own


@dataclass(frozen=True)
class ZoomKnobs:
    """Which candidates get a zoomed pass, how crops are formed, and when a zoom is believed."""

    max_rois: int = 8
    beside_large_min_peak: float = 0.8  # blobs zoomed beside a large object need this coarse peak
    roi_margin: float = 0.45
    merge_max_ratio: float = 2.0  # crops differing more in area keep their own zooms (a tiny one is as small in the union's zoom as in the frame)
    zoom_sizes: tuple[int, ...] = (160, 224)
    accept_score: float = 0.35  # zoom_score a zoom needs, when no learned judge is shipped (or it is off)
    learned_zoom_accept: bool = False  # the zoom judge (zoom_judge.py) decides instead, with its trained weights; off until it beats zoom_score (docs/benchmarks.md)
    zoom_accept_p: float = 0.5  # its probability a zoom needs
    split_merged: bool = True  # a merged crop whose zoom is rejected: its sure members (peak >= beside_large_min_peak) zoomed one by one
    split_below: float = 0.5  # ... and so is one accepted with a score under this (its members came out faint); 0: off
    keep_sure_members: bool = True  # a rejected merged crop leaves the coarse map of its sure members too large to zoom alone (not cut by the frame's edge)
    widen_rejected: float = 2.0  # a rejected crop around a blob of coarse peak >= widen_min_peak is zoomed again this many times wider (the blob was part of a larger object: a ring's lit arc); 0: off
    widen_min_peak: float = 0.5  # (0.3 changed nothing on catalog-tune 240-299; higher peaks cost fewer passes)
    widen_max: int = 2  # at most this many crops widened per frame, the likeliest candidates' (1 lost a catalog-tune object, 8 gained nothing more)


@dataclass(frozen=True)
class PostKnobs:
    """Post-processing: decisions at a working size, edges at full resolution."""

    work_side: int = 768  # post-processing decisions run at this size; edges at full resolution
    fine_holes_below: float = 0.05  # objects under this share of the frame get background holes opened at full resolution too; 0: off
    small_edge_radius: int = 2  # guided-filter radius at the edges of small objects (thin parts); 0: the frame's radius everywhere
    post_steps: tuple[str, ...] = POST_STEPS  # which post-processing steps run (when post-processing is on)
    learned_holes: float = 0.0  # open-holes also opens the regions the hole classifier (holes.py) calls backdrop with more than this probability; 0: off (no gain on catalog-tune: docs/benchmarks.md)


@dataclass(frozen=True)
class ShadowKnobs:
    """The object-vs-backdrop step (shadows and reflections are backdrop) and the kept shadow layer."""

    shadow_side: int = 512  # the object-vs-backdrop classifier runs on the lit-up region at most this long
    shadow_gate: tuple[float, float] = (0.05, 0.3)  # classifier P(object): under the first the network's value goes, over the second it stays; low, since eating an object costs more than keeping some shadow
    shadow_holes_below: float = 0.05  # the step opens holes only in objects whose foreground stays under this share of the frame; 1: in any
    shadow_clear_below: float = 0.5  # a pixel the classifier lowered that ends under this goes to 0: no faint grey film where a shadow was (its soft edge is the guided filter's to make); 0: off
    shadow_rounds: int = 1  # passes of the classifier, each on the previous one's map (it was trained on one)
    shadow_reach: float = 0.25  # a kept shadow layer reaches this share of the objects' size beyond them
    shadow_region_gate: float = 0.0  # the step's answer is used in a region only where the region gate (shadow_gate.py) gives it more than this probability of helping; 0: everywhere


@dataclass(frozen=True)
class OutputKnobs:
    """Input limits and the encoded output."""

    png_encoder: str = "fpng"
    max_pixels: int = 120_000_000


@dataclass(frozen=True)
class LargeFrameKnobs:
    """Frames too large for full-resolution float maps (large.py)."""

    # above this many pixels the plan runs on a reduced copy and the output is built band by band
    # (bounded memory); below it nothing changes. 16 MP: the largest common camera frames stay on
    # the full-resolution path
    large_above_px: int = 16_000_000  # 0: never
    large_work_side: int = 4096  # long side of the reduced copy (the plan then costs what a 12 MP frame costs)


@dataclass(frozen=True)
class EngineConfig(LargeFrameKnobs, OutputKnobs, ShadowKnobs, PostKnobs, ZoomKnobs, TextureKnobs, DetectionKnobs):
    """Every tuning knob of the inference plan (the groups above, flat)."""
