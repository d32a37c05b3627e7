"""Paths through latent space: linear and spherical interpolation, soft class morphs, 2-D views.

Under a Gaussian prior almost all mass of N(0, I) in D dimensions lies near the sphere of
radius sqrt(D), so the midpoint of a straight line between two codes has an atypically small
norm and decodes to a blurry "average". Spherical interpolation (Shoemake 1985, proposed for
generative models by White 2016, "Sampling Generative Networks") follows a great circle instead,
but White's formula is applied to the codes themselves: it keeps the norm only when both ends
have the same norm. With unequal norms it traces an arc of an ellipse through the two codes, and
when they are more than 90 degrees apart that arc bulges outside the range of the two norms
(ends of norm 1.4 and 2.8 that are 160 degrees apart reach a norm of 4.9 on the way). ``norm_slerp``
separates the two: the direction turns along the great circle, the norm changes linearly.
"""

from __future__ import annotations

import numpy as np
import torch

from vae_core.latent.maps import fit_pca

METHODS = ("slerp", "lerp", "norm-slerp")
_PARALLEL_EPS = 1e-6


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(1 - t) z0 + t z1 for each t: z0, z1 (D,), t (N,) -> (N, D)."""
    t = t.to(z0.dtype).view(-1, 1)
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (White 2016, eq. 1): z0, z1 (D,), t (N,) -> (N, D).

    slerp(z0, z1; t) = sin((1-t) omega)/sin(omega) z0 + sin(t omega)/sin(omega) z1, with omega
    the angle between z0 and z1. The weights are those that keep a unit vector on the unit
    circle, so for |z0| = |z1| = r the path stays on the sphere of radius r; otherwise the path
    is the image of that arc under the linear map u0 -> z0, u1 -> z1 (an arc of an ellipse), and
    for omega > 90 degrees its norm can rise above the larger end norm (and dip below the
    smaller one). Falls back to lerp when they are (anti)parallel or zero, where the great
    circle is undefined.
    """
    t = t.to(z0.dtype).view(-1, 1)
    n0, n1 = z0.norm(), z1.norm()
    if n0 < _PARALLEL_EPS or n1 < _PARALLEL_EPS:
        return lerp(z0, z1, t.view(-1))
    cos = torch.clamp((z0 @ z1) / (n0 * n1), -1.0, 1.0)
    omega = torch.arccos(cos)
    so = torch.sin(omega)
    if so.abs() < _PARALLEL_EPS:
        return lerp(z0, z1, t.view(-1))
    return (torch.sin((1 - t) * omega) / so) * z0 + (torch.sin(t * omega) / so) * z1


def norm_slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Direction by slerp, norm by lerp: z0, z1 (D,), t (N,) -> (N, D).

    z(t) = ((1-t)|z0| + t|z1|) * slerp(z0/|z0|, z1/|z1|; t): the unit direction turns along the
    great circle at constant angular speed and the norm goes linearly from |z0| to |z1|, so it
    never leaves the range of the end norms, whatever the angle. This is slerp's intent for ends
    of unequal norm. Falls back to lerp for a zero end (lerp from 0 already has this form) and
    for antiparallel ends, whose great circle is undefined; parallel ends give lerp exactly.
    """
    n0, n1 = z0.norm(), z1.norm()
    if n0 < _PARALLEL_EPS or n1 < _PARALLEL_EPS:
        return lerp(z0, z1, t)
    u0, u1 = z0 / n0, z1 / n1
    if float(u0 @ u1) < -1 + _PARALLEL_EPS:
        return lerp(z0, z1, t)
    direction = slerp(u0, u1, t)
    direction = direction / direction.norm(dim=1, keepdim=True)  # unit up to rounding already
    radius = (1 - t.to(z0.dtype).view(-1, 1)) * n0 + t.to(z0.dtype).view(-1, 1) * n1
    return radius * direction


_PATHS = {"slerp": slerp, "lerp": lerp, "norm-slerp": norm_slerp}


def latent_path(
    z0: torch.Tensor, z1: torch.Tensor, steps: int, method: str = "slerp"
) -> torch.Tensor:
    """``steps`` codes from z0 to z1 inclusive, (steps, D)."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if steps < 2:
        raise ValueError("an interpolation needs at least 2 steps")
    t = torch.linspace(0.0, 1.0, int(steps), device=z0.device)
    return _PATHS[method](z0, z1, t)


def angle_between(z0: torch.Tensor, z1: torch.Tensor) -> float:
    """The angle omega between two codes in degrees (0 when either is zero)."""
    n0, n1 = z0.norm(), z1.norm()
    if n0 < _PARALLEL_EPS or n1 < _PARALLEL_EPS:
        return 0.0
    cos = torch.clamp((z0 @ z1) / (n0 * n1), -1.0, 1.0)
    return float(torch.rad2deg(torch.arccos(cos)))


def class_morph(a: int, b: int, steps: int, n_classes: int) -> torch.Tensor:
    """Soft one-hots y_t = (1 - t) e_a + t e_b for a CVAE, (steps, n_classes)."""
    if not (0 <= a < n_classes and 0 <= b < n_classes):
        raise ValueError(f"classes must be in 0..{n_classes - 1}")
    t = torch.linspace(0.0, 1.0, int(steps)).view(-1, 1)
    eye = torch.eye(n_classes)
    return (1 - t) * eye[a] + t * eye[b]


class PlaneProjection:
    """The 2-D view used to draw paths on the latent map.

    For D = 2 the latent itself; otherwise the top two principal components of reference codes
    (the test-set posterior means), so the path is drawn in the plane where the data varies most.
    """

    def __init__(self, reference: np.ndarray) -> None:
        ref = np.asarray(reference, dtype=np.float64)
        self.dim = ref.shape[1]
        self.mean = np.zeros(self.dim) if self.dim <= 2 else ref.mean(0)
        if self.dim <= 2:
            self.components = np.eye(self.dim, 2) if self.dim == 2 else np.eye(1, 2)
            self.explained = np.ones(2)
        else:  # the Latent map's PCA, so the path is drawn on the same plane as the map
            pca = fit_pca(ref)
            self.components = pca.components.T  # (D, 2)
            self.explained = pca.explained

    @property
    def axis_labels(self) -> tuple[str, str]:
        if self.dim <= 2:
            return ("z₁", "z₂")
        return (
            f"PC 1 ({100 * self.explained[0]:.0f}% of variance)",
            f"PC 2 ({100 * self.explained[1]:.0f}% of variance)",
        )

    def __call__(self, z: np.ndarray | torch.Tensor) -> np.ndarray:
        arr = z.detach().cpu().numpy() if isinstance(z, torch.Tensor) else np.asarray(z)
        return (arr.astype(np.float64) - self.mean) @ self.components
