"""Summaries of a quality run: per-bucket tables, a bar chart and a contact sheet of the worst cases."""

from __future__ import annotations

import heapq
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from .metrics import BUCKETS

HIT_IOU = 0.5
MISS_RECALL = 0.1  # an object with less of its area found than this was not localised at all


def _mean(xs: list[float]) -> float | None:
    return float(np.mean(xs)) if xs else None


NOT_PHOTO = "all but photos"


def _by_size(objs: list[dict]) -> dict:
    """Mean IoU and hit rate per size bucket."""
    out = {}
    for label, *_ in BUCKETS:
        sel = [o for o in objs if o["bucket"] == label]
        if sel:
            out[label] = {"n": len(sel), "iou": _mean([o["iou"] for o in sel]), "hit": _mean([float(o["iou"] > HIT_IOU) for o in sel])}
    return out


SHADOW_EFFECTS = ("contact-shadow", "soft-shadow", "hard-shadow", "reflection")
NO_SHADOW = "no shadow/reflection"
STUDIO = ("sweep", "paper")  # plain studio surfaces, where a shadow is the only thing to get wrong (issue 23's shadow target)


def _effect_order(effects: set[str]) -> list[str]:
    first = [e for e in SHADOW_EFFECTS if e in effects]
    return first + sorted(effects - set(first)) + ([NO_SHADOW] if effects or first else [])


def _has_effect(img: dict, eff: str) -> bool:
    fx = img.get("effects", ())
    return not any(e in SHADOW_EFFECTS for e in fx) if eff == NO_SHADOW else eff in fx


def _shadow_kept(imgs: list[dict]) -> float | None:
    """Mean over the images that have a shadow area of the share of it kept as foreground."""
    return _mean([i["shadow_kept"] for i in imgs if i.get("shadow_kept") is not None])


def twin_pairs(images: list[dict]) -> dict:
    """Frames with shadows or reflections against their clean twins (one method's image records):
    per group (all, studio backdrops, each backdrop kind) the pairs' mean image IoU and mean object
    IoU with and without the shadows."""
    by_name = {i["name"]: i for i in images if "name" in i}
    pairs = [(by_name[i["twin_of"]], i) for i in images if i.get("twin_of") and i["twin_of"] in by_name]
    if not pairs:
        return {}
    groups = {"all": pairs, "studio (" + "/".join(STUDIO) + ")": [p for p in pairs if p[0]["background"] in STUDIO]}
    for bg in sorted({p[0]["background"] for p in pairs}):
        groups[bg] = [p for p in pairs if p[0]["background"] == bg]
    out = {}
    for g, sel in groups.items():
        if sel:
            out[g] = {
                "pairs": len(sel),
                "iou_shadow": _mean([a["iou"] for a, _ in sel]),
                "iou_clean": _mean([b["iou"] for _, b in sel]),
                "obj_iou_shadow": _mean([a["obj_iou"] for a, _ in sel if a.get("obj_iou") is not None]),
                "obj_iou_clean": _mean([b["obj_iou"] for _, b in sel if b.get("obj_iou") is not None]),
                "shadow_kept": _shadow_kept([a for a, _ in sel]),
            }
    return out


def summarize(objects: list[dict], images: list[dict], methods: list[str]) -> dict:
    """Per method: per size bucket (and all) the mean IoU, hit rate, MAE, boundary F and hole leakage;
    per image: IoU, MAE, false-positive area and blobs, seconds; per background kind."""
    out: dict = {}
    for m in methods:
        all_imgs = [i for i in images if i["method"] == m]
        # clean twins are scored for the paired comparison only: the other tables count each frame once
        objs = [o for o in objects if o["method"] == m and not o.get("twin_of")]
        imgs = [i for i in all_imgs if not i.get("twin_of")]
        by_bucket = {}
        for label in [b[0] for b in BUCKETS] + ["all"]:
            sel = [o for o in objs if label == "all" or o["bucket"] == label]
            if not sel:
                continue
            holes = [o["hole_fg"] for o in sel if o["hole_fg"] is not None]
            found = [o for o in sel if o["recall"] >= MISS_RECALL]
            by_bucket[label] = {
                "n": len(sel),
                "iou": _mean([o["iou"] for o in sel]),
                "hit": _mean([float(o["iou"] > HIT_IOU) for o in sel]),
                # localisation vs mask quality: how many were missed, how good the found ones are
                "miss": _mean([float(o["recall"] < MISS_RECALL) for o in sel]),
                "iou_found": _mean([o["iou"] for o in found]),
                "precision_found": _mean([o["precision"] for o in found]),
                "mae": _mean([o["mae"] for o in sel]),
                "bf": _mean([o["bf"] for o in sel]),
                "recall": _mean([o["recall"] for o in sel]),
                "hole_fg": _mean(holes),
                "n_holes": len(holes),
            }
        by_bg = {}
        for bg in sorted({o["background"] for o in objs}):
            sel = [o for o in objs if o["background"] == bg]
            si = [i for i in imgs if i["background"] == bg]
            by_bg[bg] = {
                "n": len(sel),
                "iou": _mean([o["iou"] for o in sel]),
                "hit": _mean([float(o["iou"] > HIT_IOU) for o in sel]),
                "fp_blobs": _mean([i["fp_blobs"] for i in si]),
                "fp_frac": _mean([i["fp_frac"] for i in si]),
                "shadow_kept": _shadow_kept(si),
            }
        bgs = sorted({o["background"] for o in objs})
        by_bg_size = {bg: _by_size([o for o in objs if o["background"] == bg]) for bg in bgs}
        if "photo" in bgs and len(bgs) > 1:  # the studio and texture scenes a catalog shoot resembles
            by_bg_size[NOT_PHOTO] = _by_size([o for o in objs if o["background"] != "photo"])
        by_kind = {}
        for kind in sorted({o["kind"] for o in objs}):
            sel = [o for o in objs if o["kind"] == kind]
            holes = [o["hole_fg"] for o in sel if o["hole_fg"] is not None]
            by_kind[kind] = {"n": len(sel), "iou": _mean([o["iou"] for o in sel]), "hit": _mean([float(o["iou"] > HIT_IOU) for o in sel]), "hole_fg": _mean(holes)}
        by_effect = {}
        for eff in _effect_order({e for i in imgs for e in i.get("effects", ())}):
            sel_i = [i for i in imgs if _has_effect(i, eff)]
            names = {i["name"] for i in sel_i}
            sel = [o for o in objs if o["name"] in names]
            by_effect[eff] = {"images": len(sel_i), "n": len(sel), "iou": _mean([o["iou"] for o in sel]), "hit": _mean([float(o["iou"] > HIT_IOU) for o in sel]),
                              "image_iou": _mean([i["iou"] for i in sel_i]), "shadow_kept": _shadow_kept(sel_i)}
        computed = [i["seconds"] for i in imgs if not i["cached"]]
        out[m] = {
            "buckets": by_bucket,
            "backgrounds": by_bg,
            "backgrounds_by_size": by_bg_size,
            "kinds": by_kind,
            "effects": by_effect,
            "twins": twin_pairs(all_imgs),
            "images": {
                "n": len(imgs),
                "iou": _mean([i["iou"] for i in imgs]),
                "mae": _mean([i["mae"] for i in imgs]),
                "fp_frac": _mean([i["fp_frac"] for i in imgs]),
                "fp_blobs": _mean([i["fp_blobs"] for i in imgs]),
                "with_fp": _mean([float(i["fp_blobs"] > 0) for i in imgs]),
                "shadow_kept": _shadow_kept(imgs),
                "n_shadow": len([i for i in imgs if i.get("shadow_kept") is not None]),
                "shadow_opacity": _mean([i["shadow_opacity"] for i in imgs if i.get("shadow_opacity") is not None]),
                "sec_per_image": _mean(computed),
                "computed": len(computed),
                "cached": len(imgs) - len(computed),
            },
        }
    return out


def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def tables(summary: dict, title: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) for the object-bucket, image, background and kind tables."""
    out = []
    head = ["method", "bucket", "n", "IoU", "hit", "MAE", "BF", "missed", "IoU found", "prec found", "hole fg (n)"]
    rows = []
    for m, s in summary.items():
        for b, v in s["buckets"].items():
            rows.append(
                [m, b, str(v["n"]), _f(v["iou"]), _f(v["hit"], 2), _f(v["mae"], 4), _f(v["bf"]), _f(v["miss"], 2), _f(v["iou_found"]), _f(v["precision_found"], 2), f"{_f(v['hole_fg'], 2)} ({v['n_holes']})"]
            )
    out.append((f"{title}: per object, by size (object area / frame)", head, rows))
    shadows = any(s["images"].get("n_shadow") for s in summary.values())
    head = ["method", "images", "IoU", "MAE", "FP area %", "FP blobs/img", "imgs with FP", "s/img", "computed/cached"] + (["shadow kept (imgs)", "shadow opacity"] if shadows else [])
    rows = []
    for m, s in summary.items():
        v = s["images"]
        rows.append([m, str(v["n"]), _f(v["iou"]), _f(v["mae"], 4), _f(None if v["fp_frac"] is None else 100 * v["fp_frac"], 3), _f(v["fp_blobs"], 2), _f(v["with_fp"], 2), _f(v["sec_per_image"], 3), f"{v['computed']}/{v['cached']}"]
                    + ([f"{_f(v.get('shadow_kept'), 3)} ({v.get('n_shadow', 0)})", _f(v.get("shadow_opacity"), 3)] if shadows else []))
    out.append((f"{title}: per image", head, rows))
    if any(len(s["backgrounds"]) > 1 for s in summary.values()):
        head = ["method", "background", "objects", "IoU", "hit", "FP blobs/img", "FP area %"] + (["shadow kept"] if shadows else [])
        rows = [[m, bg, str(v["n"]), _f(v["iou"]), _f(v["hit"], 2), _f(v["fp_blobs"], 2), _f(None if v["fp_frac"] is None else 100 * v["fp_frac"], 3)]
                + ([_f(v.get("shadow_kept"), 3)] if shadows else []) for m, s in summary.items() for bg, v in s["backgrounds"].items()]
        out.append((f"{title}: by background", head, rows))
        head = ["background", "bucket", "method", "n", "IoU", "hit"]
        keys = list(dict.fromkeys(bg for s in summary.values() for bg in s["backgrounds_by_size"]))
        rows = [[bg, b, m, str(v["n"]), _f(v["iou"]), _f(v["hit"], 2)]
                for bg in keys for b, *_ in BUCKETS for m, s in summary.items()
                if (v := s["backgrounds_by_size"].get(bg, {}).get(b))]
        out.append((f"{title}: by background and size", head, rows))
    if any(s.get("effects") for s in summary.values()):
        head = ["method", "effect", "images", "objects", "IoU", "hit", "image IoU", "shadow kept"]
        rows = [[m, e, str(v["images"]), str(v["n"]), _f(v["iou"]), _f(v["hit"], 2), _f(v["image_iou"]), _f(v["shadow_kept"], 3)]
                for m, s in summary.items() for e, v in s.get("effects", {}).items()]
        out.append((f"{title}: by effect (objects of frames with it; shadow kept: share of the shadow/reflection area returned as foreground)", head, rows))
    if any(s.get("twins") for s in summary.values()):
        head = ["method", "backdrop", "pairs", "image IoU shadow", "image IoU clean", "delta", "object IoU shadow", "object IoU clean", "delta", "shadow kept"]
        rows = []
        for m, s in summary.items():
            for g, v in s.get("twins", {}).items():
                d_img = None if v["iou_shadow"] is None or v["iou_clean"] is None else v["iou_shadow"] - v["iou_clean"]
                d_obj = None if v["obj_iou_shadow"] is None or v["obj_iou_clean"] is None else v["obj_iou_shadow"] - v["obj_iou_clean"]
                rows.append([m, g, str(v["pairs"]), _f(v["iou_shadow"]), _f(v["iou_clean"]), _f(d_img), _f(v["obj_iou_shadow"]), _f(v["obj_iou_clean"]), _f(d_obj), _f(v["shadow_kept"], 3)])
        out.append((f"{title}: frames with shadows/reflections vs their clean twins", head, rows))
    if any(len(s["kinds"]) > 1 for s in summary.values()):
        head = ["method", "object kind", "n", "IoU", "hit", "hole fg"]
        rows = [[m, k, str(v["n"]), _f(v["iou"]), _f(v["hit"], 2), _f(v["hole_fg"], 2)] for m, s in summary.items() for k, v in s["kinds"].items()]
        out.append((f"{title}: by object kind", head, rows))
    return out


def print_tables(ts: list[tuple[str, list[str], list[list[str]]]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # plain text
        for title, head, rows in ts:
            print(title)
            print(markdown_table(head, rows))
        return
    console = Console(width=140)
    for title, head, rows in ts:
        t = Table(title=title, title_justify="left")
        for h in head:
            t.add_column(h, justify="left" if h in ("method", "bucket", "background", "backdrop", "effect", "object kind") else "right")
        prev = None
        for r in rows:
            if prev is not None and r[0] != prev:
                t.add_section()
            prev = r[0]
            t.add_row(*r)
        console.print(t)


def markdown_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def bar_chart(summary: dict, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = list(summary)
    labels = [b[0] for b in BUCKETS if any(b[0] in summary[m]["buckets"] for m in methods)]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    width = 0.8 / max(1, len(methods))
    for ax, (key, name) in zip(axes, [("iou", "mean IoU"), ("hit", f"hit rate (IoU > {HIT_IOU})"), ("bf", "boundary F")]):
        for k, m in enumerate(methods):
            vals = [summary[m]["buckets"].get(b, {}).get(key) or 0.0 for b in labels]
            x = np.arange(len(labels)) + (k - (len(methods) - 1) / 2) * width
            ax.bar(x, vals, width, label=m)
            for xb, v in zip(x, vals):
                ax.text(xb, v + 0.01, f"{v:.2f}", ha="center", va="bottom", fontsize=7)
        ns = [str(summary[methods[0]]["buckets"].get(b, {}).get("n", 0)) for b in labels]
        ax.set_xticks(np.arange(len(labels)), [f"{b}\n(n={n})" for b, n in zip(labels, ns)])
        ax.set_ylim(0, 1.08)
        ax.set_title(name)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


class WorstCases:
    """Keeps the k lowest-IoU objects per method as small image | gt | prediction | error crops."""

    def __init__(self, k: int = 16, cell: int = 200) -> None:
        self.k, self.cell = k, cell
        self.heaps: dict[str, list] = defaultdict(list)
        self._tie = 0

    def offer(self, method: str, score: float, label: str, rgb: np.ndarray, gt: np.ndarray, pred: np.ndarray, box: tuple[int, int, int, int],
              shadow: np.ndarray | None = None) -> None:
        """`shadow`: the frame's shadow/reflection mask, outlined on the image and coloured in the errors."""
        heap = self.heaps[method]
        if len(heap) >= self.k and -heap[0][0] <= score:
            return
        x0, y0, x1, y1 = box
        crops = self._crops(rgb[y0:y1, x0:x1], gt[y0:y1, x0:x1], pred[y0:y1, x0:x1], None if shadow is None else shadow[y0:y1, x0:x1])
        self._tie += 1
        item = (-score, self._tie, label, crops)
        if len(heap) < self.k:
            heapq.heappush(heap, item)
        else:
            heapq.heapreplace(heap, item)

    def _crops(self, img: np.ndarray, gt: np.ndarray, pred: np.ndarray, shadow: np.ndarray | None = None) -> np.ndarray:
        h, w = gt.shape
        s = self.cell / max(h, w)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        interp = cv2.INTER_NEAREST if s > 1 else cv2.INTER_AREA
        g, p = gt > 127, pred > 127
        err = np.zeros((h, w, 3), np.uint8)
        sh = np.zeros_like(g) if shadow is None else (shadow > 127) & ~g
        err[sh] = (70, 30, 70)  # shadow or reflection, correctly background: dark magenta
        err[g & p] = (200, 200, 200)  # agree: grey
        err[p & ~g] = (230, 40, 40)  # false foreground: red
        err[p & sh] = (255, 60, 255)  # shadow kept as foreground: magenta
        err[g & ~p] = (40, 90, 255)  # missed: blue
        if sh.any():
            img = img.copy()
            cs, _ = cv2.findContours(sh.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(img, cs, -1, (255, 0, 255), max(1, int(round(1 / s))))
        panels = [img, np.repeat(gt[..., None], 3, 2), np.repeat(pred[..., None], 3, 2), err]
        cells = []
        for pnl in panels:
            r = cv2.resize(pnl, size, interpolation=interp)
            cell = np.full((self.cell, self.cell, 3), 64, np.uint8)
            cell[: r.shape[0], : r.shape[1]] = r
            cells.append(cell)
        return np.hstack(cells)

    def save(self, method: str, path: Path) -> bool:
        from PIL import Image, ImageDraw

        rows = sorted(self.heaps.get(method, []), key=lambda t: -t[0])
        if not rows:
            return False
        pad, top, cols = 18, 22, 2
        rw = rows[0][3].shape[1]
        n_r = (len(rows) + cols - 1) // cols
        sheet = Image.new("RGB", (cols * (rw + 8), top + n_r * (self.cell + pad + 6)), (30, 30, 30))
        draw = ImageDraw.Draw(sheet)
        what = "worst objects found (recall >= 0.1)" if method.endswith(":found") else "worst objects"
        draw.text((4, 5), f"{method.split(':')[0]}: {what}. image (shadow outlined magenta) | ground truth | prediction | errors (grey ok, red false fg, blue missed, magenta shadow kept)", fill=(255, 255, 255))
        for i, (neg, _, label, crops) in enumerate(rows):
            x = (i % cols) * (rw + 8)
            y = top + (i // cols) * (self.cell + pad + 6)
            draw.text((x + 4, y + 3), f"IoU {-neg:.2f}  {label}", fill=(255, 255, 120))
            sheet.paste(Image.fromarray(crops), (x, y + pad))
        sheet.save(path)
        return True
