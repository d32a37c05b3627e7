"""Discrete likelihoods of 8-bit images: -log P(x) of the 256-level pixels, for every model.

A Gaussian decoder or pPCA is a density over continuous pixels; its log-density on [0, 1] can be
positive and is not the code length of any image. MNIST pixels are 8-bit: x_j = k / 255 with k
in 0..255. Their probability under a continuous model is the mass of each pixel's bin,

    P(x_j) = Phi((x_j + 1/510 - mu) / sigma) - Phi((x_j - 1/510 - mu) / sigma),

with the first and last bins extended to -inf and +inf so the 256 masses sum to 1 (the
discretization of PixelCNN++'s discretized logistic, Salimans et al. 2017, with a Gaussian in
place of the logistic). Those figures are probabilities, so -log P(x) >= 0 and they are
comparable with the 256-way categorical decoder's and, in bits per dim, with any 8-bit model.
A continuous Bernoulli decoder (Loaiza-Ganem & Cunningham 2019) lives on [0, 1] itself: its bins
are the same +-1/510 intervals clipped to [0, 1], and its bin masses are exact integrals of its
density (``discretized_cb_log_prob``).

pPCA's density is a full-covariance Gaussian, whose bin mass is no product over pixels; but
given z its pixels are independent, so P(x) = E_{p(z)} prod_j P(x_j | z) is estimated by
importance sampling with pPCA's exact posterior p(z|x) as the proposal: the same discretization
as the VAEs' (edge bins included), estimated as the VAEs' IWAE is. ``ppca_dequantization_bound``
gives Theis et al. (2016)'s closed-form lower bound for comparison; it ignores the open edge bins,
so it is loose on MNIST, whose background pixels sit in the bottom bin.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from vae_core.evaluation.ppca import PPCA
from vae_core.models.likelihoods import (
    LOGVAR_MIN,
    N_LEVELS,
    ContinuousBernoulli,
    Gaussian,
    Likelihood,
    cb_log_norm,
)
from vae_core.models.model import LatentVariableModel

BIN_WIDTH = 1.0 / (N_LEVELS - 1)  # levels k/255 are 1/255 apart; each bin is +-1/510 around one
HALF_BIN = BIN_WIDTH / 2
LOG_BIN_WIDTH = math.log(BIN_WIDTH)  # density NLL + D ln 255 ~ the discrete NLL when smooth


def check_8bit(x: torch.Tensor) -> None:
    """Refuse images that are not on the 256-level grid k/255 (e.g. binarized-then-noised ones)."""
    off = (x * (N_LEVELS - 1) - (x * (N_LEVELS - 1)).round()).abs().max()
    if x.numel() and (float(off) > 1e-3 or float(x.min()) < 0 or float(x.max()) > 1):
        raise ValueError(
            "a discrete (8-bit) likelihood needs images whose pixels are k/255, k = 0..255; "
            "these are not (rescaled, noised or resampled images have no 8-bit probability)"
        )


def _log1mexp(t: torch.Tensor) -> torch.Tensor:
    """log(1 - exp(t)) for t <= 0, accurate at both ends (Maechler 2012)."""
    return torch.where(t > -math.log(2), torch.log(-torch.expm1(t)), torch.log1p(-torch.exp(t)))


def discretized_gaussian_log_prob(
    x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    """log P(x) per pixel (broadcast shape) of N(mean, exp(logvar)) discretized to 256 bins.

    Computed in float64 in log space: log(Phi(b) - Phi(a)) = log Phi(b) + log(1 - Phi(a)/Phi(b)),
    reflected to the lower tail (Phi(b) - Phi(a) = Phi(-a) - Phi(-b)) when the bin lies above the
    mean, so neither tail loses the mass to cancellation. Where even that underflows (a bin
    hundreds of sigmas away would give -inf) the midpoint rule log(pdf * width) takes over.
    """
    x, mean, logvar = x.double(), mean.double(), logvar.double()
    inv_sigma = torch.exp(-0.5 * logvar)
    lo = torch.where(x <= HALF_BIN, -math.inf, (x - HALF_BIN - mean) * inv_sigma)
    hi = torch.where(x >= 1 - HALF_BIN, math.inf, (x + HALF_BIN - mean) * inv_sigma)
    upper = lo > 0  # bin above the mean: use the mirror image
    lo, hi = torch.where(upper, -hi, lo), torch.where(upper, -lo, hi)
    log_hi = torch.special.log_ndtr(hi)
    out = log_hi + _log1mexp(torch.clamp(torch.special.log_ndtr(lo) - log_hi, max=0.0))
    z = (x - mean) * inv_sigma
    midpoint = -0.5 * (math.log(2 * math.pi) + z**2) + math.log(BIN_WIDTH) - 0.5 * logvar
    return torch.where(torch.isfinite(out), out, midpoint)


def discretized_cb_log_prob(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log P(x) per pixel of the continuous Bernoulli with natural parameter ``logits`` (eta),
    discretized to the 256 bins [x - 1/510, x + 1/510] clipped to [0, 1].

    The density C(eta) (1 - lambda) e^(eta x) integrates in closed form over a bin [a, b]:
    log P = log C - log|eta| - softplus(eta) + max(eta a, eta b) + log(1 - e^(-|eta| (b - a))),
    and log C - log|eta| = -log tanh(|eta| / 2). Float64, every term in log space, so a bin
    where the density is e^-1000 still has a finite log-probability; near eta = 0, where the
    closed form is 0/0, the density at the bin's midpoint times its width takes over.
    """
    x, eta = x.double(), logits.double()
    lo = (x - HALF_BIN).clamp(min=0.0)
    hi = (x + HALF_BIN).clamp(max=1.0)
    width = hi - lo
    a = eta.abs()
    small = a < 1e-6
    safe = torch.where(small, torch.ones_like(a), a)
    exact = (
        -torch.log(torch.tanh(safe / 2))
        - F.softplus(eta)
        + torch.maximum(eta * lo, eta * hi)
        + torch.log(-torch.expm1(-safe * width))
    )
    mid = (lo + hi) / 2
    midpoint = mid * eta - F.softplus(eta) + cb_log_norm(eta) + torch.log(width)
    return torch.where(small, midpoint, exact)


class DiscretizedContinuousBernoulli(Likelihood):
    """A continuous Bernoulli decoder's p(x|z) read as a probability of 8-bit pixels."""

    name = "discretized-continuous-bernoulli"

    def __init__(self, base: ContinuousBernoulli) -> None:
        self.base = base

    def log_prob(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return discretized_cb_log_prob(x, out).flatten(1).sum(1).to(out.dtype)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        return self.base.mean(out)

    def sample(self, out: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return (self.base.sample(out, generator) * (N_LEVELS - 1)).round() / (N_LEVELS - 1)


class DiscretizedGaussian(Likelihood):
    """A Gaussian decoder's p(x|z) read as a probability of 8-bit pixels (the bin masses above).

    It wraps the decoder's own ``Gaussian`` (same mean, same clamped variance), so the model is
    unchanged; only what ``log_prob`` measures differs.
    """

    name = "discretized-gaussian"

    def __init__(self, base: Gaussian) -> None:
        self.base = base
        self.out_channels = base.out_channels

    def log_prob(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        # _logvar is the decoder's own clamped log-variance: reading it keeps one variance rule.
        lp = discretized_gaussian_log_prob(x, self.base.mean(out), self.base._logvar(out))
        return lp.flatten(1).sum(1).to(out.dtype)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        return self.base.mean(out)

    def sample(self, out: torch.Tensor) -> torch.Tensor:
        return (self.base.sample(out) * (N_LEVELS - 1)).round() / (N_LEVELS - 1)


def discrete_view(model: LatentVariableModel) -> LatentVariableModel:
    """The same network (shared weights) whose ``log_prob`` is the 8-bit probability.

    A shallow copy with another likelihood object, so every estimator written for the model
    (ELBO, IWAE, the per-class CVAE scores) measures 8-bit probabilities unchanged. Models that
    are already discrete (Bernoulli, categorical) are returned as they are.
    """
    lik = model.likelihood
    if isinstance(lik, Gaussian):
        discrete: Likelihood = DiscretizedGaussian(lik)
    elif isinstance(lik, ContinuousBernoulli):
        discrete = DiscretizedContinuousBernoulli(lik)
    else:
        return model
    view = copy.copy(model)  # shares the submodules; the likelihood is a plain attribute
    view.likelihood = discrete
    return view


@torch.no_grad()
def ppca_discrete_log_likelihood(
    model: PPCA,
    x: torch.Tensor,
    k: int = 100,
    generator: torch.Generator | None = None,
    batch_size: int = 20,
) -> torch.Tensor:
    """Importance-sampled log P(x) (N,) of 8-bit images under pPCA discretized like the VAEs.

    log P(x) ~ logsumexp_k [log p(z_k) + sum_j log P(x_j | z_k) - log q(z_k)] - log K with
    z_k ~ q = the exact continuous posterior p(z|x). Like the IWAE it is a stochastic lower
    bound on log P(x) that tightens as K grows (Burda et al. 2015).
    """
    check_8bit(x)
    x = x.reshape(len(x), -1).double()
    m = model.latent_dim
    post_mean, post_cov = model.posterior(x)
    chol = torch.linalg.cholesky(post_cov)
    cov_logdet = 2 * torch.log(torch.diagonal(chol)).sum()
    logvar = torch.tensor(math.log(model.sigma2), dtype=torch.float64)
    out = []
    for s in range(0, len(x), batch_size):
        xb, mb = x[s : s + batch_size], post_mean[s : s + batch_size]
        eps = torch.randn(len(xb), k, m, generator=generator, dtype=torch.float64)
        z = mb[:, None] + eps @ chol.T  # (B, K, M)
        log_q = -0.5 * (m * math.log(2 * math.pi) + cov_logdet + eps.pow(2).sum(-1))
        log_pz = -0.5 * (m * math.log(2 * math.pi) + z.pow(2).sum(-1))
        means = model.decode(z.reshape(-1, m)).view(len(xb), k, -1)
        log_px = discretized_gaussian_log_prob(xb[:, None], means, logvar).sum(-1)
        out.append(torch.logsumexp(log_px + log_pz - log_q, 1) - math.log(k))
    return torch.cat(out)


def ppca_dequantization_bound(model: PPCA, x: torch.Tensor) -> torch.Tensor:
    """Theis et al. (2016)'s lower bound on log P(x) (N,), in closed form for a Gaussian.

    log P(x) >= D ln w + E_u log p(x + u), u uniform in the bin of width w = 1/255 (Jensen).
    For N(mu, C), E_u log p(x + u) = log p(x) - tr(C^-1) w^2 / 24, tr(C^-1) by Woodbury. It
    keeps every bin finite, so it is a bound for the open edge bins too, but a loose one there.
    """
    check_8bit(x)
    w, s2 = model.weight, model.sigma2
    d = w.shape[0]
    m_mat = w.T @ w + s2 * torch.eye(model.latent_dim, dtype=w.dtype)
    trace_c_inv = (d - torch.trace(torch.linalg.solve(m_mat, w.T @ w))) / s2
    return model.log_likelihood(x) + d * LOG_BIN_WIDTH - trace_c_inv * BIN_WIDTH**2 / 24


def fit_pixel_gaussians(
    x: torch.Tensor, min_logvar: float = LOGVAR_MIN
) -> tuple[torch.Tensor, torch.Tensor]:
    """The latent-free baseline: independent N(mean_j, var_j) per pixel, fitted by ML (D,) each.

    ``min_logvar`` is the Gaussian decoder's own variance floor, so the baseline gets exactly
    the advantage the VAE's clamp gives it on pixels that never change (MNIST's border).
    """
    x = x.reshape(len(x), -1).double()
    return x.mean(0), torch.log(x.var(0, unbiased=False)).clamp_min(min_logvar)


def pixel_gaussians_log_likelihood(
    x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor, *, discrete: bool = True
) -> torch.Tensor:
    """log P(x) (N,) of 8-bit images under the per-pixel baseline, exact (a product over
    pixels); ``discrete=False`` gives its density on [0, 1] instead."""
    x = x.reshape(len(x), -1).double()
    if discrete:
        check_8bit(x)
        return discretized_gaussian_log_prob(x, mean, logvar).sum(1)
    return (-0.5 * (math.log(2 * math.pi) + logvar + (x - mean) ** 2 / logvar.exp())).sum(1)


@torch.no_grad()
def variance_floor_fraction(
    model: LatentVariableModel, x: torch.Tensor, y: torch.Tensor | None = None
) -> float | None:
    """Share of a learned-variance Gaussian decoder's pixel log-variances that sit at the clamp
    ``LOGVAR_MIN``, decoded at each image's posterior mean; None for any other decoder.

    It explains the density figure: a pixel at the floor (sigma = e^-4.5 = 0.011) whose mean is
    right earns -log(sigma sqrt(2 pi)) = +3.6 nats of density, a reward 8-bit probabilities cap
    at log 1 = 0, so a density NLL far below pPCA's can be mostly the floor, not the latent.
    """
    lik = model.likelihood
    if not (isinstance(lik, Gaussian) and lik.learn_variance) or len(x) == 0:
        return None
    was_training = model.training
    model.eval()
    at_floor, total = 0, 0
    for s in range(0, len(x), 500):
        xb = x[s : s + 500].to(model.device)
        yb = None if y is None or not model.config.conditional else y[s : s + 500].to(model.device)
        mu, _ = model.encode(xb, yb)
        logvar = lik._logvar(model.decoder_output(mu, yb))
        at_floor += int((logvar <= LOGVAR_MIN + 1e-6).sum())
        total += logvar.numel()
    model.train(was_training)
    return at_floor / total
