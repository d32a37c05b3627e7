"""UI latency of the app in headless Chromium: how fast the pages respond, in figures.

Starts its own ``streamlit run app.py`` on 127.0.0.1 (a free port), drives Debian's Chromium
with Playwright, prints a table (or ``--json``), and stops the server. Each measurement is one
function ``(bench) -> list of rows`` registered in ``MEASUREMENTS``; ``@per_model`` turns a
``(bench, model) -> dict`` function into one row per benchmarked model (an MLP and a conv).
A measurement that needs its own server (e.g. cold start) can use ``streamlit_app(bench.app,
bench.env)``.

Latent sliders:
- ``drag_fps``: input events dispatched on a z-slider once per animation frame for a few
  seconds; counts the frames the in-browser decoder actually drew (canvas data-frames).
- ``release_ms``: a slider "release" (input + change events) until the first animation frame
  that shows the server's PyTorch decode of the new z (the component fetches it from the app's
  decode route), p50 / p95 over 60 releases; between releases the page is let settle (the
  release's rerun and its new traversals painted), as a user looks before the next drag.

Latent map (``mnist-vae-16d``'s PCA map of the 10,000 MNIST test images, or the first
shipped 16-D model):
- ``hover_ms``: a real mouse move onto a data point until the animation frame after the hover
  thumbnail (``data-testid="hover-thumb"``) shows that point's image, p50 / p95 over 60 points.
- ``pan_fps``: the modebar's Pan tool, a mouse drag across the map for ``--seconds``; animation
  frames the page drew per second meanwhile (plotly redraws the WebGL scatter on every move).

App:
- ``cold_start``: ``streamlit run`` started until the home page has finished its first script
  run with the model picker drawn (interactive), and until the run after the server's PyTorch
  warm-up has drawn the card's charts and device badge (complete); best of 3 fresh servers.

Usage: PYTHONPATH=. python bench/ui_latency.py [--json] [--seconds 4] [--releases 20] [--all-models]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.app_process import CHROMIUM, CHROMIUM_ARGS, free_port, stop_process, streamlit_command  # noqa: E402
from vae_core.io.checkpoint_file import read_metadata  # noqa: E402

CANVAS = '[data-testid="live-image"]'
SERVER_IMAGE = '[data-testid="server-image"]'  # the component's drawing of the server's decode
IDLE_APP = '[data-testid="stApp"][data-test-script-state="notRunning"]'
PICKER = '[data-testid="stSidebar"] [data-testid="stSelectbox"]'
COMPLETE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const badges = [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stMarkdownContainer"]')]
    .map((e) => e.innerText).filter((t) => t.includes('compute: '));
  return app.getAttribute('data-test-script-state') === 'notRunning'
    && document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2
    && badges.length === 1 && !badges[0].includes('loading');
}"""


@dataclass(frozen=True)
class Model:
    path: Path
    title: str
    arch: str


@dataclass
class Bench:
    url: str  # the shared running app
    browser: Any
    args: argparse.Namespace
    models: list[Model]
    app: Path
    env: dict[str, str]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def new_page(self) -> Any:
        context = self.browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(90_000)
        return page


@contextmanager
def streamlit_app(app: Path, env: dict[str, str]) -> Iterator[str]:
    """A ``streamlit run`` on a free local port; always stopped on exit."""
    port = free_port()
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (closed in the finally below)
    proc = subprocess.Popen(
        streamlit_command(port, str(app.name)),
        cwd=app.parent, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise SystemExit(f"streamlit did not start: {log.read()[-1500:]}") from None
                time.sleep(0.05)  # the poll's own delay is counted in the cold start
        yield url
    finally:
        stop_process(proc)
        log.close()


def pick_models(folders: list[Path], every: bool = False) -> list[Model]:
    """The first MLP and the first conv checkpoint found (shipped first), or ``every`` one."""
    chosen: dict[str, Model] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.safetensors")):
            try:
                meta = read_metadata(path)
            except ValueError:
                continue
            arch = meta.get("model", {}).get("arch")
            key = str(path) if every else arch
            if arch in ("mlp", "conv") and key not in chosen:
                chosen[key] = Model(path, str(meta.get("name") or path.stem), arch)
    return list(chosen.values())


def open_sliders(bench: Bench, model: Model) -> Any:
    """A fresh page on Latent sliders with ``model`` chosen and its first frame drawn."""
    page = bench.new_page()
    page.goto(f"{bench.url}/Latent_sliders")
    picker = page.locator(PICKER)
    ready = f'[data-testid="live-decoder"] {CANVAS}[data-ready="1"]'
    page.locator(ready).wait_for()
    picker.click()
    option = page.get_by_role("option").filter(has_text=model.title).first
    if option.get_attribute("aria-selected") == "true":
        page.keyboard.press("Escape")
        return settle(page)
    old = page.locator('[data-testid="live-decoder"]').get_attribute("data-hash")
    option.click()
    page.locator(f'[data-testid="live-decoder"]:not([data-hash="{old}"]) {CANVAS}').wait_for()
    page.locator(ready).wait_for()
    return settle(page)


def settle(page: Any) -> Any:
    """Let the rest of the page (server image, traversals) finish loading before measuring."""
    page.locator(f'{SERVER_IMAGE}:not([data-frames="0"])').wait_for()
    page.locator(".st-key-sl_traversals [data-testid=stImage] img").wait_for()
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached")
    page.wait_for_timeout(1000)
    return page


SETTLED_JS = """([root, value]) => root.dataset.serverZ.split(",").includes(value)"""


PAINTED_JS = """async () => {
  const img = document.querySelector(".st-key-sl_traversals [data-testid=stImage] img");
  if (img) await img.decode().catch(() => {});
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
}"""


def settle_release(page: Any, value: float) -> None:
    """Wait until a release is fully drawn, as a user sees it before the next one: its rerun
    (asked for once the server image is painted) has kept the new z and redrawn the
    traversals, and their new picture is decoded and painted. No fixed pause after that.
    """
    root = page.locator('[data-testid="live-decoder"]').element_handle()
    page.wait_for_function(SETTLED_JS, arg=[root, f"{value:.4f}"])
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached")
    page.evaluate(PAINTED_JS)


DRAG_JS = """async (slider, [canvas, seconds]) => {
  const lo = +slider.min, hi = +slider.max;
  const f0 = +canvas.dataset.frames;
  let events = 0;
  const t0 = performance.now();
  await new Promise((resolve) => {
    const tick = (now) => {
      const phase = (now - t0) / 1000;
      slider.value = String(lo + (hi - lo) * (0.5 + 0.45 * Math.sin(phase * Math.PI)));
      slider.dispatchEvent(new Event("input", { bubbles: true }));
      events += 1;
      if (now - t0 < seconds * 1000) requestAnimationFrame(tick); else resolve();
    };
    requestAnimationFrame(tick);
  });
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const elapsed = (performance.now() - t0) / 1000;
  return { frames: +canvas.dataset.frames - f0, events, elapsed, decode_ms: +canvas.dataset.decodeMs };
}"""

RELEASE_JS = """async (slider, [server, value, timeoutMs]) => {
  const before = server.dataset.frames;
  const t0 = performance.now();
  slider.value = String(value);
  slider.dispatchEvent(new Event("input", { bubbles: true }));
  slider.dispatchEvent(new Event("change", { bubbles: true }));
  return await new Promise((resolve, reject) => {
    const poll = () => {  // once per frame: resolves at the first frame that shows the new image
      if (server.dataset.frames !== before) resolve(performance.now() - t0);
      else if (performance.now() - t0 > timeoutMs) reject(new Error("no server image"));
      else requestAnimationFrame(poll);
    };
    poll();
  });
}"""


Row = dict[str, Any]


def per_model(fn: Callable[[Bench, Model], Row]) -> Callable[[Bench], list[Row]]:
    def run(bench: Bench) -> list[Row]:
        return [{"model": m.title, "arch": m.arch, **fn(bench, m)} for m in bench.models]

    return run


@per_model
def measure_drag_fps(bench: Bench, model: Model) -> Row:
    page = open_sliders(bench, model)
    try:
        slider = page.locator('[data-testid^="z-slider-"]').first
        canvas = page.locator(CANVAS).element_handle()
        r = slider.evaluate(DRAG_JS, [canvas, bench.args.seconds])
    finally:
        page.context.close()
    return {
        "fps": r["frames"] / r["elapsed"],
        "decode_ms": r["decode_ms"],
        "frames": r["frames"],
        "input_events": r["events"],
        "seconds": r["elapsed"],
    }


@per_model
def measure_release_ms(bench: Bench, model: Model) -> Row:
    page = open_sliders(bench, model)
    try:
        slider = page.locator('[data-testid^="z-slider-"]').first
        server = page.locator(SERVER_IMAGE).element_handle()
        times = []
        for i in range(bench.args.releases):
            value = round(-3.0 + 6.0 * ((i * 0.37) % 1.0), 2)  # a different z every time
            times.append(slider.evaluate(RELEASE_JS, [server, value, 30_000]))
            settle_release(page, value)
    finally:
        page.context.close()
    q = statistics.quantiles(times, n=20)
    return {"p50_ms": statistics.median(times), "p95_ms": q[18], "n": len(times)}


# Page pixels of ``n`` data points spread over the map (every k-th point of the class traces).
SPREAD_XY = """(gd, n) => {
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  const pts = [];
  for (const t of gd._fullData) {
    if (t.type !== 'scattergl' || !t.customdata) continue;
    for (let i = 0; i < t.x.length; i++) pts.push([t.x[i], t.y[i]]);
  }
  const step = Math.max(1, Math.floor(pts.length / n));
  const out = [];
  for (let i = 0; i < pts.length && out.length < n; i += step) {
    out.push([box.left + xa._offset + xa.l2p(pts[i][0]), box.top + ya._offset + ya.l2p(pts[i][1])]);
  }
  return out;
}"""
# Record, for every change of the thumbnail's row, the time from the last mousemove event to
# the animation frame after the change (both on the page's performance clock).
HOVER_PROBE = """() => {
  window.__hoverMs = [];
  document.addEventListener('mousemove', (e) => { window.__lastMove = e.timeStamp; }, true);
  new MutationObserver((records) => {
    if (!records.some((r) => r.attributeName === 'data-row')) return;
    const moved = window.__lastMove;
    requestAnimationFrame(() => window.__hoverMs.push(performance.now() - moved));
  }).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['data-row'] });
}"""
COUNT_FRAMES = """() => {
  window.__frames = 0;
  window.__counting = true;
  const tick = () => { window.__frames += 1; if (window.__counting) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
}"""


def open_latent_map(bench: Bench) -> tuple[Any, Any, str]:
    """A fresh page on the Latent map of a shipped 16-D model, its PCA map drawn."""
    stem = "mnist-vae-16d"
    if not (ROOT / "checkpoints" / f"{stem}.safetensors").exists():
        stem = bench.models[0].path.stem
    title = str(read_metadata(next((ROOT / "checkpoints").glob(f"{stem}.*"))).get("name") or stem)
    page = bench.new_page()
    page.goto(f"{bench.url}/Latent_map?model={stem}")
    plot = page.locator('[data-testid="stPlotlyChart"] .js-plotly-plot').first
    plot.wait_for()
    page.locator(IDLE_APP).wait_for()
    plot.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => window.__vaeLabHover && window.__vaeLabHover.sprite && window.__vaeLabHover.index"
    )
    return page, plot, title


def measure_hover_ms(bench: Bench) -> list[Row]:
    page, plot, title = open_latent_map(bench)
    try:
        page.evaluate(HOVER_PROBE)
        points = plot.evaluate(SPREAD_XY, 61)
        missed = 0
        for i, (x, y) in enumerate(points):
            before = page.evaluate("() => window.__hoverMs.length")
            page.mouse.move(x, y)
            try:
                page.wait_for_function(f"() => window.__hoverMs.length > {before}", timeout=2000)
            except Exception:  # noqa: BLE001 - the same row as before, or no point hit
                missed += i > 0
        times = page.evaluate("() => window.__hoverMs")[1:]  # the first: the box is created
    finally:
        page.context.close()
    q = statistics.quantiles(times, n=20)
    return [
        {
            "model": title,
            "p50_ms": statistics.median(times),
            "p95_ms": q[18],
            "n": len(times),
            "missed": missed,
        }
    ]


def measure_pan_fps(bench: Bench) -> list[Row]:
    page, plot, title = open_latent_map(bench)
    try:
        page.locator('.modebar-btn[data-title="Pan"]').first.click()
        box = plot.bounding_box()
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(cx, cy)
        page.mouse.down()
        page.evaluate(COUNT_FRAMES)
        start = time.perf_counter()
        steps = 0
        while time.perf_counter() - start < bench.args.seconds:
            phase = (time.perf_counter() - start) / bench.args.seconds
            dx = 120 * (1 if int(phase * 4) % 2 == 0 else -1) * ((phase * 4) % 1)
            page.mouse.move(cx + dx, cy + dx / 3)
            steps += 1
        frames = page.evaluate("() => { window.__counting = false; return window.__frames; }")
        elapsed = time.perf_counter() - start
        page.mouse.up()
    finally:
        page.context.close()
    return [{"model": title, "fps": frames / elapsed, "moves": steps, "seconds": elapsed}]


def measure_cold_start(bench: Bench) -> list[Row]:
    """A fresh ``streamlit run`` until the home page is interactive, and until it is complete.

    Interactive: its first script run has finished in the browser with the model picker drawn.
    Complete: the follow-up run after the server's PyTorch warm-up has drawn the card's charts
    and the device badge (``ui/model_card.py``). Best of 3 fresh servers; all runs are listed.
    """
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        with streamlit_app(bench.app, bench.env) as url:
            server_s = time.perf_counter() - t0
            page = bench.new_page()
            try:
                page.goto(url)
                page.wait_for_selector(f"{IDLE_APP} {PICKER}", timeout=120_000)
                interactive = time.perf_counter() - t0
                page.wait_for_function(COMPLETE_JS, timeout=120_000, polling=50)
                complete = time.perf_counter() - t0
                runs.append((interactive, complete, server_s))
            finally:
                page.context.close()
    best = min(runs)
    return [
        {
            "model": "home page",
            "seconds": best[0],
            "complete_s": best[1],
            "server_up_s": best[2],
            "all_runs": " / ".join(f"{i:.1f} ({c:.1f})" for i, c, _ in runs),
        }
    ]


MEASUREMENTS: dict[str, Callable[[Bench], list[Row]]] = {
    "sliders.drag_fps": measure_drag_fps,
    "sliders.release_ms": measure_release_ms,
    "latent_map.hover_ms": measure_hover_ms,
    "latent_map.pan_fps": measure_pan_fps,
    "app.cold_start": measure_cold_start,
}


def _format(row: Row) -> str:
    figures = ", ".join(
        f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
        for k, v in row.items()
        if k not in ("measurement", "model", "arch")
    )
    where = f"{row.get('arch', ''):<5} {str(row.get('model', ''))[:34]:<34}"
    return f"{row['measurement']:<20} {where} {figures}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--seconds", type=float, default=4.0, help="drag duration per model")
    p.add_argument("--releases", type=int, default=60, help="slider releases per model")
    p.add_argument("--app", type=Path, default=ROOT / "app.py", help="the Streamlit entry point")
    p.add_argument("--only", nargs="*", choices=list(MEASUREMENTS), help="run a subset")
    p.add_argument("--all-models", action="store_true", help="every checkpoint, not one per arch")
    args = p.parse_args(argv)
    if not Path(CHROMIUM).exists():
        print(f"error: no Chromium at {CHROMIUM}", file=sys.stderr)
        return 2
    if not args.app.exists():
        print(f"error: no Streamlit app at {args.app}", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    runs_dir = os.environ.get("VAE_LAB_RUNS", str(ROOT / "runs"))
    models = pick_models([ROOT / "checkpoints", Path(runs_dir)], every=args.all_models)
    if not models:
        print("error: no checkpoints to measure (checkpoints/ is empty)", file=sys.stderr)
        return 2
    env = {**os.environ, "PYTHONPATH": str(ROOT), "VAE_LAB_RUNS": runs_dir}
    with streamlit_app(args.app, env) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        bench = Bench(url, browser, args, models, args.app, env)
        for name in args.only or list(MEASUREMENTS):
            for row in MEASUREMENTS[name](bench):
                row = {"measurement": name, **row}
                bench.rows.append(row)
                if not args.json:
                    print(_format(row), flush=True)
        browser.close()
    if args.json:
        print(json.dumps(bench.rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
