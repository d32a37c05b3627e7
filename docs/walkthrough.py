"""A new user's walk through every page in headless Chromium: screenshots, console errors,
failed requests, and how much of the model picker's label is hidden.

Starts its own ``streamlit run app.py`` (``bench.app_process``), opens Home and then every
page from the sidebar in one session, waits until nothing is computing, and saves one
full-page PNG per page plus ``report.txt`` in ``--out``. Look at the pictures: the script only
collects what a machine can see (exceptions, ``st.error``, console errors, HTTP >= 400).

    # offline, as a newcomer without data or cache (an empty HOME and XDG cache):
    PYTHONPATH=. python docs/walkthrough.py --offline --out /tmp/walk-offline
    # online:
    PYTHONPATH=. VAE_LAB_DATA=/work/shared/datasets python docs/walkthrough.py --out /tmp/walk-on

``--size 1024x768`` for a smaller laptop (default 1280x800).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.app_process import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    stop_process,
    streamlit_command,
)

PAGES = [
    "", "Train", "Latent_map", "Latent_sliders", "Generate", "Denoise", "Interpolate",
    "Likelihood", "Diagnostics", "Out_of_distribution", "pPCA", "CVAE_faithfulness",
    "Rate_distortion",
]  # fmt: skip
IDLE = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !!document.querySelector('[data-testid="stMain"]')
    && !document.querySelector('[data-stale="true"]')
    && !document.querySelector('[data-testid="stSpinner"]');
}"""
# The picker's shown value: its text width against the box (text wider: cut with an ellipsis).
PICKER_FIT = """() => {
  const box = document.querySelector('[data-testid="stSidebar"] [data-testid="stSelectbox"]');
  const el = box && (box.querySelector('input') || box.querySelector('[value]'));
  if (!el) return null;
  const v = el.value || el.textContent;
  return {value: v, scrollWidth: el.scrollWidth, clientWidth: el.clientWidth};
}"""

TALL = """() => {
  const m = document.querySelector('[data-testid="stMain"]');
  return Math.ceil((m ? m.scrollHeight : document.body.scrollHeight) + 40);
}"""


def settle(pg: Page, timeout_ms: int = 300_000) -> None:
    """Idle twice a second apart (a page may rerun once after its first run)."""
    for _ in range(2):
        pg.wait_for_timeout(1000)
        pg.wait_for_function(IDLE, timeout=timeout_ms)


def start_app(env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(log_path, "w")  # noqa: SIM115 (closed when the process ends)
    proc = subprocess.Popen(
        streamlit_command(port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
    stop_process(proc)
    raise SystemExit(f"streamlit did not start; see {log_path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--offline", action="store_true", help="no VAE_LAB_DATA, an empty HOME")
    ap.add_argument("--size", default="1280x800")
    ap.add_argument("--only", default="", help="comma-separated page paths (Home: home)")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="walk-"))
    env = {**os.environ, "VAE_LAB_RUNS": str(tmp / "runs")}
    if args.offline:
        env.pop("VAE_LAB_DATA", None)
        env["HOME"] = str(tmp / "home")
        env["XDG_CACHE_HOME"] = str(tmp / "home" / ".cache")
        (tmp / "home").mkdir()
    wanted = {p if p != "home" else "" for p in args.only.split(",")} if args.only else None
    proc, url = start_app(env, args.out / "streamlit.log")
    lines: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pg = browser.new_context(viewport={"width": width, "height": height}).new_page()
            pg.set_default_timeout(120_000)
            problems: list[str] = []
            pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                  if m.type in ("error", "warning") else None)  # fmt: skip
            pg.on("response", lambda r: problems.append(f"HTTP {r.status} {r.url}")
                  if r.status >= 400 else None)  # fmt: skip
            pg.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
            pg.goto(url)
            settle(pg)
            for path in PAGES:
                if wanted is not None and path not in wanted:
                    continue
                problems.clear()
                t0 = time.monotonic()
                if path:
                    nav = pg.locator(f'[data-testid="stSidebarNav"] a[href$="/{path}"]')
                    if nav.count() == 0:
                        pg.locator('[data-testid="stSidebarNav"]').get_by_text("View").first.click()
                    nav.first.click()
                settle(pg)
                name = path or "Home"
                # The page scrolls inside stMain, so full_page alone stops at the window:
                # grow the window to the content for the picture, then restore it.
                tall = pg.evaluate(TALL)
                pg.set_viewport_size({"width": width, "height": max(height, min(tall, 12_000))})
                pg.wait_for_timeout(800)
                pg.screenshot(path=str(args.out / f"{name}.png"), full_page=True)
                pg.set_viewport_size({"width": width, "height": height})
                errors = pg.locator(
                    '[data-testid="stException"], [data-testid="stAlertContentError"]'
                )
                fit = pg.evaluate(PICKER_FIT)
                lines.append(
                    f"{name}: {time.monotonic() - t0:.1f} s, {errors.count()} exception/error "
                    f"boxes, picker {fit}"
                )
                lines += [f"    {p}" for p in dict.fromkeys(problems)]
                print("\n".join(lines[-1 - len(dict.fromkeys(problems)) :]), flush=True)
            browser.close()
    finally:
        stop_process(proc)
    (args.out / "report.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
