"""A contact sheet of a catalog set: frames with their shadow areas outlined, to look at what the
generator draws."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .. import catalog_format as fmt


def contact_sheet(set_dir: Path, count: int = 24, cols: int = 6, cell: int = 320, out: Path | None = None) -> Path:
    from PIL import Image, ImageDraw

    names = fmt.list_samples(set_dir, twins=False)[:count]
    rows = (len(names) + cols - 1) // cols
    pad = 16
    sheet = Image.new("RGB", (cols * cell, max(1, rows) * (cell + pad)), (25, 25, 25))
    draw = ImageDraw.Draw(sheet)
    for k, name in enumerate(names):
        rgb, alpha, shadow, meta = fmt.load_sample(set_dir, name)
        h, w = alpha.shape
        s = cell / max(h, w)
        size = (max(1, int(w * s)), max(1, int(h * s)))
        thumb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        # outline shadows (magenta) and products (green) so the ground truth can be checked by eye
        for mask, colour in ((shadow, (255, 0, 255)), (alpha, (0, 255, 0))):
            m = cv2.resize((mask > 127).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
            cs, _ = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            cv2.drawContours(thumb, cs, -1, colour, 1)
        x, y = (k % cols) * cell, (k // cols) * (cell + pad)
        sheet.paste(Image.fromarray(thumb), (x, y + pad))
        fx = ",".join(e.replace("-shadow", "") for e in meta["effects"] if e not in ("noise", "jpeg"))
        draw.text((x + 2, y + 2), f"{name} {meta['background']['kind']} {len(meta['objects'])}obj {fx}"[:52], fill=(255, 255, 160))
    path = out or Path(set_dir) / "sheet.png"
    sheet.save(path)
    return path
