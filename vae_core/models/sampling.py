"""Drawing codes from the prior at a temperature, and the temperature settings the app offers.

Temperature T scales a prior draw: z ~ N(0, T² I). Most of N(0, I)'s mass in D dimensions lies
in a thin shell of radius about sqrt(D) (the "typical set"), and so do the codes the encoder
gives training images; a code drawn at T lies near radius T·sqrt(D). Above 1 the decoder is
therefore asked about codes it rarely or never saw in training, and what it does there is an
extrapolation: for a CVAE, the label y may stop controlling the image (``vae_core.evaluation.classifier``
measures that per class).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from vae_core.models.priors import StandardNormalPrior


@dataclass(frozen=True)
class TemperatureConfig:
    """Range of the temperature controls and each figure's starting value, in one place.

    Each figure that samples codes has its own control: a student who raises the temperature of
    one figure should see only that figure change, and read its T beside it.
    """

    low: float = 0.1
    high: float = 2.0
    step: float = 0.05
    samples: float = 1.0  # Generate: the sample grid
    style_matrix: float = 1.0  # Generate: same z, every class
    morph: float = 1.0  # Generate: morph between two classes
    faithfulness: float = 1.0  # CVAE faithfulness: the samples the classifier judges


TEMPERATURE = TemperatureConfig()


def prior_codes(
    n: int, latent_dim: int, temperature: float = 1.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    """n codes z ~ N(0, temperature² I), (n, latent_dim), on the CPU, drawn from ``generator``:
    the standard prior's ``sample`` (``vae_core.models.priors``) for callers without a model."""
    if n < 0 or latent_dim < 1:
        raise ValueError(f"need n >= 0 and latent_dim >= 1, got n={n}, latent_dim={latent_dim}")
    return StandardNormalPrior(latent_dim).sample(n, generator, temperature=temperature)


def typical_radius(latent_dim: int, temperature: float = 1.0) -> float:
    """Where the norm |z| of a code drawn at ``temperature`` concentrates: about T·sqrt(D)."""
    return temperature * math.sqrt(latent_dim)
