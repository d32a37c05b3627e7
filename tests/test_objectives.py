"""The math: KL, likelihoods and the importance-weighted bound."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import make_model
from vae_core.models.likelihoods import Bernoulli, Categorical, Gaussian
from vae_core.models.objectives import (
    active_units,
    diag_gaussian_log_prob,
    elbo_terms,
    gaussian_kl,
    iwae_log_likelihood,
)


def test_closed_form_kl_matches_monte_carlo() -> None:
    torch.manual_seed(0)
    mu = torch.tensor([[0.7, -1.2, 0.0]])
    logvar = torch.tensor([[-0.5, 0.8, 0.0]])
    closed = gaussian_kl(mu, logvar).sum()
    z = mu + (0.5 * logvar).exp() * torch.randn(400_000, 3)
    log_q = diag_gaussian_log_prob(z, mu, logvar)
    log_p = -0.5 * (math.log(2 * math.pi) + z.pow(2)).sum(-1)
    mc = (log_q - log_p).mean()
    assert closed.item() == pytest.approx(mc.item(), abs=0.01)
    assert gaussian_kl(torch.zeros(1, 2), torch.zeros(1, 2)).sum().item() == 0.0


def test_bernoulli_log_likelihood_equals_minus_bce() -> None:
    torch.manual_seed(0)
    logits = torch.randn(4, 1, 28, 28)
    x = torch.bernoulli(torch.full((4, 1, 28, 28), 0.3))
    expected = -F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none").sum((1, 2, 3))
    assert torch.allclose(Bernoulli().log_prob(logits, x), expected, atol=1e-3)


def test_gaussian_log_likelihood_matches_torch_normal() -> None:
    torch.manual_seed(0)
    out = torch.randn(3, 2, 28, 28)
    x = torch.rand(3, 1, 28, 28)
    lik = Gaussian(std=0.2, learn_variance=False)
    ref = torch.distributions.Normal(torch.sigmoid(out[:, :1]), 0.2).log_prob(x).sum((1, 2, 3))
    assert torch.allclose(lik.log_prob(out[:, :1], x), ref, atol=1e-3)
    learned = Gaussian(std=0.2, learn_variance=True)
    std = (0.5 * out[:, 1:2].clamp(-9, 2)).exp()
    ref2 = torch.distributions.Normal(torch.sigmoid(out[:, :1]), std).log_prob(x).sum((1, 2, 3))
    assert torch.allclose(learned.log_prob(out, x), ref2, atol=1e-3)


def test_categorical_log_likelihood_and_mean() -> None:
    out = torch.full((1, 256, 28, 28), -1e4)
    out[:, 51] = 0.0  # all mass on level 51 = 0.2 * 255
    x = torch.full((1, 1, 28, 28), 0.2)
    lik = Categorical()
    assert lik.log_prob(out, x).item() == pytest.approx(0.0, abs=1e-3)
    assert torch.allclose(lik.mean(out), torch.full((1, 1, 28, 28), 0.2), atol=1e-6)


def test_iwae_bound_is_at_least_the_elbo_and_grows_with_k(tiny_images) -> None:
    x, _ = tiny_images
    x = torch.bernoulli(x, generator=torch.Generator().manual_seed(1))
    model = make_model().eval()
    torch.manual_seed(0)
    elbo = torch.stack([elbo_terms(model, x).elbo for _ in range(200)]).mean()
    torch.manual_seed(0)
    iw = {k: iwae_log_likelihood(model, x, k=k).mean().item() for k in (1, 10, 100, 1000)}
    assert iw[1] == pytest.approx(elbo.item(), abs=1.0)  # K = 1 is the ELBO
    assert iw[10] > elbo.item()
    assert iw[10] < iw[100] < iw[1000]


def test_iwae_chunking_does_not_change_the_estimate(tiny_images) -> None:
    x, y = tiny_images
    model = make_model(kind="cvae").eval()
    torch.manual_seed(3)
    whole = iwae_log_likelihood(model, x[:8], y[:8], k=50)
    torch.manual_seed(3)
    chunked = iwae_log_likelihood(model, x[:8], y[:8], k=50, max_elements=8 * 784 * 7)
    assert torch.allclose(whole, chunked, atol=1e-4)


def test_active_units_counts_dims_with_variance() -> None:
    mu = torch.zeros(500, 4)
    mu[:, 0] = torch.randn(500)
    mu[:, 2] = 0.01 * torch.randn(500)  # variance 1e-4 < 0.01: inactive
    count, var = active_units(mu)
    assert count == 1
    assert var.shape == (4,)


def test_ae_has_no_kl_and_beta_weights_the_kl(tiny_images) -> None:
    x, _ = tiny_images
    ae = make_model(kind="ae")
    terms = elbo_terms(ae, x)
    assert terms.kl.item() == 0.0
    vae = make_model(beta=4.0)
    torch.manual_seed(0)
    t = elbo_terms(vae, x)
    assert t.loss.item() == pytest.approx(-(t.recon - 4.0 * t.kl).item(), rel=1e-5)
