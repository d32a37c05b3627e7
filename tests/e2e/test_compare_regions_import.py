"""Three features in a real browser at laptop sizes: the Compare page's linked selection, the
Latent map's classifier regions, and the Train page's import of a .zip of class folders.

The linked selection is checked point for point: the rows box-selected in map A (from Plotly's
own data and axis mapping) are the rows ringed in map B, found by their coordinates in B. The
import runs against a second app whose data folder is a temp folder of links to the real
datasets (``writable_data_app_url``), so nothing is ever written into the shared data.
"""

from __future__ import annotations

import io
import json
import re
import stat
import zipfile
from pathlib import Path

import pytest

from bench.image_zip import class_folder_zip, shape_picture
from tests.e2e.conftest import open_page, screenshot

pytestmark = pytest.mark.browser

MODEL = "mnist-vae-2d"  # a shipped 2-D MNIST VAE: its map is the latent plane itself
MAP_A = ".st-key-cmp_map_a .js-plotly-plot"
MAP_B = ".st-key-cmp_map_b .js-plotly-plot"
LATENT_MAP = '[data-testid="stPlotlyChart"] .js-plotly-plot'

# A square box around the median point of the map (page pixels), shrunk until it holds at most
# 1,500 points (the page rings at most 2,000), with the rows strictly inside it (1 px in) and
# those inside it give or take a pixel (1 px out): a point on the border may go either way.
BOX = """(gd) => {
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  const pts = [];
  for (const t of gd._fullData) {
    if (t.type !== 'scattergl' || !t.customdata) continue;
    for (let i = 0; i < t.x.length; i++)
      pts.push([xa._offset + xa.l2p(t.x[i]), ya._offset + ya.l2p(t.y[i]),
                Number(t.customdata[i][0])]);
  }
  const med = k => pts.map(p => p[k]).sort((a, b) => a - b)[pts.length >> 1];
  const cx = med(0), cy = med(1);
  const within = (h, pad) => pts.filter(p => Math.abs(p[0] - cx) < h + pad
                                        && Math.abs(p[1] - cy) < h + pad).map(p => p[2]);
  let h = 0.12 * Math.min(xa._length, ya._length);
  while (within(h, 1).length > 1500) h *= 0.8;
  return {x0: box.left + cx - h, y0: box.top + cy - h, x1: box.left + cx + h,
          y1: box.top + cy + h, inner: within(h, -1), outer: within(h, 1), total: pts.length};
}"""

# The rows of the points of the overlay trace "selected" (the rings), found by their exact
# coordinates among the map's own class traces; -1 for a ring on no data point.
RINGED = """(gd) => {
  const key = (x, y) => Math.fround(x) + ',' + Math.fround(y);
  const rows = new Map();
  for (const t of gd._fullData) {
    if (t.type !== 'scattergl' || !t.customdata) continue;
    for (let i = 0; i < t.x.length; i++) rows.set(key(t.x[i], t.y[i]), Number(t.customdata[i][0]));
  }
  const ring = gd._fullData.find(t => t.name === 'selected');
  if (!ring) return null;
  return Array.from(ring.x, (x, i) => rows.has(key(x, ring.y[i])) ? rows.get(key(x, ring.y[i])) : -1);
}"""

# The classifier regions: layout images below the traces, as drawn (a layer="below" image of an
# x/y subplot goes into that subplot's own image layer, under the data; "above" ones do not).
REGIONS = """(gd) => ({
  images: (gd._fullLayout.images || []).filter(im => im.visible !== false)
    .map(im => ({layer: im.layer, xref: im.xref, yref: im.yref,
                 png: String(im.source).startsWith('data:image/png')})),
  drawn: gd.querySelectorAll('.layer-subplot .imagelayer image').length,
  classes: gd._fullData.filter(t => t.type === 'scattergl' && t.customdata).length,
})"""


@pytest.fixture
def laptop(browser):
    """A page at 1280x800 (the size of a common laptop screen)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def idle(pg) -> None:
    """The current run is over and no element is left over from an earlier one."""
    pg.wait_for_function(
        "() => document.querySelector('[data-testid=stApp]')?.dataset.testScriptState"
        " === 'notRunning' && !document.querySelector('[data-stale=\"true\"]')",
        timeout=120_000,
    )


def test_compare_box_selection_in_a_rings_the_same_images_in_b(laptop, app_url) -> None:
    pg = laptop
    open_page(pg, app_url, f"Compare?model={MODEL}")
    a, b = pg.locator(MAP_A), pg.locator(MAP_B)
    a.wait_for(timeout=90_000)
    b.wait_for(timeout=90_000)
    a.scroll_into_view_if_needed()
    pg.wait_for_function(  # both scatters carry all their points
        "([s]) => [...document.querySelectorAll(s)].length === 2 && [...document.querySelectorAll(s)]"
        ".every(gd => gd._fullData && gd._fullData.filter(t => t.customdata).length === 10)",
        arg=[".st-key-cmp_map_a .js-plotly-plot, .st-key-cmp_map_b .js-plotly-plot"],
    )
    box = a.evaluate(BOX)
    assert box["total"] == 10_000
    assert 20 <= len(box["inner"]) <= len(box["outer"]) <= 1600

    pg.locator('.st-key-cmp_map_a .modebar-btn[data-title="Box Select"]').click()
    pg.mouse.move(box["x0"], box["y0"])
    pg.mouse.down()
    pg.mouse.move(box["x1"], box["y1"], steps=10)
    pg.mouse.up()

    caption = pg.get_by_text(re.compile(r"the same images are ringed in both \([\d,]+ selected\)"))
    caption.wait_for(timeout=60_000)
    pg.wait_for_function(
        "([a, b]) => [a, b].every(s => { const gd = document.querySelector(s);"
        " return gd && gd._fullData.some(t => t.name === 'selected'); })",
        arg=[MAP_A, MAP_B],
    )
    idle(pg)
    n = int(re.search(r"\(([\d,]+) selected\)", caption.inner_text())[1].replace(",", ""))
    ringed_a, ringed_b = a.evaluate(RINGED), b.evaluate(RINGED)
    assert -1 not in ringed_a and -1 not in ringed_b  # every ring sits on a data point
    selected = set(ringed_a)
    assert len(ringed_a) == len(selected) == n
    assert set(box["inner"]) <= selected <= set(box["outer"])  # what the box covers in A
    assert set(ringed_b) == selected and len(ringed_b) == n  # the same test images in B

    table = pg.locator('[data-testid="stDataFrame"]')
    table.scroll_into_view_if_needed()
    assert table.is_visible() and table.bounding_box()["height"] > 60
    recon = pg.get_by_text("top: the test images (the first selected)")
    recon.scroll_into_view_if_needed()
    assert recon.is_visible()
    image = pg.locator('[data-testid="stImage"] img').first
    assert image.evaluate("img => img.complete && img.naturalWidth > 100")
    assert pg.locator('[data-testid="stException"]').count() == 0
    screenshot(pg, "compare-linked-selection")


@pytest.mark.parametrize("viewport", [(1280, 800), (1024, 768)])
def test_classifier_regions_are_drawn_under_the_2d_map_and_removed(
    browser, app_url, viewport
) -> None:
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    try:
        open_page(pg, app_url, f"Latent_map?model={MODEL}")
        plot = pg.locator(LATENT_MAP).first
        plot.wait_for(timeout=90_000)
        assert plot.evaluate(REGIONS) == {"images": [], "drawn": 0, "classes": 10}
        toggle = pg.get_by_text("Classifier regions", exact=True)
        toggle.click()
        note = pg.get_by_text(re.compile(r"lie in another class's region: the model's confusions"))
        note.wait_for(timeout=90_000)
        idle(pg)
        pg.wait_for_function(  # the chart redrawn with the image
            "([s]) => document.querySelector(s)?.querySelectorAll('.imagelayer image').length",
            arg=[LATENT_MAP],
        )
        drawn = pg.locator(LATENT_MAP).first.evaluate(REGIONS)
        regions = {"layer": "below", "xref": "x", "yref": "y", "png": True}
        assert drawn == {"images": [regions], "drawn": 1, "classes": 10}
        found = re.search(r"([\d,]+) of 10,000", note.inner_text())
        assert found and 0 < int(found[1].replace(",", "")) < 10_000
        screenshot(pg, f"latent-map-regions-{viewport[0]}")

        toggle.click()
        note.wait_for(state="detached", timeout=60_000)
        idle(pg)
        pg.wait_for_function(
            "([s]) => { const gd = document.querySelector(s);"
            " return gd && !gd.querySelector('.imagelayer image'); }",
            arg=[LATENT_MAP],
        )
        assert pg.locator(LATENT_MAP).first.evaluate(REGIONS) == {
            "images": [],
            "drawn": 0,
            "classes": 10,
        }
    finally:
        context.close()


def hostile_zip(kind: str) -> bytes:
    """A valid set of two classes plus one entry the import must refuse."""
    buf = io.BytesIO()
    good = class_folder_zip(("circles", "squares"), 3)
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(buf, "w") as zf:
        for info in src.infolist():
            zf.writestr(info, src.read(info))
        png = io.BytesIO()
        shape_picture("circles", 9).save(png, format="PNG")
        if kind == "climb":
            zf.writestr("../evil.png", png.getvalue())
        else:
            link = zipfile.ZipInfo("circles/evil.png")
            link.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(link, "/etc/passwd")
    return buf.getvalue()


def every_path(folder: Path) -> set[str]:
    """Everything under ``folder``, links not followed (the linked datasets count as one entry)."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def upload_and_import(pg, payload: bytes, file_name: str, name: str) -> None:
    panel = pg.locator('[data-testid="stExpander"]').filter(has_text="Your own images")
    panel.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": file_name, "mimeType": "application/zip", "buffer": payload}]
    )
    panel.get_by_text(file_name).wait_for()  # the upload is in
    field = panel.get_by_label("Dataset name")
    field.fill(name)
    field.press("Enter")  # commit the text (a rerun) before the button reads it
    button = panel.get_by_role("button", name="Import")
    pg.wait_for_function("(b) => !b.disabled", arg=button.element_handle())
    idle(pg)
    button.click()


def test_a_zip_of_class_folders_is_imported_and_hostile_zips_are_refused(
    browser, writable_data_app_url
) -> None:
    url, data = writable_data_app_url
    real = Path(data / "mnist").resolve().parent  # the shared datasets, reached via the links
    real_before = every_path(real)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    try:
        open_page(pg, url, "Train")
        pg.get_by_text("Your own images (.zip)").click()
        panel = pg.locator('[data-testid="stExpander"]').filter(has_text="Your own images")
        assert panel.get_by_text(str(data)).is_visible()  # says where it stores the set

        upload_and_import(pg, class_folder_zip(per_class=5), "shapes.zip", "e2e-shapes")
        done = pg.get_by_text(re.compile(r"Imported 'e2e-shapes' \(train\+test images per class"))
        done.wait_for(timeout=60_000)
        idle(pg)
        counts = dict(re.findall(r"(\w+) (\d+\+\d+)", done.inner_text().split("class: ")[1]))
        assert counts == {"circles": "4+1", "crosses": "4+1", "squares": "4+1"}
        manifest = json.loads((data / "e2e-shapes" / "dataset.json").read_text())
        assert manifest["class_names"] == ["circles", "crosses", "squares"]
        assert manifest["counts"]["train"] == 12 and manifest["counts"]["test"] == 3

        box = pg.locator('[data-testid="stSelectbox"]').filter(has_text="Dataset").first
        box.scroll_into_view_if_needed()
        box.locator("input").click()
        options = pg.locator('[role="option"]')
        options.filter(has_text="e2e-shapes").first.wait_for()
        offered = options.all_inner_texts()  # (sets imported into the user cache are listed too)
        assert offered[:2] == ["MNIST", "Fashion-MNIST"] and "e2e-shapes" in offered
        pg.keyboard.press("Escape")
        screenshot(pg, "train-import")

        written = every_path(data)
        for kind, words in (("climb", "climbs out of its folder"), ("link", "symbolic link")):
            upload_and_import(pg, hostile_zip(kind), f"{kind}.zip", f"evil-{kind}")
            refused = pg.get_by_text(re.compile(f"Not imported: .*{words}; refused"))
            refused.wait_for(timeout=60_000)
            idle(pg)
            assert every_path(data) == written, kind  # no set, no half-written temp folder
            assert not (data.parent / "evil.png").exists()
        assert every_path(real) == real_before
        assert pg.locator('[data-testid="stException"]').count() == 0
    finally:
        context.close()
