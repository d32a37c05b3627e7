"""Latent map in a real browser: the WebGL scatter appears, and clicking a point selects it.

Uses the first model the sidebar offers (a shipped checkpoint). The click goes to the pixel of a
real data point, computed from Plotly's own axis mapping, so it exercises the whole path:
plotly_click -> Streamlit selection -> rerun -> the posterior panel and the 2σ ellipse.
"""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image, ImageDraw

from tests.e2e.conftest import open_page, screenshot

pytestmark = pytest.mark.browser

PLOT = '[data-testid="stPlotlyChart"] .js-plotly-plot'

# Page pixel of the right-most point of the top-most class trace (drawn last, so nothing
# covers it), from Plotly's axis objects; customdata arrives as typed arrays in _fullData.
POINT_XY = """(gd) => {
  const traces = gd._fullData.filter(t => t.type === 'scattergl');
  const t = traces[traces.length - 1];
  let best = 0;
  for (let i = 1; i < t.x.length; i++) if (t.x[i] > t.x[best]) best = i;
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  return [box.left + xa._offset + xa.l2p(t.x[best]), box.top + ya._offset + ya.l2p(t.y[best])];
}"""
# Trace names of every plot (a rerun can briefly show the old chart beside the new one).
TRACE_NAMES = "() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(gd => gd.data.map(t => t.name))"


def test_scatter_renders_and_a_click_selects_a_point(page, app_url) -> None:
    open_page(page, app_url, "Latent_map")
    plot = page.locator(PLOT).first
    plot.wait_for(timeout=90_000)
    page.locator(f"{PLOT} canvas").first.wait_for(state="attached")  # the WebGL layer
    kinds = plot.evaluate("gd => gd._fullData.map(t => t.type)")
    assert kinds.count("scattergl") == 10  # one trace per class
    n_points = plot.evaluate(
        "gd => gd._fullData.filter(t => t.type === 'scattergl')"
        ".reduce((s, t) => s + t.customdata.length, 0)"
    )
    assert n_points >= 5000
    assert page.get_by_text("Decoded manifold").is_visible()
    assert page.get_by_text("Click a point on the map").is_visible()
    screenshot(page, "latent-map")

    x, y = plot.evaluate(POINT_XY)
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.get_by_text("2σ ellipse on the map").wait_for(timeout=60_000)
    # the rerun drew the chosen point and its ellipse as extra traces
    page.wait_for_function(
        "() => { const gd = document.querySelector('.js-plotly-plot');"
        " return gd && gd.data.some(t => (t.name || '').startsWith('2σ posterior')); }",
        timeout=30_000,
    )
    names = page.evaluate(TRACE_NAMES)
    row = next(int(m[1]) for n in names if (m := re.fullmatch(r"#(\d+)", n)))
    assert page.get_by_text(f"#{row} · ").first.is_visible()  # the image caption
    screenshot(page, "latent-map-selected")


def test_a_drawn_digit_lands_on_the_map(page, app_url) -> None:
    open_page(page, app_url, "Latent_map")
    page.locator(PLOT).first.wait_for(timeout=90_000)
    page.get_by_role("tab", name="Your image").click()
    canvas = page.locator('[data-testid="draw-canvas"]')
    canvas.wait_for(timeout=30_000)
    box = canvas.bounding_box()
    cx, top = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.2
    page.mouse.move(cx, top)
    page.mouse.down()
    page.mouse.move(cx, box["y"] + box["height"] * 0.8, steps=15)  # a "1"
    page.mouse.up()
    page.get_by_text("your image (as the model sees it)").wait_for(timeout=60_000)
    page.wait_for_function(
        "() => { const gd = document.querySelector('.js-plotly-plot');"
        " return gd && gd.data.some(t => t.name === 'your image'); }",
        timeout=30_000,
    )
    screenshot(page, "latent-map-drawn")


def test_an_uploaded_image_lands_on_the_map(page, app_url) -> None:
    """A black-on-white photo-like PNG of any size goes through the shared upload conversion."""
    canvas = Image.new("L", (120, 90), 255)
    ImageDraw.Draw(canvas).line([(40, 15), (80, 15), (55, 80)], fill=0, width=9)  # a "7"
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    open_page(page, app_url, "Latent_map")
    page.locator(PLOT).first.wait_for(timeout=90_000)
    page.get_by_role("tab", name="Your image").click()
    page.get_by_text("Upload", exact=True).click()
    upload = page.locator('[data-testid="stFileUploaderDropzoneInput"]')
    upload.wait_for(state="attached", timeout=30_000)
    upload.set_input_files(
        files=[{"name": "seven.png", "mimeType": "image/png", "buffer": buf.getvalue()}]
    )
    page.get_by_text("your image (as the model sees it)").wait_for(timeout=60_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')]"
        ".some(gd => gd.data.some(t => t.name === 'your image'))",
        timeout=30_000,
    )
    screenshot(page, "latent-map-uploaded")
