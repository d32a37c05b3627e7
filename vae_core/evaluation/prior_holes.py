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
from typing import Any

import torch
from torch import nn

from vae_core.evaluation.aggregate_posterior import (
    aggregate_density,
    cell_area,
    log_aggregate_density,
)
from vae_core.models.model import LatentVariableModel
from vae_core.models.objectives import active_units
from vae_core.models.priors import gaussian_kl

HOLE_RATIO = 0.1  # q below a tenth of p counts as a hole
GRID_SIZE = 241
GRID_HALF_WIDTH = 6.0  # in prior standard deviations: the grid holds all but ~1e-8 of p
MC_SAMPLES = 20_000


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
