"""Aggregate posterior density on a grid, holes, sampling and exact projections."""

from __future__ import annotations

import math

import pytest
import torch

from vae_core.evaluation.aggregate_posterior import (
    aggregate_density,
    cell_area,
    default_grid,
    holes,
    log_aggregate_density,
    mass_in,
    mixture_density,
    pca_components,
    prior_density,
    project_gaussians,
    sample_aggregate,
)


def _posteriors(n: int = 300, d: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(n, d, generator=g, dtype=torch.float64) * 0.8
    logvar = torch.log(torch.rand(n, d, generator=g, dtype=torch.float64) * 0.3 + 0.05)
    return mu, logvar


def test_density_integrates_to_one_on_its_grid() -> None:
    mu, logvar = _posteriors()
    gx, gy = default_grid(limit=6.0, size=241)
    q = aggregate_density(mu, logvar, gx, gy)
    assert q.shape == (241, 241)
    assert float(q.sum()) * cell_area(gx, gy) == pytest.approx(1.0, abs=2e-3)
    p = prior_density(gx, gy)
    assert float(p.sum()) * cell_area(gx, gy) == pytest.approx(1.0, abs=2e-3)


def test_separable_and_full_covariance_paths_agree() -> None:
    mu, logvar = _posteriors(50)
    gx = torch.linspace(-3, 3, 31, dtype=torch.float64)
    gy = torch.linspace(-2, 4, 25, dtype=torch.float64)
    q = aggregate_density(mu, logvar, gx, gy)
    covs = torch.diag_embed(logvar.exp())
    assert torch.allclose(q, mixture_density(mu, covs, gx, gy), rtol=1e-9, atol=1e-12)
    # orientation: density[j, i] is at (grid_x[i], grid_y[j])
    one = aggregate_density(torch.tensor([[2.0, -1.0]]), torch.zeros(1, 2), gx, gy)
    j, i = divmod(int(one.argmax()), len(gx))
    assert (float(gx[i]), float(gy[j])) == (2.0, -1.0)


def test_holes_find_prior_mass_the_posterior_misses() -> None:
    gx, gy = default_grid()
    p = prior_density(gx, gy)
    # all codes in a tight cluster at (2, 2): the prior's centre is a hole
    far = aggregate_density(torch.full((10, 2), 2.0), torch.full((10, 2), -3.0), gx, gy)
    mask = holes(far, p)
    centre = (len(gy) // 2, len(gx) // 2)
    assert bool(mask[centre])
    assert mass_in(p, mask, gx, gy) > 0.8
    # the prior itself has no holes relative to the prior
    assert not bool(holes(p, p).any())
    with pytest.raises(ValueError):
        holes(far[:-1], p)


def test_log_aggregate_density_matches_brute_force() -> None:
    mu, logvar = _posteriors(20, d=3)
    z = torch.randn(7, 3, dtype=torch.float64)
    comps = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    brute = torch.stack([comps.log_prob(zi).sum(1).exp().mean().log() for zi in z])
    assert torch.allclose(log_aggregate_density(z, mu, logvar), brute, atol=1e-9)


def test_sample_aggregate_draws_near_the_posteriors() -> None:
    mu = torch.tensor([[5.0, 5.0], [-5.0, -5.0]])
    logvar = torch.full((2, 2), -10.0)
    z = sample_aggregate(mu, logvar, 400, generator=torch.Generator().manual_seed(0))
    assert z.shape == (400, 2)
    near = torch.cdist(z, mu).min(1).values
    assert float(near.max()) < 0.1
    assert 100 < int((z[:, 0] > 0).sum()) < 300  # both components drawn


def test_projection_is_exact_for_gaussians() -> None:
    mu, logvar = _posteriors(3, d=6, seed=1)
    comps, center = pca_components(torch.randn(100, 6, dtype=torch.float64))
    assert torch.allclose(comps @ comps.T, torch.eye(2, dtype=torch.float64), atol=1e-9)
    means, covs = project_gaussians(mu, logvar, comps, center)
    # Monte Carlo check of the first component's projected mean and covariance
    g = torch.Generator().manual_seed(0)
    z = mu[0] + (0.5 * logvar[0]).exp() * torch.randn(200_000, 6, generator=g, dtype=torch.float64)
    proj = (z - center) @ comps.T
    assert torch.allclose(proj.mean(0), means[0], atol=0.01)
    assert torch.allclose(torch.cov(proj.T), covs[0], atol=0.01)
    # axis-aligned components reduce to the plain 2-D marginals
    axes = torch.eye(6, dtype=torch.float64)[:2]
    m2, c2 = project_gaussians(mu, logvar, axes, torch.zeros(6, dtype=torch.float64))
    assert torch.allclose(m2, mu[:, :2])
    assert torch.allclose(c2, torch.diag_embed(logvar[:, :2].exp()))
    assert math.isfinite(float(mixture_density(means, covs, *default_grid(size=11)).sum()))
