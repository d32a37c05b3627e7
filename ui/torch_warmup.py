"""PyTorch imported off the request path, and the compute device it finds.

``import torch`` takes about 2 s on a cold machine. The Home page needs PyTorch for only one
thing, the device badge (CUDA / MPS / CPU), so its first run does not import it: it starts
this warm-up (one daemon thread per process) once the browser has drawn the page, and shows
the badge once the thread is done. The next page a visitor opens then finds PyTorch loaded.
"""

from __future__ import annotations

import sys
import threading

WAIT_IF_LOADED_S = 30.0  # PyTorch already in memory: only the device query is left

_lock = threading.Lock()
_done = threading.Event()
_thread: threading.Thread | None = None
_loaded_before = False  # PyTorch was imported by someone else before the warm-up started
_device_text: str | None = None


def _warm() -> None:
    global _device_text
    try:
        from ui import preload

        preload.wait()  # a fresh server's preload imports PyTorch: one thread imports it, not two
        from vae_core.device import device_label, pick_device  # imports torch

        _device_text = device_label(pick_device())
    except Exception as exc:  # noqa: BLE001 - shown on the badge; every page will say more
        _device_text = f"unavailable ({type(exc).__name__}: {exc})"[:120]
    finally:
        _done.set()


def start() -> None:
    """Start the warm-up once per process (later calls do nothing)."""
    global _thread, _loaded_before
    with _lock:
        if _thread is None:
            _loaded_before = "torch" in sys.modules
            _thread = threading.Thread(target=_warm, name="vae-lab-torch-warmup", daemon=True)
            _thread.start()


def device_text() -> str | None:
    """'CPU (2 threads)', 'CUDA (…)' or 'MPS' once PyTorch is loaded; None while it loads.

    Does not start the warm-up (the Home page's device badge does, after the page is drawn, so
    the import does not compete with the first paint). When PyTorch was already imported (another page, a test), starts it
    and waits for the device query instead of answering None, so the badge is there at once.
    """
    if _thread is None and "torch" in sys.modules:
        start()
    if _loaded_before:
        _done.wait(WAIT_IF_LOADED_S)
    return _device_text if _done.is_set() else None


def ready() -> bool:
    """True once the warm-up has finished (PyTorch imported, device known)."""
    return _done.is_set()


def wait(timeout: float | None = None) -> bool:
    """Block until the warm-up has finished (False on timeout); for scripts and tests."""
    return _done.wait(timeout)
