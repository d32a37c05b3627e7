"""Rate (KL) and distortion (-recon) of VAEs trained with different beta."""

from __future__ import annotations

import pytest

from tests.conftest import make_model
from vae_core.config import LIKELIHOODS, ModelConfig
from vae_core.evaluation.data_kind import data_kind
from vae_core.evaluation.rate_distortion import rate_distortion_point, sweep_data_kind
from vae_core.training.beta_sweep import sweep_beta
from vae_core.training.trainer import TrainConfig


def test_point_splits_the_negative_elbo(tiny_images) -> None:
    x, y = tiny_images
    p = rate_distortion_point(make_model(beta=2.0), x, y)
    assert p["beta"] == 2.0
    assert p["rate"] > 0
    assert p["rate"] + p["distortion"] == pytest.approx(-p["elbo"], rel=1e-5)


def test_larger_beta_gives_a_lower_rate(tiny_images) -> None:
    x, y = tiny_images
    x = x.repeat(4, 1, 1, 1)
    y = y.repeat(4)
    config = ModelConfig(latent_dim=4, hidden=(32,))
    train = TrainConfig(
        epochs=15, batch_size=32, lr=3e-3, binarize="none", device="cpu", val_fraction=0.0
    )
    seen: list[float] = []
    points = sweep_beta(
        x, y, x, None, [0.5, 8.0], config, train, on_point=lambda p: seen.append(p["beta"])
    )
    assert seen == [0.5, 8.0]
    low, high = points
    assert high["rate"] < low["rate"]
    assert high["distortion"] > low["distortion"]
    with pytest.raises(ValueError):
        sweep_beta(x, y, x, None, [0.0], config, train)


@pytest.mark.parametrize(
    ("likelihood", "binarize", "key", "label"),
    [
        ("bernoulli", "dynamic", "binarized/bernoulli", "binarized pixels · Bernoulli log-"),
        ("bernoulli", "static", "binarized/bernoulli", "binarized pixels · Bernoulli log-"),
        ("bernoulli", "none", "grey/bernoulli", "grey pixels · Bernoulli cross-entropy"),
        ("gaussian", "none", "grey/gaussian", "grey pixels · Gaussian density"),
        ("categorical", "none", "grey/categorical", "grey pixels · 256-way categorical"),
    ],
)
def test_data_kind_names_what_the_likelihood_measures(likelihood, binarize, key, label) -> None:
    kind = data_kind(ModelConfig(likelihood=likelihood), {"binarize": binarize})
    assert kind.key == key and kind.label.startswith(label)


def test_data_kind_covers_every_likelihood_and_pixel_kind() -> None:
    kinds = {
        data_kind(ModelConfig(likelihood=lik), {"binarize": b}).key
        for lik in LIKELIHOODS
        for b in ("dynamic", "none")
    }
    assert len(kinds) == 2 * len(LIKELIHOODS)
    # a learned or fixed Gaussian variance is the same kind: both are densities of grey pixels
    fixed = data_kind(ModelConfig(likelihood="gaussian"), {"binarize": "none"})
    learned = data_kind(ModelConfig(likelihood="gaussian", learn_variance=True), {})
    assert fixed == learned


def test_shipped_checkpoints_have_the_kinds_the_app_compares() -> None:
    from pathlib import Path

    from vae_core.io.header import read_metadata
    from vae_core.io.vq_checkpoint import is_vq_checkpoint

    folder = Path(__file__).resolve().parents[1] / "checkpoints"
    kinds = {}
    for path in sorted(folder.glob("*.safetensors")):
        if is_vq_checkpoint(path):  # a VQ-VAE has no model config (and its own data kind)
            continue
        meta = read_metadata(path)
        kinds[path.stem] = data_kind(ModelConfig.from_dict(meta["model"]), meta).key
    if "mnist-gauss-vae-16d" not in kinds:
        pytest.skip("no shipped Gaussian VAE")
    assert kinds["mnist-gauss-vae-16d"] == "grey/gaussian"
    assert kinds["mnist-vae-16d"] == "binarized/bernoulli"


def test_sweep_data_kind_reads_the_recorded_configs() -> None:
    sweep = {"model": ModelConfig().to_dict(), "train_config": {"binarize": "dynamic"}}
    assert sweep_data_kind(sweep).key == "binarized/bernoulli"
    with pytest.raises(ValueError, match="does not record"):
        sweep_data_kind({"points": []})
    with pytest.raises(ValueError, match="binarized"):
        sweep_data_kind({"model": {}, "train_config": {}})
    with pytest.raises(ValueError, match="not valid"):
        sweep_data_kind({"model": {"kind": "gan"}, "train_config": {"binarize": "none"}})
