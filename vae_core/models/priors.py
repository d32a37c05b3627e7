"""The prior p(z) a model owns, and the one KL rule every objective uses.

The model holds its prior as an object, so that pages (slider ranges, manifold grids, prior
draws), the ELBO and the IWAE estimators ask it rather than assuming N(0, I): a learned prior
(a mixture of Gaussians, a VampPrior) then slots in by implementing this interface. The
standard normal has no parameters or buffers, so a model's ``state_dict`` (and so the
checkpoint format) is the same with it as without it.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_2PI = math.log(2 * math.pi)


def diag_gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z | mu, diag exp(logvar)) summed over the last dim."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp()).sum(-1)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, 1)) per dimension, (B, D) (K&W 2013, appendix B)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


class StandardNormalPrior(nn.Module):
    """p(z) = N(0, I) in ``latent_dim`` dimensions (Kingma & Welling 2013)."""

    closed_form_kl = True  # KL(q || p) is analytic and factorises over latent dims

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = int(latent_dim)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) summed over the last dim: (..., D) -> (...)."""
        return -0.5 * (LOG_2PI * z.shape[-1] + z.pow(2).sum(-1))

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        *,
        temperature: float = 1.0,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """n codes (n, D) drawn from ``generator`` (on its device unless ``device`` is given);
        ``temperature`` scales the spread (T = 1 is the prior itself)."""
        if n < 0:
            raise ValueError(f"need n >= 0, got n={n}")
        if device is None:
            device = generator.device if generator is not None else "cpu"
        eps = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return self.mean(eps.device) + temperature * self.scale(eps.device) * eps

    def mean(self, device: torch.device | str | None = None) -> torch.Tensor:
        """E[z], (D,): the centre of slider ranges and manifold grids."""
        return torch.zeros(self.latent_dim, device=device)

    def scale(self, device: torch.device | str | None = None) -> torch.Tensor:
        """Per-dim standard deviation, (D,): slider ranges and manifold grids span mean ± a few
        of these."""
        return torch.ones(self.latent_dim, device=device)

    def kl_per_dim(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """Analytic KL(N(mu, diag sigma^2) || p) per latent dim, (B, D)."""
        return gaussian_kl(mu, logvar)


def kl_divergence(
    prior: nn.Module, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """KL(q(z|x) || p(z)) per image (B,), and its share per latent dim (B, D).

    Closed form where the prior allows it (lower variance than sampling); otherwise the one-sample
    Monte Carlo estimate log q(z|x) - log p(z) at the code ``z`` drawn from q, whose split over
    dims is undefined (NaN), since such a prior need not factorise.
    """
    if getattr(prior, "closed_form_kl", False):
        per_dim = prior.kl_per_dim(mu, logvar)
        return per_dim.sum(-1), per_dim
    kl = diag_gaussian_log_prob(z, mu, logvar) - prior.log_prob(z)
    return kl, torch.full_like(mu, float("nan"))
