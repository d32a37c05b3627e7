"""Regenerate the README screenshots: one full-page PNG of every page of the app.

Starts ``streamlit run app.py`` on a free 127.0.0.1 port, opens every page in turn in one
Playwright Chromium page (one Streamlit session, so the model chosen in the sidebar carries over),
does the one or two clicks that make the page show its real content, waits until nothing is
computing and saves ``docs/screenshots/<slug>.png`` (256 colours, optimised).

    PYTHONPATH=. VAE_LAB_DATA=../shared/datasets python docs/make_screenshots.py [--only home,ppca]

Needs Chromium (``/usr/bin/chromium`` or ``$VAE_LAB_CHROMIUM``) and the ``playwright`` package.
Prints one line per page: the time it took and whether an exception or ``st.error`` was visible.
The app reads the data through links in a temp folder, so the import shot (a small generated
.zip) never writes into the real data folder.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.app_process import (  # noqa: E402
    BOX_AROUND_MEDIAN,
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    linked_data_dir,
    picker_label,
    stop_process,
    streamlit_command,
)

OUT = ROOT / "docs" / "screenshots"
WIDTH, HEIGHT = 1400, 1000
MAX_BYTES = 400_000
PICKER = '[data-testid="stSidebar"] [data-testid="stSelectbox"]'

# True once the script run is over, nothing is stale and no spinner, progress bar or running
# st.status is on the page.
IDLE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !!document.querySelector('[data-testid="stMain"]')
    && !document.querySelector('[data-stale="true"]')
    && !document.querySelector('[data-testid="stSpinner"]')
    && !document.querySelector('[data-testid="stProgress"]')
    && !document.querySelector('[data-testid="stExpanderIconSpinner"]');
}"""

# Page pixel of the right-most point of the top-most class trace of the latent map (drawn last
# of the data, so no other point covers it; overlays carry no customdata), from Plotly's own
# axis mapping (as tests/e2e/test_latent_map.py).
POINT_XY = """(gd) => {
  const traces = gd._fullData.filter(t => t.type === 'scattergl' && t.customdata);
  const t = traces[traces.length - 1];
  let best = 0;
  for (let i = 1; i < t.x.length; i++) if (t.x[i] > t.x[best]) best = i;
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  return [box.left + xa._offset + xa.l2p(t.x[best]), box.top + ya._offset + ya.l2p(t.y[best])];
}"""

# Height the whole page needs: Streamlit scrolls inside stMain, so a full-page screenshot only
# shows everything once the viewport is that tall.
CONTENT_HEIGHT = """() => {
  const block = document.querySelector('[data-testid="stMainBlockContainer"]');
  const side = document.querySelector('[data-testid="stSidebarContent"]');
  const pad = block ? parseFloat(getComputedStyle(block).paddingBottom) : 0;
  const content = block ? block.getBoundingClientRect().bottom - pad + 32 : 0;
  return Math.ceil(Math.max(content, side ? side.scrollHeight : 0));
}"""


@dataclass(frozen=True)
class Shot:
    slug: str
    path: str  # the URL path of the page ("" is Home)
    models: tuple[str, ...] = ()  # checkpoint file stems, first available wins; () keeps it
    act: Callable[[Page], None] | None = None  # clicks after the page is idle
    ready: str = ""  # a selector the page must show before it counts as drawn
    size: tuple[int, int] = (WIDTH, HEIGHT)  # the viewport (the page grows to its full height)


def wait_idle(pg: Page, timeout_s: float = 300) -> None:
    """Wait until the app is idle, twice a second apart (a click's rerun can start late)."""
    for _ in range(2):
        pg.wait_for_timeout(1000)
        pg.wait_for_function(IDLE, timeout=timeout_s * 1000)


def act_latent_map(pg: Page) -> None:
    plot = pg.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first
    plot.wait_for(timeout=120_000)
    pg.locator('[data-testid="stPlotlyChart"] .js-plotly-plot canvas').first.wait_for(
        state="attached"
    )
    plot.scroll_into_view_if_needed()
    pg.wait_for_timeout(1500)
    x, y = plot.evaluate(POINT_XY)
    pg.mouse.move(x, y)
    pg.mouse.click(x, y)
    pg.get_by_text("2σ ellipse on the map").wait_for(timeout=120_000)
    wait_idle(pg)
    pg.locator('[data-testid="stMain"]').evaluate("m => m.scrollTo(0, 0)")


def act_sliders(pg: Page) -> None:
    canvas = pg.locator('[data-testid="live-image"][data-ready="1"]')
    canvas.wait_for(timeout=120_000)
    slider = pg.locator('[data-testid^="z-slider-"]').first
    slider.scroll_into_view_if_needed()
    box = slider.bounding_box()
    y = box["y"] + box["height"] / 2
    pg.mouse.move(box["x"] + box["width"] / 2, y)
    pg.mouse.down()
    pg.mouse.move(box["x"] + box["width"] * 0.8, y, steps=12)
    pg.mouse.up()
    pg.get_by_text("Browser vs PyTorch").first.wait_for(timeout=120_000)
    wait_idle(pg)
    pg.locator('[data-testid="stMain"]').evaluate("m => m.scrollTo(0, 0)")


def act_generate(pg: Page) -> None:
    pg.get_by_role("button", name="Generate new samples").click()
    wait_idle(pg)
    pg.get_by_text(re.compile(r"samples of class")).first.wait_for()


def act_vq(pg: Page) -> None:
    """Paint two cells of the code grid (click a cell, then a code) and wait for the decode."""
    canvas = pg.locator('[data-testid="live-image"]').first
    for cell, code in (("code-cell-2-3", 0), ("code-cell-3-3", 7)):
        frames = int(canvas.get_attribute("data-frames") or 0)
        pg.locator(f'[data-testid="{cell}"]').first.click()
        pg.locator(f'[data-testid="code-choice-{code}"]').first.click()
        pg.wait_for_function(
            "([el, n]) => +el.dataset.frames > n", arg=[canvas.element_handle(), frames]
        )
        wait_idle(pg)
    pg.locator('[data-testid="code-cell-3-3"]').first.click()  # leave one cell selected


def act_train(pg: Page) -> None:
    pg.get_by_role("button", name="Start training").wait_for()


def act_compare(pg: Page) -> None:
    """Box-select the middle of map A: the same test images are ringed in map B."""
    plot = pg.locator(".st-key-cmp_map_a .js-plotly-plot")
    plot.wait_for(timeout=120_000)
    pg.locator(".st-key-cmp_map_b .js-plotly-plot").wait_for(timeout=120_000)
    plot.scroll_into_view_if_needed()
    pg.wait_for_timeout(1500)
    box = plot.evaluate(BOX_AROUND_MEDIAN, 250)  # few, so the rings in map B stay apart
    x0, y0, x1, y1 = box["x0"], box["y0"], box["x1"], box["y1"]
    pg.locator('.st-key-cmp_map_a .modebar-btn[data-title="Box Select"]').click()
    pg.mouse.move(x0, y0)
    pg.mouse.down()
    pg.mouse.move(x1, y1, steps=10)
    pg.mouse.up()
    pg.get_by_text(re.compile(r"ringed in both \([\d,]+ selected\)")).wait_for(timeout=120_000)
    wait_idle(pg)
    pg.locator('[data-testid="stMain"]').evaluate("m => m.scrollTo(0, 0)")


def act_regions(pg: Page) -> None:
    pg.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first.wait_for(timeout=120_000)
    pg.get_by_text("Classifier regions", exact=True).click()
    pg.get_by_text(re.compile("the model's confusions")).wait_for(timeout=300_000)
    wait_idle(pg)


def act_import(pg: Page) -> None:
    """Import a small generated .zip (three classes of drawn shapes) into the app's data folder,
    which ``main`` makes a temp folder: the real datasets are only read, through links."""
    from bench.image_zip import class_folder_zip

    pg.get_by_text("Your own images (.zip)").click()
    panel = pg.locator('[data-testid="stExpander"]').filter(has_text="Your own images")
    panel.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        files=[{"name": "shapes.zip", "mimeType": "application/zip", "buffer": class_folder_zip()}]
    )
    panel.get_by_text("shapes.zip").wait_for()
    field = panel.get_by_label("Dataset name")
    field.fill("shapes")
    field.press("Enter")
    wait_idle(pg)
    panel.get_by_role("button", name="Import").click()
    pg.get_by_text(re.compile(r"Imported 'shapes'")).wait_for(timeout=120_000)
    wait_idle(pg)


SHOTS = [
    Shot("home", "", (), None, '[data-testid="stPlotlyChart"]'),  # charts: after the warm-up
    Shot("train", "Train", (), act_train),
    Shot("latent-map", "Latent_map", ("mnist-vae-16d",), act_latent_map),
    Shot("latent-sliders", "Latent_sliders", ("mnist-vae-16d",), act_sliders),
    Shot("generate", "Generate", ("mnist-cvae-2d", "mnist-cvae-16d"), act_generate,
         ".st-key-gen_morph_chart"),
    Shot("denoise", "Denoise", ("mnist-vae-16d",), None, ".st-key-dn_curve_ssim"),
    Shot("interpolate", "Interpolate", ("mnist-vae-2d",), None, ".st-key-ip_map"),
    Shot("likelihood", "Likelihood", ("mnist-cvae-2d", "mnist-vae-2d"), None,
         ".st-key-lik_bayes_confusion"),
    Shot("diagnostics", "Diagnostics", ("mnist-vae-16d",), None, '[data-testid="stImage"]'),
    Shot("out-of-distribution", "Out_of_distribution", ("fashion-vae-16d", "mnist-vae-2d"), None,
         ".st-key-ood_remedy_hist"),
    Shot("ppca", "pPCA", ("mnist-vae-16d", "mnist-vae-2d"), None, ".st-key-ppca_vae_map"),
    Shot("cvae-faithfulness", "CVAE_faithfulness", ("mnist-cvae-2d", "mnist-cvae-16d"), None,
         ".st-key-faith_grid"),
    Shot("rate-distortion", "Rate_distortion", ("mnist-vae-16d",), None, ".st-key-rd_chart"),
    Shot("compare", "Compare", ("mnist-vae-2d",), act_compare, ".st-key-cmp_map_b",
         (1280, 800)),
    Shot("latent-map-regions", "Latent_map", ("mnist-vae-2d",), act_regions, "", (1280, 800)),
    Shot("import", "Train", (), act_import, "", (1280, 800)),
    Shot("vq-codes", "VQ_codes", ("mnist-vqvae-64",), act_vq, '[data-testid="live-image"]',
         (1280, 800)),
]  # fmt: skip


def model_titles() -> dict[str, str]:
    """Checkpoint file stem -> the title the sidebar picker shows (before its " · source")."""
    from ui.model_list import list_models

    shipped = (e for e in list_models(include_vq=True) if e.source == "shipped")
    return {Path(e.path).stem: e.title for e in shipped}


def start_app(log: io.TextIOBase, data: Path) -> tuple[subprocess.Popen, str]:
    """The app on the data folder ``data``; the runs folder is the default one, named
    relatively so the Train page's caption shows "runs" rather than an absolute path."""
    port = free_port()
    env = {**os.environ, "VAE_LAB_RUNS": "runs", "VAE_LAB_DATA": str(data)}
    proc = subprocess.Popen(
        streamlit_command(port),
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("streamlit did not start within 120 s")


def chosen(pg: Page) -> str:
    return pg.locator(f"{PICKER} input").first.input_value()


def choose_model(pg: Page, title: str) -> None:
    """Pick ``title`` in the sidebar model picker (the page reruns with it)."""
    if picker_label(title).match(chosen(pg)):
        return
    pg.locator(PICKER).first.click()
    label = picker_label(title)
    pg.locator('[role="option"]').filter(has_text=label).first.click()
    wait_idle(pg)
    if not picker_label(title).match(chosen(pg)):
        raise RuntimeError(f"could not choose {title!r} (picker shows {chosen(pg)!r})")


def go(pg: Page, path: str) -> None:
    """Open a page from the sidebar navigation (same session) and wait until it is idle."""
    nav = pg.locator(f'[data-testid="stSidebarNav"] a[href$="/{path}"]')
    if path == "":
        nav = pg.locator('[data-testid="stSidebarNav"] a').first
    elif nav.count() == 0:  # the navigation shows only the first pages until "View more"
        pg.locator('[data-testid="stSidebarNav"]').get_by_text("View").first.click()
    nav.first.click()
    wait_idle(pg)


def problems(pg: Page) -> str:
    n_exc = pg.locator('[data-testid="stException"]').count()
    n_err = pg.locator('[data-testid="stAlertContentError"]').count()
    found = [f"{n_exc} exception(s)"] * bool(n_exc) + [f"{n_err} st.error"] * bool(n_err)
    texts = [
        t.strip().splitlines()[0][:160]
        for t in pg.locator(
            '[data-testid="stException"], [data-testid="stAlertContentError"]'
        ).all_inner_texts()
        if t.strip()
    ]
    return "; ".join(found + texts) if found else "no errors"


def show_everything(pg: Page, width: int, height: int) -> None:
    """Make the viewport (``width`` wide, at least ``height`` tall) as tall as the page so a
    full-page screenshot holds all of it."""
    for _ in range(3):
        for chart in pg.locator('[data-testid="stPlotlyChart"]').all():
            chart.scroll_into_view_if_needed()  # charts below the fold draw when first seen
        pg.locator('[data-testid="stMain"]').evaluate("m => m.scrollTo(0, 0)")
        tall = max(height, pg.evaluate(CONTENT_HEIGHT))
        if tall == pg.viewport_size["height"]:
            break
        pg.set_viewport_size({"width": width, "height": tall})
        pg.wait_for_timeout(1500)
    pg.mouse.move(5, pg.viewport_size["height"] - 5)  # no hover state, tooltip or chart toolbar
    pg.evaluate("() => document.activeElement && document.activeElement.blur()")  # no focus ring
    wait_idle(pg)
    pg.wait_for_timeout(1000)  # plotly's relayout and image decoding after the resize


def save_png(png: bytes, path: Path) -> int:
    """Write ``png`` as an optimised 256-colour PNG (no dithering, so text stays crisp)."""
    img = Image.open(io.BytesIO(png)).convert("RGB")
    pal = img.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    pal.save(buf, format="PNG", optimize=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return len(buf.getvalue())


def shoot(pg: Page, shot: Shot, titles: dict[str, str], out: Path) -> str:
    width, height = shot.size
    pg.set_viewport_size({"width": width, "height": height})
    if shot.models:
        stem = next((m for m in shot.models if m in titles), None)
        if stem is None:
            raise RuntimeError(f"no shipped checkpoint among {shot.models}")
        if not picker_label(titles[stem]).match(chosen(pg)):
            go(pg, "")  # choose on Home (cheap) so the target page runs once, with this model
            choose_model(pg, titles[stem])
    go(pg, shot.path)
    if shot.ready:
        pg.locator(shot.ready).first.wait_for(timeout=300_000)
        wait_idle(pg)
    if shot.act is not None:
        shot.act(pg)
    show_everything(pg, width, height)
    found = problems(pg)
    png = pg.screenshot(full_page=True)
    size = save_png(png, out / f"{shot.slug}.png")
    pg.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    w, h = Image.open(out / f"{shot.slug}.png").size
    big = "" if size < MAX_BYTES else f" (over {MAX_BYTES // 1000} KB)"
    return f"{w}x{h}, {size / 1000:.0f} KB{big}, {found}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="comma-separated slugs, e.g. home,ppca")
    ap.add_argument("--out", type=Path, default=OUT, help="folder for the PNGs")
    args = ap.parse_args(argv)
    wanted = [s for s in args.only.split(",") if s]
    unknown = set(wanted) - {s.slug for s in SHOTS}
    if unknown:
        ap.error(f"unknown slugs {sorted(unknown)}; known: {', '.join(s.slug for s in SHOTS)}")
    shots = [s for s in SHOTS if not wanted or s.slug in wanted]
    if not Path(CHROMIUM).exists():
        print(f"no Chromium at {CHROMIUM}", file=sys.stderr)
        return 2
    titles = model_titles()
    failed = 0
    with tempfile.TemporaryDirectory() as tmp, open(Path(tmp) / "streamlit.log", "w+") as log:
        # The app reads the real datasets ($VAE_LAB_DATA, resolved from where this script was
        # started, else the cache) through links in a temp folder, so the import shot writes
        # its set there and never into the real data.
        from vae_core.data.datasets import resolve_data_dir

        data = linked_data_dir(resolve_data_dir(), Path(tmp) / "data")
        proc, url = start_app(log, data)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                ctx = browser.new_context(
                    viewport={"width": WIDTH, "height": HEIGHT}, device_scale_factor=1
                )
                pg = ctx.new_page()
                pg.set_default_timeout(120_000)
                pg.goto(url)
                wait_idle(pg)
                for shot in shots:
                    start = time.perf_counter()
                    try:
                        result = shoot(pg, shot, titles, args.out)
                    except Exception as exc:  # noqa: BLE001 - report and go on with the next page
                        failed += 1
                        result = f"FAILED: {type(exc).__name__}: {str(exc).splitlines()[0]}"
                        pg.set_viewport_size({"width": WIDTH, "height": HEIGHT})
                    print(f"{shot.slug:20s} {time.perf_counter() - start:6.1f} s  {result}")
                    sys.stdout.flush()
                browser.close()
        finally:
            stop_process(proc)
            if failed:
                log.seek(0)
                print(log.read()[-3000:], file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
