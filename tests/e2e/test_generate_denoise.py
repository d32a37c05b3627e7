"""Generate, Denoising and Interpolation in a real browser with the shipped models.

The model is chosen on Home by its title and each page is opened from the sidebar (same
session). Screenshots go to test-artifacts/gen-*.png, den-*.png and interp-*.png.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.e2e.conftest import open_page, screenshot, shipped_title

pytestmark = pytest.mark.browser

DONE = """(sel) => {
  const el = document.querySelector(sel);
  return !!el && !el.closest('[data-stale="true"]')
    && !document.querySelector('[data-testid="stStatusWidget"]')
    && !document.querySelector('[data-testid="stSpinner"]');
}"""


def wait_done(pg, selector: str) -> None:
    """Wait until ``selector`` is drawn by the current run and nothing is computing, twice."""
    for _ in range(2):
        pg.wait_for_timeout(1000)
        pg.wait_for_function(DONE, arg=selector, timeout=300_000)


def visit(pg, app_url: str, path: str, title: str, last: str) -> None:
    """Choose the model on Home, then open the page from the sidebar (same session)."""
    pg.set_viewport_size({"width": 1400, "height": 2400})  # whole page in the screenshots
    open_page(pg, app_url, "")
    box = pg.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first
    chosen = box.locator("input")  # Streamlit 1.67: the choice is the input's value
    if title not in chosen.input_value():
        box.click()
        pg.locator('[role="option"]').filter(has_text=title).first.click()
        pg.wait_for_function(
            "(t) => document.querySelector('[data-testid=stSidebar] input').value.includes(t)",
            arg=title,
        )
    nav = pg.locator(f'[data-testid="stSidebarNav"] a[href$="/{path}"]')
    if nav.count() == 0:
        pg.locator('[data-testid="stSidebarNav"]').get_by_text("View").first.click()
    nav.first.click()
    wait_done(pg, last)
    assert title in chosen.input_value()
    assert pg.locator('[data-testid="stException"]').count() == 0


def choose(pg, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label``."""
    pg.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
    pg.locator('[role="option"]').filter(has_text=option).first.click()


def metric_values(pg, label: str) -> list[str]:
    cards = pg.locator('[data-testid="stMetric"]').filter(has_text=label)
    return [c.locator('[data-testid="stMetricValue"]').inner_text() for c in cards.all()]


def test_generate_class_seven(page, app_url) -> None:
    visit(page, app_url, "Generate", shipped_title("MNIST CVAE"), ".st-key-gen_morph_chart")
    choose(page, "Class", "3")
    wait_done(page, ".st-key-gen_morph_chart")
    page.get_by_text("samples of class 3").wait_for()
    choose(page, "Class", "7")
    page.get_by_role("button", name="Generate new samples").click()
    wait_done(page, ".st-key-gen_morph_chart")
    caption = page.get_by_text("samples of class 7")
    caption.wait_for()
    grid = page.locator('[data-testid="stImage"]').filter(has_text="samples of class 7")
    assert grid.locator("img").first.evaluate("img => img.naturalWidth") > 200
    assert page.locator('[data-testid="stPlotlyChart"]').count() == 2
    screenshot(page, "gen-cvae-class7")


def test_denoise_shows_psnr_and_inpainting(page, app_url) -> None:
    visit(
        page,
        app_url,
        "Denoise",
        shipped_title("MNIST VAE, 16-D", "MNIST VAE"),
        ".st-key-dn_curve_ssim",
    )
    psnr = metric_values(page, "PSNR")
    assert len(psnr) == 2 and all(v.endswith("dB") for v in psnr)
    screenshot(page, "den-gaussian")
    choose(page, "Noise", "Occlusion: lower part")
    wait_done(page, ".st-key-dn_curve_ssim")
    assert len(metric_values(page, "PSNR")) == 3
    assert page.get_by_text("Masked objective").count() == 1
    screenshot(page, "den-occlusion")


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_denoise_upload_and_drawing(page, app_url) -> None:
    visit(
        page,
        app_url,
        "Denoise",
        shipped_title("MNIST VAE, 16-D", "MNIST VAE"),
        ".st-key-dn_curve_ssim",
    )
    page.get_by_text("Upload", exact=True).click()
    uploader = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    uploader.wait_for(state="attached")
    uploader.set_input_files(
        files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"just some text"}]
    )
    page.locator('[data-testid="stAlertContentError"]').filter(has_text="not an image").wait_for()
    screenshot(page, "den-upload-refused")

    sheet = Image.new("L", (400, 300), 235)  # a dark '7' on light paper: inverted and centred
    ImageDraw.Draw(sheet).line([(120, 60), (280, 60), (170, 250)], fill=20, width=24)
    uploader.set_input_files(
        files=[{"name": "seven.png", "mimeType": "image/png", "buffer": _png(np.asarray(sheet))}]
    )
    wait_done(page, ".st-key-dn_curve_ssim")
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    assert len(metric_values(page, "PSNR")) == 2
    screenshot(page, "den-upload")

    page.get_by_text("Draw", exact=True).click()
    canvas = page.locator('canvas[data-testid="draw-canvas"]')
    canvas.wait_for()
    box = canvas.bounding_box()
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + 90, y0 + 60)
    page.mouse.down()
    page.mouse.move(x0 + 200, y0 + 60, steps=8)
    page.mouse.move(x0 + 120, y0 + 240, steps=12)
    page.mouse.up()
    wait_done(page, ".st-key-dn_curve_ssim")
    assert len(metric_values(page, "PSNR")) == 2
    screenshot(page, "den-drawn")


def test_interpolation_strip_and_path(page, app_url) -> None:
    visit(
        page, app_url, "Interpolate", shipped_title("MNIST VAE, 2-D", "MNIST VAE"), ".st-key-ip_map"
    )
    page.get_by_text("compare all").click()
    wait_done(page, ".st-key-ip_map")
    for method in ("lerp", "slerp", "norm-slerp"):
        assert page.get_by_text(f"{method}: 10 steps from A to B", exact=True).count() == 1
    assert page.get_by_role("button", name="Download slerp animation (GIF)").count() == 1
    page.locator(".st-key-ip_map").scroll_into_view_if_needed()
    page.wait_for_timeout(1000)
    screenshot(page, "interp-compare")
