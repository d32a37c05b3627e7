"""lerp / slerp paths, soft class morphs and the 2-D projection of paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vae_core.latent.interpolation import (
    PlaneProjection,
    class_morph,
    latent_path,
    lerp,
    norm_slerp,
    slerp,
)


@pytest.fixture
def ends() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(16, generator=g), torch.randn(16, generator=g)


@pytest.mark.parametrize("method", ["slerp", "lerp", "norm-slerp"])
def test_endpoints_are_the_inputs(method, ends):
    z0, z1 = ends
    path = latent_path(z0, z1, 7, method)
    assert path.shape == (7, 16)
    assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)


def test_slerp_keeps_the_norm_on_equal_norm_ends(ends):
    z0, z1 = ends
    z1 = z1 * (z0.norm() / z1.norm())  # same radius: slerp stays on that sphere
    norms = latent_path(z0, z1, 9, "slerp").norm(dim=1)
    assert torch.allclose(norms, torch.full_like(norms, float(z0.norm())), rtol=1e-5)
    mid_lerp = latent_path(z0, z1, 9, "lerp")[4].norm()
    assert mid_lerp < 0.9 * z0.norm()  # the straight line cuts inside the sphere


def _ends_at(angle_deg: float, r0: float, r1: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Two 16-D codes of norms r0, r1 that are ``angle_deg`` apart (a random plane)."""
    g = torch.Generator().manual_seed(1)
    q, _ = torch.linalg.qr(torch.randn(16, 2, generator=g, dtype=torch.float64))
    a = math.radians(angle_deg)
    u0, u1 = q[:, 0], math.cos(a) * q[:, 0] + math.sin(a) * q[:, 1]
    return (r0 * u0).float(), (r1 * u1).float()


@pytest.mark.parametrize("angle", [30.0, 60.0, 90.0])
def test_slerp_norm_stays_between_end_norms_up_to_90_degrees(angle):
    z0, z1 = _ends_at(angle, 1.4, 2.8)
    norms = slerp(z0, z1, torch.linspace(0, 1, 101)).norm(dim=1)
    assert (norms >= 1.4 - 1e-4).all() and (norms <= 2.8 + 1e-4).all()


def test_slerp_of_unequal_norms_bulges_beyond_both_when_obtuse():
    """What the Interpolate page's chart shows: White's formula does not keep the norm."""
    z0, z1 = _ends_at(160.0, 1.4, 2.8)
    norms = slerp(z0, z1, torch.linspace(0, 1, 101)).norm(dim=1)
    assert norms.max() > 4.8  # far above the larger end norm, 2.8
    assert norms.min() < 1.0  # and below the smaller one near A


@pytest.mark.parametrize("angle", [20.0, 90.0, 160.0, 179.0])
def test_norm_slerp_norm_is_exactly_linear(angle):
    z0, z1 = _ends_at(angle, 1.4, 2.8)
    t = torch.linspace(0, 1, 41)
    path = norm_slerp(z0, z1, t)
    assert torch.allclose(path.norm(dim=1), 1.4 + 1.4 * t, atol=1e-5)
    assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)


def test_norm_slerp_direction_is_the_great_circle(ends):
    z0, z1 = ends
    z1 = 3 * z1
    t = torch.linspace(0, 1, 9)
    path = norm_slerp(z0, z1, t)
    unit = slerp(z0 / z0.norm(), z1 / z1.norm(), t)  # the unit great-circle arc
    assert torch.allclose(path / path.norm(dim=1, keepdim=True), unit, atol=1e-5)
    # constant angular speed: equal angles between consecutive codes
    cos = torch.nn.functional.cosine_similarity(path[1:], path[:-1], dim=1)
    assert torch.allclose(cos, cos[0].expand_as(cos), atol=1e-5)


def test_norm_slerp_with_equal_norms_is_slerp(ends):
    z0, z1 = ends
    z1 = z1 * (z0.norm() / z1.norm())
    t = torch.linspace(0, 1, 7)
    assert torch.allclose(norm_slerp(z0, z1, t), slerp(z0, z1, t), atol=1e-5)


def test_norm_slerp_degenerate_cases_fall_back_to_lerp():
    z = torch.tensor([1.0, 2.0])
    t = torch.linspace(0, 1, 5)
    assert torch.allclose(norm_slerp(z, 3 * z, t), lerp(z, 3 * z, t), atol=1e-6)  # parallel
    assert torch.allclose(norm_slerp(torch.zeros(2), z, t), lerp(torch.zeros(2), z, t))
    assert torch.allclose(norm_slerp(z, -2 * z, t), lerp(z, -2 * z, t))  # antiparallel


def test_slerp_matches_the_formula(ends):
    z0, z1 = ends
    omega = math.acos(float(z0 @ z1 / (z0.norm() * z1.norm())))
    t = 0.3
    expected = (math.sin((1 - t) * omega) * z0 + math.sin(t * omega) * z1) / math.sin(omega)
    assert torch.allclose(slerp(z0, z1, torch.tensor([t]))[0], expected, atol=1e-5)


def test_slerp_degenerate_cases_fall_back_to_lerp():
    z = torch.tensor([1.0, 2.0])
    t = torch.linspace(0, 1, 5)
    assert torch.allclose(slerp(z, 3 * z, t), lerp(z, 3 * z, t))  # parallel
    assert torch.allclose(slerp(torch.zeros(2), z, t), lerp(torch.zeros(2), z, t))  # zero end
    assert torch.isfinite(slerp(z, -z, t)).all()  # antiparallel


def test_path_arguments(ends):
    with pytest.raises(ValueError, match="method"):
        latent_path(*ends, 5, "cubic")
    with pytest.raises(ValueError, match="2 steps"):
        latent_path(*ends, 1)


def test_class_morph():
    y = class_morph(1, 7, 5, 10)
    assert y.shape == (5, 10)
    assert torch.allclose(y.sum(1), torch.ones(5))
    assert y[0, 1] == 1 and y[-1, 7] == 1 and y[2, 1] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        class_morph(0, 10, 3, 10)


def test_projection_2d_is_identity():
    ref = np.random.default_rng(0).normal(size=(50, 2))
    proj = PlaneProjection(ref)
    assert np.allclose(proj(ref), ref)
    assert proj.axis_labels == ("z₁", "z₂")


def test_projection_uses_principal_plane():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(500, 5)) * np.array([5.0, 0.1, 3.0, 0.1, 0.1])
    proj = PlaneProjection(ref)
    xy = proj(ref)
    assert xy.shape == (500, 2)
    assert proj.explained.sum() > 0.99  # the two big axes carry almost all the variance
    assert np.abs(proj.components[[1, 3, 4]]).max() < 0.05
    assert "PC 1" in proj.axis_labels[0]
    assert np.allclose(proj(torch.tensor(ref[:3])), xy[:3])
