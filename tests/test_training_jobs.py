"""The Train page's jobs on tiny data, through the real queue: each training runs in a worker
process (``python -m vae_core worker``, started by ``start_job``) and is seen through the job
store. Run, stop, heartbeat, a killed worker, queueing, and the NaN guard (in this process, so
that the test can poison the model)."""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ui import training_jobs
from ui.training_jobs import JobSpec, TrainingJob, create_job, start_job
from vae_core.config import ModelConfig
from vae_core.data.idx import write_idx
from vae_core.io.checkpoint_file import load_checkpoint
from vae_core.jobs.runner import run_job
from vae_core.models.model import LatentVariableModel
from vae_core.training.trainer import TrainConfig

N_IMAGES = 96


@pytest.fixture(autouse=True)
def tiny_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """MNIST-format files of 96 noise images per split, where a worker process finds them."""
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for seed, prefix in ((0, "train"), (1, "t10k")):
        rng = np.random.default_rng(seed)
        images = rng.integers(0, 256, size=(N_IMAGES, 28, 28), dtype=np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx(
            folder / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, N_IMAGES).astype(np.uint8)
        )
    monkeypatch.setenv("VAE_LAB_DATA", str(tmp_path / "data"))
    yield
    for job in training_jobs.active_jobs():  # never leave a training running
        job.request_stop()
        job.join(30)


def _spec(epochs: int = 2, kind: str = "vae", log_every: int = 1) -> JobSpec:
    return JobSpec(
        name="tiny test model",
        model_config=ModelConfig(kind=kind, latent_dim=2, hidden=(16,)),
        train_config=TrainConfig(
            epochs=epochs, batch_size=16, binarize="dynamic", device="cpu", log_every=log_every
        ),
        test_images=40,
        iw_samples=4,
    )


def _wait(job: TrainingJob, predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate(job.snapshot()):
        assert time.monotonic() < deadline, f"timed out; job is {job.snapshot().state}"
        job.beat()
        time.sleep(0.01)


def test_job_runs_reports_progress_and_writes_a_loadable_checkpoint(tmp_path: Path) -> None:
    job = start_job(_spec(kind="cvae"), tmp_path)
    job.join(60)
    snap = job.snapshot()
    assert snap.state == "done", snap.error
    assert snap.step == snap.total_steps == 2 * math.ceil((N_IMAGES - int(N_IMAGES * 0.05)) / 16)
    assert len(snap.steps) == snap.total_steps
    assert [h["epoch"] for h in snap.history] == [1, 2]
    assert len(snap.kl_per_dim) == 2
    ckpt = load_checkpoint(snap.checkpoint)
    assert ckpt.config.kind == "cvae"
    meta = ckpt.meta
    for key in ("name", "dataset", "dataset_note", "train_size", "binarize", "epoch", "epochs"):
        assert key in meta
    for key in ("train_config", "history", "training_seconds", "device", "created"):
        assert key in meta
    assert meta["epoch"] == 2 and meta["train_size"] == N_IMAGES and len(meta["history"]) == 2
    assert meta["test_metrics"]["n"] == 40 and meta["test_metrics"]["iw_samples"] == 4
    assert math.isfinite(meta["test_metrics"]["nll"])
    assert Path(snap.checkpoint).parent == tmp_path.resolve()
    worker = job.store.read(job.id)["worker"]
    assert worker["pid"] != os.getpid()  # it trained in a worker process


def test_stop_leaves_a_loadable_partial_checkpoint(tmp_path: Path) -> None:
    job = start_job(_spec(epochs=10_000), tmp_path)
    _wait(job, lambda s: s.step >= 3)
    job.request_stop()
    job.join(60)
    snap = job.snapshot()
    assert snap.state == "stopped" and "Stopped by the user" in snap.message
    assert snap.step < snap.total_steps
    ckpt = load_checkpoint(snap.checkpoint)  # the partial epoch, or the epoch it ended on
    assert 1 <= ckpt.meta["epoch"] < 10_000 and ckpt.meta["epochs"] == 10_000
    assert "test_metrics" not in ckpt.meta


def test_missing_heartbeat_stops_the_worker(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(training_jobs, "HEARTBEAT_TIMEOUT_S", 2.0)
    job = start_job(_spec(epochs=10_000), tmp_path)
    _wait(job, lambda s: s.state == "training" and s.history)  # the page polls until then
    job.join(60)  # then nobody beats: the worker must end on its own
    snap = job.snapshot()
    assert snap.state == "stopped"
    assert "tab closed" in snap.message
    assert load_checkpoint(snap.checkpoint).meta["epoch"] < 10_000


def test_nan_gives_an_error_and_keeps_the_last_good_checkpoint(tmp_path: Path, monkeypatch):
    real = LatentVariableModel.forward  # a training step is the model's forward
    calls = {"n": 0}
    steps_per_epoch = math.ceil((N_IMAGES - int(N_IMAGES * 0.05)) / 16)

    def poisoned(model, x, y=None, **kw):
        terms = real(model, x, y, **kw)
        if not model.training:  # validation passes are not training steps
            return terms
        calls["n"] += 1
        if calls["n"] > steps_per_epoch + 1:  # epoch 1 is clean, epoch 2 diverges
            nan = terms.loss * float("nan")
            return dataclasses.replace(terms, loss=nan, elbo=nan)
        return terms

    monkeypatch.setattr(LatentVariableModel, "forward", poisoned)
    job = create_job(_spec(epochs=5), tmp_path)
    run_job(job.store, job.id)  # what the worker's task runs, here so that forward is poisoned
    snap = job.snapshot()
    assert snap.state == "error"
    assert "nan" in snap.error.lower()
    ckpt = load_checkpoint(snap.checkpoint)  # validates that every weight is finite
    assert ckpt.meta["epoch"] == 1


def test_second_job_waits_for_the_first_then_runs(tmp_path: Path) -> None:
    first = start_job(_spec(epochs=10_000), tmp_path)
    _wait(first, lambda s: s.state == "training" and s.step >= 1)
    second = start_job(_spec(epochs=1), tmp_path)
    time.sleep(0.5)
    second.beat()
    assert second.snapshot().state == "waiting"
    assert second.snapshot().queue_position == 1
    assert first.snapshot().queue_position is None
    assert training_jobs.busy_with(second.id) == ["tiny test model"]
    first.request_stop()
    first.join(60)
    _wait(second, lambda s: not s.active)
    assert second.snapshot().state == "done", second.snapshot().error
    assert second.snapshot().checkpoint != first.snapshot().checkpoint


def test_stop_while_waiting_ends_the_job_without_training(tmp_path: Path) -> None:
    first = start_job(_spec(epochs=10_000), tmp_path)
    _wait(first, lambda s: s.state == "training")
    second = start_job(_spec(epochs=1), tmp_path)
    second.request_stop()
    second.join(10)
    snap = second.snapshot()
    assert snap.state == "stopped" and snap.step == 0 and snap.checkpoint is None
    first.request_stop()
    first.join(60)


def test_a_killed_worker_leaves_the_job_failed_and_its_last_epoch_checkpoint(
    tmp_path: Path,
) -> None:
    job = start_job(_spec(epochs=10_000), tmp_path)
    _wait(job, lambda s: len(s.history) >= 2)
    queued = start_job(_spec(epochs=1), tmp_path)  # waits in the queue behind it
    pid = job.store.read(job.id)["worker"]["pid"]
    os.kill(pid, signal.SIGKILL)
    job.join(60)  # the next reader finds the worker gone: nothing hangs
    snap = job.snapshot()
    assert snap.state == "error"
    assert f"pid {pid}" in snap.error and "died" in snap.error
    assert "last good checkpoint is kept" in snap.error
    ckpt = load_checkpoint(snap.checkpoint)  # whole: checkpoints are written atomically
    assert 2 <= ckpt.meta["epoch"] < 10_000
    # nothing lost: the queued job's poll starts a new worker, which takes it from the queue
    _wait(queued, lambda s: not s.active)
    assert queued.snapshot().state == "done", queued.snapshot().error
    assert queued.store.read(queued.id)["worker"]["pid"] != pid


def test_a_worker_shut_down_with_sigterm_stops_its_job_and_saves(tmp_path: Path) -> None:
    job = start_job(_spec(epochs=10_000), tmp_path)
    _wait(job, lambda s: len(s.history) >= 1)
    pid = job.store.read(job.id)["worker"]["pid"]
    os.kill(pid, signal.SIGTERM)
    job.join(60)
    snap = job.snapshot()
    assert snap.state == "stopped", (snap.state, snap.error)
    assert f"the worker (pid {pid}" in snap.message and "SIGTERM" in snap.message
    assert 1 <= load_checkpoint(snap.checkpoint).meta["epoch"] < 10_000


def test_a_waiting_job_whose_message_was_lost_is_queued_again_and_runs(tmp_path: Path) -> None:
    """No worker and no queue message (a worker killed between taking and claiming it): the
    page's next poll starts a worker and queues the job again."""
    job = create_job(_spec(epochs=1), tmp_path)  # stored, never queued
    job.store.set(job.id, created=time.time() - 60)
    _wait(job, lambda s: not s.active)
    assert job.snapshot().state == "done", job.snapshot().error


def test_trainings_per_machine_bounds_all_worker_processes(tmp_path: Path) -> None:
    """A second worker process on the machine is idle, yet the second job waits for the slot."""
    first = start_job(_spec(epochs=10_000), tmp_path)
    _wait(first, lambda s: s.state == "training" and s.step >= 1)
    extra = subprocess.Popen(
        [sys.executable, "-m", "vae_core", "worker"], cwd=Path(__file__).resolve().parents[1]
    )
    try:
        second = start_job(_spec(epochs=1), tmp_path)
        _wait(second, lambda _: second.store.read(second.id)["worker"] is not None)
        assert second.store.read(second.id)["worker"]["pid"] == extra.pid  # taken by the idle one
        time.sleep(1.0)
        second.beat()
        assert second.snapshot().state == "waiting" and second.snapshot().queue_position == 1
        first.request_stop()
        first.join(60)
        _wait(second, lambda s: not s.active)
        assert second.snapshot().state == "done", second.snapshot().error
    finally:
        extra.terminate()
        extra.wait(30)


def test_a_stopped_job_says_the_same_true_extent_everywhere(tmp_path: Path) -> None:
    """The progress line, the stop message and the picker describe the kept checkpoint alike,
    with the exact step it ends on (not the last logged one, every log_every steps)."""
    from vae_core.training.run_metadata import training_extent  # what the picker and the card read

    spec = dataclasses.replace(_spec(epochs=50), train_config=TrainConfig(
        epochs=50, batch_size=16, binarize="dynamic", device="cpu", log_every=7
    ))  # fmt: skip
    per_epoch = math.ceil((N_IMAGES - int(N_IMAGES * 0.05)) / 16)
    job = start_job(spec, tmp_path)
    _wait(job, lambda s: s.step >= per_epoch + 2)  # inside epoch 2 at least
    job.request_stop()
    job.join(60)
    snap = job.snapshot()
    assert snap.state == "stopped"
    extent = training_extent(load_checkpoint(snap.checkpoint).meta)
    assert dataclasses.replace(extent, stopped=True) == snap.extent and not extent.complete
    # (a stop at an epoch's first step leaves the previous epoch's file: not flagged, but partial)
    assert snap.step == extent.full_epochs * per_epoch + extent.partial_steps
    described = extent.long(say_stopped=False)
    assert described in snap.message and described in training_jobs.progress_text(snap)
    assert f"Stopped at step {snap.step:,} of {snap.total_steps:,}" in (
        training_jobs.progress_text(snap)
    )
    assert "partial" not in snap.message or extent.partial_steps  # no "last one partial" lie


def test_progress_text_of_a_run_cut_inside_an_epoch() -> None:
    history = [{"epoch": e, "steps": 300 if e < 5 else 65, "steps_per_epoch": 300} for e in (1, 2,
               3, 4, 5)]  # fmt: skip
    snap = training_jobs.JobSnapshot(
        id="job-x", name="x", state="stopped", message="", error=None, step=1265,
        total_steps=6000, epochs=20, eta=None, elapsed=1.0, steps=[], history=history,
        kl_per_dim=[], eval_done=0, eval_total=0, checkpoint=None, data_note="", device="CPU",
        test_metrics=None,
    )  # fmt: skip
    assert training_jobs.progress_text(snap) == (
        "Stopped at step 1,265 of 6,000; trained: 4 full epochs and 65 of 300 steps of epoch 5, "
        "of 20 planned"
    )
    running = dataclasses.replace(snap, state="training", history=history[:4], eta=30.0)
    assert training_jobs.progress_text(running) == (
        "Step 1,265 of 6,000, about 30 s left · epoch 4 of 20 done"
    )


@pytest.fixture
def redis_url(tmp_path: Path):
    """A throwaway Debian ``redis-server`` on a free port (skipped where it is not installed)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt install redis-server)")
    redis = pytest.importorskip("redis")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(30)


def test_a_worker_started_by_hand_takes_the_job_from_redis(
    tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The networked setting: the app starts no worker of its own, a worker elsewhere (here a
    process started by hand, as on a GPU machine) takes the job through Redis."""
    monkeypatch.setenv("VAE_LAB_QUEUE", redis_url)
    monkeypatch.setenv("VAE_LAB_LOCAL_WORKER", "0")
    job = start_job(_spec(epochs=1), tmp_path)
    time.sleep(0.5)
    assert job.snapshot().state == "waiting" and job.snapshot().queue_position == 1
    remote = subprocess.Popen(
        [sys.executable, "-m", "vae_core", "worker"], cwd=Path(__file__).resolve().parents[1]
    )
    try:
        _wait(job, lambda s: not s.active)
        snap = job.snapshot()
        assert snap.state == "done", snap.error
        assert job.store.read(job.id)["worker"]["pid"] == remote.pid
        assert load_checkpoint(snap.checkpoint).meta["test_metrics"]["n"] == 40
        assert not (job.store.root / "queue.sqlite3").exists()  # the queue was Redis
    finally:
        remote.terminate()
        remote.wait(30)


def test_cpu_threads_are_shared_among_the_trainings_of_a_machine(monkeypatch) -> None:
    from vae_core.jobs.runner import cpu_threads

    monkeypatch.setattr(os, "cpu_count", lambda: 17)
    assert cpu_threads() == 16  # one core left to the app
    monkeypatch.setenv("VAE_LAB_TRAININGS_PER_MACHINE", "4")
    assert cpu_threads() == 4
    monkeypatch.setenv("VAE_LAB_TRAININGS_PER_MACHINE", "0")
    with pytest.raises(ValueError, match="at least 1"):
        cpu_threads()


def test_a_job_whose_worker_on_another_machine_went_silent_is_failed(tmp_path: Path) -> None:
    """No pid to look at on another host: an alive file older than WORKER_STALE_S says it."""
    from vae_core.jobs import settings

    job = create_job(_spec(epochs=3), tmp_path)
    job.store.set(job.id, worker={"pid": 4242, "host": "gpu-7"}, state="training", saved=True)
    job.store.beat_worker("gpu-7", 4242)
    assert job.snapshot().state == "training"  # it beats: still running there
    old = time.time() - settings.WORKER_STALE_S - 5
    os.utime(job.store.alive_file("gpu-7", 4242), (old, old))
    snap = job.snapshot()
    assert snap.state == "error"
    assert "pid 4242 on gpu-7" in snap.error and "not been heard from" in snap.error
    assert "last good checkpoint is kept" in snap.error
