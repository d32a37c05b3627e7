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
    return Categorical()
