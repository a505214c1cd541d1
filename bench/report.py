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


def summarize(objects: list[dict], images: list[dict], methods: list[str]) -> dict:
    """Per method: per size bucket (and all) the mean IoU, hit rate, MAE, boundary F and hole leakage;
    per image: IoU, MAE, false-positive area and blobs, seconds; per background kind."""
    out: dict = {}
    for m in methods:
        objs = [o for o in objects if o["method"] == m]
        imgs = [i for i in images if i["method"] == m]
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
        computed = [i["seconds"] for i in imgs if not i["cached"]]
        out[m] = {
            "buckets": by_bucket,
            "backgrounds": by_bg,
            "backgrounds_by_size": by_bg_size,
            "kinds": by_kind,
            "images": {
                "n": len(imgs),
                "iou": _mean([i["iou"] for i in imgs]),
                "mae": _mean([i["mae"] for i in imgs]),
                "fp_frac": _mean([i["fp_frac"] for i in imgs]),
                "fp_blobs": _mean([i["fp_blobs"] for i in imgs]),
                "with_fp": _mean([float(i["fp_blobs"] > 0) for i in imgs]),
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
    head = ["method", "images", "IoU", "MAE", "FP area %", "FP blobs/img", "imgs with FP", "s/img", "computed/cached"]
    rows = []
    for m, s in summary.items():
        v = s["images"]
        rows.append([m, str(v["n"]), _f(v["iou"]), _f(v["mae"], 4), _f(None if v["fp_frac"] is None else 100 * v["fp_frac"], 3), _f(v["fp_blobs"], 2), _f(v["with_fp"], 2), _f(v["sec_per_image"], 3), f"{v['computed']}/{v['cached']}"])
    out.append((f"{title}: per image", head, rows))
    if any(len(s["backgrounds"]) > 1 for s in summary.values()):
        head = ["method", "background", "objects", "IoU", "hit", "FP blobs/img", "FP area %"]
        rows = [[m, bg, str(v["n"]), _f(v["iou"]), _f(v["hit"], 2), _f(v["fp_blobs"], 2), _f(None if v["fp_frac"] is None else 100 * v["fp_frac"], 3)] for m, s in summary.items() for bg, v in s["backgrounds"].items()]
        out.append((f"{title}: by background", head, rows))
        head = ["background", "bucket", "method", "n", "IoU", "hit"]
        keys = list(dict.fromkeys(bg for s in summary.values() for bg in s["backgrounds_by_size"]))
        rows = [[bg, b, m, str(v["n"]), _f(v["iou"]), _f(v["hit"], 2)]
                for bg in keys for b, *_ in BUCKETS for m, s in summary.items()
                if (v := s["backgrounds_by_size"].get(bg, {}).get(b))]
        out.append((f"{title}: by background and size", head, rows))
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
            t.add_column(h, justify="left" if h in ("method", "bucket", "background", "object kind") else "right")
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

    def offer(self, method: str, score: float, label: str, rgb: np.ndarray, gt: np.ndarray, pred: np.ndarray, box: tuple[int, int, int, int]) -> None:
        heap = self.heaps[method]
        if len(heap) >= self.k and -heap[0][0] <= score:
            return
        x0, y0, x1, y1 = box
        crops = self._crops(rgb[y0:y1, x0:x1], gt[y0:y1, x0:x1], pred[y0:y1, x0:x1])
        self._tie += 1
        item = (-score, self._tie, label, crops)
        if len(heap) < self.k:
            heapq.heappush(heap, item)
        else:
            heapq.heapreplace(heap, item)

    def _crops(self, img: np.ndarray, gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
        h, w = gt.shape
        s = self.cell / max(h, w)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        interp = cv2.INTER_NEAREST if s > 1 else cv2.INTER_AREA
        g, p = gt > 127, pred > 127
        err = np.zeros((h, w, 3), np.uint8)
        err[g & p] = (200, 200, 200)  # agree: grey
        err[p & ~g] = (230, 40, 40)  # false foreground: red
        err[g & ~p] = (40, 90, 255)  # missed: blue
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
        draw.text((4, 5), f"{method.split(':')[0]}: {what}. image | ground truth | prediction | errors (grey ok, red false fg, blue missed)", fill=(255, 255, 255))
        for i, (neg, _, label, crops) in enumerate(rows):
            x = (i % cols) * (rw + 8)
            y = top + (i // cols) * (self.cell + pad + 6)
            draw.text((x + 4, y + 3), f"IoU {-neg:.2f}  {label}", fill=(255, 255, 120))
            sheet.paste(Image.fromarray(crops), (x, y + pad))
        sheet.save(path)
        return True
