"""Classifier regions of a latent plane (vae_core.evaluation.regions): a hand-made decoder whose
answer is known, and the shipped 2-D MNIST VAE with the shipped classifier."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from vae_core.evaluation.classifier import load_classifier
from vae_core.evaluation.regions import decision_regions, map_extent, region_confusions
from vae_core.latent.maps import fit_pca, identity_projection

ROOT = Path(__file__).resolve().parents[1]


class SideDecoder:
    """Draws a bright left half for z0 < 0 and a bright right half otherwise."""

    config = SimpleNamespace(conditional=False)
    device = torch.device("cpu")

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        x = torch.zeros(len(z), 1, 28, 28)
        left = z[:, 0] < 0
        x[left, :, :, :14] = 1.0
        x[~left, :, :, 14:] = 1.0
        return x


class SideClassifier(nn.Module):
    """Class 0 for a bright left half, class 1 for a bright right half."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(5.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = x[..., :14].mean((1, 2, 3)), x[..., 14:].mean((1, 2, 3))
        return self.scale * torch.stack([left - right, right - left], 1)


def test_regions_follow_what_the_decoder_draws() -> None:
    regions = decision_regions(
        SideDecoder(), SideClassifier(), identity_projection(), (-2, 2, -1, 1), resolution=41
    )
    assert regions.label.shape == regions.confidence.shape == (41, 41)
    assert (regions.label[:, regions.xs < 0] == 0).all() and (
        regions.label[:, regions.xs > 0] == 1
    ).all()
    assert (regions.confidence > 0.99).all()
    points = np.array([[-1.5, 0.3], [1.2, -0.4], [0.7, 0.9]])
    assert regions.label_at(points).tolist() == [0, 1, 1]
    assert region_confusions(regions, points, np.array([0, 0, 1])).tolist() == [1]


def test_a_pca_plane_is_lifted_through_its_inverse() -> None:
    """In 3-D the plane's points decode through z = mean + Wᵀp: the side is p's own."""
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(200, 3)) * np.array([3.0, 1.0, 0.1])
    proj = fit_pca(codes)
    regions = decision_regions(SideDecoder(), SideClassifier(), proj, (-4, 4, -2, 2), resolution=21)
    z0 = proj.inverse(np.array([[x, 0.0] for x in regions.xs]))[:, 0]
    assert (regions.label[10] == (z0 >= 0)).all()


def test_a_cvae_is_refused() -> None:
    cvae = SimpleNamespace(config=SimpleNamespace(conditional=True))
    with pytest.raises(ValueError, match="CVAE"):
        decision_regions(cvae, SideClassifier(), identity_projection(), (0, 1, 0, 1))


def test_map_extent_holds_every_point() -> None:
    coords = np.array([[0.0, -1.0], [2.0, 3.0]], np.float32)
    x0, x1, y0, y1 = map_extent(coords)
    assert x0 < 0 < 2 < x1 and y0 < -1 < 3 < y1


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("VAE_LAB_DATA"), reason="VAE_LAB_DATA is not set")
def test_shipped_2d_vae_regions_cover_the_digits_and_most_codes_fall_in_their_own() -> None:
    from vae_core.data.datasets import load_split
    from vae_core.evaluation.scoring import posterior_means, scored_images
    from vae_core.io.checkpoint_file import load_checkpoint

    ckpt = load_checkpoint(ROOT / "checkpoints" / "mnist-vae-2d.safetensors")
    clf, _ = load_classifier(ROOT / "checkpoints" / "classifiers" / "mnist-classifier.safetensors")
    x, y = scored_images(load_split("mnist", "test"), True, 2000)
    mu, _ = posterior_means(ckpt.model, x)
    coords = mu.numpy()
    regions = decision_regions(ckpt.model, clf, identity_projection(), map_extent(coords), 60)
    assert len(np.unique(regions.label)) >= 8  # a 2-D MNIST VAE draws nearly every digit
    assert 0.1 < regions.confidence.min() <= regions.confidence.max() <= 1.0
    confused = region_confusions(regions, coords, y.numpy())
    assert 0 < len(confused) < 0.5 * len(coords)  # the 2-D VAE mixes some digits, not most
