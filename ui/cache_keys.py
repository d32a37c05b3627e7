"""The one cache key of a checkpoint, shared by every cache in the app.

A key names the file and its version ('path@mtime_ns'), so a checkpoint retrained under the
same name gets new figures everywhere at once, and an unsaved model (a test's, or an upload
being checked) gets a process-local id. No PyTorch here: the Home page keys its card figures
before PyTorch is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def file_key(path: str | Path) -> str:
    """'resolved path@mtime_ns' of a file on disk."""
    p = Path(path)
    return f"{p.resolve()}@{p.stat().st_mtime_ns}"


def checkpoint_key(ckpt: Any) -> str:
    """``file_key`` of a saved checkpoint, else the in-memory model's id."""
    path = getattr(ckpt, "path", None)
    if path is not None and Path(path).is_file():
        return file_key(path)
    return f"mem-{id(ckpt.model):x}"
