"""What a freshly started server loads once, before pages need it.

Two reasons. Speed: the browser spends a second or more loading Streamlit's frontend before it
asks for the first run, so the Home page's modules and session-free work
(``ui.home.warm_caches``) are done meanwhile, in a background thread (``start``). Safety: when a
class arrives at a fresh replica, ten script threads would each import pandas, plotly and
PyTorch for the first time at once, and concurrent first imports of packages with internal
import cycles can hand a thread a partially initialised module (seen in
``bench/load_test.py --replicas 2``: "partially initialized module 'pandas' has no attribute
'Series'"). ``wait`` imports them in one thread at a time, behind a lock; every page but Home
calls it before it runs, so a cold start still shows the Home page without PyTorch.
"""

from __future__ import annotations

import gc
import importlib
import logging
import threading

#: imported in this order after the Home page's work; every other page needs them
HEAVY_MODULES = ("numpy", "pandas", "plotly.graph_objects", "torch", "ui.session")
WAIT_S = 120.0

log = logging.getLogger(__name__)
_lock = threading.Lock()  # guards _light
_import_lock = threading.Lock()  # one thread does the heavy first imports, the others wait
_light: threading.Thread | None = None
_light_done = threading.Event()
_imported = False


def _warm_home() -> None:
    try:
        from ui.home import warm_caches  # noqa: PLC0415 - the point is to import it here

        warm_caches()
    except Exception:  # noqa: BLE001 - a failed preload leaves the pages to do it themselves
        log.exception("Home preload failed")
    finally:
        _light_done.set()


def start() -> None:
    """At server start: the Home page's session-free work, in a background thread, once."""
    global _light
    with _lock:
        if _light is None:
            _light = threading.Thread(target=_warm_home, name="vae-lab-preload", daemon=True)
            _light.start()


def wait() -> None:
    """Import the heavy modules, one thread at a time: the first caller imports them, the
    others wait for it; later calls return at once.

    Called before every page but Home, and by the Home page's PyTorch warm-up once the browser
    has drawn the page, so that a cold start still shows the Home page without PyTorch.
    """
    global _imported
    with _import_lock:
        if _imported:
            return
        if _light is not None:  # the Home page's work first: it is what a cold start waits for
            _light_done.wait(WAIT_S)
        try:
            for name in HEAVY_MODULES:
                importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the pages will import (and report) it themselves
            log.exception("preload of %s failed", HEAVY_MODULES)
        # What is loaded by now (~250k objects: the modules) lives as long as the server. A full
        # collection walks every object while holding the GIL, stalling all sessions of the
        # process (223-274 ms each in the class load test); frozen, they are left out of it.
        gc.freeze()
        _imported = True
