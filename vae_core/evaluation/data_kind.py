"""What a model's nats measure: which pixels it is scored on and what its log p(x|z) is.

The scoring protocol, the comparable units and the rate-distortion figures all need this rule,
and so does training (a model trained on binarized pixels validates on binarized pixels), so it
lives here, below both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vae_core.config import ModelConfig


def uses_binary_test_data(binarize: str) -> bool:
    """Models trained on binarized pixels are scored on one fixed binarization of the test set."""
    return binarize != "none"


@dataclass(frozen=True)
class DataKind:
    """What a model's log p(x|z) is the log-probability (or log-density) of.

    Nats of two models are comparable only when they measure the same thing: a probability of
    binarized pixels, a Bernoulli cross-entropy on grey pixels (no probability of any data), a
    density over continuous grey pixels (unbounded above, so its log can be positive) and a
    probability of 8-bit pixels are four different quantities that share a unit.
    """

    key: str  # equal keys are comparable
    label: str  # e.g. "binarized pixels · Bernoulli log-likelihood"
    meaning: str  # one sentence on what the number is


_PIXELS = {"binarized": "binarized pixels", "grey": "grey pixels"}
_LIKELIHOODS = {
    ("binarized", "bernoulli"): (
        "Bernoulli log-likelihood",
        "a probability of 0/1 pixels, so −log p(x|z) ≥ 0",
    ),
    ("grey", "bernoulli"): (
        "Bernoulli cross-entropy",
        "a cross-entropy on grey pixels in [0, 1], not the probability of any image",
    ),
    ("grey", "gaussian"): (
        "Gaussian density",
        "a density over continuous pixels in ℝ⁷⁸⁴, which can exceed 1, so −log p(x|z) can be "
        "negative",
    ),
    ("binarized", "gaussian"): (
        "Gaussian density",
        "a density over continuous pixels, evaluated at 0/1 values",
    ),
    ("grey", "categorical"): (
        "256-way categorical log-likelihood",
        "a probability of 8-bit pixels (256 grey levels), so −log p(x|z) ≥ 0",
    ),
    ("binarized", "categorical"): (
        "256-way categorical log-likelihood",
        "a probability of 8-bit pixels, evaluated at levels 0 and 255 only",
    ),
    ("grey", "continuous-bernoulli"): (
        "continuous Bernoulli density",
        "a normalised density over grey pixels in [0, 1], which can exceed 1, so −log p(x|z) "
        "can be negative",
    ),
    ("binarized", "continuous-bernoulli"): (
        "continuous Bernoulli density",
        "a density over grey pixels, evaluated at 0/1 values",
    ),
}


def data_kind(config: ModelConfig, meta: Mapping[str, Any]) -> DataKind:
    """The kind of data and likelihood a model is scored with, from its config and metadata.

    ``meta`` is the checkpoint metadata (or any mapping with its ``binarize`` entry, such as a
    sweep's train config); a model trained on binarized pixels is scored on binarized test
    images (``uses_binary_test_data``), every other one on grey pixels.
    """
    pixels = "binarized" if uses_binary_test_data(str(meta.get("binarize", "none"))) else "grey"
    name, meaning = _LIKELIHOODS[(pixels, config.likelihood)]
    return DataKind(f"{pixels}/{config.likelihood}", f"{_PIXELS[pixels]} · {name}", meaning)
