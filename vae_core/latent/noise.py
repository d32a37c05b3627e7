"""Seeded corruptions for the denoising experiments: Gaussian, salt-and-pepper, occlusion.

Every function is deterministic given ``seed`` (its own ``torch.Generator``, so the global RNG
of the app is never touched) and returns values in [0, 1]. Occlusions also report which pixels
are still observed, because latent optimisation (``vae_core.latent.inpainting``) fits only those.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vae_core.config import NO_TRAIN_NOISE

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


def _generator(seed: int | torch.Generator) -> torch.Generator:
    """A fresh CPU generator for a seed (same noise on every call), or the caller's own one
    (fresh noise on every call: the denoising objective draws a new corruption per batch)."""
    if isinstance(seed, torch.Generator):
        return seed
    return torch.Generator(device="cpu").manual_seed(int(seed))


def gaussian_noise(x: torch.Tensor, std: float, seed: int | torch.Generator = 0) -> torch.Tensor:
    """x + N(0, std^2) per pixel, clipped to [0, 1]."""
    g = _generator(seed)
    eps = torch.randn(x.shape, generator=g, device=g.device).to(x.device, x.dtype)
    return (x + float(std) * eps).clamp(0.0, 1.0)


def salt_and_pepper(
    x: torch.Tensor, fraction: float, seed: int | torch.Generator = 0
) -> torch.Tensor:
    """A ``fraction`` of pixels (chosen independently) set to 0 or 1 with equal probability."""
    g = _generator(seed)
    hit = torch.rand(x.shape, generator=g, device=g.device) < float(fraction)
    salt = torch.rand(x.shape, generator=g, device=g.device) < 0.5
    out = x.clone()
    out[hit.to(x.device)] = salt[hit].to(x.device, x.dtype)
    return out


def square_mask(shape: torch.Size, side: int, seed: int | torch.Generator = 0) -> torch.Tensor:
    """Observed-pixel mask with one ``side`` x ``side`` square hidden at a seeded position."""
    b, _, h, w = shape
    side = max(0, min(int(side), h, w))
    g = _generator(seed)
    tops = torch.randint(0, h - side + 1, (b,), generator=g, device=g.device).tolist()
    lefts = torch.randint(0, w - side + 1, (b,), generator=g, device=g.device).tolist()
    observed = torch.ones(shape, dtype=torch.bool)
    for i, (t, left) in enumerate(zip(tops, lefts, strict=True)):
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


def corrupt(
    x: torch.Tensor, kind: str, level: float, seed: int | torch.Generator = 0
) -> Corruption:
    """Apply one of ``NOISE_KINDS`` at ``level`` in [0, 1] to images x (B, 1, 28, 28).

    ``seed``: an int gives the same corruption on every call; a ``torch.Generator`` (on the
    images' device or the CPU) gives fresh noise on each call and advances it."""
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


# ---------------------------------------------------------------- training noise (denoising VAE)


@dataclass(frozen=True)
class NoiseSpec:
    """One corruption and its level, as written on the command line: ``gaussian:0.3``."""

    kind: str  # one of NOISE_KINDS
    level: float  # the same parameter as ``corrupt``'s level (std, fraction, side, rows)

    def __str__(self) -> str:
        return f"{self.kind}:{self.level:g}"

    def apply(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Fresh corrupted copies of x (the generator advances: a new corruption per call)."""
        return corrupt(x, self.kind, self.level, generator).noisy


def parse_noise_spec(text: str | None) -> NoiseSpec | None:
    """``"gaussian:0.3"`` -> NoiseSpec; ``"none"`` / ``""`` / None -> None (no training noise).

    The kinds and levels are ``corrupt``'s own (``salt_pepper`` is accepted for ``salt-pepper``),
    so the training noise is exactly the noise the Denoise page applies. Raises ValueError with
    a sentence a student can act on.
    """
    raw = "" if text is None else str(text).strip()
    if raw.lower() in ("", NO_TRAIN_NOISE):
        return None
    example = "e.g. gaussian:0.3, salt-pepper:0.2, occlusion-square:0.4 or none"
    kind, sep, level_text = raw.partition(":")
    kind = kind.strip().lower().replace("_", "-")
    if not sep or kind not in NOISE_KINDS:
        raise ValueError(
            f"training noise {raw!r} is not KIND:LEVEL with KIND one of {', '.join(NOISE_KINDS)} "
            f"({example})"
        )
    try:
        level = float(level_text)
    except ValueError:
        level = float("nan")
    if not 0.0 < level <= 1.0:  # also rejects nan; level 0 is no noise: say none
        raise ValueError(
            f"training noise {raw!r}: the level must be a number in (0, 1] "
            f"({NOISE_LABELS[kind]}), {example}"
        )
    return NoiseSpec(kind, level)
