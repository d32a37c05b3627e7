"""The job queue's settings, read from the environment so that the app and every worker
process (``python -m vae_core worker``) agree without a config file.

- ``VAE_LAB_JOBS``: the job store folder (default: ``.jobs`` in the user models folder,
  ``VAE_LAB_RUNS`` or ``runs/``). Workers on other machines must see the same folder.
- ``VAE_LAB_QUEUE``: unset: a SQLite queue file in the jobs folder; ``redis://host:6379/0``:
  a Redis queue, so that workers on several machines take the jobs.
- ``VAE_LAB_TRAININGS_PER_MACHINE``: trainings that may run at once on one machine (default 1),
  whatever the number of worker processes there.
- ``VAE_LAB_LOCAL_WORKER``: ``0`` keeps the app from starting a worker on its own machine
  (the jobs then wait for a worker started by hand, e.g. on a GPU machine).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKER_STALE_S = 30.0  # a worker whose alive file is older than this is taken for dead
WORKER_BEAT_S = 1.0  # how often a worker touches its alive file


def runs_dir() -> Path:
    """The user models folder; ``ui.paths.user_models_dir`` reads the same setting."""
    return Path(os.environ.get("VAE_LAB_RUNS", ROOT / "runs"))


def jobs_dir() -> Path:
    return Path(os.environ.get("VAE_LAB_JOBS") or runs_dir() / ".jobs")


def queue_url() -> str | None:
    """The Redis URL of a networked queue, or None for the embedded SQLite one."""
    url = os.environ.get("VAE_LAB_QUEUE", "").strip()
    return url or None


def trainings_per_machine() -> int:
    value = os.environ.get("VAE_LAB_TRAININGS_PER_MACHINE", "1")
    try:
        n = int(value)
    except ValueError as exc:
        raise ValueError(
            f"VAE_LAB_TRAININGS_PER_MACHINE must be a whole number, not {value!r}"
        ) from exc
    if n < 1:
        raise ValueError("VAE_LAB_TRAININGS_PER_MACHINE must be at least 1")
    return n


def local_worker_wanted() -> bool:
    return os.environ.get("VAE_LAB_LOCAL_WORKER", "1").strip() not in ("0", "no", "false")


def host() -> str:
    return socket.gethostname()
