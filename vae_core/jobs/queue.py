"""The task queue: huey, with a SQLite file in the jobs folder by default (nothing to install
or start) and Redis when ``VAE_LAB_QUEUE`` is a ``redis://`` URL (workers on several machines).

A queued message carries only the job id; the job's spec and progress live in the job store
(``vae_core.jobs.store``), so the queue can be swapped without touching the page. The app
calls ``ensure_local_worker`` before it submits: it starts ``python -m vae_core worker`` once
per machine (not per session) when no worker beats there.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from filelock import FileLock

from vae_core.jobs import settings
from vae_core.jobs.store import JobStore

TASK_NAME = "vae_lab.train"
POLL_MAX_DELAY_S = 0.5  # the consumer's longest pause between two looks at an idle SQLite queue
SPAWN_GRACE_S = 120.0  # a worker started this recently counts as running while it imports
LOCAL_WORKER_IDLE_EXIT_S = 600.0  # an app-started worker ends after this long without a job
REQUEUE_AFTER_S = 15.0  # a waiting job in no worker's hands and not in the queue, for this long
SHUTDOWN_TIMEOUT_S = 30.0  # a stopping worker waits this long for its jobs to save and end


@functools.lru_cache(maxsize=8)
def _huey(url: str | None, folder: str) -> Any:
    from huey import RedisHuey, SqliteHuey

    if url is None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey("vae-lab", filename=str(Path(folder) / "queue.sqlite3"), results=False)
    elif url.startswith(("redis://", "rediss://", "unix://")):
        try:
            import redis  # noqa: F401 - huey's Redis storage needs the client
        except ImportError as exc:
            raise RuntimeError(
                "VAE_LAB_QUEUE names a Redis queue but the redis package is not installed "
                "(pip install redis)"
            ) from exc
        huey = RedisHuey("vae-lab", url=url, results=False)
    else:
        raise ValueError(f"VAE_LAB_QUEUE must be a redis:// URL (or unset), not {url!r}")

    @huey.task(name=TASK_NAME)
    def train(job_id: str) -> None:
        from vae_core.jobs.runner import run_job

        run_job(JobStore(), job_id)  # this worker's jobs folder (VAE_LAB_JOBS)

    huey.vae_lab_train = train
    return huey


def get_huey() -> Any:
    """The huey instance for the current settings (one per setting, built once)."""
    return _huey(settings.queue_url(), str(settings.jobs_dir()))


def submit(job_id: str, store: JobStore) -> None:
    """Queue a job stored in ``store`` (the configured jobs folder, which the workers read)."""
    if store.root.resolve() != settings.jobs_dir().resolve():
        raise ValueError(f"the workers read jobs from {settings.jobs_dir()}, not {store.root}")
    get_huey().vae_lab_train(job_id)


def pending_ids() -> set[str]:
    """The job ids whose messages wait in the queue (no worker has taken them yet)."""
    return {task.args[0] for task in get_huey().pending() if task.args}


def keep_waiting(store: JobStore, record: dict[str, Any]) -> None:
    """A waiting job must reach a worker: start this machine's worker when none beats here
    (it may have ended idle, or been killed), and queue the job again when no worker holds it
    and its message is gone (a worker killed between taking it and claiming it). A job queued
    twice runs once: only one worker can claim it."""
    ensure_local_worker(store)
    if record["state"] != "waiting" or record.get("worker") is not None:
        return
    queued = record.get("queued_at") or record["created"]
    if time.time() - queued < REQUEUE_AFTER_S or record["id"] in pending_ids():
        return
    store.set(record["id"], queued_at=time.time())
    submit(record["id"], store)


def run_worker(idle_exit_s: float | None = None) -> None:
    """Run a huey consumer with one worker thread per training slot of this machine, until
    SIGINT/SIGTERM (or ``idle_exit_s`` without a running job).

    On a signal the jobs it runs are asked to stop first, so each saves its partial epoch and
    ends "stopped" with the reason, instead of being cut off and found dead later.
    """
    from huey.consumer import ConsumerStopped

    from vae_core.jobs import runner

    huey = get_huey()
    store = JobStore()
    pid, host = os.getpid(), settings.host()
    consumer = huey.create_consumer(
        workers=settings.trainings_per_machine(), periodic=False, max_delay=POLL_MAX_DELAY_S,
        check_worker_health=True, shutdown_timeout=SHUTDOWN_TIMEOUT_S,
    )  # fmt: skip
    stopped = threading.Event()
    received: list[int] = []

    def beat() -> None:
        idle_since = time.monotonic()
        while not stopped.wait(settings.WORKER_BEAT_S):
            store.beat_worker(host, pid)
            if runner.running_here():
                idle_since = time.monotonic()
            elif idle_exit_s is not None and time.monotonic() - idle_since > idle_exit_s:
                consumer.stop()
                return

    def on_signal(signum: int, frame: Any) -> None:
        received.append(signum)
        consumer.stop_flag.set()

    store.beat_worker(host, pid)
    threading.Thread(target=beat, name="vae-lab-worker-beat", daemon=True).start()
    consumer.start()
    for signum in (signal.SIGINT, signal.SIGTERM):  # in place of huey's own handlers
        signal.signal(signum, on_signal)
    try:
        checked = time.monotonic()
        while True:
            try:
                checked = consumer.loop(checked)
            except ConsumerStopped:
                break
        if received:
            name = signal.Signals(received[0]).name
            runner.stop_all(f"Stopped: the worker (pid {pid} on {host}) was shut down ({name})")
        consumer.stop(graceful=True)  # the stopped jobs end within a second or so
    finally:
        stopped.set()
        store.alive_file(host, pid).unlink(missing_ok=True)


def ensure_local_worker(store: JobStore | None = None) -> int | None:
    """Start a worker on this machine unless one beats here (or was started moments ago);
    returns the pid of the one it started. ``VAE_LAB_LOCAL_WORKER=0`` turns this off."""
    if not settings.local_worker_wanted():
        return None
    store = store or JobStore()
    store.root.mkdir(parents=True, exist_ok=True)
    host = settings.host()
    marker = store.root / f"spawned-{host}.pid"
    with FileLock(str(store.root / f"spawn-{host}.lock"), timeout=30):
        if store.live_workers(host):
            return None
        try:
            pid, started = marker.read_text().split()
            if time.time() - float(started) < SPAWN_GRACE_S and _alive(int(pid)):
                return None
        except (OSError, ValueError):
            pass
        log = open(store.root / f"worker-{host}.log", "ab")  # noqa: SIM115 - the child keeps it
        proc = subprocess.Popen(
            [sys.executable, "-m", "vae_core", "worker",
             "--idle-exit", str(LOCAL_WORKER_IDLE_EXIT_S)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the app's terminal must not kill a training
            cwd=str(settings.ROOT), env={**os.environ, "VAE_LAB_JOBS": str(store.root)},
        )  # fmt: skip
        log.close()
        _CHILDREN.append(proc)
        marker.write_text(f"{proc.pid} {time.time()}")
        return proc.pid


_CHILDREN: list[subprocess.Popen] = []  # reaped by _alive, so a dead child is no zombie


def _alive(pid: int) -> bool:
    from vae_core.jobs.store import pid_alive

    for proc in _CHILDREN:
        proc.poll()
    return pid_alive(pid)


def stop_local_workers(timeout: float = 30.0) -> None:
    """End the workers this process started (tests; the app leaves its worker running)."""
    for proc in _CHILDREN:
        if proc.poll() is None:
            proc.terminate()
    for proc in _CHILDREN:
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _CHILDREN.clear()


def stop_spawned_workers(store: JobStore, timeout: float = 30.0) -> None:
    """SIGTERM the workers that apps started for ``store`` (their pid files), and wait for
    them: for a test that ran the app in another process."""
    from vae_core.jobs.store import pid_alive

    pids = []
    for marker in store.root.glob("spawned-*.pid"):
        try:
            pid = int(marker.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            pids.append(pid)
    deadline = time.monotonic() + timeout
    while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
