"""Training jobs for the Train page: a thin client of the job queue (``vae_core.jobs``).

Why jobs and not a thread in this process: a training survives the session, is seen by every
session and every app replica sharing the jobs folder, and can run on another machine's GPU.
``start_job`` stores the job and queues it (starting this machine's worker when none runs);
the worker writes progress records that ``TrainingJob.snapshot`` reads back for the page's
live curves, KL bars, ETA and queue position. Safety rails, all enforced in the worker: the
trainings per machine are bounded (``VAE_LAB_TRAININGS_PER_MACHINE``), Stop stops between
steps (the trainer then saves the partial epoch), and a job whose page stops polling for
``HEARTBEAT_TIMEOUT_S`` stops itself, so orphaned trainings do not keep the machine busy. The
sidebar line that follows a job is drawn by ``ui.picker.sidebar_training_status``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from vae_core.config import ModelConfig, VQConfig
from vae_core.device import device_label
from vae_core.evaluation.scoring import IW_SAMPLES
from vae_core.jobs.runner import cpu_threads, spec_to_dict
from vae_core.jobs.settings import trainings_per_machine
from vae_core.jobs.store import ACTIVE_STATES, JobStore
from vae_core.training.run_metadata import TrainingExtent, training_extent
from vae_core.training.trainer import TrainConfig

# No poll for this long: the tab is gone, stop training. VAE_LAB_HEARTBEAT_TIMEOUT_S sets it (the
# browser tests use a short one, so that they can wait it out).
HEARTBEAT_TIMEOUT_S = float(os.environ.get("VAE_LAB_HEARTBEAT_TIMEOUT_S", "30"))
JOIN_POLL_S = 0.05


@dataclass(frozen=True)
class JobSpec:
    """What to train; everything here was validated by the page before the job is started."""

    name: str
    model_config: ModelConfig | VQConfig  # a VQConfig: a VQ-VAE, through the same pipeline
    train_config: TrainConfig
    test_images: int | None = None  # None: 1,000 on a CPU, the whole test split on a GPU
    iw_samples: int = IW_SAMPLES


@dataclass
class JobSnapshot:
    """A consistent copy of a job's progress for one poll of the page."""

    id: str
    name: str
    state: str  # waiting | loading | training | evaluating | done | stopped | error
    message: str
    error: str | None
    step: int
    total_steps: int
    epochs: int  # planned
    eta: float | None
    elapsed: float
    steps: list[dict[str, float]]
    history: list[dict[str, Any]]
    kl_per_dim: list[float]
    eval_done: int
    eval_total: int
    checkpoint: str | None  # a loadable checkpoint on disk (per-epoch or final), if any
    data_note: str
    device: str
    test_metrics: dict[str, Any] | None
    queue_position: int | None = None  # 1: the next waiting job to start

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def progress(self) -> float:
        return self.step / self.total_steps if self.total_steps else 0.0

    @property
    def extent(self) -> TrainingExtent:
        """How much training the job's newest checkpoint holds (the same reading as the picker)."""
        last = self.history[-1]["epoch"] if self.history else 0
        meta = {"epoch": last, "epochs": self.epochs, "history": self.history}
        return training_extent({**meta, "stopped_early": self.state == "stopped"})


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return (
        f", about {seconds:.0f} s left" if seconds < 120 else f", about {seconds / 60:.0f} min left"
    )


def progress_text(snap: JobSnapshot) -> str:
    """The Train page's progress line. After a stop it says exactly what the kept checkpoint
    holds, in the words of the stop message and of the model picker (``JobSnapshot.extent``)."""
    steps = f"{snap.step:,} of {snap.total_steps:,}"
    if snap.state == "stopped":
        return f"Stopped at step {steps}; trained: {snap.extent.long(say_stopped=False)}"
    text = f"Step {steps}{_eta(snap.eta) if snap.state == 'training' else ''}"
    if snap.history:  # while it runs, every recorded epoch is a whole one
        text += f" · epoch {snap.history[-1]['epoch']} of {snap.epochs} done"
    return text


def waiting_text(snap: JobSnapshot) -> str:
    """What a waiting job waits for: its place in the queue and the trainings now running."""
    others = busy_with(snap.id)
    who = f" ({', '.join(others)})" if others else ""
    place = f"number {snap.queue_position} in the queue" if snap.queue_position else "queued"
    per_machine = trainings_per_machine()
    limit = "one training runs" if per_machine == 1 else f"{per_machine} trainings run"
    return (
        f"Waiting, {place}, for a training slot{who}: {limit} at a time on each machine "
        "(VAE_LAB_TRAININGS_PER_MACHINE)."
    )


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "model"


def new_checkpoint_path(folder: Path, name: str) -> Path:
    """A fresh file name; the random tag keeps two jobs started in the same second apart."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    while True:
        path = folder / f"{slugify(name)}-{stamp}-{secrets.token_hex(3)}.safetensors"
        if not path.exists():
            return path


def training_device_label(device: torch.device) -> str:
    """The device a training uses, with the threads it will use on a CPU (``cpu_threads``, not
    the app's current setting): the Train page says it before the start and in the result."""
    return device_label(device, cpu_threads() if device.type == "cpu" else None)


class TrainingJob:
    """A handle on one stored job; every call reads or writes the job store, so any session
    (or process) holding the id sees the same job."""

    def __init__(self, job_id: str, store: JobStore) -> None:
        self.id = job_id
        self.store = store

    def beat(self) -> None:
        """Called on every poll of the page: the tab is still open."""
        self.store.beat(self.id)

    def request_stop(self) -> None:
        self.store.request_stop(self.id)

    def snapshot(self) -> JobSnapshot:
        record = self.store.read(self.id)
        if record is None:
            raise LookupError(f"job {self.id} is no longer stored")
        values = {f.name: record.get(f.name) for f in fields(JobSnapshot)}
        values["checkpoint"] = record["checkpoint_path"] if record.get("saved") else None
        values["queue_position"] = None
        if record["state"] == "waiting":
            from vae_core.jobs import queue

            queue.keep_waiting(self.store, record)
            values["queue_position"] = self.store.queue_position(self.id)
        return JobSnapshot(**values)

    def join(self, timeout: float | None = None) -> None:
        """Wait until the job has ended (or ``timeout`` seconds have passed)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.snapshot().active and (deadline is None or time.monotonic() < deadline):
            time.sleep(JOIN_POLL_S)


def create_job(spec: JobSpec, folder: Path) -> TrainingJob:
    """Store a waiting job whose checkpoint goes to a fresh file in ``folder``, unqueued."""
    folder.mkdir(parents=True, exist_ok=True)
    store = JobStore()
    job_id = store.create({
        "name": spec.name,
        "spec": spec_to_dict(
            spec.model_config, spec.train_config, spec.test_images, spec.iw_samples
        ),
        "epochs": spec.train_config.epochs,
        "checkpoint_path": str(new_checkpoint_path(folder, spec.name).resolve()),
        "heartbeat_timeout_s": HEARTBEAT_TIMEOUT_S,
        "message": "Waiting for a training slot…",
    })  # fmt: skip
    return TrainingJob(job_id, store)


def start_job(spec: JobSpec, folder: Path) -> TrainingJob:
    """Store and queue a job, starting this machine's worker if none is running."""
    from vae_core.jobs import queue

    queue.get_huey()  # a bad queue setting fails here, before a job is stored
    job = create_job(spec, folder)
    try:
        queue.ensure_local_worker(job.store)
        queue.submit(job.id, job.store)
    except Exception as exc:
        job.store.set(job.id, state="error", error=f"not queued: {exc}", message="Not queued.")
        raise
    return job


def get_job(job_id: str) -> TrainingJob | None:
    store = JobStore()
    try:
        exists = (store.folder(job_id) / "record.json").exists()
    except ValueError:
        return None
    return TrainingJob(job_id, store) if exists else None


def active_jobs() -> list[TrainingJob]:
    """Jobs of all sessions that are still waiting, training or evaluating."""
    store = JobStore()
    return [TrainingJob(r["id"], store) for r in store.records() if r["state"] in ACTIVE_STATES]


def busy_with(exclude: str) -> list[str]:
    """Names of other jobs now training, for the 'waiting for the other training' notice."""
    store = JobStore()
    return [
        r["name"] for r in store.records()
        if r["id"] != exclude and r["state"] in ACTIVE_STATES and r["state"] != "waiting"
    ]  # fmt: skip
