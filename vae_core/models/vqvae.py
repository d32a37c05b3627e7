"""VQ-VAE (van den Oord et al. 2017, "Neural Discrete Representation Learning").

A conv encoder maps a 28x28 image to a 7x7 grid of D-vectors z_e; each is replaced by its nearest
codebook vector e_k (z_q). Gradients skip the non-differentiable argmin with the straight-through
estimator z_e + (z_q - z_e).detach(). The codebook learns either from the codebook loss
||sg[z_e] - e||^2 or, with ``ema``, from exponential moving averages of the assigned vectors and
counts with Laplace smoothing (the paper's appendix; sonnet's ``VectorQuantizerEMA``). The
decoder reuses the project's likelihood objects, so its reconstruction log-likelihood is in the
same nats per image as every other model's.

With a uniform prior over the 49 codes, q(k|x) is a point mass and KL(q || p) = 49 log K, a
constant: ELBO = log p(x|z_q) - 49 log K, a lower bound on log p(x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from vae_core.config import ModelConfig, VQConfig
from vae_core.models.likelihoods import N_LEVELS, make_likelihood

GRID = 7  # 28 -> 14 -> 7
N_CELLS = GRID * GRID


@dataclass
class VQTerms:
    """Batch-mean objective parts (tensors, so training backprops through ``loss``)."""

    loss: torch.Tensor  # -recon + codebook loss + commitment * commitment loss
    elbo: torch.Tensor  # recon - 49 log K under the uniform prior
    recon: torch.Tensor  # log p(x|z_q), nats per image
    kl: torch.Tensor  # 49 log K, the constant KL to the uniform prior
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor
    codes: torch.Tensor  # (B, 7, 7) code indices


def uniform_prior_kl(codebook_size: int) -> float:
    """KL(point mass || uniform over K codes) summed over the 7x7 cells: 49 log K nats."""
    return N_CELLS * math.log(codebook_size)


def perplexity(codes: torch.Tensor, codebook_size: int) -> float:
    """exp of the entropy of the code-usage histogram over all cells of ``codes``: the number of
    equally used codes that would give the same entropy (K when use is uniform, 1 when one code)."""
    counts = torch.bincount(codes.reshape(-1).long(), minlength=codebook_size).double()
    p = counts / counts.sum()
    nz = p[p > 0]
    return float(torch.exp(-(nz * nz.log()).sum()))


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantization of (B, D, H, W) against a (K, D) codebook."""

    def __init__(self, config: VQConfig) -> None:
        super().__init__()
        self.config = config
        k, d = config.codebook_size, config.code_dim
        self.codebook = nn.Parameter(torch.empty(k, d), requires_grad=not config.ema)
        # EMA statistics: smoothed assignment counts and sums of assigned vectors.
        self.register_buffer("ema_count", torch.zeros(k))
        self.register_buffer("ema_sum", torch.zeros(k, d))

    def reset_parameters(self, generator: torch.Generator | None) -> None:
        k = self.config.codebook_size
        with torch.no_grad():
            self.codebook.uniform_(-1 / k, 1 / k, generator=generator)
            self.ema_sum.copy_(self.codebook)
            self.ema_count.fill_(1.0)

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        """Index of the nearest codebook vector (squared Euclidean) for each row of (N, D)."""
        e = self.codebook
        d2 = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ e.t() + e.pow(2).sum(1)[None]
        return d2.argmin(1)

    def forward(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z_q with straight-through gradients, indices (B, H, W), codebook loss, commitment
        loss); the losses are per-cell squared distances summed over D, averaged over cells."""
        b, d, h, w = z_e.shape
        flat = z_e.permute(0, 2, 3, 1).reshape(-1, d)
        idx = self.nearest(flat.detach())
        q = self.codebook[idx]
        commit = (flat - q.detach()).pow(2).sum(1).mean()
        book = (flat.detach() - q).pow(2).sum(1).mean() if not self.config.ema else commit * 0
        q_st = flat + (q - flat).detach()
        z_q = q_st.reshape(b, h, w, d).permute(0, 3, 1, 2)
        return z_q, idx.reshape(b, h, w), book, commit

    @torch.no_grad()
    def ema_update(self, flat: torch.Tensor, idx: torch.Tensor) -> None:
        """One EMA step: N_k <- g N_k + (1-g) n_k, m_k <- g m_k + (1-g) sum of assigned vectors,
        with N Laplace-smoothed so a rarely used code does not divide by ~0; e_k = m_k / N_k."""
        g, eps = self.config.ema_decay, self.config.ema_epsilon
        k = self.config.codebook_size
        onehot = nn.functional.one_hot(idx, k).to(flat.dtype)
        self.ema_count.mul_(g).add_(onehot.sum(0), alpha=1 - g)
        self.ema_sum.mul_(g).add_(onehot.t() @ flat, alpha=1 - g)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + eps) / (n + k * eps) * n
        self.codebook.copy_(self.ema_sum / smoothed[:, None])

    @torch.no_grad()
    def restart_dead(
        self, flat: torch.Tensor, idx: torch.Tensor, generator: torch.Generator | None
    ) -> int:
        """Re-initialise codes no cell of this batch chose to encoder outputs drawn (with
        ``generator``) from the batch, so the codebook does not collapse onto a few codes.
        Returns how many were restarted."""
        k = self.config.codebook_size
        used = torch.bincount(idx, minlength=k) > 0
        dead = (~used).nonzero().flatten()
        if dead.numel() == 0:
            return 0
        pick = torch.randint(
            0, flat.shape[0], (dead.numel(),), generator=generator, device="cpu"
        ).to(flat.device)
        self.codebook[dead] = flat[pick]
        self.ema_sum[dead] = flat[pick]
        self.ema_count[dead] = 1.0
        return int(dead.numel())


class VQVAE(nn.Module):
    """Encoder (B,1,28,28) -> (B,D,7,7) -> quantizer -> decoder -> likelihood parameters."""

    def __init__(self, config: VQConfig, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.config = config
        self.likelihood = make_likelihood(
            ModelConfig(likelihood=config.likelihood, gaussian_std=config.gaussian_std)
        )
        c1, c2 = config.conv_channels
        d = config.code_dim
        out = self.likelihood.out_channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 4, stride=2, padding=1),  # 14x14
            nn.ReLU(),
            nn.Conv2d(c1, c2, 4, stride=2, padding=1),  # 7x7
            nn.ReLU(),
            nn.Conv2d(c2, d, 1),
        )
        maps = 8 if out == N_LEVELS else out
        layers: list[nn.Module] = [
            nn.Conv2d(d, c2, 3, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),  # 14x14
            nn.ReLU(),
            nn.ConvTranspose2d(c1, maps, 4, stride=2, padding=1),  # 28x28
        ]
        if out == N_LEVELS:
            layers += [nn.ReLU(), nn.Conv2d(maps, N_LEVELS, 1)]
        self.decoder = nn.Sequential(*layers)
        self.quantizer = VectorQuantizer(config)
        if generator is not None:
            from vae_core.models.model import init_parameters

            init_parameters(self, generator)
        self.quantizer.reset_parameters(generator)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode_codes(self, x: torch.Tensor) -> torch.Tensor:
        """Code indices (B, 7, 7) of images x."""
        _, idx, _, _ = self.quantizer(self.encoder(x))
        return idx

    def decode_codes(self, codes: torch.Tensor) -> torch.Tensor:
        """Image means (B, 1, 28, 28) of a (B, 7, 7) grid of code indices."""
        z_q = self.quantizer.codebook[codes.long()].permute(0, 3, 1, 2)
        return self.likelihood.mean(self.decoder(z_q))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_codes(self.encode_codes(x))

    def forward(
        self, x: torch.Tensor, *, update: bool = False, generator: torch.Generator | None = None
    ) -> VQTerms:
        """Objective parts for images x; ``update`` (training) applies the EMA step and dead-code
        restarts after quantizing, drawing restart vectors from ``generator``."""
        z_e = self.encoder(x)
        z_q, idx, book, commit = self.quantizer(z_e)
        recon = self.likelihood.log_prob(self.decoder(z_q), x).mean()
        if update:
            d = self.config.code_dim
            flat = z_e.detach().permute(0, 2, 3, 1).reshape(-1, d)
            flat_idx = idx.reshape(-1)
            if self.config.ema:
                self.quantizer.ema_update(flat, flat_idx)
            if self.config.dead_code_restart:
                self.quantizer.restart_dead(flat, flat_idx, generator)
        kl = torch.tensor(uniform_prior_kl(self.config.codebook_size), device=x.device)
        return VQTerms(
            loss=-recon + book + self.config.commitment * commit,
            elbo=recon - kl,
            recon=recon,
            kl=kl,
            codebook_loss=book,
            commitment_loss=commit,
            codes=idx,
        )
