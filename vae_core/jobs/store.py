"""The job store: one folder per job under ``settings.jobs_dir()``, readable by any process.

Why files and not memory: the training runs in a worker process (maybe on another machine
sharing the folder), while every Streamlit session polls it. A job's folder holds

- ``record.json``: spec, state, message, error, step counts, history, KL per dimension, eval
  progress, checkpoint path, the worker's pid and host (rewritten atomically, so a reader sees
  the old or the new record, never half);
- ``steps.jsonl``: the live-curve points, appended by the worker (a torn last line is skipped);
- ``stop``: exists once a stop was requested (its text is the reason);
- ``heartbeat``: touched by the page on every poll (its mtime is the closed-tab rule's clock).

A worker touches ``workers/<host>-<pid>.alive`` every second; a reader that finds an active
job whose worker is gone (dead pid on this host, or an alive file older than
``WORKER_STALE_S``) marks it failed with that reason, so a killed worker never leaves a job
that hangs. Record updates take the job's file lock.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock

from vae_core.io.atomic import atomic_write
from vae_core.jobs import settings

ACTIVE_STATES = ("waiting", "loading", "training", "evaluating")
FINAL_STATES = ("done", "stopped", "error")
MAX_STEP_POINTS = 2000  # live-curve points handed to a reader (older ones are thinned)
MAX_FINISHED_KEPT = 50


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, killed but not yet reaped by its parent, is dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): the signal test is all there is
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


class JobStore:
    """Job records in ``root`` (default: the configured jobs folder)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else settings.jobs_dir()

    # --- paths ---------------------------------------------------------------------------
    def folder(self, job_id: str) -> Path:
        if not job_id.startswith("job-") or "/" in job_id or ".." in job_id:
            raise ValueError(f"not a job id: {job_id!r}")
        return self.root / job_id

    def _lock(self, job_id: str) -> FileLock:
        return FileLock(str(self.folder(job_id) / "lock"), timeout=10)

    def workers_dir(self) -> Path:
        return self.root / "workers"

    def alive_file(self, host: str, pid: int) -> Path:
        return self.workers_dir() / f"{host}-{pid}.alive"

    # --- records -------------------------------------------------------------------------
    def create(self, record: dict[str, Any]) -> str:
        """Store a new waiting job; returns its id (unique across processes and machines)."""
        self._prune()
        job_id = f"job-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
        folder = self.folder(job_id)
        folder.mkdir(parents=True)
        now = time.time()
        full = {
            "id": job_id, "created": now, "state": "waiting", "message": "Queued…",
            "error": None, "stop_reason": None, "step": 0, "total_steps": 0, "eta": None,
            "elapsed": 0.0, "history": [], "kl_per_dim": [], "eval_done": 0, "eval_total": 0,
            "saved": False, "data_note": "", "device": "", "test_metrics": None,
            "worker": None, **record,
        }  # fmt: skip
        self.beat(job_id)
        self._write(job_id, full)
        return job_id

    def _write(self, job_id: str, record: dict[str, Any]) -> None:
        atomic_write(self.folder(job_id) / "record.json", json.dumps(record).encode())

    def _read_raw(self, job_id: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.folder(job_id) / "record.json").read_text())
        except (OSError, ValueError):
            return None

    def update(self, job_id: str, change: Callable[[dict[str, Any]], bool | None]) -> dict | None:
        """Apply ``change`` to the record under the job's lock; it returns False to write
        nothing. Returns the record as written (or as read when nothing was written)."""
        with self._lock(job_id):
            record = self._read_raw(job_id)
            if record is None:
                return None
            if change(record) is not False:
                self._write(job_id, record)
            return record

    def set(self, job_id: str, **values: Any) -> None:
        self.update(job_id, lambda r: r.update(values))

    def read(self, job_id: str, steps: bool = True) -> dict[str, Any] | None:
        """The job's record (with ``steps``: its live-curve points), after marking a job whose
        worker died failed and a queued job whose page went away stopped."""
        try:
            record = self._read_raw(job_id)
        except ValueError:
            return None
        if record is None:
            return None
        if record["state"] in ACTIVE_STATES:
            reason = self._lost(record)
            if reason is not None:
                record = self.update(job_id, lambda r: self._settle(r, reason)) or record
        if steps:
            record["steps"] = self.steps(job_id)
        return record

    def ids(self) -> list[str]:
        """Every stored job, oldest first."""
        if not self.root.is_dir():
            return []
        found = [p.name for p in self.root.iterdir() if p.name.startswith("job-")]
        return sorted(found, key=lambda i: self._created(i))

    def _created(self, job_id: str) -> float:
        record = self._read_raw(job_id)
        return record["created"] if record else 0.0

    def records(self) -> list[dict[str, Any]]:
        """All records (without steps), oldest first."""
        out = [self.read(i, steps=False) for i in self.ids()]
        return [r for r in out if r is not None]

    def queue_position(self, job_id: str) -> int | None:
        """1 for the next waiting job to start, 2 for the one after it; None if not waiting."""
        waiting = [r["id"] for r in self.records() if r["state"] == "waiting"]
        return waiting.index(job_id) + 1 if job_id in waiting else None

    def _prune(self) -> None:
        finished = [r["id"] for r in self.records() if r["state"] in FINAL_STATES]
        for job_id in finished[:-MAX_FINISHED_KEPT]:
            shutil.rmtree(self.folder(job_id), ignore_errors=True)

    # --- progress records ----------------------------------------------------------------
    def append_steps(self, job_id: str, points: list[dict[str, float]]) -> None:
        if points:
            with open(self.folder(job_id) / "steps.jsonl", "a") as f:
                f.write("".join(json.dumps(p) + "\n" for p in points))

    def steps(self, job_id: str) -> list[dict[str, float]]:
        try:
            lines = (self.folder(job_id) / "steps.jsonl").read_text().splitlines()
        except OSError:
            return []
        points = []
        for line in lines:
            try:
                points.append(json.loads(line))
            except ValueError:
                continue  # the line the worker is writing right now
        while len(points) > MAX_STEP_POINTS:
            points = points[::2]
        return points

    # --- stop, heartbeats ----------------------------------------------------------------
    def request_stop(self, job_id: str, reason: str = "Stopped by the user") -> None:
        """Ask the worker to stop (it checks between steps); a job no worker has taken yet
        ends here and now."""
        stop = self.folder(job_id) / "stop"
        if not stop.exists():
            atomic_write(stop, reason.encode())

        def settle(record: dict[str, Any]) -> bool:
            if record["state"] != "waiting" or record["worker"] is not None:
                return False
            self._settle(record, f"{reason} before it started.", state="stopped")
            return True

        self.update(job_id, settle)

    def stop_reason(self, job_id: str) -> str | None:
        try:
            return (self.folder(job_id) / "stop").read_text() or "Stopped"
        except OSError:
            return None

    def beat(self, job_id: str) -> None:
        """The page still shows the job (called on every poll)."""
        (self.folder(job_id) / "heartbeat").touch()

    def silent_for(self, job_id: str) -> float:
        """Seconds since the page last polled the job."""
        try:
            return time.time() - (self.folder(job_id) / "heartbeat").stat().st_mtime
        except OSError:
            return float("inf")

    def beat_worker(self, host: str, pid: int) -> None:
        path = self.alive_file(host, pid)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    def worker_age(self, host: str, pid: int) -> float:
        try:
            return time.time() - self.alive_file(host, pid).stat().st_mtime
        except OSError:
            return float("inf")

    def live_workers(self, host: str) -> list[int]:
        """Pids of the workers on ``host`` that beat recently."""
        folder = self.workers_dir()
        if not folder.is_dir():
            return []
        pids = []
        for path in folder.glob(f"{host}-*.alive"):
            pid = int(path.stem.rsplit("-", 1)[1])
            if self.worker_age(host, pid) < settings.WORKER_STALE_S and pid_alive(pid):
                pids.append(pid)
            elif self.worker_age(host, pid) > 10 * settings.WORKER_STALE_S:
                path.unlink(missing_ok=True)
        return pids

    # --- lost jobs -----------------------------------------------------------------------
    def _lost(self, record: dict[str, Any]) -> str | None:
        """Why an active job can no longer end by itself, or None while it can."""
        worker = record.get("worker")
        if worker is None:
            timeout = record.get("heartbeat_timeout_s")
            silent = self.silent_for(record["id"])
            if timeout is not None and silent > timeout:
                return (
                    f"Stopped: the page stopped polling for {silent:.0f} s (tab closed?) "
                    "before it started."
                )
            return None
        who = f"the worker (pid {worker['pid']} on {worker['host']})"
        if worker["host"] == settings.host() and not pid_alive(worker["pid"]):
            return f"{who} died while running it"
        age = self.worker_age(worker["host"], worker["pid"])
        if age > settings.WORKER_STALE_S:
            return f"{who} has not been heard from for {age:.0f} s"
        return None

    def _settle(self, record: dict[str, Any], reason: str, state: str | None = None) -> bool:
        if record["state"] not in ACTIVE_STATES:
            return False  # it ended meanwhile
        if state is None:
            state = "stopped" if record.get("worker") is None else "error"
        record["state"] = state
        if state == "error":
            kept = "; the last good checkpoint is kept" if record.get("saved") else ""
            record["error"] = reason + kept
            record["message"] = "Training failed."
        else:
            record["message"] = reason
        return True
