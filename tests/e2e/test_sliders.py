"""Latent sliders in a real browser: the image follows a slider while the mouse is still down.

Uses the first model the sidebar offers (a shipped checkpoint). The key check reads the live
canvas pixels during the drag, before the mouse is released, when the server has not been told
anything yet; after the release the page shows the PyTorch decode and its agreement with the
browser's pixels.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from bench.app_process import picker_label
from tests.e2e.conftest import open_page, screenshot

pytestmark = pytest.mark.browser

CANVAS = '[data-testid="live-image"]'
SLIDERS = '[data-testid^="z-slider-"]'
CHANGED = "([c, before]) => c.toDataURL() !== before"


@pytest.fixture
def sliders_page(page, app_url):
    """The page with the default model, once the browser has drawn its first decode."""
    open_page(page, app_url, "Latent_sliders")
    page.locator(f'{CANVAS}[data-ready="1"]').wait_for(timeout=90_000)
    return page


def _server_z(page) -> str:
    """The z of the server's last run, as the page handed it to the component."""
    return page.locator('[data-testid="live-decoder"]').get_attribute("data-server-z")


SERVER_Z_CHANGED = "([root, old]) => root.dataset.serverZ !== old"
SERVER_Z_HAS = "([root, v]) => root.dataset.serverZ.split(',').includes(v)"


def _root(page):
    return page.locator('[data-testid="live-decoder"]').element_handle()


def test_canvas_changes_before_release(sliders_page) -> None:
    page = sliders_page
    canvas = page.locator(CANVAS)
    slider = page.locator(SLIDERS).first  # the dim with the largest KL
    z_before = _server_z(page)
    before = canvas.evaluate("c => c.toDataURL()")
    frames_before = int(canvas.get_attribute("data-frames"))
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.9, y, steps=12)
    page.wait_for_function(CHANGED, arg=[canvas.element_handle(), before], timeout=10_000)
    # Still pressed: the browser redrew several frames, and the server has not rerun.
    assert int(canvas.get_attribute("data-frames")) > frames_before + 1
    assert _server_z(page) == z_before
    value = float(slider.input_value())
    assert value > 1.0
    assert f"{value:.4f}" in page.locator('[data-testid="live-z"]').inner_text()  # live readout
    screenshot(page, "sliders-dragging")

    page.mouse.up()
    page.wait_for_function(SERVER_Z_CHANGED, arg=[_root(page), z_before], timeout=60_000)
    page.get_by_text("Browser vs PyTorch").wait_for(timeout=60_000)
    gap = re.search(
        r"max difference ([0-9.e+-]+)", page.get_by_text("Browser vs PyTorch").inner_text()
    )
    assert gap is not None and float(gap.group(1)) < 1e-4
    assert f"{value:.4f}" in _server_z(page).split(",")
    # The rerun re-rendered the component but did not download the weights again.
    assert page.evaluate("window.__vaeLabStats.fetches") == 1
    screenshot(page, "sliders-released")
    page.get_by_text("Browser vs PyTorch").scroll_into_view_if_needed()
    screenshot(page, "sliders-server-side")


def test_pad_moves_two_dims(sliders_page) -> None:
    page = sliders_page
    pad = page.locator('[data-testid="z-pad"]')
    canvas = page.locator(CANVAS)
    before = canvas.evaluate("c => c.toDataURL()")
    box = pad.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.15, steps=8)
    page.wait_for_function(CHANGED, arg=[canvas.element_handle(), before], timeout=10_000)
    dims = [page.locator(f'[data-testid="z-pad-dim-{a}"]').input_value() for a in (0, 1)]
    x = float(page.locator(f'[data-testid="z-slider-{dims[0]}"]').input_value())
    y = float(page.locator(f'[data-testid="z-slider-{dims[1]}"]').input_value())
    page.mouse.up()
    assert x < -1.5 and y > 1.5  # left and up on the pad


BURST_JS = """(slider) => {
  for (const v of [-2.0, -1.0, 0.5, 1.5, 2.25]) {  // e.g. a held arrow key: one change each
    slider.value = String(v);
    slider.dispatchEvent(new Event("input", { bubbles: true }));
    slider.dispatchEvent(new Event("change", { bubbles: true }));
  }
}"""


SLOW_FIRST_DECODE_JS = """() => {  // the next server decode answers 1.5 s late
  const fetchNow = window.fetch;
  let delayed = false;
  window.__lateAnswered = false;
  window.fetch = (url, opts) => {
    const answer = fetchNow(url, opts);
    if (delayed || !String(url).includes("/vae-lab/decode")) return answer;
    delayed = true;
    return answer.then((r) => new Promise((ok) => setTimeout(() => {
      window.__lateAnswered = true;
      ok(r);
    }, 1500)));
  };
}"""


def test_a_late_server_answer_does_not_undo_a_later_release(sliders_page) -> None:
    """The decode route answers from a thread pool, so answers can come back out of order: the
    z the server keeps must still be the last one released, not the one answered last."""
    page = sliders_page
    slider = page.locator(SLIDERS).first
    page.evaluate(SLOW_FIRST_DECODE_JS)
    slider.evaluate(BURST_JS)  # first release: -2.0 (answered late); the last: 2.25
    page.wait_for_function("() => window.__lateAnswered", timeout=30_000)
    page.wait_for_timeout(1000)  # time for a report of -2.0 to reach the server, if it is sent
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')
    page.wait_for_function(SERVER_Z_HAS, arg=[_root(page), "2.2500"], timeout=30_000)
    assert "-2.0000" not in _server_z(page).split(",")
    assert float(slider.input_value()) == 2.25


def test_burst_of_changes_reports_the_last_z(sliders_page) -> None:
    """Releases are sent at once but throttled: a burst ends on the server with its last z."""
    page = sliders_page
    slider = page.locator(SLIDERS).first
    slider.evaluate(BURST_JS)
    page.wait_for_function(SERVER_Z_HAS, arg=[_root(page), "2.2500"], timeout=60_000)
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')
    assert "2.2500" in _server_z(page).split(",")
    assert float(slider.input_value()) == 2.25
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.get_by_text("Browser vs PyTorch").count() == 1
    assert page.locator('[data-testid="stImage"] img').count() >= 1  # the traversals
    assert float(page.locator('[data-testid="server-image"]').get_attribute("data-gap")) < 1e-4


# Laptop, desktop and phone windows. The page scrolls inside stMain, beside a 300 px sidebar on
# the wider ones, so a component too wide for the page overflows stMain, not the document.
VIEWPORTS = [(1920, 1080), (1280, 800), (1152, 864), (1024, 768), (390, 844)]
MIN_TRACK_PX = 160
LAYOUT_JS = """() => {
  const main = document.querySelector('[data-testid="stMain"]');
  return {
    vw: window.innerWidth,
    docScroll: document.documentElement.scrollWidth,
    mainScroll: main.scrollWidth,
    mainClient: main.clientWidth,
  };
}"""
# Streamlit slides its sidebar shut when the window gets phone-narrow: measure once the sidebar
# and stMain have kept their size for 10 animation frames.
SETTLE_JS = """async () => {
  const sidebar = document.querySelector('[data-testid="stSidebar"]');
  const main = document.querySelector('[data-testid="stMain"]');
  let last = "", same = 0;
  for (let i = 0; i < 300 && same < 10; i++) {
    await new Promise((r) => requestAnimationFrame(r));
    const r = sidebar.getBoundingClientRect();
    const now = `${r.left},${r.width},${main.clientWidth}`;
    same = now === last ? same + 1 : 0;
    last = now;
  }
}"""
# The component's top just below Streamlit's header (which covers the page's top 60 px).
TOP_JS = """e => {
  e.scrollIntoView();
  document.querySelector('[data-testid="stMain"]').scrollBy(0, -70);
}"""
SPAN_JS = "e => { const r = e.getBoundingClientRect(); return [r.left, r.right]; }"
PICKER = '[data-testid="stSidebar"] [data-testid="stSelectbox"]'


def _choose_model(page, title: str) -> None:
    """Pick ``title`` in the sidebar and wait for its decoder's first frame."""
    if picker_label(title).match(page.locator(f"{PICKER} input").first.input_value()):
        return
    old = page.locator('[data-testid="live-decoder"]').get_attribute("data-hash")
    page.locator(PICKER).first.click()
    label = picker_label(title)
    page.locator('[role="option"]').filter(has_text=label).first.click()
    page.locator(f'[data-testid="live-decoder"]:not([data-hash="{old}"]) {CANVAS}').wait_for()
    page.locator(f'{CANVAS}[data-ready="1"]').wait_for(timeout=90_000)


def _drag(page, slider, start: float, end: float) -> None:
    """Press the mouse on ``slider`` at ``start`` of its track and move it to ``end``, then
    check the live image changed while the mouse was down and the thumb followed."""
    canvas = page.locator(CANVAS)
    slider.scroll_into_view_if_needed()
    before = canvas.evaluate("c => c.toDataURL()")
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * start, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * end, y, steps=8)
    page.wait_for_function(CHANGED, arg=[canvas.element_handle(), before], timeout=10_000)
    page.mouse.up()
    lo, hi = float(slider.get_attribute("min")), float(slider.get_attribute("max"))
    share = (float(slider.input_value()) - lo) / (hi - lo)
    assert abs(share - end) < 0.15, (start, end, share)  # the thumb went where the mouse went
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]')


@pytest.mark.parametrize("model", ["MNIST VAE, 2-D latent", "MNIST VAE, 16-D latent"])
def test_layout_fits_laptop_and_phone_windows(browser, app_url, model: str) -> None:
    """At every window size: each slider's track is long enough to drag, nothing overflows the
    page sideways, the pad and both images lie whole inside the window, the z readout shows all
    of z, and a mouse drag on a slider changes the live image."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        open_page(page, app_url, "Latent_sliders")
        page.locator(f'{CANVAS}[data-ready="1"]').wait_for(timeout=90_000)
        _choose_model(page, model)
        n_dims = page.locator(SLIDERS).count()
        assert n_dims == (2 if "2-D" in model else 16)
        for k, (width, height) in enumerate(VIEWPORTS):
            page.set_viewport_size({"width": width, "height": height})
            page.evaluate(SETTLE_JS)
            where = f"{model} at {width}x{height}"
            tracks = page.locator(SLIDERS).evaluate_all(
                "els => els.map((e) => e.getBoundingClientRect().width)"
            )
            assert len(tracks) == n_dims and min(tracks) >= MIN_TRACK_PX, (where, tracks)
            layout = page.evaluate(LAYOUT_JS)
            assert layout["docScroll"] <= layout["vw"], (where, layout)
            assert layout["mainScroll"] <= layout["mainClient"], (where, layout)
            for testid in ("z-pad", "live-image", "server-image"):
                left, right = page.locator(f'[data-testid="{testid}"]').evaluate(SPAN_JS)
                assert left >= 0 and right <= width, (where, testid, left, right)
            readout = page.locator('[data-testid="live-z"]')
            scroll, client = readout.evaluate("e => [e.scrollWidth, e.clientWidth]")
            assert scroll <= client, (where, "z readout clipped", scroll, client)
            assert readout.inner_text().count(",") == n_dims - 1
            page.locator('[data-testid="live-decoder"]').evaluate(TOP_JS)
            screenshot(page, f"sliders-{n_dims}d-{width}x{height}")
            start, end = (0.2, 0.8) if k % 2 == 0 else (0.8, 0.2)
            _drag(page, page.locator(SLIDERS).first, start, end)
    finally:
        context.close()


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


@pytest.mark.parametrize("size", [(1280, 800), (1024, 768)])
def test_a_link_opens_that_code(browser, app_url, size) -> None:
    """?model=&z= in the address opens the sliders at that code; "Copy link" gives it back."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        open_page(page, app_url, "Latent_sliders?model=mnist-vae-2d&z=1.5,-0.5")
        page.locator(f'{CANVAS}[data-ready="1"]').wait_for(timeout=90_000)
        assert page.get_by_test_id("live-z").inner_text() == "z = [+1.5000, -0.5000]"
        assert _query(page.url) == {"model": ["mnist-vae-2d"], "z": ["1.5,-0.5"]}
        href = page.get_by_test_id("live-link").get_attribute("href")
        assert href.split("?")[0] == page.url.split("?")[0]
        assert _query(href) == _query(page.url)
        assert page.get_by_test_id("live-link").is_visible()
        screenshot(page, f"sliders-link-{size[0]}")
        open_page(page, app_url, "Latent_sliders?model=mnist-cvae-2d&z=0.5,1&y=3")
        page.locator(f'{CANVAS}[data-ready="1"]').wait_for(timeout=90_000)
        assert page.get_by_test_id("live-z").inner_text() == "z = [+0.5000, +1.0000]"
        href = page.get_by_test_id("live-link").get_attribute("href")
        assert _query(href) == {"model": ["mnist-cvae-2d"], "z": ["0.5,1"], "y": ["3"]}
    finally:
        context.close()
