"""Objectives and likelihood estimates, in nats per image.

ELBO (Kingma & Welling 2013, eq. 10):  E_q[log p(x|z)] - KL(q(z|x) || p(z)), one z sample.
IWAE bound (Burda et al. 2015, eq. 8): log (1/K) sum_k p(x, z_k) / q(z_k|x), z_k ~ q(z|x);
it is >= the ELBO in expectation and tends to log p(x) as K grows.
"""

from __future__ import annotations

import math

import torch

from vae_core.models.model import ElboTerms, LatentVariableModel
from vae_core.models.priors import LOG_2PI, diag_gaussian_log_prob, gaussian_kl

__all__ = [
    "LOG_2PI",
    "ElboTerms",
    "active_units",
    "diag_gaussian_log_prob",
    "elbo_terms",
    "gaussian_kl",
    "iwae_log_likelihood",
]


def elbo_terms(
    model: LatentVariableModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    beta: float | None = None,
    sample: bool = True,
    target: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> ElboTerms:
    """The ELBO parts of ``model``'s forward (``LatentVariableModel.forward``, K&W 2013 eq. 10),
    its one implementation; the noise comes from ``generator``. With ``target`` the encoder
    sees x and the reconstruction is scored against ``target`` (the denoising criterion)."""
    return model(x, y, beta=beta, sample=sample, target=target, generator=generator)


@torch.no_grad()
def iwae_log_likelihood(
    model: LatentVariableModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    k: int = 100,
    max_elements: int = 2_000_000,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Importance-weighted estimate of log p(x) per image (B,), Burda et al. 2015.

    log p(x) ~ logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K. Vectorised over
    images and samples, with the K samples processed in chunks so that about ``max_elements``
    decoder outputs are alive at once (K = 5000 fits in memory). The noise comes from
    ``generator`` (on the model's device).
    """
    mu, logvar = model.encode(x, y)  # (B, D)
    b, d = mu.shape
    per_sample = model.likelihood.out_channels * x[0].numel()
    chunk = max(1, min(k, max_elements // max(1, b * per_sample)))
    # All noise is drawn up front (K*B*D floats is small) so chunking never changes the result.
    eps_all = torch.randn(k, b, d, generator=generator, device=mu.device, dtype=mu.dtype)
    log_w_chunks = []
    for start in range(0, k, chunk):
        kk = min(chunk, k - start)
        z = mu + (0.5 * logvar).exp() * eps_all[start : start + kk]  # (kk, B, D)
        log_q = diag_gaussian_log_prob(z, mu, logvar)  # (kk, B)
        log_pz = model.prior.log_prob(z)
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
