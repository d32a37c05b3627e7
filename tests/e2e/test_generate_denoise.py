"""Generate, Denoising and Interpolation in a real browser with the shipped models.

The model is chosen on Home by its title and each page is opened from the sidebar (same
session). Screenshots go to test-artifacts/gen-*.png, den-*.png and interp-*.png.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from bench.app_process import picker_label
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
    if not picker_label(title).match(chosen.input_value()):
        box.click()
        pg.locator('[role="option"]').filter(has_text=picker_label(title)).first.click()
        pg.wait_for_function(
            "(t) => { const v = document.querySelector('[data-testid=stSidebar] input').value;"
            " return v === t || v.startsWith(t + ' · '); }",
            arg=title,
        )
    nav = pg.locator(f'[data-testid="stSidebarNav"] a[href$="/{path}"]')
    if nav.count() == 0:
        pg.locator('[data-testid="stSidebarNav"]').get_by_text("View").first.click()
    nav.first.click()
    wait_done(pg, last)
    assert picker_label(title).match(chosen.input_value())
    assert pg.locator('[data-testid="stException"]').count() == 0


def choose(pg, label: str, option: str) -> None:
    """Pick ``option`` in the selectbox labelled ``label``."""
    pg.locator('[data-testid="stSelectbox"]').filter(has_text=label).first.click()
    pg.locator('[role="option"]').filter(has_text=option).first.click()


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


def scores(pg) -> list[str]:
    """The 'PSNR … · SSIM …' line under each scored image of the Denoise page."""
    lines = pg.locator('[data-testid="stMarkdownContainer"]').filter(has_text=" · SSIM ")
    return [t for t in lines.all_inner_texts() if t.startswith("PSNR ")]


# Images and score lines of the result rows must not overlap at laptop sizes, and nothing may
# stick out sideways (the former st.metric layout cut and overlapped the figures at 1024 px).
OVERLAPS = """() => {
  const boxes = [...document.querySelectorAll(
      '[data-testid="stImage"], [data-testid="stMarkdownContainer"]')]
    .filter(el => el.innerText.startsWith('PSNR ') || el.matches('[data-testid="stImage"]'))
    .map(el => el.getBoundingClientRect()).filter(r => r.width > 0);
  let n = 0;
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1) n++;
  }
  const main = document.querySelector('[data-testid="stMain"]');
  return {overlaps: n, sideways: main.scrollWidth - main.clientWidth};
}"""


def test_denoise_opens_on_occlusion_and_shows_the_denoising_vae(page, app_url) -> None:
    visit(
        page,
        app_url,
        "Denoise",
        shipped_title("MNIST VAE, 16-D", "MNIST VAE"),
        ".st-key-dn_curve_ssim",
    )
    shown = scores(page)  # noisy input; 16-D VAE and 16-D denoising VAE x (plain, latent fit)
    assert len(shown) == 5 and all(" dB · SSIM " in v for v in shown), shown
    assert page.get_by_text("Masked objective").count() == 1
    assert page.get_by_text("16-D denoising VAE", exact=True).count() == 1
    screenshot(page, "den-occlusion")
    for width, height in ((1024, 768), (1280, 800)):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(500)
        assert page.evaluate(OVERLAPS) == {"overlaps": 0, "sideways": 0}, width
    page.set_viewport_size({"width": 1400, "height": 2400})
    choose(page, "Noise", "Gaussian")
    wait_done(page, ".st-key-dn_curve_ssim")
    assert len(scores(page)) == 3  # noisy input and one reconstruction per model
    assert page.get_by_text("Why a VAE trained on clean digits makes this worse").count() == 1
    screenshot(page, "den-gaussian")


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
    assert len(scores(page)) == 5
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
    assert len(scores(page)) == 5
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
