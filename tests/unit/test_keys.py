"""Key rules: s3:// URLs, refusals with reasons, output names, own-output detection."""

from __future__ import annotations

import pytest

from smallcut import keys


def test_parse_s3_url():
    assert keys.parse_s3_url("s3://catalog/shoes/2024/") == keys.S3Url("catalog", "shoes/2024/")
    assert keys.parse_s3_url("s3://catalog") == keys.S3Url("catalog", "")
    for bad in ("catalog/x", "s3://", "s3://Bad_Bucket/x", "http://catalog/x"):
        with pytest.raises(keys.InvalidKey):
            keys.parse_s3_url(bad)


@pytest.mark.parametrize("key, reason", [
    ("a/../b.jpg", "'..'"),
    ("../b.jpg", "'..'"),
    ("a/b\x00.jpg", "control character (0x00)"),
    ("a/b\n.jpg", "control character (0x0a)"),
    ("a/b\x7f.jpg", "control character (0x7f)"),
    ("", "empty"),
    ("/abs.jpg", "starts or ends"),
    ("x" * 1025, "longer than 1024"),
])
def test_refused_keys_say_why(key, reason):
    with pytest.raises(keys.InvalidKey, match=None) as exc:
        keys.validate("catalog", key)
    assert reason in str(exc.value)


def test_allowed_buckets():
    keys.validate("catalog", "a.jpg", ["catalog", "cutouts"])
    keys.validate("other", "a.jpg", [])  # empty list: any bucket
    with pytest.raises(keys.InvalidKey, match="not in the allowed buckets"):
        keys.validate("other", "a.jpg", ["catalog", "cutouts"])


def test_dots_inside_names_are_fine():
    keys.validate("catalog", "a..b/c...jpg")
    keys.validate("catalog", "ünïcode/ring 1+1.jpg")


def test_output_key():
    assert keys.output_key("shoes/red.shoe.jpg", "cutouts") == "cutouts/shoes/red.shoe.png"
    assert keys.output_key("shoes/red", "cutouts/") == "cutouts/shoes/red.png"
    assert keys.output_key("dir.v2/red", "out") == "out/dir.v2/red.png"
    assert keys.output_key("a.JPG", "") == "a.png"


@pytest.mark.parametrize("key, out_prefix, in_prefix, want", [
    # the case: --out s3://cutouts/photos for s3://catalog/photos/ (not cutouts/photos/photos/...)
    ("photos/0801.jpg", "photos", "photos/", "photos/0801.png"),
    ("photos/0801.jpg", "photos", "photos", "photos/0801.png"),  # no trailing slash: the same folder
    ("photos/2024/a.jpg", "cut", "photos/", "cut/2024/a.png"),  # sub-folders below the prefix are kept
    ("photos/0801.jpg", "cut", "photos/08", "cut/0801.png"),  # a prefix inside a name: its folder
    ("a/b/c.jpg", "out", "a/b/", "out/c.png"),
    ("other/x.jpg", "cut", "photos/", "cut/other/x.png"),  # outside the prefix (a manifest line): whole key
    ("keys/elsewhere/x.jpg", "cut", "keys/photos/", "cut/keys/elsewhere/x.png"),  # a sibling folder too
    ("photos/0801.jpg", "", "photos/", "0801.png"),
    ("_api/in/20261205/ab12.jpg", "_api/out", "_api/in", "_api/out/20261205/ab12.png"),  # API uploads
    ("uploads/ring 1+1.jpg", "cutouts", "", "cutouts/uploads/ring 1+1.png"),  # events: no input prefix
])
def test_the_output_prefix_replaces_the_input_prefix(key, out_prefix, in_prefix, want):
    assert keys.output_key(key, out_prefix, in_prefix) == want


def test_relative_key():
    assert keys.relative_key("photos/a.jpg", "photos/") == "a.jpg"
    assert keys.relative_key("photosx/a.jpg", "photos") == "photosx/a.jpg"  # not inside the folder photos/
    assert keys.relative_key("a.jpg", "") == "a.jpg"


def test_own_outputs_are_recognised():
    assert keys.is_own_output("catalog", "cutouts/a.png", "catalog", "cutouts")
    assert not keys.is_own_output("catalog", "cutoutsx/a.png", "catalog", "cutouts")
    assert not keys.is_own_output("catalog", "cutouts/a.png", "other", "cutouts")
    assert not keys.is_own_output("catalog", "shoes/a.jpg", "catalog", "cutouts")


def test_image_keys():
    assert keys.is_image_key("a/b.JPEG") and keys.is_image_key("b.webp")
    assert not keys.is_image_key("a/readme.txt") and not keys.is_image_key("a/noext")


def test_the_event_intake_skips_the_scratch_prefix_the_api_really_uses():
    """One rule for both sides: with an output bucket and no SMALLCUT_API_SCRATCH the API stages
    under <output bucket>/_api, and that is the prefix the event intake treats as the API's."""
    from producer.events import api_scratch
    from smallcut.settings import Settings

    s = Settings(output_bucket="cutouts", allowed_buckets=["catalog", "cutouts"])
    assert keys.api_scratch_location(s) == ("cutouts", "_api") == api_scratch(s)
    assert api_scratch(Settings(allowed_buckets=[])) is None
    assert api_scratch(Settings(api_scratch="s3://catalog/tmp/")) == ("catalog", "tmp")
