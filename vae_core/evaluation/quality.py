"""Image quality against the clean image: PSNR and SSIM (scikit-image), per image and batched.

Both use ``data_range=1`` because all images here are floats in [0, 1]. SSIM follows Wang et al.
(2004): Gaussian window with sigma 1.5 and population covariances. PSNR of identical images is
infinite; averages cap each value at ``PSNR_CAP_DB`` (just above what 8-bit images can resolve)
so that one perfect image cannot make a mean infinite.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from vae_core.latent.inpainting import inpaint
from vae_core.latent.noise import corrupt
from vae_core.models.model import LatentVariableModel

PSNR_CAP_DB = 60.0  # 8-bit quantisation noise alone gives ~59 dB


def _as_images(a: torch.Tensor | np.ndarray) -> np.ndarray:
    """(B,1,H,W) / (B,H,W) / (H,W) tensors or arrays -> float64 (B, H, W)."""
    arr = a.detach().cpu().double().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    arr = arr.astype(np.float64)
    if arr.ndim == 4:
        arr = arr[:, 0]
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"expected images (B,1,H,W), (B,H,W) or (H,W), got shape {arr.shape}")
    return arr


def psnr(clean: np.ndarray, other: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of one image; ``inf`` when the images are identical."""
    a, b = _as_images(clean)[0], _as_images(other)[0]
    if np.array_equal(a, b):
        return math.inf
    return float(peak_signal_noise_ratio(a, b, data_range=1.0))


# Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, population (not sample) covariances.
_SSIM_ARGS = {
    "data_range": 1.0,
    "gaussian_weights": True,
    "sigma": 1.5,
    "use_sample_covariance": False,
}


def ssim(clean: np.ndarray, other: np.ndarray) -> float:
    """Structural similarity of one image (1 for identical images)."""
    a, b = _as_images(clean)[0], _as_images(other)[0]
    return float(structural_similarity(a, b, **_SSIM_ARGS))


def batch_psnr(clean: torch.Tensor | np.ndarray, other: torch.Tensor | np.ndarray) -> np.ndarray:
    """Per-image PSNR (B,), ``inf`` for identical pairs."""
    a, b = _as_images(clean), _as_images(other)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    return np.array([psnr(x, y) for x, y in zip(a, b, strict=True)])


def batch_ssim(clean: torch.Tensor | np.ndarray, other: torch.Tensor | np.ndarray) -> np.ndarray:
    """Per-image SSIM (B,)."""
    a, b = _as_images(clean), _as_images(other)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    return np.array([ssim(x, y) for x, y in zip(a, b, strict=True)])


def mean_ssim(clean: torch.Tensor | np.ndarray, other: torch.Tensor | np.ndarray) -> float:
    """Mean SSIM over a batch in one call: scikit-image averages per-channel SSIMs, so the
    batch stacked as channels gives exactly the mean of the per-image values, much faster.
    """
    a, b = _as_images(clean), _as_images(other)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    if len(a) == 1:
        return ssim(a[0], b[0])
    return float(structural_similarity(a, b, channel_axis=0, **_SSIM_ARGS))


def mean_psnr(values: np.ndarray) -> float:
    """Mean PSNR with each value capped at ``PSNR_CAP_DB`` (identical images count as the cap)."""
    return float(np.minimum(np.asarray(values, dtype=np.float64), PSNR_CAP_DB).mean())


def format_psnr(value: float) -> str:
    """'23.4 dB', or '∞ (identical)' for a perfect match."""
    return "∞ (identical)" if math.isinf(value) else f"{value:.1f} dB"


@torch.no_grad()
def _reconstruct(
    model: LatentVariableModel, noisy: torch.Tensor, y: torch.Tensor | None
) -> torch.Tensor:
    mu, _ = model.encode(noisy.to(model.device), y)
    return model.decode(mu, y).cpu()


def denoising_curve(
    model: LatentVariableModel,
    x: torch.Tensor,
    y: torch.Tensor | None,
    kind: str,
    levels: list[float],
    seed: int = 0,
    inpaint_steps: int = 0,
) -> dict[str, list[float]]:
    """Mean PSNR / SSIM against the clean x of the noisy input and of its reconstruction
    (encode the noisy image, decode mu) at each noise level; for occlusions also of latent
    optimisation over the observed pixels when ``inpaint_steps`` > 0.
    """
    y = y if model.config.conditional else None
    keys = ["psnr_noisy", "psnr_recon", "ssim_noisy", "ssim_recon"]
    occl = kind.startswith("occlusion") and inpaint_steps > 0
    keys += ["psnr_inpaint", "ssim_inpaint"] if occl else []
    out: dict[str, list[float]] = {"level": [float(v) for v in levels], **{k: [] for k in keys}}
    for level in levels:
        c = corrupt(x, kind, float(level), seed)
        pairs = {"noisy": c.noisy, "recon": _reconstruct(model, c.noisy, y)}
        if occl:
            pairs["inpaint"] = inpaint(model, c.noisy, c.observed, y, steps=inpaint_steps).image
        for name, img in pairs.items():
            out[f"psnr_{name}"].append(mean_psnr(batch_psnr(x, img)))
            out[f"ssim_{name}"].append(mean_ssim(x, img))
    return out
