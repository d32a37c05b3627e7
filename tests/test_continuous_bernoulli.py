"""The continuous Bernoulli decoder (Loaiza-Ganem & Cunningham 2019): a normalised density on
grey pixels, its mean and draws, its exact 8-bit bin masses, and its comparable figure."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vae_core.config import ModelConfig
from vae_core.evaluation.comparable import comparable_figures
from vae_core.evaluation.discrete import discrete_view, discretized_cb_log_prob
from vae_core.evaluation.units import comparable_data
from vae_core.models.likelihoods import ContinuousBernoulli, cb_log_norm, cb_mean
from vae_core.models.model import LatentVariableModel

ETAS = [-2000.0, -40.0, -3.0, -1e-7, 0.0, 2e-4, 0.7, 12.0, 900.0]
LEVELS = torch.arange(256, dtype=torch.float64) / 255


def density(x: torch.Tensor, eta: float) -> torch.Tensor:
    e = torch.full_like(x, eta)
    return (x * e - F.softplus(e) + cb_log_norm(e)).exp()


@pytest.mark.parametrize("eta", [-40.0, -5.0, -1e-4, 0.0, 2e-4, 0.7, 30.0])
def test_density_integrates_to_one_and_its_mean_is_cb_mean(eta: float) -> None:
    xs = torch.linspace(0, 1, 200_001, dtype=torch.float64)
    p = density(xs, eta)
    assert torch.trapezoid(p, xs).item() == pytest.approx(1.0, abs=1e-6)
    mean = torch.trapezoid(p * xs, xs).item()
    assert cb_mean(torch.tensor(eta, dtype=torch.float64)).item() == pytest.approx(mean, abs=1e-6)


def test_log_prob_matches_torch_where_torch_is_exact() -> None:
    logits = torch.tensor([[-3.0, 0.5, 4.0, 1e-5]], dtype=torch.float64).view(1, 1, 2, 2)
    x = torch.tensor([0.2, 0.6, 0.9, 0.1], dtype=torch.float64).view(1, 1, 2, 2)
    ref = torch.distributions.ContinuousBernoulli(logits=logits).log_prob(x).sum()
    assert ContinuousBernoulli().log_prob(logits, x).item() == pytest.approx(ref.item(), abs=1e-6)


@pytest.mark.parametrize("eta", [-40.0, -3.0, 0.0, 0.7, 12.0])
def test_draws_follow_the_distribution(eta: float) -> None:
    g = torch.Generator().manual_seed(0)
    draws = ContinuousBernoulli().sample(torch.full((200_000,), eta, dtype=torch.float64), g)
    assert draws.min() >= 0 and draws.max() <= 1
    expected = cb_mean(torch.tensor(eta, dtype=torch.float64)).item()
    assert draws.mean().item() == pytest.approx(expected, abs=3e-3)


@pytest.mark.parametrize("eta", ETAS)
def test_the_256_bin_masses_sum_to_one(eta: float) -> None:
    lp = discretized_cb_log_prob(LEVELS, torch.full_like(LEVELS, eta))
    assert torch.isfinite(lp).all()
    assert lp.exp().sum().item() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("eta", [-3.0, 0.0, 0.7, 5.0])
def test_interior_bins_are_density_times_width_when_smooth(eta: float) -> None:
    inner = LEVELS[1:-1]
    lp = discretized_cb_log_prob(inner, torch.full_like(inner, eta))
    approx = density(inner, eta).log() + math.log(1 / 255)
    assert (lp - approx).abs().max().item() < 1e-3  # the midpoint rule's error on a 1/255 bin


def test_a_cb_model_reports_a_positive_8bit_figure() -> None:
    config = ModelConfig(likelihood="continuous-bernoulli", latent_dim=2, hidden=(16,))
    model = LatentVariableModel(config, torch.Generator().manual_seed(0)).eval()
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(20, 1, 28, 28, generator=g) * 255).round() / 255
    meta = {"binarize": "none"}
    assert comparable_data(config, meta) == "8-bit"
    with torch.no_grad():
        density_nll = -float(model.log_prob(model.decoder_output(torch.zeros(20, 2)), x).mean())
    view = discrete_view(model)
    assert view is not model and view.encoder is model.encoder  # same weights, another p(x|z)
    out = comparable_figures(
        model, meta, x, torch.zeros(20, dtype=torch.long), k=4, nll=density_nll
    )
    assert out["figure"]["key"] == "nll_8bit" and out["data_kind"] == "8-bit"
    assert out["nll_8bit"] > 0 and out["bits_per_dim"] > 0
    assert "8-bit pixels" in out["figure"]["text"]
