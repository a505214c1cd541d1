"""bench.formats end to end on two demo samples: every format ran, sizes and the report hold up.

No timing assertions (shared machines): only that the script keeps working and reports what it made.
"""

from __future__ import annotations

import json

from bench import formats


def test_formats_bench_runs_and_reports(tmp_path):
    assert formats.main(["--sets", "demo", "--n", "2", "--threads", "1", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "results.json").read_text())
    summary = result["sets"]["demo"]
    assert set(summary) == {"engine-png", *formats.FORMATS}
    assert all(v["images"] == 2 and v["median_kb"] > 0 and v["median_ms"] >= 0 for v in summary.values())
    # the mask is one channel of the same frame: smaller than the RGBA PNG
    assert summary["mask"]["median_kb"] < summary["png"]["median_kb"]
    # lossless WebP of a mostly transparent frame: smaller than fpng's PNG (render.encode_webp's method)
    assert summary["webp-lossless"]["median_kb"] < summary["png"]["median_kb"]
    shopify = [r for r in result["records"]["demo"] if r["format"] == "shopify-square"]
    assert all(r["canvas"] == [2048, 2048] for r in shopify)
    text = (tmp_path / "summary.md").read_text()
    assert "| zip" in text and "python -m bench.formats --sets demo" in result["command"]
    assert (tmp_path / "formats.png").stat().st_size > 0
