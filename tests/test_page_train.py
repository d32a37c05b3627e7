"""Train page: AppTest smoke tests of the form, its validation, and one tiny run end to end."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from ui import training_jobs
from ui.picker import MODEL_KEY
from vae_core.data.idx import write_idx
from vae_core.io.checkpoint_file import load_checkpoint

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "1_Train.py")


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Tiny MNIST-format train and test splits, an empty runs dir, fresh caches."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for prefix, n in (("train", 80), ("t10k", 30)):
        write_idx(
            folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), np.uint8)
        )
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))
    out = tmp_path / "runs"
    out.mkdir()
    monkeypatch.setenv("VAE_LAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VAE_LAB_RUNS", str(out))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield out
    for job in training_jobs.active_jobs():
        job.request_stop()
        job.join(30)
    st.cache_data.clear()
    st.cache_resource.clear()


def _page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=120).run()


def _by_label(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def test_form_widgets_are_present_and_react(runs: Path) -> None:
    at = _page()
    assert not at.exception, [e.message for e in at.exception]
    labels = {w.label for w in [*at.selectbox, *at.number_input, *at.text_input, *at.radio]}
    for label in ("Dataset", "Model", "Architecture", "Hidden layer sizes", "Latent dimensions",
                  "Likelihood p(x|z)", "Binarization", "Epochs", "Batch size", "Learning rate",
                  "Seed", "Learning-rate schedule"):  # fmt: skip
        assert label in labels, label
    assert not any(w.label == "β (KL weight)" for w in at.number_input)
    _by_label(at.selectbox, "Model").set_value("β-VAE")
    _by_label(at.radio, "Architecture").set_value("conv")
    _by_label(at.selectbox, "Likelihood p(x|z)").set_value("gaussian")
    at.run()
    assert _by_label(at.number_input, "β (KL weight)").value == 4.0
    assert _by_label(at.text_input, "Conv channels (two layers, stride 2)").value == "32,64"
    assert any(w.label == "Fixed σ" for w in at.number_input)
    assert at.button[0].label == "Start training" and not at.button[0].disabled


def test_bad_sizes_give_an_error_and_start_nothing(runs: Path) -> None:
    at = _page()
    _by_label(at.text_input, "Hidden layer sizes").set_value("512,abc")
    at.button[0].click().run()
    assert any("whole numbers separated by commas" in e.value for e in at.error)
    assert "train_job_ids" not in at.session_state
    assert not list(runs.glob("*.safetensors"))


def test_a_bad_queue_setting_gives_an_error_and_queues_nothing(runs: Path, monkeypatch) -> None:
    monkeypatch.setenv("VAE_LAB_QUEUE", "amqp://nowhere")
    at = _page()
    at.button[0].click().run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("Cannot queue the training" in e.value and "redis://" in e.value for e in at.error)
    assert "train_job_ids" not in at.session_state
    assert not training_jobs.JobStore().ids()  # nothing stored that would wait for ever


def test_without_a_local_worker_the_page_says_where_it_trains(runs: Path, monkeypatch) -> None:
    monkeypatch.setenv("VAE_LAB_LOCAL_WORKER", "0")
    at = _page()
    captions = [c.value for c in at.caption]
    assert any("Trains in the background on a worker machine" in c for c in captions), captions
    assert not any("core left to the other pages" in c for c in captions)


def test_tiny_run_finishes_and_becomes_the_chosen_model(runs: Path) -> None:
    at = _page()
    _by_label(at.text_input, "Hidden layer sizes").set_value("16")
    _by_label(at.number_input, "Epochs").set_value(1)
    _by_label(at.number_input, "Batch size").set_value(32)
    _by_label(at.text_input, "Name (blank: a name from the settings)").set_value("Tiny page run")
    at.button[0].click().run()
    assert not at.exception, [e.message for e in at.exception]
    (job_id,) = at.session_state["train_job_ids"]
    job = training_jobs.get_job(job_id)
    deadline = time.monotonic() + 120
    while job.snapshot().active and time.monotonic() < deadline:
        job.beat()  # what the page's polling fragment does every second
        time.sleep(0.1)
    assert job.snapshot().state == "done", job.snapshot().error
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert any("It is now the chosen model" in s.value for s in at.success)
    checkpoint = job.snapshot().checkpoint
    assert at.session_state[MODEL_KEY] == checkpoint
    picker = at.sidebar.selectbox[0]
    assert picker.format_func(picker.value).startswith("Tiny page run")
    meta = load_checkpoint(checkpoint).meta
    assert meta["test_metrics"]["n"] == 30 and meta["train_size"] == 80
    assert len(at.get("plotly_chart")) >= 1


APP = str(Path(__file__).resolve().parents[1] / "app.py")


def test_settings_survive_a_visit_to_another_page(runs: Path) -> None:
    """Streamlit drops the state of widgets a run does not draw: the form must not forget."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("pages/1_Train.py").run()
    _by_label(at.selectbox, "Model").set_value("β-VAE")
    at.run()
    _by_label(at.number_input, "β (KL weight)").set_value(2.5)
    _by_label(at.number_input, "Epochs").set_value(7)
    _by_label(at.number_input, "Latent dimensions").set_value(4)
    _by_label(at.text_input, "Hidden layer sizes").set_value("128")
    _by_label(at.selectbox, "Dataset").set_value("fashion-mnist")
    at.run()
    _by_label(at.selectbox, "Model").set_value("VAE")  # hides β for a while
    at.run()
    at.switch_page("pages/7_Likelihood.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert not [w for w in at.number_input if w.label == "Epochs"]
    at.switch_page("pages/1_Train.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert _by_label(at.number_input, "Epochs").value == 7
    assert _by_label(at.number_input, "Latent dimensions").value == 4
    assert _by_label(at.text_input, "Hidden layer sizes").value == "128"
    assert _by_label(at.selectbox, "Dataset").value == "fashion-mnist"
    assert _by_label(at.selectbox, "Model").value == "VAE"
    _by_label(at.selectbox, "Model").set_value("β-VAE")
    at.run()
    assert _by_label(at.number_input, "β (KL weight)").value == 2.5


def test_the_device_line_shows_the_threads_the_training_uses(runs: Path) -> None:
    """The training sets its own CPU thread count: the line above the form must say that one,
    the same as the finished run's message (not the app's current setting). The training runs
    in a worker process on this machine, so the app's own setting is made to differ here."""
    import torch

    from vae_core.device import device_label
    from vae_core.jobs.runner import cpu_threads

    if torch.cuda.is_available() or torch.backends.mps.is_available():
        pytest.skip("trains on a GPU here")
    threads = torch.get_num_threads()
    torch.set_num_threads(cpu_threads() + 2)
    try:
        want = device_label(torch.device("cpu"), cpu_threads())
        assert want != device_label(torch.device("cpu"), torch.get_num_threads())
        at = _page()
    finally:
        torch.set_num_threads(threads)
    captions = [c.value for c in at.caption]
    assert any(f"Trains in the background on {want}" in c for c in captions), captions
    _by_label(at.text_input, "Hidden layer sizes").set_value("16")
    _by_label(at.number_input, "Epochs").set_value(1)
    at.button[0].click().run()
    job = training_jobs.get_job(at.session_state["train_job_ids"][0])
    deadline = time.monotonic() + 120
    while job.snapshot().active and time.monotonic() < deadline:
        job.beat()
        time.sleep(0.1)
    snap = job.snapshot()
    assert snap.state == "done" and snap.device == want, (snap.state, snap.device)
    assert want in snap.message
