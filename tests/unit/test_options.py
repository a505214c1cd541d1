"""Options both sides read: colours (named ones too), image suffixes, the job's option fields."""

from __future__ import annotations

import subprocess
import sys

import pytest

from smallcut import options


@pytest.mark.parametrize("text, rgba", [
    ("white", (255, 255, 255, 255)), ("Black", (0, 0, 0, 255)), ("grey", (128, 128, 128, 255)),
    ("light-grey", (211, 211, 211, 255)), ("transparent", (0, 0, 0, 0)),
    ("#ff8000", (255, 128, 0, 255)), ("#ff800080", (255, 128, 0, 128)), ("1,2,3", (1, 2, 3, 255)),
    (" 1, 2, 3, 4 ", (1, 2, 3, 4)),
])
def test_colours(text, rgba):
    assert options.parse_color(text) == rgba


@pytest.mark.parametrize("text", ["purple-ish", "#ff80", "#gg0000", "1,2", "1,2,300", "", "-1,0,0"])
def test_bad_colours_say_which_forms_work(text):
    with pytest.raises(ValueError, match="use a name .*#rrggbb"):
        options.parse_color(text)


def test_job_options_resolve_names_to_a_form_every_engine_reads():
    from workers.engine.engine import parse_color  # the engine's own parser, unchanged

    opts = options.job_options(bg_color="white", mask_only=True)
    assert opts == {"mask_only": True, "bg_color": "#ffffffff"}  # what was not chosen takes the worker's default
    assert parse_color(opts["bg_color"]) == (255, 255, 255, 255)
    every = options.job_options(roi=False, postprocess=False, mask_only=False, bg_color="black", shadow="keep")
    assert set(every) == {"roi", "postprocess", "mask_only", "bg_color", "shadow"}
    with pytest.raises(ValueError, match="shadow"):
        options.job_options(shadow="soft")


def test_image_names():
    assert options.is_image_name("a/b.JPEG") and options.is_image_name("x.webp")
    assert not options.is_image_name("a.b/noext") and not options.is_image_name(".png")
    assert not options.is_image_name("notes.txt")


def test_the_engine_cli_and_the_keys_share_the_suffixes():
    from smallcut import keys
    from workers.engine import cli

    assert keys.IMAGE_SUFFIXES is options.IMAGE_SUFFIXES is cli.IMAGE_SUFFIXES


def test_no_heavy_imports():
    code = "import sys, smallcut.options; print(sorted({'numpy', 'PIL', 'cv2'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
