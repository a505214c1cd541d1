"""The review page at catalog scale, in headless Chromium: a batch of 10,000 status records.

The records are written through StatusStore.transition, the call the workers make, so the page and
its API read exactly what a real batch leaves in Redis; three of them point at real S3 objects (a
photo and a cut-out whose opaque region is known) for the full-size before/after view.
"""

from __future__ import annotations

import io
import secrets

import pytest
from PIL import Image

from .api_fixtures import TOKEN
from .conftest import IN_BUCKET, OUT_BUCKET, photo
from .test_api_review_page import browser, wait_until  # noqa: F401 - the Chromium fixture

pytestmark = pytest.mark.integration

N = 10_000
PAGE = 500
OBJECT_BOX = (100, 60, 140, 90)  # x0, y0, x1, y1 of the opaque region of the real cut-outs
LONG_KEY = "scale/00003-" + "a-rather-long-folder-name-" * 6 + "photo.jpg"


def key_of(i: int) -> str:
    return LONG_KEY if i == 3 else f"scale/{i:05d}.jpg"


def cutout_png(size: tuple[int, int]) -> bytes:
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    img.paste((200, 40, 40, 255), OBJECT_BOX)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def record_batch(status, batch: str, keys: list[str], ms: float, out_prefix: str) -> None:
    """Queue, start and finish every key the way a worker does; every 100th fails with a reason."""
    from smallcut.status import State, now

    status.create_batch(batch, {"out_bucket": OUT_BUCKET, "out_prefix": out_prefix, "options": {}})
    for start in range(0, len(keys), 2000):
        chunk = keys[start:start + 2000]
        status.mark_queued(batch, [(IN_BUCKET, k) for k in chunk])
        pipe = status.r.pipeline(transaction=False)
        for i, key in enumerate(chunk, start):
            oid = f"{IN_BUCKET}/{key}"
            out = f"s3://{OUT_BUCKET}/{out_prefix}/{key.rsplit('.', 1)[0]}.png"
            status.transition(batch, oid, State.PROCESSING, {"started_at": now(), "output": out, "worker": "w1"},
                              client=pipe)
            if i % 100 == 99:
                status.transition(batch, oid, State.FAILED, {"error": f"decode: not an image ({i})",
                                                             "finished_at": now()}, client=pipe)
            else:
                status.transition(batch, oid, State.DONE, {
                    "error": "", "finished_at": now(), "width": 400, "height": 300, "objects": 1 + i % 3,
                    "min_object_frac": round(0.001 + (i % 997) / 1000, 4),
                    "timings": {"head": 1.0, "download": 2.0, "coarse": ms + i % 50}}, client=pipe)
        pipe.execute()
    status.set_listed(batch)


@pytest.fixture(scope="module")
def big_batch(api, status, s3):
    batch = f"scale-{secrets.token_hex(4)}"
    keys = [key_of(i) for i in range(N)]
    for i in range(4):
        data = photo(70 + i)
        s3.put_object(Bucket=IN_BUCKET, Key=keys[i], Body=data)
        size = Image.open(io.BytesIO(data)).size
        s3.put_object(Bucket=OUT_BUCKET, Key=f"{batch}/{keys[i].rsplit('.', 1)[0]}.png", Body=cutout_png(size))
    record_batch(status, batch, keys, ms=120.0, out_prefix=batch)
    # a later batch runs one of the same keys again: the first batch's record of it must not change
    record_batch(status, f"{batch}-rerun", [keys[1]], ms=99_000.0, out_prefix=f"{batch}-rerun")
    return batch


def test_review_api_pages_and_filters_on_the_server(api, big_batch):
    with api.client() as c:
        page = c.get(f"/v1/batches/{big_batch}/review", params={"limit": PAGE}).json()
        assert (page["total"], page["batch_total"], len(page["items"])) == (N, N, PAGE)
        assert [i["key"] for i in page["items"][:3]] == [key_of(0), key_of(1), key_of(2)]
        last = c.get(f"/v1/batches/{big_batch}/review", params={"offset": N - 10, "limit": PAGE}).json()
        assert [i["key"] for i in last["items"]] == [key_of(i) for i in range(N - 10, N)]
        failed = c.get(f"/v1/batches/{big_batch}/review", params={"state": "failed", "limit": PAGE}).json()
        assert failed["total"] == N // 100 and all(i["state"] == "failed" and i["error"] for i in failed["items"])
        slowest = c.get(f"/v1/batches/{big_batch}/review", params={"sort": "slowest", "limit": 5}).json()
        totals = [i["total_ms"] for i in slowest["items"]]
        assert totals == sorted(totals, reverse=True) and totals[0] == 120 + 49 + 2
        # the record batch 1 ended with, not the re-run's (99,000 ms, other output)
        first = page["items"][1]
        assert first["batch"] == big_batch and first["total_ms"] < 1000 and f"/{big_batch}/" in first["output"]
        rerun = c.get(f"/v1/batches/{big_batch}-rerun/review").json()["items"][0]
        assert rerun["total_ms"] > 99_000 and rerun["batch"] == f"{big_batch}-rerun"
        assert c.get(f"/v1/batches/{big_batch}/review", params={"limit": 501}).status_code == 422
        assert c.get("/v1/batches/no-such-batch/review").status_code == 404

        full = c.get("/v1/image", params={"key": f"s3://{IN_BUCKET}/{key_of(0)}"})
        assert full.status_code == 200 and full.headers["content-type"] == "image/jpeg"
        assert full.content == photo(70) and full.headers["x-content-type-options"] == "nosniff"


def test_review_page_with_ten_thousand_records(api, big_batch, browser, s3):  # noqa: F811 - fixture
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    def press(*keys):  # to whatever has the focus, as a person typing
        ActionChains(browser).send_keys(*keys).perform()

    browser.get(f"{api.url}/?token={TOKEN}")
    row = f"tr[data-batch='{big_batch}'] td.eta"
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, row), what="the batch in the list")
    assert browser.find_element(By.CSS_SELECTOR, row).text.startswith("finished")  # not an empty ETA

    browser.get(f"{api.url}/batches/{big_batch}")
    info = lambda: browser.find_element(By.ID, "page-info").text  # noqa: E731
    wait_until(lambda: info() == "1–500 of 10,000", what="page 1 of 10,000")
    cards = browser.find_elements(By.CSS_SELECTOR, ".card")
    assert len(cards) == PAGE and cards[0].get_attribute("data-key") == f"s3://{IN_BUCKET}/{key_of(0)}"

    # text wraps between words only; a long key stays on one line (full key in the tooltip)
    assert browser.execute_script(
        "return [...document.querySelectorAll('.meta')].every(m => getComputedStyle(m).wordBreak !== 'break-all')")
    long_key = browser.find_element(By.CSS_SELECTOR, f".card[data-key='s3://{IN_BUCKET}/{LONG_KEY}'] .key")
    assert long_key.get_attribute("title") == LONG_KEY
    assert browser.execute_script(
        "const e = arguments[0]; return e.getClientRects().length === 1 && e.clientHeight < 2 * parseFloat(getComputedStyle(e).lineHeight)",
        long_key)
    # the card of the re-run key shows this batch's timing
    ms = browser.find_element(By.CSS_SELECTOR, f".card[data-key='s3://{IN_BUCKET}/{key_of(1)}'] .ms").text
    assert ms == f"· {2 + 120 + 1} ms"  # download + coarse; the head check is not cut-out time

    press("n")  # next page
    wait_until(lambda: info() == "501–1,000 of 10,000", what="page 2")
    assert browser.find_element(By.CSS_SELECTOR, ".card").get_attribute("data-key").endswith("scale/00500.jpg")
    browser.find_element(By.ID, "prev").click()
    wait_until(lambda: info() == "1–500 of 10,000", what="back on page 1")

    # keyboard: j j -> second card, f flags it, → to the third, Enter opens the full-size view
    press("j", "j", "f")
    wait_until(lambda: browser.find_element(By.ID, "flag-count").text == "1", what="flag by keyboard")
    assert browser.find_element(By.CSS_SELECTOR, ".card.current").get_attribute("data-key").endswith(key_of(1))
    assert "flagged" in browser.find_element(By.CSS_SELECTOR, ".card.current").get_attribute("class")
    press(Keys.ARROW_RIGHT, Keys.ENTER)
    viewer = browser.find_element(By.ID, "viewer")
    wait_until(lambda: viewer.is_displayed() and viewer.get_attribute("data-box"), what="the full-size view")
    assert viewer.get_attribute("data-key") == f"s3://{IN_BUCKET}/{key_of(2)}"
    assert viewer.get_attribute("data-box") == ",".join(map(str, OBJECT_BOX))
    natural = browser.execute_script("const i = document.getElementById('viewer-before'); return [i.naturalWidth, i.naturalHeight]")
    assert natural == list(Image.open(io.BytesIO(photo(72))).size)  # the photo itself, not a thumbnail
    fit = float(viewer.get_attribute("data-scale"))
    press("z")  # zoom on the object: its box fills the pane, centred
    wait_until(lambda: viewer.get_attribute("data-zoom") == "object", what="zoom on the object")
    assert float(viewer.get_attribute("data-scale")) > 3 * fit
    centre = browser.execute_script("""
        const pane = document.querySelector('#viewer .pane.cut').getBoundingClientRect();
        const img = document.getElementById('viewer-after').getBoundingClientRect();
        const s = img.width / document.getElementById('viewer-after').naturalWidth;
        const [x0, y0, x1, y1] = document.getElementById('viewer').dataset.box.split(',').map(Number);
        return [img.left + s * (x0 + x1) / 2 - (pane.left + pane.width / 2), img.top + s * (y0 + y1) / 2 - (pane.top + pane.height / 2)];""")
    assert abs(centre[0]) < 2 and abs(centre[1]) < 2, centre
    press("j")  # next object, still in the viewer
    wait_until(lambda: viewer.get_attribute("data-key") == f"s3://{IN_BUCKET}/{key_of(3)}", what="next in viewer")
    press(Keys.ESCAPE)
    wait_until(lambda: not viewer.is_displayed(), what="viewer closed")

    Select(browser.find_element(By.ID, "filter")).select_by_value("failed")
    wait_until(lambda: info() == "1–100 of 100", what="failed filter on the server")
    states = {c.get_attribute("data-state") for c in browser.find_elements(By.CSS_SELECTOR, ".card")}
    assert states == {"failed"}
    Select(browser.find_element(By.ID, "filter")).select_by_value("flagged")
    wait_until(lambda: info() == "1–1 of 1", what="flagged filter")
    assert browser.find_element(By.CSS_SELECTOR, ".card").get_attribute("data-key").endswith(key_of(1))
