"""The review page in headless Chromium (Debian's chromium + chromedriver, driven by Selenium).

It watches a batch reach 100 %, opens its gallery, flags a cut-out and downloads the flagged manifest,
which `smallcut enqueue --manifest` then reads. SMALLCUT_REVIEW_SCREENSHOT=docs/review-page.png
saves the screenshot docs/review.md shows.
"""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import pytest

from .api_fixtures import TOKEN
from .conftest import IN_BUCKET, OUT_BUCKET, photo

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
PHOTOS = (51, 52, 53, 54, 55, 56)


@pytest.fixture()
def browser(tmp_path):
    if not CHROMIUM or not CHROMEDRIVER:
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,860", "--hide-scrollbars"):
        opts.add_argument(arg)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def wait_until(predicate, timeout: float = 120, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_review_page_progress_gallery_flag_manifest(api, s3, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from producer.enqueue import manifest_keys

    for n in PHOTOS:
        s3.put_object(Bucket=IN_BUCKET, Key=f"review/{n:04d}.jpg", Body=photo(n))
    s3.put_object(Bucket=IN_BUCKET, Key="review/unreadable.jpg", Body=b"\xff\xd8\xff not a photo")
    browser.get(f"{api.url}/")
    assert "token" in browser.find_element(By.ID, "login").text  # no cookie yet: asks for the token
    browser.get(f"{api.url}/?token={TOKEN}")  # kept in a cookie, the URL loses it
    assert browser.current_url == f"{api.url}/"
    with api.client() as c:
        batch_id = c.post("/v1/batches", json={"source": f"s3://{IN_BUCKET}/review/",
                                               "out": f"s3://{OUT_BUCKET}/review"}).json()["batch_id"]

    row = f"tr[data-batch='{batch_id}'] .bar"
    seen = []

    def finished():  # read in the page: the table is re-rendered while we look
        pct = browser.execute_script(f"const b = document.querySelector(\"{row}\"); return b && b.dataset.pct;")
        if pct is not None:
            seen.append(int(pct))
        return pct == "100"

    wait_until(finished, what="the batch's progress bar at 100 %")
    assert seen == sorted(seen)  # progress only moves forward

    browser.find_element(By.LINK_TEXT, batch_id).click()
    wait_until(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".card")) == len(PHOTOS) + 1, what="gallery")
    wait_until(lambda: browser.execute_script(
        "return [...document.querySelectorAll('.card[data-state=done] img')].every(i => i.complete && i.naturalWidth > 0)"),
        what="thumbnails")
    assert len(browser.find_elements(By.CSS_SELECTOR, ".card img.cut")) == len(PHOTOS)
    assert "100%" in browser.find_element(By.ID, "batch-pct").text

    Select(browser.find_element(By.ID, "filter")).select_by_value("failed")
    wait_until(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".card")) == 1, what="failed filter")
    card = browser.find_element(By.CSS_SELECTOR, ".card")
    assert card.get_attribute("data-key") == f"s3://{IN_BUCKET}/review/unreadable.jpg"
    assert card.find_element(By.CSS_SELECTOR, ".reason").text  # the reason is shown

    # "smallest objects first": ordered by the smallest cut-out region's share of its frame (the API's items)
    with api.client() as c:
        done = [o for o in c.get(f"/v1/batches/{batch_id}/items", params={"limit": 50}).json()["items"]
                if o["state"] == "done"]
    assert all(o["objects"] >= 1 and 0 < o["min_object_frac"] <= 1 for o in done)
    Select(browser.find_element(By.ID, "filter")).select_by_value("smallest")
    wait_until(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".card")) == len(PHOTOS), what="smallest filter")
    shown = [c.get_attribute("data-key") for c in browser.find_elements(By.CSS_SELECTOR, ".card")]
    assert shown == [o["source"] for o in sorted(done, key=lambda o: o["min_object_frac"])]
    Select(browser.find_element(By.ID, "filter")).select_by_value("all")

    flagged_key = f"s3://{IN_BUCKET}/review/{PHOTOS[1]:04d}.jpg"
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f".card[data-key='{flagged_key}'] button.flag"))
    browser.find_element(By.CSS_SELECTOR, f".card[data-key='{flagged_key}'] button.flag").click()
    wait_until(lambda: browser.find_element(By.ID, "flag-count").text == "1", what="flag count")
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, f".card.flagged[data-key='{flagged_key}']"))

    shot = os.environ.get("SMALLCUT_REVIEW_SCREENSHOT")
    if shot:
        save_screenshot(browser.get_screenshot_as_png(), Path(shot))

    browser.find_element(By.ID, "manifest").click()
    path = browser.downloads / f"{batch_id}-flagged.txt"
    wait_until(path.exists, timeout=30, what="the downloaded manifest")
    assert path.read_text() == f"{flagged_key}\n"
    assert list(manifest_keys(path, "unused")) == [(IN_BUCKET, f"review/{PHOTOS[1]:04d}.jpg")]
    with api.client() as c:
        assert c.get(f"/v1/batches/{batch_id}/flags").json()["keys"] == [flagged_key]


def save_screenshot(png: bytes, path: Path, max_bytes: int = 300_000) -> None:
    """A palette PNG: screenshots of thumbnails on flat UI compress well below the size budget."""
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, optimize=True)
    assert path.stat().st_size < max_bytes, path.stat().st_size
