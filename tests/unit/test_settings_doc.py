"""docs/settings.md is generated from the settings model and must match it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pydantic import SecretStr

from smallcut import settings_doc
from smallcut.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "settings.md"


def test_committed_page_equals_the_generated_one():
    assert DOC.read_text() == settings_doc.render(), (
        "docs/settings.md is stale: run `python -m smallcut.settings_doc > docs/settings.md`")


def test_every_setting_has_a_description():
    missing = [name for name, field in Settings.model_fields.items() if not (field.description or "").strip()]
    assert not missing, f"add Field(description=...) in smallcut/settings.py for {missing}"


def test_every_setting_has_a_row_with_its_env_name_and_default():
    page = settings_doc.render()
    for name, field in Settings.model_fields.items():
        rows = [line for line in page.splitlines() if line.startswith(f"| `SMALLCUT_{name.upper()}` |")]
        assert len(rows) == 1, name
        assert settings_doc._show(settings_doc.default_of(field)) in rows[0], name


def test_defaults_are_shown_as_a_user_types_them():
    assert settings_doc._show(None) == "unset"
    assert settings_doc._show(True) == "`true`"
    assert settings_doc._show(SecretStr("redis://h:1/0")) == "`redis://h:1/0`"
    assert settings_doc._show(["a", "b"]) == "`a,b`"
    assert settings_doc._show([]) == "empty"
    assert settings_doc._show(Path.home() / ".cache" / "x") == "`~/.cache/x`"


def test_the_page_names_no_path_of_the_machine_that_made_it():
    assert str(Path.home()) not in DOC.read_text()


def test_literal_settings_list_their_values():
    row = next(line for line in settings_doc.render().splitlines() if line.startswith("| `SMALLCUT_DETECTION` |"))
    assert "Values: `auto`, `always`, `never`." in row


def test_the_module_writes_the_page_to_stdout():
    # with an environment that sets values: the page shows the model's defaults, not this process's settings
    env = {**os.environ, "SMALLCUT_CHUNK_SIZE": "99", "SMALLCUT_QUEUE": "gpu"}
    out = subprocess.run([sys.executable, "-m", "smallcut.settings_doc"], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out == settings_doc.render()
    assert "| `SMALLCUT_CHUNK_SIZE` | `8` |" in out
