"""Atomic file writes: a reader (or a crash) sees the old file or the new one, never half.

Checkpoints, the embedding cache, classifiers, exported decoders and CLI outputs all go through
``atomic_write``: the app reads these files while a training thread or another session writes
them, and ``kill -9`` mid-write must leave the last good file in place.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write to a temp file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_current_umask())  # mkstemp's 0600 is too strict
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
