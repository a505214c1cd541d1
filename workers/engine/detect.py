"""Detection: where in the frame the small, faint or hidden objects are, from the coarse map.

A cascade: a frame dominated by one large confident object keeps the one-pass plan; otherwise a
tiled pass over the frame (or, on a textured surface that lights the network up everywhere, the
colours the frame hardly has) finds candidates, which `roi.propose` turns into boxes to zoom on.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from . import gate, roi, texture, tiling
from .config import EngineConfig
from .labelling import components_with_stats
from .net import SaliencyNet
from .resample import resize

# Rare-colour blobs enter the detection map at this level: above the proposal thresholds, so they
# are proposed, but under `beside_large_min_peak`, so a colour alone never makes a "sure" object.
RARE_LEVEL = 0.6
# The network's coarse map above this is "sure": on a textured surface only that part is kept
# beside the colours (the flood's soft fringe is texture too).
SURE_LEVEL = 0.5


@dataclass
class Detection:
    """What the zooms start from."""

    coarse: np.ndarray  # the coarse map, with blobs that are a textured surface taken out
    candidates: list[roi.Candidate]  # small blobs to zoom on, in frame coordinates
    labels: np.ndarray  # the detection map's label image (each candidate's pixels carry its label)
    tiled: bool  # the tiled (or colour) detection pass ran: the frame holds no large confident object
    rare_table: np.ndarray | None = None  # the frame's rare colour bins, when they were computed


@dataclass
class _Maps:
    detect: np.ndarray  # the map candidates are proposed on
    rare: np.ndarray | None = None  # rare-colour blobs at the detection map's size (tiled pass only)
    support: np.ndarray | None = None  # the coarse map at that size (tiled pass only)
    table: np.ndarray | None = None


def detect(net: SaliencyNet, rgb: np.ndarray, coarse: np.ndarray, view: np.ndarray | None, cfg: EngineConfig) -> Detection:
    """Candidates for zooms. `view`: the frame as the coarse pass saw it (None when a batch made the
    coarse map)."""
    h, w = rgb.shape[:2]
    if view is None:
        view = resize(rgb, coarse.shape[::-1])  # once, for the flood test and the gate
    flood = texture_flood(rgb, coarse, view, cfg)
    if flood is not None:
        coarse = np.where(flood, 0.0, coarse).astype(np.float32)
    tiled = flood is not None or needs_detection(coarse, (w, h), cfg, view)
    side = cfg.detect_side / max(h, w)
    at_detect = None
    if flood is not None or (tiled and (cfg.rare_colours or cfg.skip_calm_tiles)):
        # the frame at the detection map's size, made once for the rare colours and the tiles' calm check
        at_detect = resize(rgb, (max(1, round(w * side)), max(1, round(h * side))))
    if flood is not None:
        maps = _colour_maps(coarse, at_detect, cfg.rare_ratio)
    elif tiled:
        maps = _tiled_maps(net, rgb, coarse, at_detect, side, cfg)
    else:
        maps = _Maps(coarse)
    candidates, large, labels = roi.propose(maps.detect, (w, h), cfg.thresholds, cfg.small_box_frac)
    if maps.rare is not None and cfg.unswallow_rare:
        # a softly lit-up surface joins everything into one frame-sized blob: rare colours it
        # swallowed where the network was unsure are objects of their own
        candidates = roi.add_absorbed(maps.rare, maps.support, candidates, large, labels, (w, h), cfg.small_box_frac)
    return Detection(coarse, candidates, labels, tiled, maps.table)


def _colour_maps(coarse: np.ndarray, at_detect: np.ndarray, rare_ratio: float) -> _Maps:
    """On a textured surface the network sees texture at every scale (tiles flood too): the
    colours find the objects, beside what the network is sure of."""
    sure = np.where(coarse > SURE_LEVEL, coarse, 0.0)
    blobs, table = rare_colour_map(at_detect, rare_ratio)
    return _Maps(np.maximum(blobs, cv2.resize(sure, at_detect.shape[1::-1], interpolation=cv2.INTER_LINEAR)), table=table)


def _tiled_maps(net: SaliencyNet, rgb: np.ndarray, coarse: np.ndarray, at_detect: np.ndarray | None, side: float,
                cfg: EngineConfig) -> _Maps:
    tiles = tiled_detection(net, rgb, at_detect if side <= 1 else None, cfg)  # edges are never upscaled
    support = cv2.resize(coarse, tiles.shape[::-1], interpolation=cv2.INTER_LINEAR)
    found = np.maximum(tiles, support)
    if not cfg.rare_colours:
        return _Maps(found, support=support)
    # objects the tiles miss on wood, fabric or a backdrop still have colours the frame hardly has
    rare, table = rare_colour_map(at_detect, cfg.rare_ratio)
    return _Maps(np.maximum(found, rare), rare, support, table)


def needs_detection(coarse: np.ndarray, frame: tuple[int, int], cfg: EngineConfig, view: np.ndarray | None = None) -> bool:
    """The cascade's gate: look harder only where the coarse map shows no large, confident object.

    A frame dominated by one big object keeps the one-pass plan (speed, no regression); a frame
    with only small blobs, nothing confident, or a huge frame gets the tiled detection pass. With
    `learned_gate` a frame with a big object gets the pass too when the gate's model (gate.py),
    reading the coarse map and `view` (the frame at the map's size), expects small objects beside it.
    """
    if cfg.detection == "never":
        return False
    if min(frame) < cfg.min_detect_side:
        return False  # slivers and thumbnails: tiles a few pixels thick localise nothing
    if max(frame) > cfg.tile_above_px or cfg.detection == "always":
        return True
    confident = coarse > 0.5
    if not confident.any() or float(confident.mean()) > cfg.coarse_flood:
        return True  # nothing found, or texture lit up everywhere
    n, _, stats, _ = components_with_stats(confident.astype(np.uint8))
    box_fracs = stats[1:, cv2.CC_STAT_WIDTH] * stats[1:, cv2.CC_STAT_HEIGHT] / float(coarse.size)
    if float(box_fracs.max()) < cfg.gate_box_frac:
        return True
    return cfg.learned_gate > 0 and view is not None and gate.wants_detection(coarse, view, cfg.learned_gate)


def texture_flood(rgb: np.ndarray, coarse: np.ndarray, view: np.ndarray, cfg: EngineConfig) -> np.ndarray | None:
    """The coarse map's blobs that are a textured surface, not a subject (map-sized mask), or None
    (texture.flood_mask). `view`: the frame at the map's size."""
    h, w = rgb.shape[:2]
    if not cfg.texture_floods or min(h, w) < cfg.min_detect_side:
        return None
    colours = texture.colour_index(view)
    mask = texture.flood_mask(coarse, colours, cfg.large_box_frac, cfg.min_homogeneity, cfg.min_similarity, cfg.max_outline,
                              cfg.min_stripes)
    return mask if mask.any() else None


def rare_colour_map(at_detect: np.ndarray, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Map (0 / RARE_LEVEL) of colours the frame hardly has, closed into object blobs, at the size of
    `at_detect` (the frame at the detection map's size), and which colour bins those are. `ratio`:
    how much rarer than the median pixel's colour."""
    idx = texture.smoothed_colour_index(at_detect)
    table = texture.rare_table(idx, ratio)
    rare = texture.rare_colours(idx, table=table)
    return texture.object_blobs(rare).astype(np.float32) * RARE_LEVEL, table


def tiled_detection(net: SaliencyNet, rgb: np.ndarray, at_detect: np.ndarray | None, cfg: EngineConfig) -> np.ndarray:
    """A grid of `detect_tile`² passes over the frame, stitched with overlap blending, at `detect_side` max side.

    In a tile a small object competes with fewer others and is several times larger relative to the
    view, so objects far under 1 % of the frame, lost in the whole-frame pass, are found
    (docs/engine.md).
    """
    h, w = rgb.shape[:2]
    edges = None
    if cfg.skip_calm_tiles:  # edges at the detection map's scale, never upscaled (`at_detect` is that view when given)
        edges = tiling.edge_strength(at_detect) if at_detect is not None else tiling.edge_strength_at(rgb, cfg.detect_side)
    return tiling.tiled_predict(
        net, rgb, grid=tiling.grid_for(h, w, cfg.tile_grid_max), size=cfg.detect_tile, out_scale=cfg.detect_side / max(h, w),
        flood=cfg.tile_flood, edges=edges, calm_level=cfg.calm_edge,
    )
