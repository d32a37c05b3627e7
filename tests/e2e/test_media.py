"""Images survive fast reruns: stepping a slider with the keyboard gives no 404 in the browser.

Streamlit's media file manager deletes an image a run drew as soon as a later run of the same
session finishes without it; with reruns a keypress apart, the browser asks for images that are
already gone (404 in the console and the network log, a broken image for a moment). Small
images are sent inside the page instead (``ui.images``), so there is nothing to fetch.
"""

from __future__ import annotations

import pytest

from bench.app_process import picker_label
from tests.e2e.conftest import open_page, screenshot, shipped_title

pytestmark = pytest.mark.browser

IDLE = (
    "() => document.querySelector('[data-testid=stApp]')?.dataset.testScriptState === 'notRunning'"
)


def _choose_model(pg, title: str) -> None:
    box = pg.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first
    if not picker_label(title).match(box.locator("input").input_value()):
        box.click()
        pg.locator('[role="option"]').filter(has_text=picker_label(title)).first.click()
        pg.wait_for_timeout(1000)
        pg.wait_for_function(IDLE)


def _step_slider(pg, label: str, presses: int) -> list[str]:
    """Press ArrowRight on the slider ``label`` ``presses`` times (~80 ms apart); the 404s seen."""
    failed: list[str] = []
    pg.on("response", lambda r: failed.append(r.url) if r.status == 404 else None)
    pg.on("console", lambda m: failed.append(m.text) if "404" in m.text else None)
    thumb = pg.locator('[data-testid="stSlider"]').filter(has_text=label).get_by_role("slider")
    thumb.first.focus()
    for _ in range(presses):
        pg.keyboard.press("ArrowRight")
        pg.wait_for_timeout(80)
    pg.wait_for_timeout(3000)
    pg.wait_for_function(IDLE, timeout=120_000)
    pg.wait_for_timeout(1000)
    return failed


def _open(pg, app_url: str, path: str, title: str) -> None:
    open_page(pg, app_url)
    _choose_model(pg, title)
    nav = pg.locator(f'[data-testid="stSidebarNav"] a[href$="/{path}"]')
    if nav.count() == 0:
        pg.locator('[data-testid="stSidebarNav"]').get_by_text("View").first.click()
    nav.first.click()
    pg.wait_for_timeout(1500)
    pg.wait_for_function(IDLE, timeout=120_000)
    pg.locator('[data-testid="stImage"] img').first.wait_for()
    # The first images can show while the page's run still computes what follows them (the
    # Denoise curve): wait for the whole run, or the steps below interrupt and restart it.
    pg.wait_for_timeout(500)
    pg.wait_for_function(IDLE, timeout=240_000)


def test_stepping_generate_temperature_fetches_no_missing_image(page, app_url) -> None:
    _open(page, app_url, "Generate", shipped_title("MNIST CVAE, 2-D", "MNIST CVAE"))
    failed = _step_slider(page, "Temperature", 8)
    screenshot(page, "media-generate")
    assert not failed, failed
    assert not page.locator('[data-testid="stException"]').count()


def test_stepping_denoise_level_fetches_no_missing_image(page, app_url) -> None:
    _open(page, app_url, "Denoise", shipped_title("MNIST VAE, 2-D"))
    failed = _step_slider(page, "Level", 8)
    screenshot(page, "media-denoise")
    assert not failed, failed
    assert not page.locator('[data-testid="stException"]').count()


def test_stepping_interpolate_steps_fetches_no_missing_image(page, app_url) -> None:
    _open(page, app_url, "Interpolate", shipped_title("MNIST VAE, 2-D"))
    failed = _step_slider(page, "Steps", 14)
    screenshot(page, "media-interpolate")
    assert not failed, failed
    assert not page.locator('[data-testid="stException"]').count()


def test_stepping_latent_map_grid_size_fetches_no_missing_image(page, app_url) -> None:
    _open(page, app_url, "Latent_map", shipped_title("MNIST VAE, 2-D"))
    page.locator('[data-testid="stSlider"]').filter(has_text="Grid size N").wait_for()
    failed = _step_slider(page, "Grid size N", 8)
    screenshot(page, "media-latent-map")
    assert not failed, failed
    assert not page.locator('[data-testid="stException"]').count()
