"""Seeded corruptions stay in [0, 1]; PSNR / SSIM behave at their limits and agree per batch."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vae_core.evaluation.quality import (
    PSNR_CAP_DB,
    batch_psnr,
    batch_ssim,
    format_psnr,
    mean_psnr,
    mean_ssim,
    psnr,
    ssim,
)
from vae_core.latent.noise import NOISE_KINDS, OCCLUSION_FILL, corrupt, lower_mask, square_mask


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_noise_is_seeded_and_in_range(kind, images):
    a = corrupt(images, kind, 0.4, seed=3)
    b = corrupt(images, kind, 0.4, seed=3)
    c = corrupt(images, kind, 0.4, seed=4)
    assert torch.equal(a.noisy, b.noisy) and torch.equal(a.observed, b.observed)
    assert a.noisy.shape == images.shape and a.observed.dtype == torch.bool
    assert a.noisy.min() >= 0.0 and a.noisy.max() <= 1.0
    assert not torch.equal(a.noisy, images)
    if kind != "occlusion-half":  # the lower half does not depend on the seed
        assert not torch.equal(a.noisy, c.noisy)


def test_seed_does_not_touch_global_rng(images):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    corrupt(images, "gaussian", 0.3, seed=9)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_level_zero_is_identity(kind, images):
    c = corrupt(images, kind, 0.0, seed=0)
    assert torch.equal(c.noisy, images) and bool(c.observed.all())


def test_gaussian_std_matches_level():
    x = torch.full((200, 1, 28, 28), 0.5)
    noisy = corrupt(x, "gaussian", 0.1, seed=0).noisy
    assert abs(float((noisy - x).std()) - 0.1) < 0.005


def test_salt_and_pepper_fraction():
    x = torch.full((100, 1, 28, 28), 0.5)
    noisy = corrupt(x, "salt-pepper", 0.3, seed=0).noisy
    hit = noisy != 0.5
    assert abs(float(hit.float().mean()) - 0.3) < 0.01
    assert set(noisy[hit].unique().tolist()) == {0.0, 1.0}
    assert abs(float(noisy[hit].mean()) - 0.5) < 0.02


def test_occlusions_hide_what_they_say(images):
    sq = corrupt(images, "occlusion-square", 0.5, seed=0)
    assert ((~sq.observed).flatten(1).sum(1) == 14 * 14).all()  # one 14x14 square per image
    assert (sq.noisy[~sq.observed] == OCCLUSION_FILL).all()
    assert torch.equal(sq.noisy[sq.observed], images[sq.observed])
    assert sq.is_occlusion
    half = lower_mask(images.shape, 0.5)
    assert half[:, :, :14].all() and not half[:, :, 14:].any()
    assert square_mask(images.shape, 40).logical_not().all()  # clamped to the image
    assert not corrupt(images, "gaussian", 0.5).is_occlusion


def test_bad_arguments(images):
    with pytest.raises(ValueError, match="noise kind"):
        corrupt(images, "speckle", 0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        corrupt(images, "gaussian", 1.5)


def test_identical_images(images):
    assert math.isinf(psnr(images[0], images[0]))
    assert ssim(images[0], images[0]) == pytest.approx(1.0)
    assert format_psnr(math.inf) == "∞ (identical)"
    assert mean_psnr(batch_psnr(images, images)) == PSNR_CAP_DB
    assert mean_ssim(images, images) == pytest.approx(1.0)


def test_psnr_matches_definition(images):
    other = (images + 0.1).clamp(0, 1)
    mse = float(((images[0] - other[0]) ** 2).mean())
    assert psnr(images[0], other[0]) == pytest.approx(10 * math.log10(1 / mse), rel=1e-6)


def test_more_noise_lowers_quality():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 8:20, 12:16] = 1.0
    light = corrupt(x, "gaussian", 0.05, seed=0).noisy
    heavy = corrupt(x, "gaussian", 0.5, seed=0).noisy
    assert batch_psnr(x, light).mean() > batch_psnr(x, heavy).mean() + 10
    assert batch_ssim(x, light).mean() > batch_ssim(x, heavy).mean() + 0.2
    assert 0 < batch_ssim(x, heavy).mean() < 1


def test_batched_ssim_equals_mean_of_singles(images):
    other = corrupt(images, "gaussian", 0.2, seed=1).noisy
    singles = np.array([ssim(a, b) for a, b in zip(images, other, strict=True)])
    assert mean_ssim(images, other) == pytest.approx(singles.mean(), rel=1e-9)
    assert batch_ssim(images, other) == pytest.approx(singles)


def test_shape_mismatch(images):
    with pytest.raises(ValueError, match="shape"):
        batch_psnr(images, images[:2])
