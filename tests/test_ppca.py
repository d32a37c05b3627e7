"""pPCA's closed form against direct and numerical evaluations."""

from __future__ import annotations

import math

import pytest
import torch

from vae_core.evaluation.ppca import fit_ppca


def _data(n: int = 400, d: int = 6, m: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, m, generator=g, dtype=torch.float64)
    z = torch.randn(n, m, generator=g, dtype=torch.float64)
    return z @ w.T + 0.3 * torch.randn(n, d, generator=g, dtype=torch.float64) + 1.0


def test_log_likelihood_equals_direct_multivariate_normal() -> None:
    x = _data()
    model = fit_ppca(x, 2)
    mvn = torch.distributions.MultivariateNormal(model.mean, covariance_matrix=model.covariance())
    assert torch.allclose(model.log_likelihood(x), mvn.log_prob(x), atol=1e-8)


def test_log_likelihood_equals_numerical_integral_over_z() -> None:
    x = _data(d=3, m=1)
    model = fit_ppca(x, 1)
    z = torch.linspace(-8, 8, 4001, dtype=torch.float64)
    dz = float(z[1] - z[0])
    point = x[:5]
    means = model.decode(z[:, None])  # (G, D)
    lik = torch.distributions.Normal(means[None], math.sqrt(model.sigma2)).log_prob(point[:, None])
    log_joint = lik.sum(-1) + torch.distributions.Normal(0.0, 1.0).log_prob(z)[None]
    numeric = torch.logsumexp(log_joint, 1) + math.log(dz)
    assert torch.allclose(model.log_likelihood(point), numeric, atol=1e-6)


def test_ml_solution_beats_perturbed_parameters() -> None:
    x = _data()
    model = fit_ppca(x, 2)
    best = model.log_likelihood(x).mean()
    model.sigma2 *= 1.3
    assert model.log_likelihood(x).mean() < best


def test_posterior_matches_bayes_rule_for_a_linear_gaussian() -> None:
    x = _data(d=4, m=2)
    model = fit_ppca(x, 2)
    mean, cov = model.posterior(x[:1])
    # Joint Gaussian conditioning: E[z|x] = W^T C^{-1} (x - mu), Cov = I - W^T C^{-1} W.
    c_inv = torch.linalg.inv(model.covariance())
    expected_mean = (x[:1] - model.mean) @ c_inv @ model.weight
    expected_cov = torch.eye(2, dtype=torch.float64) - model.weight.T @ c_inv @ model.weight
    assert torch.allclose(mean, expected_mean, atol=1e-8)
    assert torch.allclose(cov, expected_cov, atol=1e-8)


def test_bad_latent_dim() -> None:
    with pytest.raises(ValueError):
        fit_ppca(_data(d=3), 3)
