"""The denoising objective (Im et al. 2017): its spec, the batch objective, training, the CLI,
and the shipped denoising VAE against the plain one on real digits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from tests.conftest import make_model
from tests.test_cli import write_dataset
from vae_core.cli import main
from vae_core.config import ModelConfig
from vae_core.evaluation.scoring import evaluate_elbo, model_inputs
from vae_core.io.checkpoint_file import load_checkpoint
from vae_core.latent.noise import NoiseSpec, parse_noise_spec
from vae_core.models.objectives import elbo_terms
from vae_core.training.trainer import (
    TrainConfig,
    split_validation,
    train,
    training_terms,
)

REPO = Path(__file__).resolve().parents[1]
GAUSS = NoiseSpec("gaussian", 0.3)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture
def digits(tiny_images: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Binarized synthetic digits: the target a Bernoulli model is trained on."""
    return (tiny_images[0] > 0.5).float()


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("gaussian:0.3", "gaussian:0.3"),
        (" Gaussian:.30 ", "gaussian:0.3"),
        ("salt_pepper:0.2", "salt-pepper:0.2"),
        ("occlusion-square:0.4", "occlusion-square:0.4"),
        ("occlusion_half:0.5", "occlusion-half:0.5"),
    ],
)
def test_spec_parses_to_the_denoise_pages_noise(text: str, canonical: str) -> None:
    spec = parse_noise_spec(text)
    assert spec is not None and str(spec) == canonical
    assert TrainConfig(train_noise=text).train_noise == canonical  # stored canonical


@pytest.mark.parametrize("text", ["none", "", None, "NONE"])
def test_no_noise_is_the_standard_elbo(text: str | None) -> None:
    assert parse_noise_spec(text) is None
    assert TrainConfig(train_noise=text).noise is None
    assert TrainConfig().train_noise == "none"
    assert TrainConfig.from_dict({"epochs": 3}).train_noise == "none"  # files from before


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("gauss:0.3", "KIND:LEVEL with KIND one of gaussian, salt-pepper"),
        ("gaussian", "KIND:LEVEL"),
        ("gaussian:abc", "a number in (0, 1]"),
        ("gaussian:1.5", "a number in (0, 1]"),
        ("gaussian:0", "a number in (0, 1]"),
        ("gaussian:nan", "a number in (0, 1]"),
    ],
)
def test_bad_spec_is_a_clear_error(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=r"training noise") as err:
        TrainConfig(train_noise=text)
    assert says in str(err.value)


@torch.no_grad()
def test_objective_encodes_the_corrupted_input_and_scores_the_clean_one(
    digits: torch.Tensor,
) -> None:
    model, x = make_model(latent_dim=2), digits
    seen: dict[str, torch.Tensor] = {}
    encode, log_prob = model.encode, model.log_prob

    def spy_encode(inp, y=None):
        seen["encoded"] = inp
        return encode(inp, y)

    def spy_log_prob(out, target):
        seen["target"] = target
        return log_prob(out, target)

    model.encode, model.log_prob = spy_encode, spy_log_prob
    noisy = training_terms(model, x, None, GAUSS, gen(0), sample=False)
    assert torch.equal(seen["target"], x)  # scored against the clean digits
    assert not torch.equal(seen["encoded"], x)  # ... after encoding a corrupted copy
    assert torch.equal(seen["encoded"], GAUSS.apply(x, gen(0)))  # the generator's noise
    assert float(seen["encoded"].min()) >= 0.0 and float(seen["encoded"].max()) <= 1.0  # clamped
    clean = training_terms(model, x, None, None, None, sample=False)
    assert torch.equal(seen["encoded"], x) and float(noisy.loss) != float(clean.loss)
    against_noise = elbo_terms(model, GAUSS.apply(x, gen(0)), sample=False)  # target x~: wrong
    assert float(noisy.loss) != float(against_noise.loss)


@torch.no_grad()
def test_objective_is_reproducible_and_fresh_each_batch(digits: torch.Tensor) -> None:
    model, x = make_model(latent_dim=2), digits
    spec = NoiseSpec("salt-pepper", 0.2)

    def loss(g: torch.Generator) -> float:
        return float(training_terms(model, x, None, spec, g, sample=False).loss)

    assert loss(gen(7)) == loss(gen(7))
    assert loss(gen(7)) != loss(gen(8))
    g = gen(7)
    assert loss(g) != loss(g)  # the generator advances: a new corruption every batch
    with pytest.raises(ValueError, match="torch.Generator"):
        training_terms(model, x, None, spec, None)


def test_training_with_noise_is_seeded_and_keeps_the_clean_validation_elbo(
    tiny_images: tuple[torch.Tensor, torch.Tensor],
) -> None:
    x, y = tiny_images
    cfg = {"epochs": 2, "batch_size": 16, "device": "cpu", "val_fraction": 0.25}

    def fit(**kw) -> tuple[torch.nn.Module, dict]:
        model = make_model(latent_dim=2)
        result = train(model, x, y, TrainConfig(**cfg, **kw))
        return model, result.history[-1].val

    a, val_a = fit(train_noise="gaussian:0.3")
    b, _ = fit(train_noise="gaussian:0.3")
    c, _ = fit()
    assert all(torch.equal(pa, pb) for pa, pb in zip(a.parameters(), b.parameters(), strict=True))
    assert any(
        not torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters(), strict=True)
    )

    _, _, x_val, _ = split_validation(x, y, cfg["val_fraction"], 0)
    clean_val = evaluate_elbo(a, model_inputs(x_val, True))
    assert val_a["elbo"] == pytest.approx(clean_val["elbo"])  # the clean ELBO, not the noisy one


def test_cli_train_noise_round_trips_into_the_checkpoint(tmp_path: Path) -> None:
    root, out = write_dataset(tmp_path / "data"), tmp_path / "d.safetensors"
    args = ["train", "--data-dir", str(root), "--hidden", "16", "--latent-dim", "2"]
    args += ["--epochs", "1", "--iw-samples", "0", "--batch-size", "32"]
    assert main([*args, "--train-noise", "salt_pepper:0.2", "--out", str(out)]) == 0
    meta = load_checkpoint(out).meta
    assert meta["train_config"]["train_noise"] == "salt-pepper:0.2"
    assert meta["name"] == "MNIST denoising VAE (salt-pepper:0.2), 2-D latent"


def test_cli_bad_train_noise_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never.safetensors"
    assert main(["train", "--train-noise", "blur:0.3", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: training noise 'blur:0.3' is not KIND:LEVEL")
    assert err.count("\n") == 1 and not out.exists()


REAL = os.environ.get("VAE_LAB_DATA")
PLAIN = REPO / "checkpoints" / "mnist-vae-16d.safetensors"
DENOISING = REPO / "checkpoints" / "mnist-dvae-16d.safetensors"


@pytest.mark.skipif(not REAL, reason="VAE_LAB_DATA is not set")
def test_shipped_denoising_vae_beats_the_plain_one_on_gaussian_noise() -> None:
    from vae_core.data.datasets import load_split
    from vae_core.data.subsets import subset_of
    from vae_core.evaluation.quality import denoising_curve

    test_set = load_split("mnist", "test", download=False, allow_offline_sample=False)
    x, y = test_set.tensors()
    idx = torch.from_numpy(subset_of(test_set, 40))  # all classes, as on the page
    x, y = x[idx], y[idx]
    plain, denoising = (load_checkpoint(p).model.eval() for p in (PLAIN, DENOISING))
    assert load_checkpoint(DENOISING).meta["train_config"]["train_noise"] == "gaussian:0.3"
    a = denoising_curve(plain, x, y, "gaussian", [0.3])
    b = denoising_curve(denoising, x, y, "gaussian", [0.3])
    assert b["psnr_recon"][0] > a["psnr_recon"][0] + 3.0  # the page's 200 images: 19.4 vs 13.9 dB
    assert b["psnr_recon"][0] > b["psnr_noisy"][0]  # and it does remove noise
    assert b["ssim_recon"][0] > max(a["ssim_recon"][0], a["ssim_noisy"][0])


def test_home_card_shows_the_training_noise() -> None:
    from ui.model_card import card_facts

    def noise_row(meta: dict) -> str:
        return dict(card_facts(meta, ModelConfig()))["Training noise"]

    assert noise_row({"train_config": {"train_noise": "gaussian:0.3"}}).startswith(
        "gaussian:0.3: denoising objective (Im et al. 2017)"
    )
    assert noise_row({"train_config": {"train_noise": "none"}}) == "none (standard ELBO)"
    assert noise_row({}) == "none (standard ELBO)"  # a checkpoint from before the option


TRAIN_PAGE = str(REPO / "pages" / "1_Train.py")
NOISE_FIELD = "Training noise (denoising VAE)"


@pytest.fixture
def train_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Tiny MNIST-format splits, an empty runs dir and fresh caches for the Train page."""
    import streamlit as st

    from ui import training_jobs

    root = write_dataset(tmp_path / "data")
    monkeypatch.setenv("VAE_LAB_DATA", str(root))
    monkeypatch.setenv("VAE_LAB_RUNS", str(tmp_path / "runs"))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield tmp_path / "runs"
    for job in training_jobs.active_jobs():
        job.request_stop()
        job.join(30)


def _train_page():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(TRAIN_PAGE, default_timeout=120).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def _field(at, widgets, label: str):
    return next(w for w in widgets if w.label == label)


def test_train_page_field_trains_a_denoising_vae(train_env: Path) -> None:
    from ui import training_jobs

    at = _train_page()
    field = _field(at, at.text_input, NOISE_FIELD)
    assert field.value == TrainConfig.train_noise == "none"
    field.set_value("gaussian:0.3")
    _field(at, at.text_input, "Hidden layer sizes").set_value("16")
    _field(at, at.number_input, "Epochs").set_value(1)
    _field(at, at.number_input, "Batch size").set_value(32)
    at.button[0].click().run()
    assert not at.error, [e.value for e in at.error]
    (job_id,) = at.session_state["train_job_ids"]
    job = training_jobs.get_job(job_id)
    job.join(120)
    snap = job.snapshot()
    assert snap.state == "done", snap.error
    meta = load_checkpoint(snap.checkpoint).meta
    assert meta["train_config"]["train_noise"] == "gaussian:0.3"
    assert meta["name"] == "MNIST denoising VAE (gaussian:0.3), 2-D latent"


def test_train_page_refuses_a_bad_noise_spec(train_env: Path) -> None:
    at = _train_page()
    _field(at, at.text_input, NOISE_FIELD).set_value("gaussian:3")
    at.button[0].click().run()
    assert any("Cannot start: training noise 'gaussian:3'" in e.value for e in at.error)
    assert "train_job_ids" not in at.session_state
