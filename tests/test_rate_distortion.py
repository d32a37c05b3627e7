"""Rate (KL) and distortion (-recon) of VAEs trained with different beta."""

from __future__ import annotations

import pytest

from tests.conftest import make_model
from vae_core.config import ModelConfig
from vae_core.evaluation.rate_distortion import rate_distortion_point, sweep_beta
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
