"""What a freshly started server loads once, in one background thread, before pages need it.

Two reasons. Speed: the browser spends a second or more loading Streamlit's frontend before it
asks for the first run, so the Home page's modules and session-free work
(``ui.home.warm_caches``) are done meanwhile. Safety: when a class arrives at a fresh replica,
ten script threads would each import pandas, plotly and PyTorch for the first time at once, and
concurrent first imports of packages with internal import cycles can hand a thread a partially
initialised module (seen in ``bench/load_test.py --replicas 2``: "partially initialized module
'pandas' has no attribute 'Series'"). Here they are imported by this one thread, and the other
pages wait for it (``wait``) before they run; the Home page does not, so a cold start still
shows it without PyTorch.
"""

from __future__ import annotations

import importlib
import logging
import threading

#: imported in this order after the Home page's work; every other page needs them
HEAVY_MODULES = ("numpy", "pandas", "plotly.graph_objects", "torch", "ui.session")
WAIT_S = 120.0

log = logging.getLogger(__name__)
_lock = threading.Lock()
_light: threading.Thread | None = None
_heavy: threading.Thread | None = None
_light_done = threading.Event()
_done = threading.Event()


def _warm_home() -> None:
    try:
        from ui.home import warm_caches  # noqa: PLC0415 - the point is to import it here

        warm_caches()
    except Exception:  # noqa: BLE001 - a failed preload leaves the pages to do it themselves
        log.exception("Home preload failed")
    finally:
        _light_done.set()


def _import_heavy() -> None:
    if _light is not None:  # the Home page's work first: it is what a cold start waits for
        _light_done.wait(WAIT_S)
    try:
        for name in HEAVY_MODULES:
            importlib.import_module(name)
    except Exception:  # noqa: BLE001 - the pages will import (and report) it themselves
        log.exception("preload of %s failed", HEAVY_MODULES)
    finally:
        _done.set()


def start() -> None:
    """At server start: the Home page's session-free work, in a background thread, once."""
    global _light
    with _lock:
        if _light is None:
            _light = threading.Thread(target=_warm_home, name="vae-lab-preload", daemon=True)
            _light.start()


def wait() -> None:
    """Import the heavy modules in one thread (started by the first caller) and wait for it.

    Called before every page but Home, and by the Home page's PyTorch warm-up once the browser
    has drawn the page, so that a cold start still shows the Home page without PyTorch.
    """
    global _heavy
    with _lock:
        if _heavy is None:
            _heavy = threading.Thread(target=_import_heavy, name="vae-lab-imports", daemon=True)
            _heavy.start()
    _done.wait(WAIT_S)
