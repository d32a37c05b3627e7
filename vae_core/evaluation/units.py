"""One labelling rule for every likelihood figure: which data, conditional or marginal, bound or
estimate, and the unit.

Two numbers may stand side by side only when their labels say they measure the same thing. The
rule builds on ``vae_core.training.run_metadata.data_kind`` (what a decoder's log p(x|z) is the
log of) and names the data the comparable figure is a probability of:

- ``binarized``: Bernoulli models trained on binarized pixels, scored on the fixed binarization;
- ``8-bit``: the 256-way categorical decoder as it is, Gaussian decoders and pPCA through the
  bin masses of ``vae_core.evaluation.discrete`` (their densities on [0, 1] are no code length);
- ``grey``: Bernoulli decoders on grey pixels. Their figure is a cross-entropy, not a likelihood
  of any data, and is labelled so. We keep it on grey pixels rather than re-scoring on binarized
  images because these models were trained on grey targets and the grey cross-entropy is the
  figure their training minimised and their card has always shown; the label makes clear it is
  comparable with nothing but another grey cross-entropy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from vae_core.config import ModelConfig
from vae_core.evaluation.data_kind import data_kind, uses_binary_test_data

DATA_KINDS = ("binarized", "8-bit", "grey")


@dataclass(frozen=True)
class FigureLabel:
    """What one likelihood figure is; ``text`` is the caption every page and CLI line uses."""

    data: str  # one of DATA_KINDS
    conditional: bool  # -log p(x|y) of a CVAE with its true label, vs the marginal -log p(x)
    estimator: str  # "ELBO (bound)", "IWAE estimate, K=100", "exact", ...
    likelihood: bool = True  # False: a cross-entropy on grey pixels, no probability of any data
    unit: str = "nats per image"

    @property
    def quantity(self) -> str:
        if not self.likelihood:
            return "Bernoulli cross-entropy on grey pixels (not a likelihood)"
        return "−log p(x | y)" if self.conditional else "−log p(x)"

    @property
    def text(self) -> str:
        scope = "conditional on the true label" if self.conditional else "marginal"
        if not self.likelihood:
            scope = "conditional on the true label" if self.conditional else "no labels"
        data = {"binarized": "binarized pixels", "8-bit": "8-bit pixels", "grey": "grey pixels"}
        return f"{self.quantity}, {data[self.data]}, {scope}, {self.estimator}, {self.unit}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.text}


def comparable_data(config: ModelConfig, meta: Mapping[str, Any]) -> str:
    """The data kind (``DATA_KINDS``) a model's comparable figure is a probability of."""
    kind = data_kind(config, meta).key  # "binarized/bernoulli", "grey/gaussian", ...
    if uses_binary_test_data(str(meta.get("binarize", "none"))):
        return "binarized"
    return "grey" if kind == "grey/bernoulli" else "8-bit"


def iwae_estimator(k: int) -> str:
    return "ELBO (a lower bound on log p)" if k <= 1 else f"IWAE estimate, K={k}"


def figure_label(
    config: ModelConfig, meta: Mapping[str, Any], estimator: str, *, conditional: bool
) -> FigureLabel:
    data = comparable_data(config, meta)
    return FigureLabel(data, conditional, estimator, likelihood=data != "grey")


def bits_per_dim(nats_per_image: Any, d: int = 784) -> Any:
    """nats per image / (D ln 2): bits per pixel, the unit in which 8-bit models compare (a
    float, or elementwise for an array or tensor)."""
    return nats_per_image / (d * math.log(2))
