"""The allow-list rules of `GET /api/remove?url=` (producer/api_fetch.py), without a network."""

from __future__ import annotations

import pytest

from producer.api_fetch import FetchRefused, check_url, host_allowed


def test_exact_hosts_and_dot_domains():
    allowed = ["images.example.com", ".cdn.example.net"]
    assert host_allowed("images.example.com", allowed)
    assert host_allowed("IMAGES.example.com.", allowed)  # case and a trailing dot do not matter
    assert host_allowed("cdn.example.net", allowed) and host_allowed("a.b.cdn.example.net", allowed)
    for host in ("example.com", "evil-images.example.com", "images.example.com.evil.org", "xcdn.example.net",
                 "169.254.169.254", "localhost"):
        assert not host_allowed(host, allowed), host


@pytest.mark.parametrize(("url", "code", "reason"), [
    ("https://images.example.com/a.jpg", None, None),
    ("http://images.example.com:8080/a.jpg?x=1", None, None),
    ("ftp://images.example.com/a.jpg", 400, "http"),
    ("images.example.com/a.jpg", 400, "http"),
    ("https://user:pw@images.example.com/a.jpg", 400, "credentials"),
    ("https://images.example.com:99999/a.jpg", 400, "bad URL"),
    ("http://169.254.169.254/latest/meta-data/", 403, "allow-list"),
    ("http://images.example.com@169.254.169.254/", 400, "credentials"),
])
def test_check_url(url, code, reason):
    if code is None:
        assert check_url(url, ["images.example.com"]).hostname == "images.example.com"
        return
    with pytest.raises(FetchRefused) as err:
        check_url(url, ["images.example.com"])
    assert err.value.status_code == code and reason in err.value.reason


def test_off_without_an_allow_list():
    with pytest.raises(FetchRefused) as err:
        check_url("https://images.example.com/a.jpg", [])
    assert err.value.status_code == 403 and "SMALLCUT_API_FETCH_HOSTS" in err.value.reason
