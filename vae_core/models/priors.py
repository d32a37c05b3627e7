"""The prior p(z) a model owns, and the one KL rule every objective uses.

The model holds its prior as an object, so that pages (slider ranges, manifold grids, prior
draws), the ELBO and the IWAE estimators ask it rather than assuming N(0, I). Besides the
standard normal there are two learned priors that fill the "holes" the aggregate posterior
leaves in N(0, I) (Tomczak & Welling 2018): a mixture of Gaussians and the VampPrior. The
standard normal has no parameters or buffers, so a model's ``state_dict`` (and so the
checkpoint format) is the same with it as without it; a learned prior's parameters are saved
under ``prior.``.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable

import torch
from torch import nn

from vae_core.config import IMAGE_SIZE, N_PIXELS

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

    def log_prob_per_dim(self, z: torch.Tensor) -> torch.Tensor:
        """log N(z_d; 0, 1) per dim, (..., D): these do sum to ``log_prob``."""
        return -0.5 * (LOG_2PI + z.pow(2))

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

    def components(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """N(0, I) as a one-component mixture, (log w (1,), mu (1, D), logvar (1, D)): code that
        projects or draws a prior's density (the Diagnostics plane) treats every prior alike."""
        zeros = torch.zeros(1, self.latent_dim)
        return torch.zeros(1), zeros, zeros.clone()


class GaussianMixturePrior(nn.Module, abc.ABC):
    """p(z) = sum_k w_k N(z; mu_k, diag sigma_k^2), the shape both learned priors share.

    Subclasses say how the components are made (``components``); density, sampling and the
    moment-matched centre and spread follow from them. The KL against such a prior has no
    closed form, so the ELBO uses the Monte Carlo term log q(z|x) - log p(z).
    """

    closed_form_kl = False

    def __init__(self, latent_dim: int, n_components: int) -> None:
        super().__init__()
        if n_components < 1:
            raise ValueError(f"need at least one component, got {n_components}")
        self.latent_dim = int(latent_dim)
        self.n_components = int(n_components)

    @abc.abstractmethod
    def components(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(log w (K,), mu (K, D), logvar (K, D)) of the mixture, differentiable."""

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) by logsumexp over components: (..., D) -> (...)."""
        log_w, mu, logvar = (t.to(z.dtype) for t in self.components())
        per_comp = diag_gaussian_log_prob(z.unsqueeze(-2), mu, logvar)  # (..., K)
        return torch.logsumexp(per_comp + log_w, -1)

    def log_prob_per_dim(self, z: torch.Tensor) -> torch.Tensor:
        """log p_d(z_d), the prior's 1-D marginal in each dim: (..., D) -> (..., D).

        The mixture does not factorise, so these do not sum to ``log_prob``; they give a per-dim
        KL to the marginal, which says which dims the model uses.
        """
        log_w, mu, logvar = (t.to(z.dtype) for t in self.components())
        per = -0.5 * (LOG_2PI + logvar + (z.unsqueeze(-2) - mu).pow(2) / logvar.exp())
        return torch.logsumexp(per + log_w[:, None], -2)

    def sample(
        self,
        n: int,
        generator: torch.Generator | None = None,
        *,
        temperature: float = 1.0,
        device: torch.device | str | None = None,
    ) -> torch.Tensor:
        """n codes (n, D): a component by its weight, then a draw from it, both from
        ``generator`` (on its device unless ``device`` is given). ``temperature`` scales each
        component's spread, so T < 1 draws nearer the component centres."""
        if n < 0:
            raise ValueError(f"need n >= 0, got n={n}")
        if device is None:
            device = generator.device if generator is not None else "cpu"
        with torch.no_grad():
            log_w, mu, logvar = (t.detach().to(device) for t in self.components())
        if n == 0:
            return torch.empty(0, self.latent_dim, device=device)
        k = torch.multinomial(log_w.exp(), n, replacement=True, generator=generator)
        eps = torch.randn(n, self.latent_dim, generator=generator, device=device)
        return mu[k] + temperature * (0.5 * logvar[k]).exp() * eps

    def _moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            log_w, mu, logvar = self.components()
            w = log_w.exp()[:, None]
            mean = (w * mu).sum(0)
            var = (w * (logvar.exp() + mu.pow(2))).sum(0) - mean.pow(2)
        return mean, var.clamp_min(0).sqrt()

    def mean(self, device: torch.device | str | None = None) -> torch.Tensor:
        """E[z] of the mixture, (D,): the centre of slider ranges and manifold grids."""
        return self._moments()[0].to(device)

    def scale(self, device: torch.device | str | None = None) -> torch.Tensor:
        """Per-dim standard deviation of the mixture (law of total variance), (D,): slider
        ranges and manifold grids span mean ± a few of these."""
        return self._moments()[1].to(device)


class MixtureOfGaussiansPrior(GaussianMixturePrior):
    """A mixture of K diagonal Gaussians with learnable means, log-variances and weights."""

    def __init__(self, latent_dim: int, n_components: int) -> None:
        super().__init__(latent_dim, n_components)
        self.means = nn.Parameter(torch.empty(n_components, latent_dim))
        self.logvars = nn.Parameter(torch.zeros(n_components, latent_dim))
        self.logits = nn.Parameter(torch.zeros(n_components))
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Unit-variance components, equal weights, centres drawn from N(0, I): the mixture
        starts near the standard prior but with distinct components to pull apart."""
        with torch.no_grad():
            self.means.normal_(0.0, 1.0, generator=generator)
            self.logvars.zero_()
            self.logits.zero_()

    def components(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return torch.log_softmax(self.logits, 0), self.means, self.logvars


Encode = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]

PSEUDO_INPUT_MEAN, PSEUDO_INPUT_STD = 0.05, 0.01  # Tomczak & Welling's initialisation


class VampPrior(GaussianMixturePrior):
    """p(z) = (1/K) sum_k q(z | u_k): the encoder's own posteriors at K learned pseudo-inputs
    (Tomczak & Welling 2018, eq. 9).

    The pseudo-inputs live in pixel space, one 28x28 image each, kept in [0, 1] by a hardtanh
    of the raw parameters as in the authors' code. ``encode`` is the model's encoder (images
    -> (mu, logvar)); it is held as a callable, not a submodule, so the encoder's weights are
    saved once, under the model, and the prior's tensors are only the pseudo-inputs.
    """

    def __init__(self, n_components: int, encode: Encode, latent_dim: int) -> None:
        super().__init__(latent_dim, n_components)
        self.pseudo_inputs = nn.Parameter(torch.empty(n_components, N_PIXELS))
        self._encode = encode
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """N(0.05, 0.01) per pixel: nearly blank images, so every component starts near the
        posterior of an empty page and training moves them apart."""
        with torch.no_grad():
            self.pseudo_inputs.normal_(PSEUDO_INPUT_MEAN, PSEUDO_INPUT_STD, generator=generator)

    def images(self) -> torch.Tensor:
        """The pseudo-inputs as images (K, 1, 28, 28) in [0, 1]."""
        u = nn.functional.hardtanh(self.pseudo_inputs, 0.0, 1.0)
        return u.view(-1, 1, IMAGE_SIZE, IMAGE_SIZE)

    def components(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self._encode(self.images())
        log_w = torch.full((self.n_components,), -math.log(self.n_components), device=mu.device)
        return log_w, mu, logvar


def kl_divergence(
    prior: nn.Module, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """KL(q(z|x) || p(z)) per image (B,), and its share per latent dim (B, D).

    Closed form where the prior allows it (lower variance than sampling); otherwise the one-sample
    Monte Carlo estimate log q(z|x) - log p(z) at the code ``z`` drawn from q. A mixture prior
    does not factorise over dims, so there the per-dim share is the same one-sample estimate
    against the prior's 1-D marginals, log q(z_d|x) - log p_d(z_d): it need not sum to the KL,
    but it shows which dims carry information (it is only reported, never trained on).
    """
    if getattr(prior, "closed_form_kl", False):
        per_dim = prior.kl_per_dim(mu, logvar)
        return per_dim.sum(-1), per_dim
    kl = diag_gaussian_log_prob(z, mu, logvar) - prior.log_prob(z)
    with torch.no_grad():
        log_q = -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) / logvar.exp())
        per_dim = log_q - prior.log_prob_per_dim(z)
    return kl, per_dim
