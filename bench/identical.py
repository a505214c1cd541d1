"""Are the engine's outputs byte-identical to a recorded run? The check behind every refactor.

    python -m bench.identical record --out F.json   # md5s of this engine's outputs
    python -m bench.identical check F.json          # recompute; list what differs (exit 1)

A record keeps the outputs themselves beside it (`F.png/`), so a check that finds a difference also
says how large it is: pixels that changed and the largest change per channel (a change meant to
keep outputs "the same up to rounding" is judged by that, not by md5s alone).

Inputs: the demo's 8 samples (smallcut.samples), ECSSD photos 0001-0020 (skipped with a message when
the data set is absent; BENCH_ECSSD_DIR overrides where it is looked for) and three generated
catalog-tune frames on paper. Each is cut out three ways with the default CPU engine: the RGBA
cutout, the mask only, and `shadow=keep`; the md5 of each PNG is recorded.

int8 results can differ between processors, so a record is only comparable with a check on the
same machine (and the same precision): record before a change, check after it.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

ECSSD_IDS = range(1, 21)
TUNE_FRAMES = (0, 1, 2)
VARIANTS = {"cutout": {}, "mask": {"mask_only": True}, "shadow-keep": {"shadow": "keep"}}


def inputs(tune: bool = True) -> Iterator[tuple[str, bytes]]:
    """(name, encoded image) of every checked input, in a fixed order."""
    from smallcut import samples

    from .paths import ecssd_dir

    for name, data in samples.generate():
        yield f"sample/{name}", data
    images = ecssd_dir() / "images"
    if images.is_dir():
        for i in ECSSD_IDS:
            path = images / f"{i:04d}.jpg"
            if path.is_file():
                yield f"ecssd/{path.name}", path.read_bytes()
    else:
        print(f"ECSSD not found at {images}: skipped (set BENCH_ECSSD_DIR)", file=sys.stderr)
    if tune:
        from PIL import Image

        from .tune.build import render

        for i in TUNE_FRAMES:
            rgb = render(i, with_ecssd=False)[0]
            buf = io.BytesIO()
            Image.fromarray(rgb).save(buf, "PNG", compress_level=1)
            yield f"tune/{i:03d}.png", buf.getvalue()


def digests(precision: str | None = None, tune: bool = True, keep: Path | None = None) -> dict[str, str]:
    """{"<input>:<variant>": md5 of the output PNG}; with `keep`, each PNG is also written there."""
    from bench._common import load_engine
    from workers.engine import CutoutOptions

    engine = load_engine(precision=precision)
    out: dict[str, str] = {}
    for name, data in inputs(tune):
        for variant, opts in VARIANTS.items():
            png = engine.cutout(data, CutoutOptions(**opts)).png
            out[f"{name}:{variant}"] = hashlib.md5(png).hexdigest()
            if keep is not None:
                path = keep / _file_name(f"{name}:{variant}")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(png)
        print(f"{name}", file=sys.stderr, flush=True)
    return out


def _file_name(key: str) -> str:
    return key.replace("/", "_").replace(":", "__") + ".png"


def pixel_difference(before: bytes, after: bytes) -> str:
    """How two output PNGs differ: pixels changed, and the largest change of each channel."""
    import cv2
    import numpy as np

    a = cv2.imdecode(np.frombuffer(before, np.uint8), cv2.IMREAD_UNCHANGED)
    b = cv2.imdecode(np.frombuffer(after, np.uint8), cv2.IMREAD_UNCHANGED)
    if a is None or b is None or a.shape != b.shape:
        return "shape changed"
    d = np.abs(a.astype(np.int16) - b.astype(np.int16)).reshape(a.shape[0], a.shape[1], -1)
    changed = int((d.max(axis=2) > 0).sum())
    # OpenCV decodes BGR(A): name the channels as the PNG holds them
    names = {1: ("gray",), 2: ("gray", "alpha"), 3: ("b", "g", "r"), 4: ("b", "g", "r", "alpha")}[d.shape[2]]
    worst = " ".join(f"{n} {int(d[..., i].max())}" for i, n in enumerate(names))
    return f"{changed} px ({changed / (a.shape[0] * a.shape[1]):.4%}) changed; max change {worst}"


def compare(recorded: dict[str, str], now: dict[str, str], kept: Path | None = None, fresh: Path | None = None) -> list[str]:
    """Lines naming each item that differs (with how much, when both outputs are kept), is missing
    now or is new."""
    lines = []
    for k in recorded:
        if k in now and now[k] != recorded[k]:
            before, after = (d / _file_name(k) if d else None for d in (kept, fresh))
            how = pixel_difference(before.read_bytes(), after.read_bytes()) if before and after and before.exists() else ""
            lines.append(f"differs: {k}" + (f": {how}" if how else ""))
    lines += [f"missing now: {k}" for k in recorded if k not in now]
    lines += [f"not recorded: {k}" for k in now if k not in recorded]
    return lines


def _kept(record: Path) -> Path:
    """Where a record's outputs are kept: F.png/ beside F.json."""
    return record.with_name(record.stem + ".png")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record", help="write the md5s of this engine's outputs")
    rec.add_argument("--out", required=True, type=Path)
    chk = sub.add_parser("check", help="recompute and compare with a record (exit 1 on any difference)")
    chk.add_argument("record", type=Path)
    for s in (rec, chk):
        s.add_argument("--precision", default=None, help="SMALLCUT_PRECISION (default: the settings')")
        s.add_argument("--no-tune", action="store_true", help="leave out the generated catalog-tune frames")
    args = p.parse_args(argv)
    if args.cmd == "record":
        result = {"precision": args.precision, "md5": digests(args.precision, not args.no_tune, _kept(args.out))}
        args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
        print(f"{len(result['md5'])} outputs recorded in {args.out}")
        return 0
    import tempfile

    recorded = json.loads(args.record.read_text())
    with tempfile.TemporaryDirectory() as fresh:
        now = digests(args.precision or recorded.get("precision"), not args.no_tune, Path(fresh))
        lines = compare(recorded["md5"], now, _kept(args.record), Path(fresh))
    for line in lines:
        print(line)
    same = sum(1 for k in recorded["md5"] if now.get(k) == recorded["md5"][k])
    print(f"{same} of {len(recorded['md5'])} outputs identical")
    return 1 if lines else 0


if __name__ == "__main__":
    raise SystemExit(main())
