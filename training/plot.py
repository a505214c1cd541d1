"""Plot a run's log.csv: the training loss and its parts (a moving average) and the validation IoU
per kind.

    python -m training.plot runs/u2netp_ft [--out runs/u2netp_ft/plot.png]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

PARTS = ("loss", "bce", "iou", "distill")


def read_log(path: Path) -> list[dict]:
    with Path(path).open(newline="") as fh:
        return list(csv.DictReader(fh))


def _series(rows: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    pts = [(int(r["step"]), float(r[key])) for r in rows if r.get(key) not in (None, "")]
    arr = np.asarray(pts, float).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average (the first points average what there is)."""
    if len(values) == 0:
        return values
    c = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def plot(run: Path, out: Path | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_log(run / "log.csv")
    out = out or run / "plot.png"
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(11, 4))
    steps = [int(r["step"]) for r in rows if r.get("loss")]
    window = max(1, len(steps) // 20)
    for key in PARTS:
        x, y = _series(rows, key)
        if len(x):
            ax_loss.plot(x, smooth(y, window), label=key)
    ax_loss.set(xlabel="step", ylabel=f"training loss (mean of {window} steps)", title=run.name)
    ax_loss.legend()
    for key in [k for k in (rows[0].keys() if rows else []) if k.startswith("val_")]:
        x, y = _series(rows, key)
        if len(x):
            ax_val.plot(x, y, marker="o", label=key[4:-4])
    ax_val.set(xlabel="step", ylabel="validation IoU", title="validation (fused map > 0.5)")
    ax_val.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.plot", description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="a run folder (holding log.csv)")
    ap.add_argument("--out", type=Path, default=None, help="the PNG to write (default: <run>/plot.png)")
    args = ap.parse_args(argv)
    print(plot(args.run, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
