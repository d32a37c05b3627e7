"""The decoded manifold: an N x N grid of images over a 2-D plane of the latent space.

Kingma & Welling (2013, Fig. 4) place the grid on "linearly spaced coordinates on the unit
square ... transformed through the inverse CDF of the Gaussian", so the rows and columns are
equally probable slices of the prior rather than equally wide ones; a linear range is the
plain alternative. Above two dimensions the plane is the PCA plane and each grid point is lifted
back exactly (``LinearProjection.inverse``), with the other directions held at an anchor.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.special import ndtr, ndtri
from torch import nn

from vae_core.latent.maps import LinearProjection
from vae_core.models.model import LatentVariableModel

GRID_MODES: dict[str, str] = {"inverse-cdf": "inverse-CDF (K&W)", "linear": "linear range"}


def grid_axis(n: int, mode: str = "inverse-cdf", edge: float = 0.05, half_width: float = 3.0):
    """n axis values in standard units (ascending).

    inverse-cdf: Φ⁻¹ of n points evenly spaced on [edge, 1 - edge] (K&W Fig. 4);
    linear: n points evenly spaced on [-half_width, half_width].
    """
    if n < 1:
        raise ValueError(f"a grid needs at least one point per side, got {n}")
    if mode == "inverse-cdf":
        if not 0.0 < edge < 0.5:
            raise ValueError(f"edge must be in (0, 0.5), got {edge}")
        return ndtri(np.linspace(edge, 1.0 - edge, n)) if n > 1 else np.zeros(1)
    if mode == "linear":
        if half_width <= 0:
            raise ValueError(f"half_width must be positive, got {half_width}")
        return np.linspace(-half_width, half_width, n)
    raise ValueError(f"unknown grid mode {mode!r}; choose from {', '.join(GRID_MODES)}")


def mixture_quantiles(
    weights: np.ndarray, means: np.ndarray, sds: np.ndarray, probs: np.ndarray
) -> np.ndarray:
    """Quantiles of the 1-D Gaussian mixture sum_k w_k N(m_k, s_k^2) at ``probs`` in (0, 1).

    The mixture's CDF has no closed-form inverse; bisection (vectorised over ``probs``, 80
    halvings of a bracket 12 sd wide around the components) is exact to float precision and
    needs no solver beyond NumPy. Written by hand because scipy has no mixture ppf."""
    w, m, sd = (np.asarray(a, np.float64).ravel() for a in (weights, means, sds))
    probs = np.asarray(probs, np.float64)
    lo = np.full(probs.shape, float((m - 12 * sd).min()))
    hi = np.full(probs.shape, float((m + 12 * sd).max()))
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        cdf = (w * ndtr((mid[..., None] - m) / sd)).sum(-1)
        below = cdf < probs
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return 0.5 * (lo + hi)


def prior_plane_grid(
    prior: nn.Module, n: int, mode: str = "inverse-cdf", edge: float = 0.05, half_width: float = 3.0
) -> np.ndarray:
    """The grid of ``plane_grid`` over a 2-D latent, in the model's own prior: inverse-CDF rows
    and columns are equally probable slices of each of the prior's 1-D marginals (exactly so
    for a mixture prior too, not only for N(0, I)); a linear range spans its mean ± half_width
    of its standard deviations."""
    if mode != "inverse-cdf":
        centre, scale = (t.detach().cpu().double().numpy() for t in (prior.mean(), prior.scale()))
        return plane_grid(n, mode, centre, scale, edge, half_width)
    if n < 1 or not 0.0 < edge < 0.5:
        grid_axis(n, mode, edge)  # its message for the bad argument
    with torch.no_grad():
        log_w, mu, logvar = (t.detach().cpu().double().numpy() for t in prior.components())
    probs = np.linspace(edge, 1.0 - edge, n) if n > 1 else np.full(1, 0.5)
    sd = np.exp(0.5 * logvar)
    xs, ys = (mixture_quantiles(np.exp(log_w), mu[:, d], sd[:, d], probs) for d in (0, 1))
    gx, gy = np.meshgrid(xs, ys[::-1])
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def plane_grid(
    n: int,
    mode: str = "inverse-cdf",
    center: np.ndarray | tuple[float, float] = (0.0, 0.0),
    scale: np.ndarray | tuple[float, float] = (1.0, 1.0),
    edge: float = 0.05,
    half_width: float = 3.0,
) -> np.ndarray:
    """(n*n, 2) plane points in image order: row 0 is the top (largest y), x grows to the right.

    Each axis is ``center + scale * grid_axis(...)``, so with the prior's centre 0 and scale 1
    it is K&W's grid, and with a PCA axis's mean and standard deviation it is its analogue.
    """
    axis = grid_axis(n, mode, edge, half_width)
    cx, cy = (float(v) for v in center)
    sx, sy = (float(v) for v in scale)
    xs = cx + sx * axis
    ys = cy + sy * axis[::-1]
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def grid_bounds(points: np.ndarray) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) of a grid, for drawing its extent on the map."""
    return (
        float(points[:, 0].min()),
        float(points[:, 0].max()),
        float(points[:, 1].min()),
        float(points[:, 1].max()),
    )


def lift(
    points: np.ndarray, projection: LinearProjection, anchor: np.ndarray | None = None
) -> np.ndarray:
    """Latent codes (M, D) for plane points (M, 2): exact on the plane, off-plane at ``anchor``."""
    return projection.inverse(points, anchor)


@torch.no_grad()
def decode_latents(
    model: LatentVariableModel,
    z: np.ndarray | torch.Tensor,
    y: int | None = None,
    batch_size: int = 512,
) -> torch.Tensor:
    """Decoded image means (M, 1, 28, 28) on the CPU; ``y`` is the class for a CVAE."""
    if model.config.conditional and y is None:
        raise ValueError("a CVAE needs a class to decode the grid")
    z = torch.as_tensor(np.asarray(z), dtype=torch.float32)
    if z.ndim != 2 or z.shape[1] != model.config.latent_dim:
        raise ValueError(f"z must be (M, {model.config.latent_dim}), got {tuple(z.shape)}")
    out = [
        model.decode(z[s : s + batch_size].to(model.device), y).float().cpu()
        for s in range(0, len(z), batch_size)
    ]
    return torch.cat(out)


def manifold_images(
    model: LatentVariableModel,
    projection: LinearProjection,
    points: np.ndarray,
    anchor: np.ndarray | None = None,
    y: int | None = None,
) -> torch.Tensor:
    """Images (n*n, 1, 28, 28) decoded along the plane grid ``points``."""
    return decode_latents(model, lift(points, projection, anchor), y)
