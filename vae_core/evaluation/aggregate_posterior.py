"""The aggregate posterior q(z) = (1/N) sum_n q(z|x_n) and where it leaves holes in the prior.

A VAE's decoder only ever trains on codes drawn from q(z), the mixture of all the per-image
posteriors; sampling from the prior p(z) lands in regions where q(z) has little mass
("holes"), which decode to poor images (Rosca et al. 2018, "Distribution matching in variational
inference"; Tomczak & Welling 2018 motivate the VampPrior the same way). Here q is evaluated on a
2-D grid (exactly for a 2-D latent, or for an exact linear projection of a larger one: a linear
map of a Gaussian is a Gaussian, so projecting each component keeps the mixture exact).

Grids: ``grid_x`` (Gx,) and ``grid_y`` (Gy,) are evenly spaced; densities are (Gy, Gx), rows
indexed by y, so ``density[j, i]`` is at (grid_x[i], grid_y[j]) and plots directly as a heatmap.
"""

from __future__ import annotations

import math

import torch

from vae_core.latent.maps import fit_pca

CHUNK = 512  # mixture components evaluated at once on the grid


def default_grid(limit: float = 4.0, size: int = 161) -> tuple[torch.Tensor, torch.Tensor]:
    """A square grid over [-limit, limit]^2 (float64), wide enough for 99.9% of N(0, I)."""
    g = torch.linspace(-limit, limit, size, dtype=torch.float64)
    return g, g.clone()


def cell_area(grid_x: torch.Tensor, grid_y: torch.Tensor) -> float:
    """Area of one grid cell, for Riemann sums of a density on the grid."""
    return float((grid_x[1] - grid_x[0]) * (grid_y[1] - grid_y[0]))


def _normal_1d(grid: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """N(grid_i; mean_n, var_n) as an (N, G) table."""
    diff = grid.view(1, -1) - mean.view(-1, 1)
    return torch.exp(-0.5 * diff.pow(2) / var.view(-1, 1)) / torch.sqrt(
        2 * math.pi * var.view(-1, 1)
    )


def aggregate_density(
    mu: torch.Tensor, logvar: torch.Tensor, grid_x: torch.Tensor, grid_y: torch.Tensor
) -> torch.Tensor:
    """q(z) = mean_n N(z; mu_n, diag sigma_n^2) on the grid, (Gy, Gx), for a 2-D latent.

    A diagonal Gaussian factorises, N(z) = N(z_x) N(z_y), so the whole mixture on the grid is one
    matrix product of two (N, G) tables: exact, and fast for N = 10,000.
    """
    mu, logvar = _check_2d(mu, logvar)
    var = logvar.exp()
    gx, gy = grid_x.double(), grid_y.double()
    total = torch.zeros(len(gy), len(gx), dtype=torch.float64)
    for s in range(0, len(mu), 4 * CHUNK):
        ax = _normal_1d(gx, mu[s : s + 4 * CHUNK, 0], var[s : s + 4 * CHUNK, 0])
        ay = _normal_1d(gy, mu[s : s + 4 * CHUNK, 1], var[s : s + 4 * CHUNK, 1])
        total += ay.T @ ax
    return total / len(mu)


def mixture_density(
    means: torch.Tensor,
    covs: torch.Tensor,
    grid_x: torch.Tensor,
    grid_y: torch.Tensor,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """sum_n w_n N(z; m_n, C_n) on the grid (Gy, Gx) for full 2x2 covariances (N, 2, 2);
    equal weights 1/N unless ``weights`` (N,) (summing to 1) are given."""
    means, covs = means.double(), covs.double()
    if means.dim() != 2 or means.shape[1] != 2 or covs.shape != (len(means), 2, 2):
        raise ValueError("expected means (N, 2) and covariances (N, 2, 2)")
    w = (
        torch.full((len(means),), 1.0 / len(means), dtype=torch.float64)
        if weights is None
        else weights.double().view(-1)
    )
    if w.shape != (len(means),):
        raise ValueError(f"expected {len(means)} weights, got {tuple(weights.shape)}")
    zy, zx = torch.meshgrid(grid_y.double(), grid_x.double(), indexing="ij")
    pts = torch.stack([zx.reshape(-1), zy.reshape(-1)], 1)  # (G, 2)
    total = torch.zeros(len(pts), dtype=torch.float64)
    a, b, d = covs[:, 0, 0], covs[:, 0, 1], covs[:, 1, 1]
    det = a * d - b * b
    if bool((det <= 0).any()):
        raise ValueError("covariances must be positive definite")
    for s in range(0, len(means), CHUNK):
        sl = slice(s, s + CHUNK)
        dx = pts[None, :, 0] - means[sl, 0, None]  # (n, G)
        dy = pts[None, :, 1] - means[sl, 1, None]
        quad = (
            d[sl, None] * dx.pow(2) - 2 * b[sl, None] * dx * dy + a[sl, None] * dy.pow(2)
        ) / det[sl, None]
        dens = torch.exp(-0.5 * quad) / (2 * math.pi * det[sl, None].sqrt())
        total += w[sl] @ dens
    return total.view(len(grid_y), len(grid_x))


def prior_density(
    grid_x: torch.Tensor,
    grid_y: torch.Tensor,
    mean: torch.Tensor | None = None,
    cov: torch.Tensor | None = None,
) -> torch.Tensor:
    """p(z) = N(z; mean, cov) on the grid (Gy, Gx); the standard normal by default.

    For a projection with orthonormal components P and center c the projected prior is
    N(-P c, I) (see ``project_gaussians``).
    """
    m = torch.zeros(1, 2, dtype=torch.float64) if mean is None else mean.double().view(1, 2)
    c = torch.eye(2, dtype=torch.float64) if cov is None else cov.double()
    return mixture_density(m, c.view(1, 2, 2), grid_x, grid_y)


def holes(
    q: torch.Tensor, p: torch.Tensor, ratio: float = 0.05, prior_level: float = 0.01
) -> torch.Tensor:
    """Boolean mask of "holes": the prior has mass there but q has almost none.

    A cell is a hole when p(z) >= ``prior_level`` * max p (inside the prior's bulk; 0.01 of the
    peak is the 3-sigma circle of a 2-D standard normal) and q(z) < ``ratio`` * p(z).
    """
    if q.shape != p.shape:
        raise ValueError(f"q and p must share the grid, got {tuple(q.shape)} and {tuple(p.shape)}")
    return (p >= prior_level * p.max()) & (q < ratio * p)


def mass_in(
    density: torch.Tensor, mask: torch.Tensor, grid_x: torch.Tensor, grid_y: torch.Tensor
) -> float:
    """Riemann-sum probability mass of a gridded density inside a mask (e.g. prior mass in holes)."""
    return float(density[mask].sum()) * cell_area(grid_x, grid_y)


def log_aggregate_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log q(z) at points z (S, D) in the full latent space, any D (logsumexp over components)."""
    mu, logvar, z = mu.double(), logvar.double(), z.double()
    inv_var = (-logvar).exp()  # (N, D)
    # sum_d (z_d - mu_d)^2 / v_d expanded into matrix products: no (S, N, D) tensor is built.
    const = (mu.pow(2) * inv_var).sum(1) + logvar.sum(1) + mu.shape[1] * math.log(2 * math.pi)
    out = []
    for s in range(0, len(z), CHUNK):
        zc = z[s : s + CHUNK]
        quad = zc.pow(2) @ inv_var.T - 2 * zc @ (mu * inv_var).T  # (s, N)
        out.append(torch.logsumexp(-0.5 * (quad + const), 1) - math.log(len(mu)))
    return torch.cat(out)


def sample_aggregate(
    mu: torch.Tensor, logvar: torch.Tensor, n: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """n codes from q(z): pick a training image's posterior uniformly, then sample it, (n, D)."""
    if n < 1 or len(mu) == 0:
        raise ValueError("need n >= 1 and at least one posterior")
    idx = torch.randint(0, len(mu), (n,), generator=generator)
    eps = torch.randn(n, mu.shape[1], generator=generator, dtype=mu.dtype)
    return mu[idx] + (0.5 * logvar[idx]).exp() * eps


def pca_components(mu: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The top-2 principal directions (2, D) (orthonormal rows) and the center (D,) of codes mu."""
    if mu.dim() != 2 or mu.shape[1] < 2:
        raise ValueError("need codes (N, D) with D >= 2")
    pca = fit_pca(mu.detach().cpu().double().numpy())  # the Latent map's plane
    return torch.from_numpy(pca.components), torch.from_numpy(pca.mean)


def project_gaussians(
    mu: torch.Tensor, logvar: torch.Tensor, components: torch.Tensor, center: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact image of N(mu_n, diag sigma_n^2) under z -> P (z - c): N(P (mu_n - c), P S_n P^T).

    Returns means (N, 2) and full covariances (N, 2, 2) for ``mixture_density``.
    """
    p = components.double()
    if p.dim() != 2 or p.shape[0] != 2 or p.shape[1] != mu.shape[1]:
        raise ValueError(f"components must be (2, {mu.shape[1]}), got {tuple(p.shape)}")
    means = (mu.double() - center.double()) @ p.T
    covs = torch.einsum("id,nd,jd->nij", p, logvar.double().exp(), p)
    return means, covs


def _check_2d(mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if mu.dim() != 2 or mu.shape[1] != 2 or logvar.shape != mu.shape:
        raise ValueError(
            "aggregate_density needs a 2-D latent (mu, logvar of shape (N, 2)); "
            "project larger latents with project_gaussians + mixture_density"
        )
    if len(mu) == 0:
        raise ValueError("no posteriors given")
    return mu.double(), logvar.double()
