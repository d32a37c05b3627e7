"""Pixel scaling and the two binarization protocols used for Bernoulli-likelihood VAEs.

A Bernoulli decoder's log-likelihood is only comparable with published numbers when the data are
binarized the same way, so the protocol is explicit:

* ``"static"`` (Larochelle & Murray, 2011, "The Neural Autoregressive Distribution Estimator"):
  one fixed Bernoulli draw of the whole split, reused for ever.
* ``"dynamic"`` (as in Burda, Grosse & Salakhutdinov, 2015, "Importance Weighted Autoencoders"):
  a fresh draw every epoch, which acts as a regulariser; the trainer calls
  :func:`binarize_dynamic` each epoch.
* ``"none"``: grey levels in [0, 1] (continuous Bernoulli or Gaussian decoders, display).

Standard evaluation protocol here: train with dynamic binarization, and evaluate on a test set
binarized once with :func:`binarize_static` and a fixed seed, so every run and every device
scores exactly the same binary images.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "BINARIZATIONS",
    "binarize",
    "binarize_dynamic",
    "binarize_static",
    "default_binarization",
    "to_unit_float",
]

BINARIZATIONS: tuple[str, ...] = ("none", "dynamic", "static")


def default_binarization(likelihood: str, dataset: str) -> str:
    """The binarization a run gets when the user leaves it to us (the CLI and the Train page).

    A Bernoulli decoder on MNIST is trained on binarized digits, the standard protocol its
    published likelihoods use (Burda et al. 2015); Fashion-MNIST's clothes, whose grey levels
    carry the texture, and every other decoder stay grey.
    """
    return "dynamic" if likelihood == "bernoulli" and dataset == "mnist" else "none"


def to_unit_float(images_uint8: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Scale uint8 images (N, H, W) or (N, 1, H, W) to a new float32 tensor (N, 1, H, W) in [0, 1].

    Always copies, so the cached uint8 arrays behind it are never shared or modified.
    Floats already in [0, 1] are accepted as they are; floats in 0..255 are refused rather than
    guessed at, since silently dividing twice (or not at all) ruins a likelihood.
    """
    x = images_uint8
    if isinstance(x, np.ndarray):
        if x.dtype == np.uint8:
            t = torch.from_numpy(x.astype(np.float32)).div_(255.0)
        elif np.issubdtype(x.dtype, np.floating):
            t = torch.from_numpy(np.array(x, dtype=np.float32))
        else:
            raise TypeError(f"expected uint8 or float images, got {x.dtype}")
    elif isinstance(x, torch.Tensor):
        if x.dtype == torch.uint8:
            t = x.to(torch.float32).div_(255.0)
        elif x.is_floating_point():
            t = x.to(torch.float32, copy=True)
        else:
            raise TypeError(f"expected uint8 or float images, got {x.dtype}")
    else:
        raise TypeError(f"expected a numpy array or a torch tensor, got {type(x).__name__}")
    if t.ndim == 3:
        t = t.unsqueeze(1)
    if t.ndim != 4 or t.shape[1] != 1:
        raise ValueError(f"expected images shaped (N, H, W) or (N, 1, H, W), got {tuple(t.shape)}")
    if t.numel() and (t.min() < 0 or t.max() > 1):
        raise ValueError("float images must lie in [0, 1]; pass uint8 0..255 images instead")
    return t


def binarize_dynamic(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A fresh Bernoulli draw with the pixel intensities in ``x`` (in [0, 1]) as probabilities.

    Call once per epoch (Burda et al., 2015 protocol). A ``generator`` on another device than
    ``x`` (a seeded CPU generator with CUDA data, say) still works: the uniforms are drawn on
    the generator's device and moved, which keeps a seeded run reproducible.
    """
    if generator is not None and generator.device != x.device:
        u = torch.rand(x.shape, generator=generator, device=generator.device, dtype=torch.float32)
        return (u.to(x.device) < x).to(x.dtype)
    return torch.bernoulli(x, generator=generator)


def binarize_static(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """One fixed, seeded Bernoulli draw of ``x`` (Larochelle & Murray, 2011 protocol).

    The uniforms are drawn on the CPU with a generator seeded by ``seed`` and the result moved
    back to ``x``'s device, so the same images give the same bits on every call and every device.
    Binarize the whole split once, then slice: a subset binarized on its own gets other bits.
    """
    probs = x.detach().to("cpu", torch.float32)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    u = torch.rand(probs.shape, generator=generator, dtype=torch.float32)
    return (u < probs).to(device=x.device, dtype=x.dtype)


def binarize(
    x: torch.Tensor, mode: str, seed: int = 0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Apply the binarization named by ``mode`` (one of BINARIZATIONS)."""
    if mode == "none":
        return x
    if mode == "dynamic":
        return binarize_dynamic(x, generator)
    if mode == "static":
        return binarize_static(x, seed)
    raise ValueError(f"unknown binarization {mode!r}; valid: {', '.join(map(repr, BINARIZATIONS))}")
