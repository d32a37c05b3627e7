"""A real ``streamlit run app.py`` on 127.0.0.1 and Debian's Chromium driven by Playwright.

Skips (never fails silently into a pass) when chromium or playwright is missing; CI installs both.
Screenshots go to ``test-artifacts/`` so a person can look at them.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.app_process import (
    CHROMIUM,
    CHROMIUM_ARGS,
    free_port,
    linked_data_dir,
    stop_process,
    streamlit_command,
)
from vae_core.jobs.queue import stop_spawned_workers
from vae_core.jobs.store import JobStore

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def serve_app(tmp_path_factory: pytest.TempPathFactory, **env: str) -> Iterator[str]:
    """Run ``streamlit run app.py`` until the generator is closed; yields its URL.

    Its trained models go to a temp folder; ``env`` adds or overrides environment variables.
    """
    port = free_port()
    runs, jobs = tmp_path_factory.mktemp("runs"), tmp_path_factory.mktemp("jobs")
    env = {**os.environ, "VAE_LAB_RUNS": str(runs), "VAE_LAB_JOBS": str(jobs), **env}
    log = open(tmp_path_factory.mktemp("log") / "streamlit.log", "w+")  # noqa: SIM115
    proc = subprocess.Popen(
        streamlit_command(port),
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
            break
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not start within 60 s")
    if proc.poll() is not None:
        log.seek(0)
        pytest.fail(f"streamlit exited: {log.read()[-2000:]}")
    try:
        yield url
    finally:
        stop_process(proc)
        log.close()
        stop_spawned_workers(JobStore(jobs))  # the worker the app started for its trainings


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start the app once per test session, on the data of ``$VAE_LAB_DATA``."""
    # a short heartbeat timeout, so test_home can wait longer than it with a training running
    yield from serve_app(tmp_path_factory, VAE_LAB_HEARTBEAT_TIMEOUT_S="8")


@pytest.fixture(scope="session")
def writable_data_app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A second app whose data folder is a fresh temp folder of links to the real datasets, so
    an import made in the browser lands there and never in the shared data; yields (URL, that
    folder)."""
    from vae_core.data.datasets import resolve_data_dir

    real = resolve_data_dir()
    if not (real / "mnist").is_dir():
        pytest.skip(f"no mnist/ in the data folder {real} (set VAE_LAB_DATA)")
    data = linked_data_dir(real, tmp_path_factory.mktemp("data"))
    for url in serve_app(tmp_path_factory, VAE_LAB_DATA=str(data)):
        yield url, data


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def open_page(pg, app_url: str, path: str = "") -> None:
    """Navigate and wait until the script run has finished.

    stApp carries ``data-test-script-state`` ("initial" -> "running" -> "notRunning"); the
    status widget cannot be used because the minimal toolbar hides it.
    """
    pg.goto(f"{app_url}/{path}")
    pg.wait_for_selector('[data-testid="stApp"]')
    pg.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"] [data-testid="stMain"]',
        timeout=120_000,
    )


def start_training(pg, app_url: str, **fields: object) -> None:
    """Open the Train page, set its form fields (``Hidden_layer_sizes="16"``: the label with
    underscores for spaces) and press Start training."""
    open_page(pg, app_url, "Train")
    main = pg.locator('[data-testid="stMain"]')
    for name, value in fields.items():
        field = main.get_by_label(name.replace("_", " "))
        field.fill(str(value))
        field.press("Enter")
    pg.get_by_role("button", name="Start training").click()


def shipped_title(*wanted: str) -> str:
    """The title of the first shipped model starting with one of ``wanted`` (in that order)."""
    from ui.model_list import list_models

    titles = [e.title for e in list_models() if e.source == "shipped"]
    for w in wanted:
        for t in titles:
            if t.startswith(w):
                return t
    pytest.skip(f"no shipped model like {wanted}")


def screenshot(pg, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path
