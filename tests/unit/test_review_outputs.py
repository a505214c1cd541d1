"""The review page's line of outputs (producer/review/review.js outputsLine), run in Node."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[2] / "producer" / "review" / "review.js"


def _function(src: str, name: str) -> str:
    start = src.index(f"function {name}(")
    end = re.compile(r"^}", re.M).search(src, start).end()
    return src[start:end]


def outputs_line(record: dict) -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("needs node")
    src = JS.read_text()
    script = "\n".join([_function(src, "esc"), _function(src, "outputsLine"),
                        f"process.stdout.write(outputsLine({json.dumps(record)}));"])
    return subprocess.run([node, "-e", script], capture_output=True, text=True, check=True, timeout=30).stdout


def test_profiles_and_objects_are_listed():
    html = outputs_line({"outputs": [
        {"profile": "amazon-main", "output": "s3://b/o/amazon-main/a-1.jpg", "width": 1000, "height": 1000,
         "object": 1, "source_box": [10, 20, 30, 40], "area": 1234},
        {"profile": "<zip>", "output": "s3://b/o/zip/a.zip", "width": 400, "height": 300}]})
    assert "amazon-main #1: box 30×40 at 10,20, 1,234 px · 1000×1000" in html
    assert "&lt;zip&gt; · 400×300" in html and "<zip>" not in html


def test_nothing_for_todays_single_output():
    assert outputs_line({"outputs": [{"profile": "default", "output": "s3://b/a.png", "width": 4, "height": 3}]}) == ""
    assert outputs_line({}) == ""
