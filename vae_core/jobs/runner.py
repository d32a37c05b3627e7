"""One job's training, in whichever process took it from the queue (a worker, or a test).

Reads the job's spec from the store, waits for one of this machine's training slots, runs the
one pipeline (``vae_core.training.pipeline.train_and_score``) and writes every progress record
back to the store. A stop file or a page that stopped polling (the closed-tab rule) stops the
trainer between steps, which then saves the partial epoch; a NaN loss ends the job as an error
with the last good checkpoint kept (``TrainingDiverged``).
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from vae_core.config import ModelConfig, VQConfig
from vae_core.jobs import settings
from vae_core.jobs.store import JobStore

FLUSH_EVERY_S = 0.25  # the record is rewritten at most this often while steps come in
STOP_CHECK_EVERY_S = 0.05  # stop and heartbeat files are looked at at most this often


_RUNNING: set[JobRun] = set()  # the jobs this process runs now (a worker stops them on exit)
_RUNNING_LOCK = threading.Lock()


def stop_all(reason: str) -> int:
    """Ask every job this process runs to stop (a worker shutting down); returns how many."""
    with _RUNNING_LOCK:
        runs = list(_RUNNING)
    for run in runs:
        run.reason = run.reason or reason
    return len(runs)


def running_here() -> int:
    with _RUNNING_LOCK:
        return len(_RUNNING)


class _Abort(Exception):
    """Raised inside scoring when the job must stop (the trainer stops on its own)."""


def cpu_threads() -> int:
    """Leave one core to the app while training, and share the rest among the trainings this
    machine may run at once: Streamlit and the other sessions must stay responsive, and
    oversubscribed OpenMP threads spin (measured on the 2-core dev machine under load: 40 ms
    per MLP step on 1 thread, 700 ms on 2).
    """
    return max(1, ((os.cpu_count() or 1) - 1) // settings.trainings_per_machine())


def default_test_images(device_type: str) -> int | None:
    """IWAE with K=100 costs ~100 forward passes per image: subsample on a CPU only."""
    return None if device_type == "cuda" else 1000


def spec_to_dict(
    model_config: ModelConfig | VQConfig, train_config: Any, test_images: int | None,
    iw_samples: int,
) -> dict[str, Any]:  # fmt: skip
    return {
        "model_kind": "vq" if isinstance(model_config, VQConfig) else "vae",
        "model_config": model_config.to_dict(),
        "train_config": train_config.to_dict(),
        "test_images": test_images,
        "iw_samples": iw_samples,
    }


def spec_from_dict(data: dict[str, Any]) -> tuple[ModelConfig | VQConfig, Any, int | None, int]:
    from vae_core.training.trainer import TrainConfig

    cls = VQConfig if data["model_kind"] == "vq" else ModelConfig
    return (
        cls.from_dict(data["model_config"]),
        TrainConfig.from_dict(data["train_config"]),
        data["test_images"],
        int(data["iw_samples"]),
    )


def slot_files(store: JobStore) -> list[Path]:
    """This machine's training slots: one lock file each, shared by all its worker processes."""
    folder = store.root / "slots" / settings.host()
    folder.mkdir(parents=True, exist_ok=True)
    return [folder / f"slot-{i}.lock" for i in range(settings.trainings_per_machine())]


class JobRun:
    """The worker side of one job: its stop flag, callbacks and record writes."""

    def __init__(self, store: JobStore, job_id: str, record: dict[str, Any]) -> None:
        self.store, self.id, self.record = store, job_id, record
        self.timeout = record.get("heartbeat_timeout_s")
        self.pending: list[dict[str, float]] = []
        self.last_flush = 0.0
        self.last_check = 0.0
        self.reason: str | None = None
        self.epochs = int(record["spec"]["train_config"]["epochs"])

    # --- the stop flag the trainer polls every step (duck-types threading.Event) ---------
    def is_set(self) -> bool:
        if self.reason is not None:
            return True
        now = time.monotonic()
        if now - self.last_check < STOP_CHECK_EVERY_S:
            return False
        self.last_check = now
        reason = self.store.stop_reason(self.id)
        if reason is None and self.timeout is not None:
            silent = self.store.silent_for(self.id)
            if silent > self.timeout:
                reason = f"Stopped: the page stopped polling for {silent:.0f} s (tab closed?)"
        self.reason = reason
        return reason is not None

    # --- record writes -------------------------------------------------------------------
    def set(self, **values: Any) -> None:
        self.record.update(values)
        self.flush()

    def flush(self) -> None:
        self.store.append_steps(self.id, self.pending)
        self.pending = []
        fields = {k: v for k, v in self.record.items() if k not in ("worker", "created", "id")}
        self.store.update(self.id, lambda r: r.update(fields))
        self.last_flush = time.monotonic()

    def on_step(self, info: Any) -> None:
        self.pending.append({
            "step": info.step, "x": info.step / info.total_steps * self.epochs,
            "elbo": info.elbo, "recon": info.recon, "kl": info.kl,
        })  # fmt: skip
        self.record.update(
            step=info.step, total_steps=info.total_steps, eta=info.eta, elapsed=info.elapsed
        )
        if time.monotonic() - self.last_flush >= FLUSH_EVERY_S:
            self.flush()

    def on_epoch(self, info: Any) -> None:
        from vae_core.training.run_metadata import epoch_record

        self.record["history"].append(epoch_record(info))
        # exact, unlike the last on_step (every log_every steps): the page's "Step N" after a
        # stop must be the step the checkpoint ends on
        self.set(
            step=(info.epoch - 1) * info.steps_per_epoch + info.steps,
            kl_per_dim=list(info.kl_per_dim),
            saved=True,  # the trainer wrote the checkpoint just before this callback
            message=f"Epoch {info.epoch}/{info.epochs} done",
        )

    def on_trained(self, n: int) -> None:
        """Scoring starts on the seeded stratified subset of ``n`` test images."""
        vq = self.record["spec"]["model_kind"] == "vq"
        iw = self.record["spec"]["iw_samples"]
        self.set(
            state="evaluating", eval_total=n,
            message=f"Scoring {n:,} test images (reconstruction and code use)…" if vq
            else f"Scoring {n:,} test images (IWAE, K={iw})…",
        )  # fmt: skip

    def on_scored(self, done: int, total: int) -> None:
        self.record.update(eval_done=done, eval_total=total)
        if time.monotonic() - self.last_flush >= FLUSH_EVERY_S:
            self.flush()
        if self.is_set():
            raise _Abort

    # --- the run -------------------------------------------------------------------------
    def wait_for_slot(self) -> FileLock | None:
        """Hold one of this machine's training slots; None if the job was stopped meanwhile."""
        locks = [FileLock(str(p)) for p in slot_files(self.store)]
        while True:
            for lock in locks:
                try:
                    lock.acquire(timeout=0)
                    return lock
                except Timeout:
                    continue
            if self.is_set():
                return None
            time.sleep(0.2)

    def run(self) -> None:
        """Wait for a slot, train, score, record the outcome. Never raises."""
        with _RUNNING_LOCK:
            _RUNNING.add(self)
        try:
            self._run()
        finally:
            with _RUNNING_LOCK:
                _RUNNING.discard(self)

    def _run(self) -> None:
        import torch

        slot = self.wait_for_slot()
        if slot is None:
            self.set(state="stopped", message=f"{self.reason} before it started.")
            return
        threads = torch.get_num_threads()
        try:
            self._train()
        except _Abort:
            self.set(
                state="stopped",
                message=f"{self.reason or 'Stopped'} during the test evaluation; the trained "
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
            self.set(state="error", error=text, message="Training failed.")
        finally:
            torch.set_num_threads(threads)
            slot.release()

    def _train(self) -> None:
        import torch

        from vae_core.data.datasets import load_split
        from vae_core.device import device_label, pick_device
        from vae_core.training.pipeline import train_and_score
        from vae_core.training.run_metadata import dataset_note, training_extent

        model_config, config, test_images, iw_samples = spec_from_dict(self.record["spec"])
        self.set(state="loading", message=f"Loading the {config.dataset} training and test sets…")
        train_set = load_split(config.dataset, "train")
        test_set = load_split(config.dataset, "test")  # fail now, not after the last epoch
        device = pick_device(config.device)
        if device.type == "cpu":  # process-wide in effect; run() restores it afterwards
            torch.set_num_threads(cpu_threads())
        label = device_label(device, cpu_threads() if device.type == "cpu" else None)
        self.set(
            data_note=dataset_note(train_set, config.val_fraction), device=label,
            state="training", message="Training…",
        )  # fmt: skip
        n = test_images if test_images is not None else default_test_images(device.type)
        run = train_and_score(
            model_config,
            config,
            train_set=train_set,
            test_set=test_set,
            checkpoint=Path(self.record["checkpoint_path"]),
            name=self.record["name"],
            device_label=label,
            iw_samples=iw_samples,
            test_images=n,
            on_step=self.on_step,
            on_epoch=self.on_epoch,
            stop=self,  # type: ignore[arg-type]  # is_set() is all the trainer calls
            on_trained=self.on_trained,
            score_progress=self.on_scored,
        )
        if run.test_metrics is None:  # stopped while training
            history = self.record["history"]
            last = history[-1]["epoch"] if history else 0
            extent = training_extent(
                {"epoch": last, "epochs": self.epochs, "history": history, "stopped_early": True}
            )
            kept = (
                f". The checkpoint is kept: {extent.long(say_stopped=False)}"
                if self.record["saved"]
                else "; nothing was saved (no training step had run)"
            )
            self.set(state="stopped", message=(self.reason or "Stopped") + kept + ".")
            return
        epochs = len(run.result.history)
        self.set(
            state="done",
            message=f"Trained {epochs} epoch{'s' * (epochs != 1)} "
            f"in {run.result.seconds:.1f} s on {label}.",
            test_metrics=run.test_metrics,
        )


def run_job(store: JobStore, job_id: str) -> None:
    """Take the job (unless it was stopped or taken already) and run it in this process."""
    me = {"pid": os.getpid(), "host": settings.host()}
    store.beat_worker(me["host"], me["pid"])

    def claim(record: dict[str, Any]) -> bool:
        if record["state"] != "waiting" or record["worker"] is not None:
            return False
        record["worker"] = me
        return True

    record = store.update(job_id, claim)
    if record is None or record.get("worker") != me:
        return
    done = threading.Event()

    def beat() -> None:  # the job's readers take a silent worker for a dead one
        while not done.wait(settings.WORKER_BEAT_S):
            store.beat_worker(me["host"], me["pid"])

    threading.Thread(target=beat, name=f"beat-{job_id}", daemon=True).start()
    try:
        JobRun(store, job_id, record).run()
    finally:
        done.set()
