"""The README is the user's entry point: short, every verb named, every name and link in it real.

Settings are documented in full in docs/settings.md, generated from the model and checked by
test_settings_doc.py; here the README and the pages under docs/ must only use names that exist.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from smallcut.cli import VERBS
from smallcut.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]

# pages the README links to that arrive with the features they describe; empty once they exist
PAGES_TO_COME: set[str] = set()  # pages the README may name before they are written

LINK = re.compile(r"\]\(([^)\s]+)\)")
SETTING = re.compile(r"\bSMALLCUT_[A-Z0-9_]*[A-Z0-9]\b")
MODULE_RUN = re.compile(r"python -m ((?:bench|training|smallcut|workers|producer)(?:\.\w+)+)")


def _text(page: Path) -> str:
    return page.read_text()


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    return {_slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", _text(page), re.M)}


def test_readme_is_short():
    lines = _text(README).count("\n")
    assert lines < 300, f"README.md has {lines} lines: move detail to docs/"


def test_every_verb_is_in_the_readme():
    missing = [verb for verb in VERBS if f"smallcut {verb}" not in _text(README)]
    assert not missing, f"README lacks {missing}"


def test_readme_points_at_the_settings_page():
    assert "(docs/settings.md)" in _text(README)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_setting_named_exists(page):
    known = {f"SMALLCUT_{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(set(SETTING.findall(_text(page))) - known)
    assert not unknown, f"{page.name} names settings that do not exist: {unknown}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in LINK.findall(_text(page)):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked offline
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            if dest.relative_to(ROOT).as_posix() not in PAGES_TO_COME:
                broken.append(target)
            continue
        if anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(target)
    assert not broken, f"{page.name} has broken links: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_module_it_runs_exists(page):
    missing = []
    for module in set(MODULE_RUN.findall(_text(page))):
        parts = module.split(".")
        if not ((ROOT.joinpath(*parts).with_suffix(".py")).exists() or (ROOT.joinpath(*parts) / "__main__.py").exists()):
            missing.append(module)
    assert not missing, f"{page.name} runs modules that do not exist: {missing}"


def test_every_headline_number_names_its_command():
    text = _text(README)
    section = text.split("## Headline numbers", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| what")]
    assert rows, "the README has no headline numbers table"
    for row in rows:
        source = row.rstrip(" |").rsplit("|", 1)[-1]
        assert "python -m bench." in source or "same" in source or "](docs/" in source, row
