"""Latent map in a real browser: the WebGL scatter appears, and clicking a point selects it.

Uses the first model the sidebar offers (a shipped checkpoint). The click goes to the pixel of a
real data point, computed from Plotly's own axis mapping, so it exercises the whole path:
plotly_click -> Streamlit selection -> rerun -> the posterior panel and the 2σ ellipse.
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.e2e.conftest import open_page, screenshot

pytestmark = pytest.mark.browser

PLOT = '[data-testid="stPlotlyChart"] .js-plotly-plot'

# Page pixel and dataset row of the right-most point of the top-most class trace (drawn last of the data, so
# no other point covers it; overlays carry no customdata), from Plotly's axis objects;
# customdata arrives as typed arrays in _fullData.
POINT_XY = """(gd) => {
  const traces = gd._fullData.filter(t => t.type === 'scattergl' && t.customdata);
  const t = traces[traces.length - 1];
  let best = 0;
  for (let i = 1; i < t.x.length; i++) if (t.x[i] > t.x[best]) best = i;
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  return [box.left + xa._offset + xa.l2p(t.x[best]), box.top + ya._offset + ya.l2p(t.y[best]),
          Number(t.customdata[best][0])];
}"""
# Page pixel of the data point nearest the centre of the densest 12-px cell of the map (all
# class traces together): a point deep inside a cluster, covered by its neighbours.
DENSEST_XY = """(gd) => {
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  const cells = new Map(), pts = [];
  for (const t of gd._fullData) {
    if (t.type !== 'scattergl' || !t.customdata) continue;
    for (let i = 0; i < t.x.length; i++) {
      const px = xa._offset + xa.l2p(t.x[i]), py = ya._offset + ya.l2p(t.y[i]);
      const key = Math.floor(px / 12) + ',' + Math.floor(py / 12);
      cells.set(key, (cells.get(key) || 0) + 1);
      pts.push([px, py, key]);
    }
  }
  let best = null, most = -1;
  for (const [k, c] of cells) if (c > most) { most = c; best = k; }
  const [cx, cy] = best.split(',').map(v => (Number(v) + 0.5) * 12);
  let p = null, d = Infinity;
  for (const q of pts) {
    const e = (q[0] - cx) ** 2 + (q[1] - cy) ** 2;
    if (q[2] === best && e < d) { d = e; p = q; }
  }
  return [box.left + p[0], box.top + p[1], most];
}"""
# Page pixel of the first point of the overlay trace called ``name``, its index and type.
OVERLAY_XY = """([name]) => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  const gd = plots.find(g => g.data.some(t => t.name === name));
  const i = gd._fullData.findIndex(t => t.name === name), t = gd._fullData[i];
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  return [box.left + xa._offset + xa.l2p(t.x[0]), box.top + ya._offset + ya.l2p(t.y[0]), i,
          t.type];
}"""
# Trace names of every plot (a rerun can briefly show the old chart beside the new one).
TRACE_NAMES = "() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(gd => gd.data.map(t => t.name))"


def test_scatter_renders_and_a_click_selects_a_point(page, app_url) -> None:
    open_page(page, app_url, "Latent_map")
    plot = page.locator(PLOT).first
    plot.wait_for(timeout=90_000)
    page.locator(f"{PLOT} canvas").first.wait_for(state="attached")  # the WebGL layer
    kinds = plot.evaluate("gd => gd._fullData.filter(t => t.customdata).map(t => t.type)")
    assert kinds == ["scattergl"] * 10  # one trace per class
    n_points = plot.evaluate(
        "gd => gd._fullData.filter(t => t.customdata).reduce((s, t) => s + t.customdata.length, 0)"
    )
    assert n_points >= 5000
    assert page.get_by_text("Decoded manifold").is_visible()
    assert page.get_by_text("Click a point on the map").is_visible()
    screenshot(page, "latent-map")

    x, y, _ = plot.evaluate(POINT_XY)
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


def crop(page, x: float, y: float, half: int = 4) -> np.ndarray:
    """RGB pixels of the (2 half + 1)² square around page pixel (x, y)."""
    clip = {
        "x": round(x) - half,
        "y": round(y) - half,
        "width": 2 * half + 1,
        "height": 2 * half + 1,
    }
    return np.asarray(Image.open(io.BytesIO(page.screenshot(clip=clip))).convert("RGB"), int)


def settle(page) -> None:
    """No hover label over the map, and a frame or two for the WebGL layer to be drawn."""
    page.mouse.move(2, 2)
    page.wait_for_timeout(1500)


def test_a_clicked_point_inside_a_cluster_is_marked_on_top(page, app_url) -> None:
    """The black cross of the selected point is drawn above the WebGL cloud, not under it."""
    open_page(page, app_url, "Latent_map")
    plot = page.locator(PLOT).first
    plot.wait_for(timeout=90_000)
    page.locator(f"{PLOT} canvas").first.wait_for(state="attached")
    plot.scroll_into_view_if_needed()
    x, y, most = plot.evaluate(DENSEST_XY)
    assert most >= 20  # a dense cluster: at least 20 points in one 12-px cell
    page.mouse.move(x, y)
    page.mouse.click(x, y)
    page.get_by_text("2σ ellipse on the map").wait_for(timeout=60_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.js-plotly-plot')]"
        ".some(gd => gd.data.some(t => /^#[0-9]+$/.test(t.name || '')))",
        timeout=30_000,
    )
    name = next(n for n in page.evaluate(TRACE_NAMES) if re.fullmatch(r"#\d+", n))
    settle(page)
    mx, my, index, kind = page.evaluate(OVERLAY_XY, [name])
    assert (kind, index > 9) == ("scattergl", True)  # WebGL, after the ten class traces
    pixels = crop(page, mx, my)
    dark = int((pixels.max(axis=2) < 80).sum())  # the cross is #111; no class colour is dark
    screenshot(page, "latent-map-dense-selection")
    assert dark >= 8, f"only {dark} of {pixels.shape[0] * pixels.shape[1]} pixels are the marker's"


def overlay_changes_pixels(page, name: str) -> float:
    """Share of the pixels around overlay ``name`` that change when its legend entry hides it.

    Where the encoder puts a drawn digit is not ours to choose, so this is checked wherever it
    lands; the test above checks a marker deep inside a cluster."""
    settle(page)
    x, y, index, kind = page.evaluate(OVERLAY_XY, [name])
    assert (kind, index > 9) == ("scattergl", True)  # WebGL, after the ten class traces
    shown = crop(page, x, y, 6)
    entry = page.locator(f"{PLOT} g.legend g.traces").filter(has_text=name).first
    entry.click()  # plotly's legend toggles the trace's visibility
    settle(page)
    hidden = crop(page, x, y, 6)
    entry.click()
    return float((np.abs(shown - hidden).max(axis=2) > 40).mean())


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
    assert overlay_changes_pixels(page, "your image") > 0.2  # the star is seen, on top


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
    assert overlay_changes_pixels(page, "your image") > 0.2


@pytest.mark.parametrize("viewport", [(1024, 768), (1280, 800)])
def test_hovering_a_point_shows_its_image_and_panning_still_works(page, app_url, viewport) -> None:
    page.set_viewport_size({"width": viewport[0], "height": viewport[1]})
    open_page(page, app_url, "Latent_map")
    plot = page.locator(PLOT).first
    plot.wait_for(timeout=90_000)
    page.locator(f"{PLOT} canvas").first.wait_for(state="attached")
    plot.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => window.__vaeLabHover && window.__vaeLabHover.sprite && window.__vaeLabHover.index",
        timeout=60_000,
    )
    x, y, row = plot.evaluate(POINT_XY)
    page.mouse.move(x - 40, y)
    page.mouse.move(x, y)
    thumb = page.locator('[data-testid="hover-thumb"]')
    thumb.wait_for(state="visible", timeout=5_000)
    assert thumb.get_attribute("data-row") == str(row)
    assert f"#{row}" in thumb.inner_text()
    box = thumb.bounding_box()
    assert box["x"] + box["width"] <= viewport[0] and box["y"] + box["height"] <= viewport[1]
    pixels = np.asarray(Image.open(io.BytesIO(thumb.locator("canvas").screenshot())).convert("L"))
    assert pixels.std() > 20  # a digit, not a blank tile
    screenshot(page, f"latent-map-hover-{viewport[0]}")

    page.mouse.move(2, 2)  # off the chart: the thumbnail goes
    thumb.wait_for(state="hidden", timeout=5_000)
    before = plot.evaluate("gd => gd._fullLayout.xaxis.range.slice()")
    page.locator('.modebar-btn[data-title="Pan"]').first.click()
    page.mouse.move(x - 60, y)
    page.mouse.down()
    page.mouse.move(x + 40, y, steps=8)
    assert not thumb.is_visible()  # never over the view while dragging
    page.mouse.up()
    page.wait_for_function(
        "([before]) => { const gd = document.querySelector('.js-plotly-plot');"
        " return gd._fullLayout.xaxis.range[0] !== before[0]; }",
        arg=[before],
        timeout=10_000,
    )


def test_a_mouse_move_just_before_the_chart_is_purged_raises_nothing(page, app_url) -> None:
    """A rerun or a page change can purge the chart between a mouse move and the thumbnail's
    animation frame (the class load test caught "reading 'xaxis'" page errors): no error then,
    and no thumbnail."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    open_page(page, app_url, "Latent_map")
    plot = page.locator(PLOT).first
    plot.wait_for(timeout=90_000)
    page.wait_for_function(
        "() => window.__vaeLabHover && window.__vaeLabHover.sprite && window.__vaeLabHover.index",
        timeout=60_000,
    )
    x, y, _ = plot.evaluate(POINT_XY)
    # the mouse move queues the lookup for the next frame; then the chart loses its layout, as
    # Plotly.purge leaves it; two frames later it gets it back
    plot.evaluate(
        """(gd, [x, y]) => new Promise((done) => {
          const layout = gd._fullLayout;
          gd.dispatchEvent(new MouseEvent('mousemove', {clientX: x, clientY: y, bubbles: true}));
          delete gd._fullLayout;
          requestAnimationFrame(() => requestAnimationFrame(() => {
            gd._fullLayout = layout;
            done();
          }));
        })""",
        [x, y],
    )
    assert errors == []
    assert not page.locator('[data-testid="hover-thumb"]').is_visible()
