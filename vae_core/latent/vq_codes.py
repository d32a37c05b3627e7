"""A VQ-VAE's discrete latent space: code grids, code use, the codebook's map and prior samples.

A VQ-VAE's latent is a 7x7 grid of codebook indices. What a student can look at: which codes
the test set uses (the usage histogram and its perplexity), how the codebook vectors lie
(a 2-D PCA of the K vectors, each coloured by the class whose images use it most), and what
its prior over grids makes. Training assumes a uniform prior, under which every cell's code is
drawn independently and uniformly: such grids decode to noise-like patches. Drawing each cell
from its own code histogram over the test set is better, but cells still ignore each other;
the paper fits an autoregressive prior (PixelCNN) over the grid to get digits back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vae_core.models.vqvae import GRID, VQVAE


@torch.no_grad()
def code_grids(model: VQVAE, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """(N, 7, 7) code indices of images x (N, 1, 28, 28)."""
    out = [model.encode_codes(x[i : i + batch]) for i in range(0, len(x), batch)]
    return torch.cat(out) if out else torch.zeros(0, GRID, GRID, dtype=torch.long)


@torch.no_grad()
def decode_grids(model: VQVAE, codes: torch.Tensor) -> torch.Tensor:
    """Image means (N, 28, 28) in [0, 1] of (N, 7, 7) code grids."""
    return model.decode_codes(codes.long()).clamp(0, 1)[:, 0]


def usage_counts(codes: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """(K,) how many cells of all grids in ``codes`` chose each code (sums to 49 N)."""
    return torch.bincount(codes.reshape(-1).long(), minlength=codebook_size)


def cell_counts(codes: torch.Tensor, codebook_size: int) -> torch.Tensor:
    """(49, K) each cell's own code histogram over the grids of ``codes`` (N, 7, 7)."""
    flat = codes.reshape(len(codes), -1).long()  # (N, 49)
    cells = torch.arange(flat.shape[1]).expand_as(flat)
    counts = torch.zeros(flat.shape[1] * codebook_size, dtype=torch.long)
    counts.index_add_(
        0, (cells * codebook_size + flat).reshape(-1), torch.ones(flat.numel(), dtype=torch.long)
    )
    return counts.reshape(flat.shape[1], codebook_size)


def sample_uniform(n: int, codebook_size: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 7, 7) grids with every cell's code uniform over K: the prior the ELBO assumed."""
    return torch.randint(0, codebook_size, (n, GRID, GRID), generator=generator)


def sample_per_cell(counts: torch.Tensor, n: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 7, 7) grids with each cell's code drawn from that cell's histogram ``counts``
    (49, K), independently of the other cells; a cell only ever gets a code it was seen with."""
    probs = counts.double()
    draws = torch.multinomial(probs, n, replacement=True, generator=generator)  # (49, n)
    return draws.t().reshape(n, GRID, GRID)


@dataclass(frozen=True)
class CodebookMap:
    """The codebook's 2-D PCA and, per code, the class whose images use it most."""

    xy: torch.Tensor  # (K, 2) principal-component coordinates of the codebook vectors
    explained: tuple[float, float]  # variance fraction of each component
    top_class: torch.Tensor  # (K,) class using the code most, -1 for a code no image used
    top_share: torch.Tensor  # (K,) that class's share of the code's uses (0 when unused)
    uses: torch.Tensor  # (K,) number of cells that chose the code


def codebook_map(
    codebook: torch.Tensor, codes: torch.Tensor, labels: torch.Tensor, n_classes: int = 10
) -> CodebookMap:
    """PCA of the (K, D) codebook, and each code's dominant class among the grids ``codes``
    (N, 7, 7) of images with ``labels`` (N,)."""
    k = codebook.shape[0]
    centred = codebook.double() - codebook.double().mean(0)
    _, s, vt = torch.linalg.svd(centred, full_matrices=False)
    xy = (centred @ vt[:2].t()).float()
    if xy.shape[1] < 2:  # a 1-D codebook: the second coordinate is 0
        xy = torch.cat([xy, torch.zeros(k, 2 - xy.shape[1])], 1)
    var = s.pow(2)
    share = (var / var.sum().clamp_min(1e-12)).tolist() + [0.0, 0.0]
    flat = codes.reshape(len(codes), -1).long()
    lab = labels.long()[:, None].expand_as(flat)
    table = torch.zeros(k * n_classes, dtype=torch.long)
    table.index_add_(
        0, (flat * n_classes + lab).reshape(-1), torch.ones(flat.numel(), dtype=torch.long)
    )
    table = table.reshape(k, n_classes)
    uses = table.sum(1)
    best = table.max(1)
    top = torch.where(uses > 0, best.indices, torch.full_like(uses, -1))
    top_share = torch.where(uses > 0, best.values.double() / uses.clamp_min(1), 0.0).float()
    return CodebookMap(xy, (float(share[0]), float(share[1])), top, top_share, uses)
