"""What one simulated user does in ``bench/load_test.py`` (Playwright, async API).

A user picks a CVAE on Home (the choice lives in session state, so pages are then opened from
the sidebar, in the same session), then loops: a few slider moves on Latent sliders, a few
point selections on Latent map, a few "class k + Generate" on Generate. Sessions start at
different pages and models, so the server always sees a mix.

Every action waits for the server's answer: the app idle again after either a run seen by an
init script (it counts ``data-test-script-state`` changes on stApp, which also flip for fragment
runs) or the action's visible effect (the new z in the code box, the new class in the caption,
a new seed...). Waits poll every 100 ms, not every frame: ten pages share two cores with the
server. Anything that looks like a failure is recorded as an error.
"""

from __future__ import annotations

import asyncio
import random
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, Page
from playwright.async_api import TimeoutError as PlaywrightTimeout

# (picker title, what the sidebar caption says once that model is loaded)
MODELS = (
    ("MNIST β-CVAE (β=3), 16-D", "β-CVAE (β=3) · mnist · 16-D latent"),
    ("MNIST CVAE, 2-D", "CVAE · mnist · 2-D latent"),
    ("Fashion-MNIST CVAE, 16-D", "CVAE · fashion-mnist · 16-D latent"),
)
PAGES = ("Latent_sliders", "Latent_map", "Generate")
ACTIONS_PER_VISIT = 3
RUN_TIMEOUT_MS = 120_000
POLL_MS = 100  # wait_for_function's default polls on every animation frame: 10 pages x 60 Hz

# Counts script runs as the browser sees them (full and fragment runs alike).
RUN_COUNTER = """
window.__lt = {runs: 0, state: null};
// querySelector that also looks inside open shadow roots (components v2 render in one).
window.__ltq = (sel, root = document) => {
  const hit = root.querySelector(sel);
  if (hit) return hit;
  for (const el of root.querySelectorAll('*')) {
    if (el.shadowRoot) { const h = window.__ltq(sel, el.shadowRoot); if (h) return h; }
  }
  return null;
};
// Every change of the attribute counts, also several in one batch: the value a record set is
// the next record's oldValue (or the current value for the last one).
new MutationObserver((records) => {
  const attrs = records.filter((r) => r.type === 'attributes');
  attrs.forEach((r, i) => {
    const next = attrs.slice(i + 1).find((n) => n.target === r.target);
    const value = next ? next.oldValue : r.target.getAttribute('data-test-script-state');
    if (value === 'running' && r.oldValue !== 'running') window.__lt.runs += 1;
  });
  const app = document.querySelector('[data-testid="stApp"]');
  const s = app && app.getAttribute('data-test-script-state');
  if (!attrs.length && s === 'running' && window.__lt.state !== 'running') window.__lt.runs += 1;
  window.__lt.state = s;  // an app element born 'running' (no attribute record) counts above
}).observe(document, {subtree: true, childList: true, attributes: true,
                      attributeOldValue: true, attributeFilter: ['data-test-script-state']});
"""
IDLE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !!document.querySelector('[data-testid="stMain"]');
}"""
ERROR_ELEMENTS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
PLOT = '[data-testid="stPlotlyChart"] .js-plotly-plot'
# Page pixel of a random visible data point of a random class trace (Plotly's own axis maps).
RANDOM_POINT = """([seed]) => {
  let s = seed;
  const rnd = () => { s = (s * 1103515245 + 12345) % 2147483648; return s / 2147483648; };
  const gd = document.querySelector('[data-testid="stPlotlyChart"] .js-plotly-plot');
  const traces = gd._fullData.filter(t => t.type === 'scattergl' && t.visible === true);
  const t = traces[Math.floor(rnd() * traces.length)];
  const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
  const box = gd.getBoundingClientRect();
  for (let k = 0; k < 50; k++) {
    const i = Math.floor(rnd() * t.x.length);
    const px = xa.l2p(t.x[i]), py = ya.l2p(t.y[i]);
    if (px > 5 && py > 5 && px < xa._length - 5 && py < ya._length - 5)
      return [box.left + xa._offset + px, box.top + ya._offset + py];
  }
  return null;
}"""
SET_SLIDER = """(el, frac) => {
  const lo = parseFloat(el.min), hi = parseFloat(el.max);
  el.value = String(lo + frac * (hi - lo));
  el.dispatchEvent(new Event('input', {bubbles: true}));
  el.dispatchEvent(new Event('change', {bubbles: true}));
  return el.value;
}"""


@dataclass
class SessionLog:
    """What one session did and saw."""

    name: str
    actions: Counter = field(default_factory=Counter)
    client_ms: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    closing: bool = False
    cut_off: bool = False  # still waiting on an action when the run ended (not an error)

    def error(self, what: str) -> None:
        if not self.closing:
            self.errors.append(f"[{self.name}] {what[:300]}")

    def done(self, action: str, t0: float) -> None:
        self.actions[action] += 1
        self.client_ms.setdefault(action, []).append((time.perf_counter() - t0) * 1000.0)


def watch(page: Page, log: SessionLog) -> None:
    """Console errors, page errors, failed requests, HTTP >= 400 and dropped websockets."""

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            log.error(f"console: {msg.text}")

    def on_response(resp: Any) -> None:
        if resp.status >= 400:
            log.error(f"HTTP {resp.status} {resp.url}")

    def on_websocket(ws: Any) -> None:
        ws.on("close", lambda _ws: log.error(f"websocket closed: {ws.url}"))

    page.on("console", on_console)
    page.on("pageerror", lambda exc: log.error(f"page error: {exc}"))
    page.on("requestfailed", lambda req: log.error(f"request failed: {req.url} {req.failure}"))
    page.on("response", on_response)
    page.on("websocket", on_websocket)


async def until(page: Page, js: str, arg: Any = None, timeout: float = RUN_TIMEOUT_MS) -> None:
    """``wait_for_function`` polled every 100 ms, not per frame (CPU is shared with the server)."""
    await page.wait_for_function(js, arg=arg, timeout=timeout, polling=POLL_MS)


async def runs_seen(page: Page) -> int:
    return int(await page.evaluate("() => (window.__lt && window.__lt.runs) || 0"))


async def wait_for_run(
    page: Page,
    before: int,
    done: str = "() => false",
    arg: Any = None,
    timeout: float = RUN_TIMEOUT_MS,
) -> None:
    """Wait until the app is idle after a run: one was counted, or ``done(arg)`` (JS) holds.

    ``done`` is the action's visible effect, for a run too short for the counter to see.
    """
    js = (
        f"([before, arg]) => ({IDLE})() && ((window.__lt && window.__lt.runs > before)"
        f" || ({done})(arg))"
    )
    await until(page, js, [before, arg], timeout)


async def check_page(page: Page, log: SessionLog) -> None:
    """Record exception boxes and error alerts the current run drew."""
    for text in await page.locator(ERROR_ELEMENTS).all_inner_texts():
        log.error(f"error element: {' '.join(text.split())}")


async def open_home(page: Page, url: str) -> None:
    await page.goto(url)
    await until(page, IDLE)


async def choose_model(page: Page, model: tuple[str, str]) -> None:
    """Pick a model in the sidebar picker (kept in session state across pages)."""
    title, caption = model
    box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first
    if title in await box.locator("input").input_value():
        return
    before = await runs_seen(page)
    await box.click()
    await page.locator('[role="option"]').filter(has_text=title).first.click()
    loaded = "(c) => document.querySelector('[data-testid=stSidebar]').innerText.includes(c)"
    await wait_for_run(page, before, loaded, caption)


async def go_to(page: Page, path: str) -> None:
    """Open a page from the sidebar (client-side navigation: same session, same model)."""
    nav = page.locator(f'[data-testid="stSidebarNav"] a[href$="/{path}"]')
    if await nav.count() == 0 or not await nav.first.is_visible():
        await page.locator('[data-testid="stSidebarNav"]').get_by_text("View").first.click()
    before = await runs_seen(page)
    await nav.first.click()
    await wait_for_run(page, before, READY_JS[path])


READY_JS = {
    "Latent_sliders": "() => !!window.__ltq('[data-testid=live-image][data-ready=\"1\"]')",
    "Latent_map": f"() => !!document.querySelector('{PLOT} canvas')",
    "Generate": "() => !!document.querySelector('.st-key-gen_morph_chart .js-plotly-plot')",
}
Z_SHOWN = (  # the z the server's last run handed to the component
    "(v) => { const r = window.__ltq('[data-testid=live-decoder]');"
    " return !!r && (r.dataset.serverZ || '').split(',').includes(v); }"
)
TRACE_NAMES = (
    "() => { const gd = document.querySelector('.js-plotly-plot');"
    " return gd && gd.data ? gd.data.map(t => t.name).join('|') : ''; }"
)
CLASS_SHOWN = (
    "(k) => { const t = document.querySelector('[data-testid=stMain]').innerText;"
    " return t.includes(`samples of class ${k},`) || t.includes(`samples of class ${k}:`); }"
)
SEED_CHANGED = "(s) => document.querySelector('.st-key-gen_seed input').value !== s"


async def ready_sliders(page: Page) -> None:
    await until(page, READY_JS["Latent_sliders"])


async def move_slider(page: Page, rng: random.Random) -> None:
    """Set one of the top sliders and fire input + change, as a release does; wait for z."""
    sliders = page.locator('input[data-testid^="z-slider-"]')
    n = await sliders.count()
    slider = sliders.nth(rng.randrange(min(n, 4)))
    before = await runs_seen(page)
    value = float(await slider.evaluate(SET_SLIDER, rng.uniform(0.05, 0.95)))
    shown = f"{value:.4f}"
    await wait_for_run(page, before, Z_SHOWN, shown)
    await until(page, Z_SHOWN, shown)  # the server decoded exactly this z


async def ready_map(page: Page) -> None:
    await until(page, READY_JS["Latent_map"])


async def select_point(page: Page, rng: random.Random) -> bool:
    """Click a random data point; False when the click picked the point already selected."""
    await ready_map(page)
    xy = await page.evaluate(RANDOM_POINT, [rng.randrange(1, 2**31 - 1)])
    if xy is None:
        return False
    before = await runs_seen(page)
    names = await page.evaluate(TRACE_NAMES)
    await page.mouse.move(xy[0], xy[1])
    await page.mouse.click(xy[0], xy[1])
    changed = f"(old) => ({TRACE_NAMES})() !== old"
    try:
        await wait_for_run(page, before, changed, names, timeout=8_000)
    except PlaywrightTimeout:
        return False  # same point as before: no selection change, no rerun
    await ready_map(page)
    return True


async def ready_generate(page: Page) -> None:
    await until(page, READY_JS["Generate"])


async def generate_class(page: Page, rng: random.Random) -> None:
    """Pick class k in 'Class', then press 'Generate new samples'; wait for both runs."""
    k = rng.randrange(10)
    box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Class").first
    current = await box.locator("input").input_value()
    if not re.match(rf"^{k}(:|$)", current):
        before = await runs_seen(page)
        await box.click()
        await (
            page.locator('[role="option"]').filter(has_text=re.compile(rf"^{k}(:|$)")).first.click()
        )
        await wait_for_run(page, before, CLASS_SHOWN, str(k))
    before = await runs_seen(page)
    seed = await page.locator(".st-key-gen_seed input").input_value()
    await page.get_by_role("button", name="Generate new samples").click()
    await wait_for_run(page, before, SEED_CHANGED, seed)
    await until(page, CLASS_SHOWN, str(k))


READY = {"Latent_sliders": ready_sliders, "Latent_map": ready_map, "Generate": ready_generate}
ACTION = {"Latent_sliders": "slider", "Latent_map": "select point", "Generate": "generate class"}


async def user_session(
    context: BrowserContext,
    url: str,
    index: int,
    deadline: float,
    log: SessionLog,
    delay: float = 0.0,
) -> None:
    """One user, arriving after ``delay`` s, until ``deadline`` (time.monotonic()).

    Errors go to ``log``; this never raises.
    """
    await asyncio.sleep(delay)
    rng = random.Random(index)
    page = await context.new_page()
    page.set_default_timeout(RUN_TIMEOUT_MS)
    await page.add_init_script(RUN_COUNTER)
    watch(page, log)
    step = index
    try:
        await open_home(page, url)
        await choose_model(page, MODELS[index % len(MODELS)])
        while time.monotonic() < deadline:
            path = PAGES[step % len(PAGES)]
            step += 1
            t0 = time.perf_counter()
            await go_to(page, path)
            await READY[path](page)
            log.done("open page", t0)
            await check_page(page, log)
            for _ in range(ACTIONS_PER_VISIT):
                if time.monotonic() >= deadline:
                    break
                t0 = time.perf_counter()
                if path == "Latent_sliders":
                    await move_slider(page, rng)
                elif path == "Latent_map":
                    if not await select_point(page, rng):
                        continue
                else:
                    await generate_class(page, rng)
                log.done(ACTION[path], t0)
                await check_page(page, log)
    except asyncio.CancelledError:
        log.cut_off = True
        raise
    except Exception as exc:  # noqa: BLE001 - a stuck or broken session is an error to report
        log.error(f"session aborted: {type(exc).__name__}: {str(exc).splitlines()[0]}")
    finally:
        log.closing = True
        await page.close()


async def warm_up(context: BrowserContext, url: str) -> None:
    """Visit each page with each model once, so loads and encodings are not in the window."""
    page = await context.new_page()
    page.set_default_timeout(180_000)
    await page.add_init_script(RUN_COUNTER)
    try:
        await open_home(page, url)
        for model in MODELS:
            await choose_model(page, model)
            for path in PAGES:
                await go_to(page, path)
                await READY[path](page)
    except Exception:
        # what the page showed when it got stuck, for the report's reader
        shot = Path(tempfile.gettempdir()) / f"load-warm-up-stuck-{int(time.time())}.png"
        await page.screenshot(path=str(shot), full_page=True)
        text = await page.locator("body").inner_text()
        print(f"warm-up stuck on {page.url}; screenshot {shot}; page text:\n{text[-1500:]}")
        raise
    finally:
        await page.close()
