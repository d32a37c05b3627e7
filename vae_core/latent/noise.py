"""Seeded corruptions for the denoising experiments: Gaussian, salt-and-pepper, occlusion.

Every function is deterministic given ``seed`` (its own ``torch.Generator``, so the global RNG
of the app is never touched) and returns values in [0, 1]. Occlusions also report which pixels
are still observed, because latent optimisation (``vae_core.latent.inpainting``) fits only those.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

NOISE_KINDS = ("gaussian", "salt-pepper", "occlusion-square", "occlusion-half")
NOISE_LABELS = {
    "gaussian": "Gaussian (std)",
    "salt-pepper": "Salt and pepper (fraction of pixels)",
    "occlusion-square": "Occlusion: square (side, fraction of the image)",
    "occlusion-half": "Occlusion: lower part (fraction of the rows)",
}
OCCLUSION_FILL = 0.5  # mid-grey: visible on both black digits and white clothes


@dataclass(frozen=True)
class Corruption:
    """A corrupted batch and its mask: ``observed`` is True where the pixel is the clean one."""

    noisy: torch.Tensor  # (B, 1, 28, 28) in [0, 1]
    observed: torch.Tensor  # (B, 1, 28, 28) bool

    @property
    def is_occlusion(self) -> bool:
        return not bool(self.observed.all())


def _generator(seed: int) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(int(seed))


def gaussian_noise(x: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """x + N(0, std^2) per pixel, clipped to [0, 1]."""
    eps = torch.randn(x.shape, generator=_generator(seed)).to(x.device, x.dtype)
    return (x + float(std) * eps).clamp(0.0, 1.0)


def salt_and_pepper(x: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    """A ``fraction`` of pixels (chosen independently) set to 0 or 1 with equal probability."""
    g = _generator(seed)
    hit = torch.rand(x.shape, generator=g) < float(fraction)
    salt = torch.rand(x.shape, generator=g) < 0.5
    out = x.clone()
    out[hit.to(x.device)] = salt[hit].to(x.device, x.dtype)
    return out


def square_mask(shape: torch.Size, side: int, seed: int = 0) -> torch.Tensor:
    """Observed-pixel mask with one ``side`` x ``side`` square hidden at a seeded position."""
    b, _, h, w = shape
    side = max(0, min(int(side), h, w))
    g = _generator(seed)
    tops = torch.randint(0, h - side + 1, (b,), generator=g)
    lefts = torch.randint(0, w - side + 1, (b,), generator=g)
    observed = torch.ones(shape, dtype=torch.bool)
    for i in range(b):
        t, left = int(tops[i]), int(lefts[i])
        observed[i, :, t : t + side, left : left + side] = False
    return observed


def lower_mask(shape: torch.Size, fraction: float) -> torch.Tensor:
    """Observed-pixel mask with the bottom ``fraction`` of the rows hidden (0.5 = lower half)."""
    h = shape[2]
    rows = round(float(fraction) * h)
    observed = torch.ones(shape, dtype=torch.bool)
    if rows > 0:
        observed[:, :, h - rows :, :] = False
    return observed


def corrupt(x: torch.Tensor, kind: str, level: float, seed: int = 0) -> Corruption:
    """Apply one of ``NOISE_KINDS`` at ``level`` in [0, 1] to images x (B, 1, 28, 28)."""
    if kind not in NOISE_KINDS:
        raise ValueError(f"noise kind must be one of {NOISE_KINDS}, got {kind!r}")
    if not 0.0 <= float(level) <= 1.0:
        raise ValueError(f"noise level must be in [0, 1], got {level}")
    all_seen = torch.ones(x.shape, dtype=torch.bool, device=x.device)
    if kind == "gaussian":
        return Corruption(gaussian_noise(x, level, seed), all_seen)
    if kind == "salt-pepper":
        return Corruption(salt_and_pepper(x, level, seed), all_seen)
    if kind == "occlusion-square":
        observed = square_mask(x.shape, round(level * x.shape[-1]), seed)
    else:
        observed = lower_mask(x.shape, level)
    observed = observed.to(x.device)
    noisy = torch.where(observed, x, torch.full_like(x, OCCLUSION_FILL))
    return Corruption(noisy, observed)
