"""Opt-in server-side timing of every script run and fragment run (for ``bench/load_test.py``).

Set ``VAE_LAB_TIMING_LOG=<path>`` and each run that Streamlit finishes appends one JSON line:
``{"page", "kind", "outcome", "start", "duration_ms", "cpu_ms", "session"}`` (``cpu_ms``: CPU
time of the script thread in that interval; far below ``duration_ms`` means the run waited for
the CPU or the GIL, not for its own work). Unset (the default), nothing is patched and nothing
costs anything. Beside it, ``<path>.gc`` gets one line per full garbage collection
(``{"start", "duration_ms"}``): a full collection holds the GIL, so it stalls every session's run
in the process, and the load test reports them.

Why at the ScriptRunner and not in each page: a fragment rerun (the Latent sliders' release)
executes only the fragment function, never the page's first lines, so a page-level timer would
miss exactly the runs that matter most. Every run, full or fragment, goes through
``ScriptRunner._run_script``, which announces ``SCRIPT_STARTED`` and the matching stop event on
its ``on_event`` signal; we listen to that signal for the duration of the call. The interval is
the script's own execution (start event to stop event), excluding Streamlit's post-run GC.
"""

from __future__ import annotations

import collections
import gc
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENV_VAR = "VAE_LAB_TIMING_LOG"
STOP_OUTCOMES = {
    "SCRIPT_STOPPED_WITH_SUCCESS": "success",
    "FRAGMENT_STOPPED_WITH_SUCCESS": "success",
    "SCRIPT_STOPPED_FOR_RERUN": "interrupted",
    "SCRIPT_STOPPED_WITH_COMPILE_ERROR": "compile_error",
}

_lock = threading.Lock()
_original: Callable[..., None] | None = None  # ScriptRunner._run_script before install()
# Full collections (generation 2) seen by the gc callback, written out with the next run's line:
# the callback runs inside the collector, where taking _lock or writing a file could deadlock.
_full_collections: collections.deque[dict[str, Any]] = collections.deque(maxlen=10_000)
_gc_started: dict[int, tuple[float, float]] = {}  # thread id -> (perf_counter, time) at start


def log_path() -> Path | None:
    value = os.environ.get(ENV_VAR, "").strip()
    return Path(value) if value else None


def record(path: Path, entry: dict[str, Any]) -> None:
    """Append one JSON line; the lock keeps lines from concurrent sessions whole."""
    line = json.dumps(entry, separators=(",", ":")) + "\n"
    with _lock, open(path, "a", encoding="utf-8") as fh:
        fh.write(line)


def gc_log_path(path: Path) -> Path:
    """Where the full garbage collections go, beside the runs' log: ``runs.jsonl.gc``."""
    return path.with_name(path.name + ".gc")


def _time_full_collections(phase: str, info: dict[str, Any]) -> None:
    """gc callback: the duration of each full collection, which holds the GIL for all sessions."""
    if info.get("generation") != 2:
        return
    thread = threading.get_ident()
    if phase == "start":
        _gc_started[thread] = (time.perf_counter(), time.time())
    elif thread in _gc_started:
        t0, wall0 = _gc_started.pop(thread)
        ms = (time.perf_counter() - t0) * 1000.0
        _full_collections.append({"start": round(wall0, 4), "duration_ms": round(ms, 3)})


def _flush_collections(path: Path) -> None:
    lines = []
    while _full_collections:
        lines.append(json.dumps(_full_collections.popleft(), separators=(",", ":")) + "\n")
    if lines:
        with _lock, open(gc_log_path(path), "a", encoding="utf-8") as fh:
            fh.write("".join(lines))


def session_tag(session_id: str) -> str:
    """A short, stable, non-reversible name for a session (the raw id is a bearer token)."""
    return hashlib.sha256(session_id.encode()).hexdigest()[:10]


def page_label(script_path: str | None) -> str:
    """'pages/4_Generate.py' -> 'Generate'; the main script is 'Home'."""
    if not script_path or Path(script_path).parent.name != "pages":
        return "Home"
    stem = Path(script_path).stem
    return stem.split("_", 1)[1].replace("_", " ") if "_" in stem else stem


def _resolved_page() -> str | None:
    """The page this run actually executed (known only after the run: MPA v1 resolves the URL
    to a page inside the run, so the start event of a session's first run names the main script).
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx(suppress_warning=True)
    if ctx is None:
        return None
    info = ctx.pages_manager.get_pages().get(ctx.page_script_hash)
    return page_label(info.get("script_path")) if info else None


class _RunListener:
    """Receives one ScriptRunner's events during one ``_run_script`` call."""

    def __init__(self, path: Path, session: str) -> None:
        self.path, self.session = path, session
        self.t0: float | None = None
        self.wall0 = self.cpu0 = 0.0
        self.page, self.kind = "Home", "script"

    def __call__(self, sender: Any, event: Any = None, **kwargs: Any) -> None:
        name = getattr(event, "name", str(event))
        if name == "SCRIPT_STARTED":
            self.t0, self.wall0, self.cpu0 = time.perf_counter(), time.time(), time.thread_time()
            info = (kwargs.get("pages") or {}).get(kwargs.get("page_script_hash"), {})
            self.page = page_label(info.get("script_path"))
            self.kind = "fragment" if kwargs.get("fragment_ids_this_run") else "script"
        elif name in STOP_OUTCOMES and self.t0 is not None:
            ms = (time.perf_counter() - self.t0) * 1000.0
            cpu_ms = (time.thread_time() - self.cpu0) * 1000.0  # the script thread's own CPU
            self.page = _resolved_page() or self.page
            record(
                self.path,
                {
                    "page": self.page,
                    "kind": self.kind,
                    "outcome": STOP_OUTCOMES[name],
                    "start": round(self.wall0, 4),
                    "duration_ms": round(ms, 3),
                    "cpu_ms": round(cpu_ms, 3),
                    "session": self.session,
                },
            )
            self.t0 = None  # an st.rerun() loops inside the same call: the next start re-arms
            _flush_collections(self.path)


def install() -> bool:
    """Start timing all runs in this process if ``VAE_LAB_TIMING_LOG`` is set (idempotent).

    Returns whether timing is active. Called from ``ui.picker`` (imported by every page), so
    the run that first imports it is not timed; every later run, on any page, is.
    """
    global _original
    path = log_path()
    if path is None:
        return False
    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

    with _lock:
        if _original is not None:
            return True
        original = ScriptRunner._run_script

        def _timed_run_script(self: Any, rerun_data: Any) -> None:
            listener = _RunListener(path, session_tag(str(getattr(self, "_session_id", ""))))
            self.on_event.connect(listener, weak=False)
            try:
                original(self, rerun_data)
            finally:
                self.on_event.disconnect(listener)

        _original = original
        ScriptRunner._run_script = _timed_run_script  # type: ignore[method-assign]
        gc.callbacks.append(_time_full_collections)
    return True


def uninstall() -> None:
    """Undo ``install()`` (tests)."""
    global _original
    from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

    with _lock:
        if _original is not None:
            ScriptRunner._run_script = _original  # type: ignore[method-assign]
            _original = None
        if _time_full_collections in gc.callbacks:
            gc.callbacks.remove(_time_full_collections)
