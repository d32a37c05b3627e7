"""The importance-weighted estimate of a linear-Gaussian latent model approaches pPCA's exact
log-likelihood (Burda et al. 2015 on the model Tipping & Bishop 1999 solve in closed form).

The model is pPCA's own: p(z) = N(0, I), p(x|z) = N(W z + mu, sigma^2 I). With the exact
posterior p(z|x) as the proposal every importance weight equals p(x), so the estimate is exact
for any K; with a slightly wrong proposal it is biased low and converges as K grows.
LatentVariableModel's Gaussian decoder squashes its mean with a sigmoid, so this tiny linear
model lives here rather than pretending to be one.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from vae_core.evaluation.ppca import PPCA, fit_ppca

LOG_2PI = math.log(2 * math.pi)


def iw_log_likelihood(
    ppca: PPCA, x: torch.Tensor, q_mean: torch.Tensor, q_cov: torch.Tensor, k: int, seed: int = 0
) -> torch.Tensor:
    """log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q = N(q_mean_n, q_cov), per row (N,)."""
    torch.manual_seed(seed)
    q = MultivariateNormal(q_mean, covariance_matrix=q_cov)  # batch of N proposals
    z = q.sample((k,))  # (K, N, M)
    recon = ppca.decode(z.reshape(-1, ppca.latent_dim)).view(k, len(x), -1)
    d = x.shape[1]
    log_px_z = -0.5 * (
        d * (LOG_2PI + math.log(ppca.sigma2)) + (x - recon).pow(2).sum(-1) / ppca.sigma2
    )
    log_pz = -0.5 * (ppca.latent_dim * LOG_2PI + z.pow(2).sum(-1))
    log_w = log_px_z + log_pz - q.log_prob(z)
    return torch.logsumexp(log_w, 0) - math.log(k)


@pytest.fixture(scope="module")
def fitted() -> tuple[PPCA, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    basis = torch.randn(3, 12, generator=g, dtype=torch.float64)
    data = torch.randn(800, 3, generator=g, dtype=torch.float64) @ basis
    data = data + 0.3 * torch.randn(800, 12, generator=g, dtype=torch.float64)
    return fit_ppca(data[:500], latent_dim=3), data[500:800]


def test_exact_posterior_makes_the_estimate_exact_for_any_k(fitted) -> None:
    ppca, x = fitted
    exact = ppca.log_likelihood(x)
    mean, cov = ppca.posterior(x)
    for k in (1, 5, 50):
        assert torch.allclose(iw_log_likelihood(ppca, x, mean, cov, k), exact, atol=1e-8)


def test_wrong_proposal_converges_as_k_grows(fitted) -> None:
    ppca, x = fitted
    exact = ppca.log_likelihood(x)
    mean, cov = ppca.posterior(x)
    std = cov.diagonal().sqrt()
    # too wide and off-centre by half a posterior standard deviation: a plausible encoder error
    bad_mean, bad_cov = mean + 0.5 * std, 1.5 * cov
    errors = {
        k: float((exact - iw_log_likelihood(ppca, x, bad_mean, bad_cov, k, seed=k)).mean())
        for k in (1, 100, 3000)
    }
    # one sample: the ELBO-like bias (the KL from proposal to posterior) is clearly visible
    assert errors[1] > 0.3
    # it shrinks as K grows; averaged over 300 images the Monte Carlo noise is ~0.01 nats
    assert errors[1] > errors[100] + 0.2
    assert abs(errors[3000]) < 0.01
    assert abs(errors[3000]) < errors[1] / 30
