"""Shared fixtures: tiny synthetic images and models, so unit tests need no dataset."""

from __future__ import annotations

import pytest
import torch

from vae_core.config import ModelConfig
from vae_core.model import LatentVariableModel


@pytest.fixture
def tiny_images() -> tuple[torch.Tensor, torch.Tensor]:
    """64 synthetic 'digits': a bright bar whose position depends on the label (learnable)."""
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 10, (64,), generator=g)
    x = torch.rand(64, 1, 28, 28, generator=g) * 0.1
    for i, label in enumerate(y.tolist()):
        x[i, 0, 2 + 2 * label : 5 + 2 * label, 4:24] = 0.9
    return x, y


def make_model(**kwargs) -> LatentVariableModel:
    torch.manual_seed(0)
    defaults = {"hidden": (32,), "latent_dim": 3}
    return LatentVariableModel(ModelConfig(**{**defaults, **kwargs}))
