"""How well the aggregate posterior fills the model's prior: the ``diagnostics`` numbers.

Samples from the prior decode well only where the aggregate posterior q(z) = (1/N) sum_n
q(z|x_n) has mass; where p(z) has mass and q(z) has little ("holes", Rosca et al. 2018) they
decode to poor images. ``hole_mass`` is one number for that: the prior probability of the region
where q(z) < ratio * p(z), ratio 0.1. A learned prior (Tomczak & Welling 2018) should shrink it.
For a 2-D latent it is a Riemann sum on a grid over the prior's bulk, exact up to the grid;
above 2-D the integral is a Monte Carlo average over draws from the prior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from vae_core.evaluation.aggregate_posterior import (
    aggregate_density,
    cell_area,
    log_aggregate_density,
    mixture_density,
    pca_components,
    project_gaussians,
)
from vae_core.models.model import LatentVariableModel
from vae_core.models.objectives import active_units
from vae_core.models.priors import gaussian_kl

HOLE_RATIO = 0.1  # q below a tenth of p counts as a hole
GRID_SIZE = 241
GRID_HALF_WIDTH = 6.0  # in prior standard deviations: the grid holds all but ~1e-8 of p
MC_SAMPLES = 20_000
MAP_SIZE = 120  # grid points per axis of the Diagnostics plane
MAP_BULK = 0.01  # the plane's holes are drawn inside the prior's bulk: p >= 1 % of its peak
MAP_REACH = 4.0  # the plane spans the prior's centre ± 4 sd, widened to hold every posterior mean


def hole_mass(
    prior: nn.Module,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    ratio: float = HOLE_RATIO,
    generator: torch.Generator | None = None,
    n_samples: int = MC_SAMPLES,
    grid_size: int = GRID_SIZE,
) -> float:
    """P_p(q(z) < ratio * p(z)) for the aggregate of the posteriors N(mu_n, diag exp(logvar_n)).

    2-D latents use a grid of ``grid_size``^2 points over the prior's mean ± 6 standard
    deviations (the sum is normalised by the grid's prior mass); larger latents average over
    ``n_samples`` prior draws from ``generator``.
    """
    mu, logvar = mu.detach().double().cpu(), logvar.detach().double().cpu()
    if mu.dim() != 2 or mu.shape != logvar.shape or len(mu) == 0:
        raise ValueError("need posteriors mu, logvar of one shape (N, D), N >= 1")
    with torch.no_grad():
        if mu.shape[1] == 2:
            centre, scale = prior.mean("cpu").double(), prior.scale("cpu").double()
            gx, gy = (
                torch.linspace(
                    float(centre[d] - GRID_HALF_WIDTH * scale[d]),
                    float(centre[d] + GRID_HALF_WIDTH * scale[d]),
                    grid_size,
                    dtype=torch.float64,
                )
                for d in (0, 1)
            )
            zy, zx = torch.meshgrid(gy, gx, indexing="ij")
            pts = torch.stack([zx.reshape(-1), zy.reshape(-1)], 1)
            p = prior.log_prob(pts.to(_device(prior))).double().cpu().exp().view_as(zx)
            q = aggregate_density(mu, logvar, gx, gy)
            area = cell_area(gx, gy)
            return float(p[q < ratio * p].sum() * area / (p.sum() * area))
        z = prior.sample(n_samples, generator).double()
        log_p = prior.log_prob(z.to(_device(prior))).double().cpu()
        log_q = log_aggregate_density(z.cpu(), mu, logvar)
        return float((log_q < math.log(ratio) + log_p).double().mean())


@dataclass(frozen=True)
class HoleMap:
    """q(z) and the model's own p(z) on a grid over the latent plane, and where q leaves holes.

    ``q``, ``p`` and ``holes`` are (Gy, Gx), rows indexed by y, so they plot as heatmaps over
    ``grid_x`` and ``grid_y``. ``holes`` marks q < ``ratio`` * p inside the prior's bulk (p at
    least ``MAP_BULK`` of its peak) and ``prior_mass_in_holes`` is the prior's probability of
    those cells (the Riemann sum normalised by the grid's prior mass, as ``hole_mass`` does).
    ``explained`` is None for a 2-D latent, else the shares of the posterior means' variance on
    the two principal axes the plane is spanned by.
    """

    grid_x: torch.Tensor
    grid_y: torch.Tensor
    q: torch.Tensor
    p: torch.Tensor
    holes: torch.Tensor
    prior_mass_in_holes: float
    explained: tuple[float, float] | None


def hole_map(
    prior: nn.Module,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    *,
    ratio: float = HOLE_RATIO,
    size: int = MAP_SIZE,
) -> HoleMap:
    """The aggregate posterior and the prior on one plane: the latent itself when it is 2-D,
    else the exact linear projection through the origin onto the top two principal axes of the
    posterior means (a linear map of a Gaussian mixture is a Gaussian mixture, so both densities
    stay exact in the plane). Every prior is a Gaussian mixture (``components()``; the standard
    normal has one component), so a learned prior is drawn as itself, not as N(0, I)."""
    mu, logvar = mu.detach().double().cpu(), logvar.detach().double().cpu()
    if mu.dim() != 2 or mu.shape != logvar.shape or len(mu) == 0 or mu.shape[1] < 2:
        raise ValueError("need posteriors mu, logvar of one shape (N, D), N >= 1, D >= 2")
    with torch.no_grad():
        log_w, p_mu, p_logvar = (t.detach().double().cpu() for t in prior.components())
    d = mu.shape[1]
    if d == 2:
        axes, explained = torch.eye(2, dtype=torch.float64), None
    else:
        axes, centre = pca_components(mu)
        var = ((mu - centre) @ axes.T).var(0)
        share = (var / mu.var(0).sum()).tolist()
        explained = (float(share[0]), float(share[1]))
    origin = torch.zeros(d, dtype=torch.float64)
    q_means, q_covs = project_gaussians(mu, logvar, axes, origin)
    p_means, p_covs = project_gaussians(p_mu, p_logvar, axes, origin)
    weights = log_w.exp()
    centre = weights @ p_means
    spread = (weights @ (torch.diagonal(p_covs, dim1=1, dim2=2) + p_means.pow(2))) - centre.pow(2)
    reach = MAP_REACH * spread.clamp_min(0).sqrt()
    lo = torch.minimum(centre - reach, q_means.min(0).values)
    hi = torch.maximum(centre + reach, q_means.max(0).values)
    pad = 0.05 * (hi - lo)
    gx, gy = (
        torch.linspace(float(lo[k] - pad[k]), float(hi[k] + pad[k]), size, dtype=torch.float64)
        for k in (0, 1)
    )
    q = (
        aggregate_density(mu, logvar, gx, gy)
        if d == 2
        else mixture_density(q_means, q_covs, gx, gy)
    )
    p = mixture_density(p_means, p_covs, gx, gy, weights)
    mask = (p >= MAP_BULK * p.max()) & (q < ratio * p)
    return HoleMap(gx, gy, q, p, mask, float(p[mask].sum() / p.sum()), explained)


def _device(module: nn.Module) -> torch.device:
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


@torch.no_grad()
def posteriors(
    model: LatentVariableModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    batch_size: int = 500,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mu, logvar) of q(z|x_n) for every image, each (N, D) on the CPU."""
    labels = y if model.config.conditional else None
    mus, logvars = [], []
    for s in range(0, len(x), batch_size):
        yb = None if labels is None else labels[s : s + batch_size].to(model.device)
        m, lv = model.encode(x[s : s + batch_size].to(model.device), yb)
        mus.append(m.cpu())
        logvars.append(lv.cpu())
    return torch.cat(mus), torch.cat(logvars)


@torch.no_grad()
def kl_per_dim(
    prior: nn.Module,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mean over images of KL(q(z_d|x) || p_d(z_d)) per latent dim, (D,).

    Closed form for the standard normal (these sum to the ELBO's KL); for a mixture prior, a
    one-sample Monte Carlo estimate against the prior's 1-D marginal in each dim, which need
    not sum to the full KL (the mixture couples the dims) but shows the same used and unused
    dims.
    """
    if getattr(prior, "closed_form_kl", False):
        return gaussian_kl(mu, logvar).mean(0)
    eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
    z = mu + (0.5 * logvar).exp() * eps
    log_q = -0.5 * (math.log(2 * math.pi) + logvar + eps.pow(2))
    log_p = prior.log_prob_per_dim(z.to(_device(prior))).cpu().to(mu.dtype)
    return (log_q - log_p).mean(0)


def diagnostics_report(
    model: LatentVariableModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """The ``diagnostics`` numbers of a stochastic model on images x: its prior, KL per dim,
    active units (Burda et al. 2015) and hole_mass."""
    if not model.config.stochastic:
        raise ValueError("an AE has no prior and no posterior spread: no diagnostics to compute")
    mu, logvar = posteriors(model, x, y)
    gen = torch.Generator().manual_seed(seed)
    per_dim = kl_per_dim(model.prior, mu.double(), logvar.double(), gen)
    n_active, _ = active_units(mu)
    return {
        "prior": model.config.prior,
        "prior_components": model.config.prior_components
        if model.config.prior != "standard"
        else None,
        "latent_dim": model.config.latent_dim,
        "n_images": len(x),
        "kl_per_dim": [float(v) for v in per_dim],
        "active_units": int(n_active),
        "hole_ratio": HOLE_RATIO,
        "hole_mass": hole_mass(model.prior, mu, logvar, generator=gen),
        "hole_method": "grid" if model.config.latent_dim == 2 else f"monte carlo ({MC_SAMPLES})",
    }
