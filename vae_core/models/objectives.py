"""Objectives and likelihood estimates, in nats per image.

ELBO (Kingma & Welling 2013, eq. 10):  E_q[log p(x|z)] - KL(q(z|x) || p(z)), one z sample.
IWAE bound (Burda et al. 2015, eq. 8): log (1/K) sum_k p(x, z_k) / q(z_k|x), z_k ~ q(z|x);
it is >= the ELBO in expectation and tends to log p(x) as K grows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vae_core.models.model import LatentVariableModel

LOG_2PI = math.log(2 * math.pi)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) per dimension, (B, D) (K&W 2013, appendix B)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def diag_gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z | mu, diag exp(logvar)) summed over the last dim."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


@dataclass
class ElboTerms:
    """Batch-mean ELBO parts (tensors, so training can backprop through ``loss``)."""

    loss: torch.Tensor  # -(recon - beta * kl), the minimised objective
    elbo: torch.Tensor  # recon - kl (beta = 1), a lower bound on log p(x)
    recon: torch.Tensor  # E_q log p(x|z)
    kl: torch.Tensor  # KL(q(z|x) || p(z)), summed over latent dims
    kl_per_dim: torch.Tensor  # (D,)


def elbo_terms(
    model: LatentVariableModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    beta: float | None = None,
    sample: bool = True,
    target: torch.Tensor | None = None,
) -> ElboTerms:
    """One-sample SGVB estimate of the ELBO parts (K&W 2013, estimator B, eq. 10).

    x is the encoder input (B,1,28,28) and, unless ``target`` is given, also the target. The
    denoising criterion (Im et al. 2017) encodes a corrupted x and scores the clean ``target``.
    For an AE the code is deterministic, KL is 0 and ``elbo`` is just the reconstruction
    log-likelihood (not a bound).
    """
    beta = model.config.beta if beta is None else beta
    mu, logvar = model.encode(x, y)
    if model.config.stochastic:
        z = model.reparameterize(mu, logvar) if sample else mu
        kl_dims = gaussian_kl(mu, logvar)  # (B, D)
    else:
        z = mu
        kl_dims = torch.zeros_like(mu)
    recon = model.log_prob(model.decoder_output(z, y), x if target is None else target).mean()
    kl_per_dim = kl_dims.mean(0)
    kl = kl_per_dim.sum()
    return ElboTerms(
        loss=-(recon - beta * kl),
        elbo=recon - kl,
        recon=recon,
        kl=kl,
        kl_per_dim=kl_per_dim,
    )


@torch.no_grad()
def iwae_log_likelihood(
    model: LatentVariableModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    k: int = 100,
    max_elements: int = 2_000_000,
) -> torch.Tensor:
    """Importance-weighted estimate of log p(x) per image (B,), Burda et al. 2015.

    log p(x) ~ logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K. Vectorised over
    images and samples, with the K samples processed in chunks so that about ``max_elements``
    decoder outputs are alive at once (K = 5000 fits in memory).
    """
    mu, logvar = model.encode(x, y)  # (B, D)
    b, d = mu.shape
    per_sample = model.likelihood.out_channels * x[0].numel()
    chunk = max(1, min(k, max_elements // max(1, b * per_sample)))
    # All noise is drawn up front (K*B*D floats is small) so chunking never changes the result.
    eps_all = torch.randn(k, b, d, device=mu.device, dtype=mu.dtype)
    log_w_chunks = []
    for start in range(0, k, chunk):
        kk = min(chunk, k - start)
        z = mu + (0.5 * logvar).exp() * eps_all[start : start + kk]  # (kk, B, D)
        log_q = diag_gaussian_log_prob(z, mu, logvar)  # (kk, B)
        log_pz = -0.5 * (LOG_2PI + z.pow(2)).sum(-1)
        yk = None if y is None else torch.as_tensor(y, device=mu.device).expand(kk, b).reshape(-1)
        out = model.decoder_output(z.reshape(kk * b, d), yk)
        log_px = model.log_prob(out, x.expand(kk, *x.shape).reshape(kk * b, *x.shape[1:]))
        log_w_chunks.append(log_px.view(kk, b) + log_pz - log_q)
    log_w = torch.cat(log_w_chunks, 0)  # (K, B)
    return torch.logsumexp(log_w, 0) - math.log(k)


ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2015: a dim is active if Cov_x(E_q[z_j]) > 0.01


@torch.no_grad()
def active_units(
    mu: torch.Tensor, threshold: float = ACTIVE_UNIT_THRESHOLD
) -> tuple[int, torch.Tensor]:
    """Count dims with Cov_x(E_q[z_j]) > threshold (Burda et al. 2015, sec. 5.2).

    ``mu`` holds posterior means over a dataset (N, D); returns (count, variance per dim).
    """
    var = mu.float().var(0, unbiased=True)
    return int((var > threshold).sum()), var
