"""The model API for every kind, architecture and likelihood."""

from __future__ import annotations

import itertools

import pytest
import torch

from tests.conftest import make_model
from vae_core.config import ConfigError, ModelConfig
from vae_core.models.objectives import elbo_terms


@pytest.mark.parametrize(
    "kind,arch,likelihood",
    list(
        itertools.product(
            ("vae", "cvae", "ae"), ("mlp", "conv"), ("bernoulli", "gaussian", "categorical")
        )
    ),
)
def test_api_shapes_and_ranges(kind: str, arch: str, likelihood: str) -> None:
    model = make_model(kind=kind, arch=arch, likelihood=likelihood, latent_dim=2)
    x = torch.rand(5, 1, 28, 28)
    y = torch.arange(5) if kind == "cvae" else None
    mu, logvar = model.encode(x, y)
    assert mu.shape == logvar.shape == (5, 2)
    img = model.decode(mu, y)
    assert img.shape == (5, 1, 28, 28)
    assert img.min().item() >= 0.0 and img.max().item() <= 1.0
    assert model.sample(3, y=7 if kind == "cvae" else None, temperature=0.5).shape == (3, 1, 28, 28)
    assert model.reconstruct(x, y).shape == (5, 1, 28, 28)
    assert torch.isfinite(elbo_terms(model, x, y).loss)


def test_cvae_requires_labels_and_accepts_soft_onehot() -> None:
    model = make_model(kind="cvae")
    with pytest.raises(ValueError, match="labels"):
        model.decode(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="0..9"):
        model.decode(torch.zeros(1, 3), torch.tensor([10]))
    soft = torch.zeros(1, 10)
    soft[0, 3] = soft[0, 8] = 0.5
    assert model.decode(torch.zeros(1, 3), soft).shape == (1, 1, 28, 28)
    hard3 = model.decode(torch.zeros(1, 3), 3)
    onehot3 = torch.nn.functional.one_hot(torch.tensor([3]), 10).float()
    assert torch.allclose(hard3, model.decode(torch.zeros(1, 3), onehot3))


def test_classic_784_400_20_mlp_can_be_built() -> None:
    model = make_model(hidden=(400,), latent_dim=20)
    sizes = [tuple(p.shape) for p in model.encoder.head.parameters()]
    assert sizes[0] == (400, 784) and sizes[2] == (40, 400)


def test_config_round_trip_and_validation() -> None:
    cfg = ModelConfig(kind="cvae", arch="conv", latent_dim=16, hidden=(256,), beta=2.0)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    for bad in (
        {"kind": "gan"},
        {"latent_dim": 0},
        {"latent_dim": "2"},
        {"hidden": [400, "x"]},
        {"unknown": 1},
        {"beta": True},
    ):
        with pytest.raises(ConfigError):
            ModelConfig.from_dict({**cfg.to_dict(), **bad})
    with pytest.raises(ConfigError):
        ModelConfig.from_dict(["not", "a", "dict"])
