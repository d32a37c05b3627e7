"""Posterior ellipses: the n-sigma contour of a 2-D Gaussian N(c, Σ), as a closed polyline.

For a diagonal posterior q(z|x) = N(mu, diag σ²) seen through a linear map W, the map-plane
covariance is exactly W diag(σ²) Wᵀ (see ``LinearProjection.project_cov``); the contour is
c + k·V·sqrt(Λ)·[cos t, sin t] for the eigendecomposition Σ = V Λ Vᵀ.
"""

from __future__ import annotations

import numpy as np


def ellipse_points(
    center: np.ndarray, cov: np.ndarray, n_sigma: float = 2.0, n: int = 73
) -> np.ndarray:
    """(n, 2) points on the Mahalanobis-distance ``n_sigma`` contour; first point == last."""
    cov = np.asarray(cov, np.float64)
    if cov.shape != (2, 2) or not np.isfinite(cov).all():
        raise ValueError(f"cov must be a finite 2x2 matrix, got shape {cov.shape}")
    evals, evecs = np.linalg.eigh((cov + cov.T) / 2)
    radii = n_sigma * np.sqrt(np.clip(evals, 0.0, None))
    t = np.linspace(0.0, 2 * np.pi, n)
    circle = np.stack([np.cos(t), np.sin(t)], axis=1)
    return np.asarray(center, np.float64) + (circle * radii) @ evecs.T


def axis_lengths(cov: np.ndarray, n_sigma: float = 2.0) -> tuple[float, float]:
    """The ellipse's semi-axes (major, minor): n_sigma times the root eigenvalues."""
    evals = np.linalg.eigvalsh(np.asarray(cov, np.float64))
    major, minor = n_sigma * np.sqrt(np.clip(evals[::-1], 0.0, None))
    return float(major), float(minor)
