"""Inpainting by latent optimisation: fit z to the pixels that were observed, ignore the rest.

The encoder only ever saw complete images, so an occluded input pulls its posterior mean
towards codes that explain the occluder too. Instead we search the latent space directly
(MAP inference, as in Yeh et al. 2017, "Semantic image inpainting with deep generative models",
with the VAE decoder as the generator):

    z* = argmax_z  sum_{d observed} log p(x_d | z)  +  log N(z; 0, I)

starting from the encoder's mu, with Adam. The decoder is shared read-only between app
sessions, so gradients are taken with ``torch.autograd.grad`` with respect to z only: no
parameter's ``.grad`` is ever written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vae_core.models.model import LatentVariableModel


@dataclass(frozen=True)
class InpaintResult:
    z: torch.Tensor  # (B, D) optimised codes
    image: torch.Tensor  # (B, 1, 28, 28) decoded means at z
    start_image: torch.Tensor  # decoded means at the encoder's mu (the plain reconstruction)
    objective: list[float]  # batch-mean objective (nats per image) before each step, and after


def pixel_log_prob(model: LatentVariableModel, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-pixel log p(x_d|z), (B, 1, H, W), from the model's own likelihood.

    Every likelihood here factorises over pixels and sums them, so evaluating it on a batch of
    1x1 "images" (one per pixel) returns the individual terms without re-implementing them.
    """
    b, c, h, w = out.shape
    flat_out = out.permute(0, 2, 3, 1).reshape(b * h * w, c, 1, 1)
    flat_x = x.permute(0, 2, 3, 1).reshape(b * h * w, 1, 1, 1)
    return model.log_prob(flat_out, flat_x).view(b, 1, h, w)


def masked_objective(
    model: LatentVariableModel,
    z: torch.Tensor,
    x: torch.Tensor,
    observed: torch.Tensor,
    y: torch.Tensor | int | None = None,
) -> torch.Tensor:
    """Per-image log p(x_observed | z) + log p(z) (the prior only for stochastic models), (B,)."""
    out = model.decoder_output(z, y)
    ll = (pixel_log_prob(model, out, x) * observed.to(out.dtype)).flatten(1).sum(1)
    if not model.config.stochastic:  # a plain AE has no prior over z
        return ll
    log_prior = -0.5 * (z**2).sum(1) - 0.5 * z.shape[1] * math.log(2 * math.pi)
    return ll + log_prior


def inpaint(
    model: LatentVariableModel,
    x: torch.Tensor,
    observed: torch.Tensor,
    y: torch.Tensor | int | None = None,
    steps: int = 150,
    lr: float = 0.05,
) -> InpaintResult:
    """Optimise z for images x (B,1,28,28) given the observed-pixel mask (B,1,28,28 bool)."""
    x = x.to(model.device)
    observed = observed.to(model.device)
    with torch.no_grad():
        mu, _ = model.encode(x, y)
        start = model.decode(mu, y)
    z = mu.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    history: list[float] = []
    for _ in range(int(steps)):
        objective = masked_objective(model, z, x, observed, y)
        history.append(float(objective.detach().mean()))
        (grad,) = torch.autograd.grad(-objective.sum(), [z])
        z.grad = grad
        opt.step()
    with torch.no_grad():
        z_final = z.detach()
        history.append(float(masked_objective(model, z_final, x, observed, y).mean()))
        image = model.decode(z_final, y)
    return InpaintResult(z=z_final, image=image, start_image=start, objective=history)
