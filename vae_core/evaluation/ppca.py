"""Probabilistic PCA in closed form (Tipping & Bishop 1999), the latent model solved exactly.

x = W z + mu + eps, z ~ N(0, I_M), eps ~ N(0, sigma^2 I_D). The maximum-likelihood solution is
W = U_M (L_M - sigma^2 I)^{1/2} (rotation R = I) with sigma^2 the mean of the discarded
eigenvalues of the data covariance (T&B eqs. 7-8). The marginal is p(x) = N(mu, C),
C = W W^T + sigma^2 I, and the posterior is p(z|x) = N(M^{-1} W^T (x - mu), sigma^2 M^{-1}) with
M = W^T W + sigma^2 I (T&B eq. 6). Tomczak's chapter uses it as the VAE's exactly solvable cousin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

LOG_2PI = math.log(2 * math.pi)


@dataclass
class PPCA:
    mean: torch.Tensor  # (D,)
    weight: torch.Tensor  # W, (D, M)
    sigma2: float

    @property
    def latent_dim(self) -> int:
        return self.weight.shape[1]

    def _m_inverse(self) -> torch.Tensor:
        w = self.weight
        m = w.T @ w + self.sigma2 * torch.eye(self.latent_dim, dtype=w.dtype)
        return torch.linalg.inv(m)

    def log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log N(x | mu, W W^T + sigma^2 I) per row (N,), in nats.

        Uses the matrix determinant lemma and Woodbury identity, so the cost is O(N D M)
        instead of building and factoring the D x D covariance:
        log|C| = (D - M) log sigma^2 + log|M|,  C^{-1} = (I - W M^{-1} W^T) / sigma^2.
        """
        x = x.reshape(len(x), -1).to(self.weight.dtype)
        d = x.shape[1]
        w, s2 = self.weight, self.sigma2
        m = w.T @ w + s2 * torch.eye(self.latent_dim, dtype=w.dtype)
        logdet = (d - self.latent_dim) * math.log(s2) + torch.linalg.slogdet(m)[1]
        xc = x - self.mean
        proj = xc @ w  # (N, M)
        quad = (xc.pow(2).sum(1) - (proj @ torch.linalg.inv(m) * proj).sum(1)) / s2
        return -0.5 * (d * LOG_2PI + logdet + quad)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The true posterior p(z|x) = N(mean (N, M), cov (M, M)), shared by all x."""
        x = x.reshape(len(x), -1).to(self.weight.dtype)
        m_inv = self._m_inverse()
        return (x - self.mean) @ self.weight @ m_inv.T, self.sigma2 * m_inv

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """E[x|z] = W z + mu, (N, D)."""
        return z.to(self.weight.dtype) @ self.weight.T + self.mean

    def covariance(self) -> torch.Tensor:
        d = self.weight.shape[0]
        return self.weight @ self.weight.T + self.sigma2 * torch.eye(d, dtype=self.weight.dtype)


def fit_ppca(x: torch.Tensor, latent_dim: int, min_sigma2: float = 1e-6) -> PPCA:
    """Maximum-likelihood pPCA of rows of x (N, D) via the eigendecomposition of the covariance.

    ``min_sigma2`` floors the noise variance: MNIST has pixels that are always 0, so some
    eigenvalues are exactly 0 and the ML sigma^2 would otherwise be tiny.
    """
    x = x.reshape(len(x), -1).double()
    n, d = x.shape
    if not 1 <= latent_dim < d:
        raise ValueError(f"latent_dim must be in 1..{d - 1}, got {latent_dim}")
    mean = x.mean(0)
    xc = x - mean
    cov = xc.T @ xc / n  # ML covariance (divide by N), T&B eq. 5
    evals, evecs = torch.linalg.eigh(cov)  # ascending
    evals, evecs = evals.flip(0).clamp_min(0), evecs.flip(1)
    sigma2 = max(float(evals[latent_dim:].mean()), min_sigma2)
    scale = (evals[:latent_dim] - sigma2).clamp_min(0).sqrt()
    return PPCA(mean=mean, weight=evecs[:, :latent_dim] * scale, sigma2=sigma2)
