"""Profiles: parsing, validation messages that name the field, output keys, fingerprints."""

from __future__ import annotations

import pytest

from smallcut import keys
from smallcut.profiles import DEFAULT, PRESETS, ProfileError, fingerprint, from_job, make, output_key, parse, parse_many, to_job


def test_preset_by_name():
    p = parse("amazon-main")
    assert (p.format, p.bg_color, p.scale, p.aspect, p.min_side) == ("jpg", "#ffffffff", 0.85, "1:1", 1000)
    assert p.background() == (255, 255, 255, 255)


def test_custom_fields_with_commas_in_a_colour_and_percent_forms():
    p = parse("name=thumb,format=jpg,quality=80,scale=80%,size=1000x1000,bg_color=255,0,0,position=30% 40%")
    assert (p.name, p.format, p.quality, p.scale, p.canvas_size()) == ("thumb", "jpg", 80, 0.8, (1000, 1000))
    assert p.bg_color == "#ff0000ff"
    assert p.anchor() == (0.3, 0.4)


def test_base_starts_from_a_preset():
    p = parse("base=amazon-main,format=png,name=amazon-png")
    assert (p.name, p.format, p.scale, p.bg_color) == ("amazon-png", "png", 0.85, "#ffffffff")


@pytest.mark.parametrize("spec, field", [
    ("name=a,scale=3", "scale"),
    ("name=a,crop_margin=ten", "crop_margin"),
    ("name=a,size=0x10", "size"),
    ("name=a,position=left", "position"),
    ("name=a,format=gif", "format"),
    ("name=a,bg_color=nope", "bg_color"),
    ("name=a,shape=round", "shape"),
    ("name=A B", "name"),
    ("name=a,quality=101,format=jpg", "quality"),
])
def test_errors_name_the_field(spec, field):
    with pytest.raises(ProfileError) as err:
        parse(spec)
    assert f"{field}:" in str(err.value)


def test_inconsistent_fields_are_refused_with_the_reason():
    with pytest.raises(ProfileError, match="png or webp"):
        parse("name=a,format=jpg,channels=alpha")
    with pytest.raises(ProfileError, match="size=auto"):
        parse("name=a,size=100x100,aspect=1:1")
    with pytest.raises(ProfileError, match="unknown profile 'amazon'"):
        parse("amazon")
    with pytest.raises(ProfileError, match="name: default is the engine's own output"):
        parse("name=default,format=jpg")
    assert parse("name=default") == PRESETS[DEFAULT]
    with pytest.raises(ProfileError, match="given twice"):
        parse_many(["zip", "base=mask,name=zip"])


def test_job_round_trip():
    profiles = parse_many(["amazon-main", "name=t,format=webp,quality=70"])
    assert from_job(to_job(profiles)) == profiles


def test_default_profile_keeps_todays_key_and_fingerprint():
    for key, out, inp in [("photos/2024/a.jpg", "cutouts", "photos/"), ("a.b/c", "", ""), ("x.JPEG", "o/p/", "")]:
        assert output_key(key, out, inp, PRESETS[DEFAULT]) == keys.output_key(key, out, inp)
    assert fingerprint("abc", PRESETS[DEFAULT]) == "abc"


def test_profile_keys_sit_side_by_side():
    assert output_key("photos/a.jpg", "cutouts", "photos/", PRESETS["amazon-main"]) == "cutouts/amazon-main/a.jpg"
    assert output_key("photos/a.jpg", "cutouts", "photos/", PRESETS["zip"], obj=2) == "cutouts/zip/a-2.zip"
    assert output_key("a.png", "", "", PRESETS["mask"]) == "mask/a.png"


def test_fingerprint_changes_with_the_profile_and_object_only():
    a, b = make({"name": "t", "scale": 0.8}), make({"name": "t", "scale": 0.9})
    assert fingerprint("e", a) == fingerprint("e", make({"name": "t", "scale": "80%"}))
    assert len({fingerprint("e", a), fingerprint("e", b), fingerprint("f", a), fingerprint("e", a, obj=1)}) == 4


def test_docs_list_every_preset_and_field():
    from pathlib import Path

    from smallcut.profiles import Profile

    text = (Path(__file__).resolve().parents[2] / "docs" / "profiles.md").read_text()
    for name in PRESETS:
        assert f"| `{name}` |" in text, name
    for field in Profile.model_fields:
        assert f"`{field}`" in text, field


def test_a_job_carries_its_profiles_checked():
    from smallcut.job import InvalidJob, Job

    msg = {"batch": "b", "bucket": "in", "keys": ["a.jpg"],
           "options": {"profiles": ["amazon-main", {"name": "t", "format": "webp"}], "split_objects": True}}
    job = Job.from_message(msg)
    assert from_job(job.options.profiles) == [PRESETS["amazon-main"], make({"name": "t", "format": "webp"})]
    assert Job.from_message(job.to_message()) == job
    assert "profiles" not in Job.from_message({**msg, "options": {}}).to_message().get("options", {})
    with pytest.raises(InvalidJob, match=r"options.profiles: .*format:"):
        Job.from_message({**msg, "options": {"profiles": [{"name": "x", "format": "gif"}]}})
