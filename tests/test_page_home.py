"""Home page: AppTest smoke tests (picker + card), the card's text, and checkpoint uploads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import make_model, offline_app_env
from ui.model_card import NOT_EVALUATED, architecture_text, card_facts, metric_values
from ui.models import store_upload
from ui.picker import MODEL_KEY
from vae_core.config import ModelConfig
from vae_core.data.idx import write_idx
from vae_core.io.checkpoint_file import CheckpointError, checkpoint_bytes, save_checkpoint

APP = str(Path(__file__).resolve().parents[1] / "app.py")
N_TEST = 60

META = {
    "name": "Tiny test VAE",
    "dataset": "mnist",
    "dataset_note": "Trained on 96 synthetic images.",
    "train_size": 96,
    "binarize": "dynamic",
    "epoch": 2,
    "epochs": 2,
    "history": [
        {"epoch": e, "train": {"elbo": -200.0 + e, "recon": -190.0, "kl": 5.0},
         "val": {"elbo": -201.0 + e, "recon": -191.0, "kl": 5.0},
         "kl_per_dim": [2.0, 3.0, 0.001], "elapsed": float(e)}
        for e in (1, 2)
    ],
    "test_metrics": {"elbo": -123.456, "recon": -110.0, "kl": 13.4, "nll": -1.0 + 120.0,
                     "iw_samples": 100, "active_units": 2, "n": 60,
                     "kl_per_dim": [6.0, 7.4, 0.0]},
    "training_seconds": 12.5,
    "device": "CPU (2 threads)",
    "created": "2026-11-21T12:00:00+00:00",
}  # fmt: skip


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A small MNIST-format test split, an empty runs dir, fresh caches."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (N_TEST, 28, 28), np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte", (np.arange(N_TEST) % 10).astype(np.uint8))
    out = tmp_path / "runs"
    out.mkdir()
    monkeypatch.setenv("VAE_LAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VAE_LAB_RUNS", str(out))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield out
    st.cache_data.clear()
    st.cache_resource.clear()


def _home(path: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[MODEL_KEY] = str(path)
    return at.run()


def _text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    return "\n".join(parts + [str(m.value) for m in at.metric])


def test_home_shows_picker_and_full_card(runs: Path) -> None:
    path = runs / "tiny.safetensors"
    save_checkpoint(make_model(), path, META)
    at = _home(path)
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "VAE Latent Lab"
    picker = at.sidebar.selectbox[0]
    assert "Tiny test VAE" in picker.format_func(picker.value)
    assert at.subheader[0].value == "Tiny test VAE"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test ELBO"] == "-123.46"
    assert metrics["NLL (IWAE, K=100)"] == "119.00"
    assert metrics["Active units"] == "2 / 3"
    text = _text(at)
    assert (
        "MLP 784→32→z(3)" in text
        and "p(x\\|z)" in text
        and "Trained on 96 synthetic images." in text
    )
    assert "Measured on 60 test images" in text
    badges = [b.proto.body for b in at.get("markdown")]  # st.badge renders as markdown
    assert any("test subset (60 of 10,000)" in b for b in badges)
    assert len(at.get("plotly_chart")) == 2  # training curves + KL per dim
    assert len(at.get("download_button")) == 1


@pytest.mark.parametrize(
    "trained_on, badge",
    [
        ({"data_source": "files", "train_size": 10_000}, "1,000 digits this model trained on"),
        ({"data_source": "offline-sample", "train_size": 4_000}, "1,000 held-out MNIST training"),
    ],
)
def test_offline_badge_never_calls_the_sample_a_test_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, trained_on: dict, badge: str
) -> None:
    runs = offline_app_env(monkeypatch, tmp_path)
    path = runs / "tiny.safetensors"
    save_checkpoint(make_model(), path, {**META, **trained_on})
    at = _home(path)
    assert not at.exception, [e.message for e in at.exception]
    badges = [b.proto.body for b in at.get("markdown") if "offline sample" in b.proto.body]
    assert len(badges) == 1 and badge in badges[0] and "test" not in badges[0]
    st.cache_data.clear()
    st.cache_resource.clear()


def test_card_says_not_evaluated_without_metrics(runs: Path) -> None:
    path = runs / "bare.safetensors"
    save_checkpoint(make_model(kind="ae"), path, {"name": "Bare AE", "dataset": "mnist"})
    at = _home(path)
    assert not at.exception, [e.message for e in at.exception]
    assert not at.metric
    assert any(i.value.startswith("Not evaluated") for i in at.info)
    assert "No training history in this checkpoint." in _text(at)


def test_picker_follows_a_changed_choice(runs: Path) -> None:
    """select_model() after the picker was drawn (upload, finished training) must show up in it."""
    first, second = runs / "a.safetensors", runs / "b.safetensors"
    save_checkpoint(make_model(), first, {**META, "name": "Model A"})
    save_checkpoint(make_model(latent_dim=5), second, {**META, "name": "Model B"})
    at = _home(first)
    assert at.subheader[0].value == "Model A"
    at.session_state[MODEL_KEY] = str(second)
    at.run()
    picker = at.sidebar.selectbox[0]
    assert picker.format_func(picker.value).startswith("Model B")
    assert at.subheader[0].value == "Model B"
    assert not at.warning, [w.value for w in at.warning]


def test_card_text_helpers() -> None:
    conv = ModelConfig(kind="cvae", arch="conv", latent_dim=16, conv_channels=(8, 16), hidden=(64,))
    assert architecture_text(conv).startswith("conv 1→8→16 ch (stride 2), dense 64→z(16)")
    assert "one-hot label (10)" in architecture_text(conv)
    facts = dict(card_facts({"dataset": "fashion-mnist", "stopped_early": True, "epoch": 3,
                             "epochs": 9}, ModelConfig(likelihood="gaussian", beta=4.0)))  # fmt: skip
    assert facts["Dataset"] == "Fashion-MNIST"
    assert facts["Model"] == "β-VAE (β=4)"
    assert facts["Likelihood p(x|z)"] == "Gaussian (fixed σ=0.1)"
    assert facts["Trained for"] == "3 of 9 epochs (stopped early)"
    ae = metric_values({"test_metrics": {"elbo": -90.0, "nll": None}}, ModelConfig(kind="ae"))
    assert ae["NLL (IWAE)"] == "n/a (AE)" and ae["Active units"] == NOT_EVALUATED
    grey = {"binarize": "none", "test_metrics": {"nll": 242.38, "iw_samples": 100}}
    assert metric_values(grey, ModelConfig())["Cross-entropy (IWAE, K=100)"] == "242.38"
    binarized = {**grey, "binarize": "dynamic"}  # the same decoder on binarized pixels: an NLL
    assert metric_values(binarized, ModelConfig())["NLL (IWAE, K=100)"] == "242.38"


def test_store_upload_refuses_garbage_and_keeps_a_good_file(runs: Path) -> None:
    with pytest.raises(CheckpointError, match="bad.safetensors|upload"):
        store_upload(b"definitely not a checkpoint", "bad.safetensors")
    assert not (runs / "uploads").exists() or not list((runs / "uploads").iterdir())
    data = checkpoint_bytes(make_model(latent_dim=4), {"name": "Uploaded VAE"})
    entry = store_upload(data, "mine.safetensors")
    assert entry.title == "Uploaded VAE" and entry.source == "uploaded"
    assert Path(entry.path).read_bytes() == data


def test_a_listed_file_that_fails_to_load_gets_a_message(runs: Path) -> None:
    """Valid metadata but NaN weights (e.g. copied into the folder by hand): one clear error,
    no traceback, and the next choice works."""
    import torch

    bad, good = runs / "nan.safetensors", runs / "good.safetensors"
    model = make_model()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    save_checkpoint(model, bad, {**META, "name": "Broken"})
    save_checkpoint(make_model(), good, META)
    at = _home(bad)
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.error) == 1 and "cannot be loaded" in at.error[0].value
    at.session_state[MODEL_KEY] = str(good)
    at.run()
    assert not at.exception and not at.error
    assert at.subheader[0].value == "Tiny test VAE"


def test_the_classic_2d_mnist_vae_is_the_default_shipped_model() -> None:
    from ui.model_list import DEFAULT_SHIPPED, list_models

    shipped = [e for e in list_models() if e.source == "shipped"]
    assert shipped and Path(shipped[0].path).name == DEFAULT_SHIPPED


def test_picker_tells_apart_same_settings_and_marks_partial_runs(runs: Path) -> None:
    """Two runs with the same settings (same default name) get distinct labels; a run stopped
    after 4 of 20 epochs says so; the tooltip carries the whole label (the box cuts it)."""
    from ui.model_list import list_models

    history = [{**META["history"][0], "epoch": e, "steps": 30 if e < 5 else 12,
                "steps_per_epoch": 30} for e in range(1, 6)]  # fmt: skip
    stopped = {**META, "name": "MNIST VAE, 2-D latent", "epoch": 5, "epochs": 20,
               "stopped_early": True, "history": history}  # fmt: skip
    same = {**META, "name": "MNIST VAE, 2-D latent"}
    save_checkpoint(make_model(), runs / "mnist-vae-a.safetensors", same)
    save_checkpoint(make_model(), runs / "mnist-vae-b.safetensors", same)  # same minute, too
    save_checkpoint(make_model(), runs / "mnist-vae-c.safetensors", stopped)
    labels = [e.label for e in list_models() if e.source == "trained"]
    assert len(labels) == 3 and len(set(labels)) == 3, labels
    assert all(label.startswith("MNIST VAE, 2-D latent · ") for label in labels)
    assert sum("partial" in label for label in labels) == 1
    partial = next(label for label in labels if "partial" in label)
    assert "partial (4.4 of 20 epochs)" in partial, partial
    at = _home(runs / "mnist-vae-c.safetensors")
    assert not at.exception, [e.message for e in at.exception]
    picker = at.sidebar.selectbox[0]
    assert picker.format_func(picker.value) == partial
    assert "partial (4.4 of 20 epochs)" in picker.help and "mnist-vae-c.safetensors" in picker.help
    sidebar = [c.value for c in at.sidebar.caption]
    assert any("Partly trained: 4 full epochs and 12 of 30 steps" in c for c in sidebar), sidebar
    facts = "\n".join(m.value for m in at.markdown)
    assert "4 full epochs and 12 of 30 steps of epoch 5, of 20 planned (stopped early)" in facts


def test_upload_errors_are_worded_for_students(runs: Path) -> None:
    """First what the file is and what the app expects; the exact reason after it."""
    import io

    import torch

    save_checkpoint(make_model(), runs / "good.safetensors", META)
    at = _home(runs / "good.safetensors")
    pt = io.BytesIO()
    torch.save({"w": torch.zeros(3)}, pt)
    claims = (5 * 2**30).to_bytes(8, "little") + b"{" + bytes(4000)  # header "claims" 5 GiB
    for data, lead, detail in (
        (claims, "This file is not a model checkpoint saved by VAE Latent Lab (.safetensors)",
         "the header claims 5,368,709,120 bytes"),
        (pt.getvalue(), "This is a PyTorch .pt (pickle) file, not a VAE Latent Lab checkpoint",
         "this is a PyTorch/pickle file (.pt), not safetensors"),
        (b"", "This file is empty (0 bytes)", "the file is empty"),
    ):  # fmt: skip
        at.file_uploader(key="home_upload").set_value(("x.safetensors", data, "application/x"))
        at.run()
        (error,) = [e.value for e in at.error]
        assert error.startswith(lead), error
        assert "expects a .safetensors checkpoint saved by the Train page" in error or not data
        assert f"Technical detail: `upload: {detail}" in error, error


def test_shipped_labels_are_their_titles_so_the_picker_does_not_cut_a_source_tag() -> None:
    """The picker box is about 30 characters wide: a shipped label is its title alone (no
    "· shipp..." cut), and the chosen model's tooltip says it is shipped."""
    from ui.model_list import list_models
    from ui.picker import _full_name

    shipped = [e for e in list_models() if e.source == "shipped"]
    assert shipped and all(e.label == e.title for e in shipped)
    assert "shipped with the lab" in _full_name(shipped[0])
