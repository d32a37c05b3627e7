"""The latent-variable model: VAE, CVAE and deterministic AE behind one API.

q(z|x[,y]) = N(mu, diag sigma^2), p(z) = N(0, I), p(x|z[,y]) from ``vae_core.models.likelihoods``
(Kingma & Welling 2013; the CVAE of Sohn et al. 2015 keeps p(z|y) = p(z)).
All public methods take images (B,1,28,28) in [0,1] and integer labels (B,) or a single int.
"""

from __future__ import annotations

import torch
from torch import nn

from vae_core.config import ModelConfig
from vae_core.models.likelihoods import make_likelihood
from vae_core.models.networks import Encoder, build_decoder

AE_LOGVAR = -30.0  # an AE's "posterior" is a point: sigma ~ 3e-7, reported but never sampled


class LatentVariableModel(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.likelihood = make_likelihood(config)
        out_dim = 2 * config.latent_dim if config.stochastic else config.latent_dim
        self.encoder = Encoder(config, out_dim)
        self.decoder = build_decoder(config, self.likelihood.out_channels)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def onehot(self, y: torch.Tensor | int | None, batch: int) -> torch.Tensor | None:
        """One-hot labels for a CVAE (None for other kinds); an int is broadcast to the batch."""
        if not self.config.conditional:
            return None
        if y is None:
            raise ValueError("a CVAE needs class labels y")
        k = self.config.n_classes
        y = torch.as_tensor(y, device=self.device)
        if y.dim() == 0:
            y = y.expand(batch)
        if y.dtype.is_floating_point and y.dim() == 2:  # already soft/one-hot (class morphs)
            return y.to(self.device, torch.float32)
        if int(y.min()) < 0 or int(y.max()) >= k:
            raise ValueError(f"labels must be in 0..{k - 1}")
        return nn.functional.one_hot(y.long(), k).float()

    def encode(
        self, x: torch.Tensor, y: torch.Tensor | int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters (mu, logvar), each (B, D)."""
        h = self.encoder(x, self.onehot(y, x.shape[0]))
        if not self.config.stochastic:
            return h, torch.full_like(h, AE_LOGVAR)
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar

    def decoder_output(self, z: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        """Raw likelihood parameters (B, C, 28, 28) for latent codes z (B, D)."""
        c = self.onehot(y, z.shape[0])
        return self.decoder(z if c is None else torch.cat([z, c], dim=1))

    def decode(self, z: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        """Image-space mean E[x|z] in [0, 1], (B, 1, 28, 28)."""
        return self.likelihood.mean(self.decoder_output(z, y))

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I): the reparameterization trick (K&W 2013, sec. 2.4)."""
        return mu + (0.5 * logvar).exp() * torch.randn_like(mu)

    @torch.no_grad()
    def sample(
        self, n: int, y: torch.Tensor | int | None = None, temperature: float = 1.0
    ) -> torch.Tensor:
        """Decoded means of z ~ N(0, temperature^2 I), (n, 1, 28, 28)."""
        z = temperature * torch.randn(n, self.config.latent_dim, device=self.device)
        return self.decode(z, y)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        """Decode the posterior mean: the usual deterministic reconstruction."""
        mu, _ = self.encode(x, y)
        return self.decode(mu, y)

    def log_prob(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) in nats per image, (B,)."""
        return self.likelihood.log_prob(out, x)
