"""Training jobs for the Train page: a worker thread per job that never touches Streamlit
(the sidebar line that follows a job is drawn by ``ui.picker.sidebar_training_status``).

Why a thread and not the script run: a Streamlit rerun would restart training on every click.
The worker writes progress into a lock-guarded ``TrainingJob``; the page polls ``snapshot()``.
Safety rails: a process-wide semaphore lets only one trainer use the (2-core) machine at a time,
the others wait visibly; a ``threading.Event`` stops training between steps (the trainer then
saves the partial epoch); and a heartbeat from the page's poll lets the worker notice that its
tab was closed and stop itself, so orphaned trainings do not keep the CPU busy.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import os
import re
import secrets
import threading
import time
import traceback
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from vae_core.config import ModelConfig, VQConfig
from vae_core.device import device_label
from vae_core.evaluation.scoring import IW_SAMPLES
from vae_core.training.run_metadata import TrainingExtent, training_extent
from vae_core.training.trainer import TrainConfig

HEARTBEAT_TIMEOUT_S = 30.0  # no poll for this long: the tab is gone, stop training
MAX_STEP_POINTS = 2000  # live curve points kept per job (older ones are thinned)
MAX_FINISHED_KEPT = 20
ACTIVE_STATES = ("waiting", "loading", "training", "evaluating")

_TRAINER_SLOT = threading.Semaphore(1)  # one training at a time on this machine
_REGISTRY: dict[str, TrainingJob] = {}
_REGISTRY_LOCK = threading.Lock()
_IDS = itertools.count(1)


class _Abort(Exception):
    """Raised inside the worker when it must stop (Stop button or a lost heartbeat)."""


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


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "model"


def new_checkpoint_path(folder: Path, name: str) -> Path:
    """A fresh file name; the random tag keeps two jobs started in the same second apart."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    while True:
        path = folder / f"{slugify(name)}-{stamp}-{secrets.token_hex(3)}.safetensors"
        if not path.exists():
            return path


def cpu_threads() -> int:
    """Leave one core to the app while training: Streamlit and the other sessions must stay
    responsive, and oversubscribed OpenMP threads spin (measured on the 2-core dev machine under
    load: 40 ms per MLP step on 1 thread, 700 ms on 2).
    """
    return max(1, (os.cpu_count() or 1) - 1)


def training_device_label(device: torch.device) -> str:
    """The device a training uses, with the threads it will use on a CPU (``cpu_threads``, not
    the app's current setting): the Train page says it before the start and in the result."""
    return device_label(device, cpu_threads() if device.type == "cpu" else None)


def default_test_images(device_type: str) -> int | None:
    """IWAE with K=100 costs ~100 forward passes per image: subsample on a CPU only."""
    return None if device_type == "cuda" else 1000


class TrainingJob:
    """One training run. The worker writes, the page reads; every field access holds ``lock``."""

    def __init__(self, spec: JobSpec, checkpoint_path: Path) -> None:
        self.id = f"job-{next(_IDS)}"
        self.spec = spec
        self.checkpoint_path = checkpoint_path
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.heartbeat = time.monotonic()
        self.state = "waiting"
        self.message = "Waiting for the other training to finish…"
        self.error: str | None = None
        self.stop_reason: str | None = None
        self.step = 0
        self.total_steps = 0
        self.epochs = spec.train_config.epochs
        self.eta: float | None = None
        self.elapsed = 0.0
        self.steps: list[dict[str, float]] = []
        self.history: list[dict[str, Any]] = []
        self.kl_per_dim: list[float] = []
        self.eval_done = 0
        self.eval_total = 0
        self.saved = False  # a checkpoint of at least one (partial) epoch is on disk
        self.data_note = ""
        self.device = ""
        self.test_metrics: dict[str, Any] | None = None
        self.thread: threading.Thread | None = None

    # --- page side -------------------------------------------------------------------------
    def beat(self) -> None:
        """Called on every poll of the page: the tab is still open."""
        with self.lock:
            self.heartbeat = time.monotonic()

    def request_stop(self) -> None:
        with self.lock:
            self.stop_reason = self.stop_reason or "Stopped by the user"
        self.stop_event.set()

    def snapshot(self) -> JobSnapshot:
        """A deep copy, so the page never reads lists the worker is appending to."""
        with self.lock:
            copied = {
                f.name: copy.deepcopy(getattr(self, f.name))
                for f in fields(JobSnapshot)
                if f.name not in ("name", "checkpoint")
            }
            saved = str(self.checkpoint_path) if self.saved else None
        return JobSnapshot(name=self.spec.name, checkpoint=saved, **copied)

    def join(self, timeout: float | None = None) -> None:
        if self.thread is not None:
            self.thread.join(timeout)

    # --- worker side -----------------------------------------------------------------------
    def _set(self, **values: Any) -> None:
        with self.lock:
            for key, value in values.items():
                setattr(self, key, value)

    def _check_alive(self) -> None:
        """Turn a lost heartbeat into a stop request (the trainer checks the event every step)."""
        with self.lock:
            silent = time.monotonic() - self.heartbeat
        if silent > HEARTBEAT_TIMEOUT_S and not self.stop_event.is_set():
            self._set(
                stop_reason=f"Stopped: the page stopped polling for {silent:.0f} s (tab closed?)"
            )
            self.stop_event.set()

    def _on_step(self, info: Any) -> None:
        point = {
            "step": info.step,
            "x": info.step / info.total_steps * self.spec.train_config.epochs,
            "elbo": info.elbo,
            "recon": info.recon,
            "kl": info.kl,
        }
        with self.lock:
            self.step, self.total_steps, self.eta = info.step, info.total_steps, info.eta
            self.elapsed = info.elapsed
            self.steps.append(point)
            if len(self.steps) > MAX_STEP_POINTS:
                self.steps = self.steps[::2]
        self._check_alive()

    def _on_epoch(self, info: Any) -> None:
        from vae_core.training.run_metadata import epoch_record

        with self.lock:
            self.history.append(epoch_record(info))
            # exact, unlike the last on_step (every log_every steps): the page's "Step N" after a
            # stop must be the step the checkpoint ends on
            self.step = (info.epoch - 1) * info.steps_per_epoch + info.steps
            self.kl_per_dim = list(info.kl_per_dim)
            self.saved = True  # the trainer wrote the checkpoint just before this callback
            self.message = f"Epoch {info.epoch}/{info.epochs} done"
        self._check_alive()

    def _wait_for_slot(self) -> bool:
        """Block until this job may train; False if it was stopped while waiting."""
        while not _TRAINER_SLOT.acquire(timeout=0.25):
            self._check_alive()
            if self.stop_event.is_set():
                return False
        return True

    def run(self) -> None:
        """Thread body: wait for the slot, train, evaluate, record the outcome. Never raises."""
        if not self._wait_for_slot():
            self._set(
                state="stopped", message=f"{self.stop_reason or 'Stopped'} before it started."
            )
            return
        threads = torch.get_num_threads()
        try:
            self._run()
        except _Abort:
            self._set(
                state="stopped",
                message=f"{self.stop_reason or 'Stopped'} during the test evaluation; the trained "
                "checkpoint is kept without test metrics.",
            )
        except Exception as exc:  # noqa: BLE001 - every failure must reach the page, not a log
            from vae_core.data.datasets import DatasetUnavailable
            from vae_core.training.trainer import TrainingDiverged

            known = isinstance(exc, TrainingDiverged | DatasetUnavailable | ValueError)
            text = str(exc) if known else f"{type(exc).__name__}: {exc}"
            if isinstance(exc, DatasetUnavailable):
                text = exc.for_app  # worded for the app: no command-line flags
            if not known:
                traceback.print_exc()
            self._set(state="error", error=text, message="Training failed.")
        finally:
            torch.set_num_threads(threads)
            _TRAINER_SLOT.release()

    def _run(self) -> None:
        from vae_core.data.datasets import load_split
        from vae_core.device import pick_device
        from vae_core.training.pipeline import train_and_score
        from vae_core.training.run_metadata import dataset_note

        spec, config = self.spec, self.spec.train_config
        self._set(state="loading", message=f"Loading the {config.dataset} training and test sets…")
        train_set = load_split(config.dataset, "train")
        test_set = load_split(config.dataset, "test")  # fail now, not after the last epoch
        device = pick_device(config.device)
        if device.type == "cpu":  # process-wide in effect; run() restores it afterwards
            torch.set_num_threads(cpu_threads())
        label = training_device_label(device)
        self._set(data_note=dataset_note(train_set, config.val_fraction), device=label)
        self._set(state="training", message="Training…")
        n = spec.test_images if spec.test_images is not None else default_test_images(device.type)
        run = train_and_score(
            spec.model_config,
            config,
            train_set=train_set,
            test_set=test_set,
            checkpoint=self.checkpoint_path,
            name=spec.name,
            device_label=label,
            iw_samples=spec.iw_samples,
            test_images=n,
            on_step=self._on_step,
            on_epoch=self._on_epoch,
            stop=self.stop_event,
            on_trained=self._on_trained,
            score_progress=self._on_scored,
        )
        if run.test_metrics is None:  # stopped while training
            self._set(state="stopped")
            kept = (
                f". The checkpoint is kept: {self.snapshot().extent.long(say_stopped=False)}"
                if self.saved
                else "; nothing was saved (no training step had run)"
            )
            self._set(message=(self.stop_reason or "Stopped") + kept + ".")
            return
        epochs = len(run.result.history)
        self._set(
            state="done",
            message=f"Trained {epochs} epoch{'s' * (epochs != 1)} "
            f"in {run.result.seconds:.1f} s on {label}.",
            test_metrics=run.test_metrics,
        )

    def _on_trained(self, n: int) -> None:
        """Scoring starts: the test images are the seeded stratified subset of ``n``
        (``vae_core.data.subsets``), the images ``python -m vae_core evaluate --limit n`` scores."""
        self._set(
            state="evaluating",
            eval_total=n,
            message=f"Scoring {n:,} test images (reconstruction and code use)…"
            if isinstance(self.spec.model_config, VQConfig)
            else f"Scoring {n:,} test images (IWAE, K={self.spec.iw_samples})…",
        )

    def _on_scored(self, done: int, total: int) -> None:
        self._set(eval_done=done, eval_total=total)
        self._check_alive()
        if self.stop_event.is_set():
            raise _Abort


def start_job(spec: JobSpec, folder: Path) -> TrainingJob:
    """Create, register and start a job; its checkpoint goes to a fresh file in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    job = TrainingJob(spec, new_checkpoint_path(folder, spec.name))
    with _REGISTRY_LOCK:
        finished = [k for k, j in _REGISTRY.items() if not j.snapshot().active]
        for key in finished[:-MAX_FINISHED_KEPT]:  # keep the registry from growing for ever
            del _REGISTRY[key]
        _REGISTRY[job.id] = job
    job.thread = threading.Thread(target=job.run, name=f"vae-lab-{job.id}", daemon=True)
    job.thread.start()
    return job


def get_job(job_id: str) -> TrainingJob | None:
    with _REGISTRY_LOCK:
        return _REGISTRY.get(job_id)


def active_jobs() -> list[TrainingJob]:
    """Jobs of all sessions that are still waiting, training or evaluating."""
    with _REGISTRY_LOCK:
        jobs = list(_REGISTRY.values())
    return [j for j in jobs if j.snapshot().active]


def busy_with(exclude: str) -> list[str]:
    """Names of other jobs now training, for the 'waiting for the other training' notice."""
    return [
        s.name for j in active_jobs() if j.id != exclude and (s := j.snapshot()).state != "waiting"
    ]
