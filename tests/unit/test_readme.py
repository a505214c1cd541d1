"""The README is the operator's manual: every setting and every CLI verb must be in it."""

from __future__ import annotations

from pathlib import Path

from smallcut.cli import VERBS
from smallcut.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_documented():
    missing = [f"SMALLCUT_{name.upper()}" for name in Settings.model_fields if f"SMALLCUT_{name.upper()}" not in README]
    assert not missing, f"README lacks {missing}"


def test_every_verb_is_documented():
    missing = [verb for verb in VERBS if f"smallcut {verb}" not in README]
    assert not missing, f"README lacks {missing}"
