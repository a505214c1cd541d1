"""Are the engine's outputs byte-identical to a recorded run? The check behind every refactor.

    python -m bench.identical record --out F.json   # md5s of this engine's outputs
    python -m bench.identical check F.json          # recompute; list what differs (exit 1)

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


def digests(precision: str | None = None, tune: bool = True) -> dict[str, str]:
    """{"<input>:<variant>": md5 of the output PNG}."""
    from bench._common import load_engine
    from workers.engine import CutoutOptions

    engine = load_engine(precision=precision)
    out: dict[str, str] = {}
    for name, data in inputs(tune):
        for variant, opts in VARIANTS.items():
            png = engine.cutout(data, CutoutOptions(**opts)).png
            out[f"{name}:{variant}"] = hashlib.md5(png).hexdigest()
        print(f"{name}", file=sys.stderr, flush=True)
    return out


def compare(recorded: dict[str, str], now: dict[str, str]) -> list[str]:
    """Lines naming each item that differs, is missing now or is new."""
    lines = [f"differs: {k}" for k in recorded if k in now and now[k] != recorded[k]]
    lines += [f"missing now: {k}" for k in recorded if k not in now]
    lines += [f"not recorded: {k}" for k in now if k not in recorded]
    return lines


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
        result = {"precision": args.precision, "md5": digests(args.precision, not args.no_tune)}
        args.out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
        print(f"{len(result['md5'])} outputs recorded in {args.out}")
        return 0
    recorded = json.loads(args.record.read_text())
    now = digests(args.precision or recorded.get("precision"), not args.no_tune)
    lines = compare(recorded["md5"], now)
    for line in lines:
        print(line)
    same = sum(1 for k in recorded["md5"] if now.get(k) == recorded["md5"][k])
    print(f"{same} of {len(recorded['md5'])} outputs identical")
    return 1 if lines else 0


if __name__ == "__main__":
    raise SystemExit(main())
