"""Decoder likelihoods p(x|z): how raw decoder outputs become log-probabilities and images.

Each likelihood knows three things about the decoder's raw output ``out``:
``out_channels`` (how many maps the decoder emits per pixel), ``log_prob(out, x)`` in nats per
image (summed over pixels), and ``mean(out)``, the image-space mean E[x|z] in [0, 1] that the app
shows. Shapes: ``out`` is (B, C, 28, 28), ``x`` is (B, 1, 28, 28) with values in [0, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vae_core.config import ModelConfig

LOGVAR_MIN, LOGVAR_MAX = -9.0, 2.0  # keeps a learned Gaussian variance from collapsing to 0
N_LEVELS = 256


class Likelihood:
    """Base class; subclasses are stateless apart from fixed hyper-parameters."""

    name = "base"
    out_channels = 1

    def log_prob(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # (B,)
        raise NotImplementedError

    def mean(self, out: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28)
        raise NotImplementedError

    def sample(self, out: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One image drawn from p(x|z) given the decoder output, from ``generator``."""
        raise NotImplementedError


class Bernoulli(Likelihood):
    """Bernoulli pixels with logits (Kingma & Welling 2013, appendix C.1).

    log p(x|z) = sum_d x_d * l_d - softplus(l_d), which is -BCE-with-logits; valid for binary x
    and, as in the pytorch/examples recipe, used as a cross-entropy on grey x too.
    """

    name = "bernoulli"

    def log_prob(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        bce = F.binary_cross_entropy_with_logits(out, x, reduction="none")
        return -bce.flatten(1).sum(1)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out)

    def sample(self, out: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.bernoulli(torch.sigmoid(out), generator=generator)


class Gaussian(Likelihood):
    """Gaussian pixels N(x | mu(z), sigma^2) (Kingma & Welling 2013, appendix C.2).

    mu = sigmoid(first channel) keeps the mean in the pixel range. sigma is either fixed
    (``gaussian_std``; the VAE tutorial shows the loss is then a scaled squared error) or learned
    per pixel from a second channel holding log sigma^2.
    """

    name = "gaussian"

    def __init__(self, std: float, learn_variance: bool) -> None:
        self.std = std
        self.learn_variance = learn_variance
        self.out_channels = 2 if learn_variance else 1

    def _logvar(self, out: torch.Tensor) -> torch.Tensor:
        if self.learn_variance:
            return out[:, 1:2].clamp(LOGVAR_MIN, LOGVAR_MAX)
        return torch.full_like(out[:, :1], 2.0 * math.log(self.std))

    def log_prob(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        mu = torch.sigmoid(out[:, :1])
        logvar = self._logvar(out)
        lp = -0.5 * (math.log(2 * math.pi) + logvar + (x - mu) ** 2 / logvar.exp())
        return lp.flatten(1).sum(1)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(out[:, :1])

    def sample(self, out: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        std = (0.5 * self._logvar(out)).exp()
        eps = torch.randn(std.shape, generator=generator, device=std.device, dtype=std.dtype)
        return (self.mean(out) + std * eps).clamp(0, 1)


def cb_log_norm(logits: torch.Tensor) -> torch.Tensor:
    """log C(eta) of the continuous Bernoulli with natural parameter eta = logit(lambda):
    C = eta / tanh(eta / 2), even in eta, 2 at eta = 0 (Loaiza-Ganem & Cunningham 2019, eq. 7)."""
    a = logits.abs()
    small = a < 1e-3  # the closed form is 0/0 at eta = 0; its Taylor series log 2 + eta^2 / 12
    safe = torch.where(small, torch.ones_like(a), a)
    exact = torch.log(safe) - torch.log(torch.tanh(safe / 2))
    return torch.where(small, math.log(2.0) + logits.pow(2) / 12, exact)


def cb_mean(logits: torch.Tensor) -> torch.Tensor:
    """E[x] of the continuous Bernoulli: 1 / (1 - e^-eta) - 1 / eta (1/2 + eta/12 near 0)."""
    small = logits.abs() < 1e-3
    safe = torch.where(small, torch.ones_like(logits), logits)
    exact = 1.0 / (-torch.expm1(-safe)) - 1.0 / safe
    return torch.where(small, 0.5 + logits / 12, exact)


class ContinuousBernoulli(Likelihood):
    """The continuous Bernoulli on grey pixels (Loaiza-Ganem & Cunningham 2019).

    The Bernoulli "likelihood" of grey pixels, x log lambda + (1 - x) log (1 - lambda), is no
    density on [0, 1]; multiplying by the normalising constant C(lambda) makes it one:
    p(x | lambda) = C(lambda) lambda^x (1 - lambda)^(1-x). Its mean is not lambda (it is pulled
    toward 1/2), so the image shown is ``cb_mean``, not sigmoid(logits). Written here in the
    natural parameter eta = logit(lambda) instead of ``torch.distributions.ContinuousBernoulli``,
    which clamps lambda to float32's eps and so caps |eta| at about 16: background pixels want
    far larger |eta|, and the 8-bit probabilities (``vae_core.evaluation.discrete``) need the
    same parameter as the density.
    """

    name = "continuous-bernoulli"

    def log_prob(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        lp = x * out - F.softplus(out) + cb_log_norm(out)
        return lp.flatten(1).sum(1)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        return cb_mean(out)

    def sample(self, out: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Inverse-CDF draw: F(x) = (e^(eta x) - 1) / (e^eta - 1), solved for x in the form
        that neither overflows for large eta nor divides by zero near eta = 0."""
        u = torch.rand(out.shape, generator=generator, device=out.device, dtype=out.dtype)
        eta = out
        small = eta.abs() < 1e-3
        safe = torch.where(small, torch.ones_like(eta), eta)
        neg = torch.log1p(u * torch.expm1(-safe.abs())) / -safe.abs()  # the draw for -|eta|
        x = torch.where(safe < 0, neg, 1 - torch.log1p((1 - u) * torch.expm1(-safe)) / -safe)
        return torch.where(small, u, x).clamp(0, 1)


class Categorical(Likelihood):
    """A 256-way categorical over grey levels per pixel (Tomczak, Deep Generative Modeling, ch. 4).

    x in [0, 1] is mapped to the level round(255 x); the image mean is E[level] / 255.
    """

    name = "categorical"
    out_channels = N_LEVELS

    @staticmethod
    def levels(x: torch.Tensor) -> torch.Tensor:
        return (x * (N_LEVELS - 1)).round().long().clamp(0, N_LEVELS - 1)

    def log_prob(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        nll = F.cross_entropy(out, self.levels(x)[:, 0], reduction="none")  # (B, 28, 28)
        return -nll.flatten(1).sum(1)

    def mean(self, out: torch.Tensor) -> torch.Tensor:
        grid = torch.arange(N_LEVELS, device=out.device, dtype=out.dtype) / (N_LEVELS - 1)
        return (out.softmax(1) * grid.view(1, -1, 1, 1)).sum(1, keepdim=True)

    def sample(self, out: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        probs = out.softmax(1).permute(0, 2, 3, 1).reshape(-1, N_LEVELS)
        idx = torch.multinomial(probs, 1, generator=generator).view(out.shape[0], 1, *out.shape[2:])
        return idx.to(out.dtype) / (N_LEVELS - 1)


def make_likelihood(config: ModelConfig) -> Likelihood:
    if config.likelihood == "bernoulli":
        return Bernoulli()
    if config.likelihood == "gaussian":
        return Gaussian(config.gaussian_std, config.learn_variance)
    if config.likelihood == "continuous-bernoulli":
        return ContinuousBernoulli()
    return Categorical()
