"""Rate and distortion of a VAE: one point of the trade-off a beta sweep traces.

The negative ELBO splits into a rate R = E_x KL(q(z|x) || p(z)) (nats the code spends on each
image) and a distortion D = -E_x E_q log p(x|z) (how badly the code reconstructs it); beta-VAE
minimises D + beta R (Higgins et al. 2017), so each beta picks one point of the R-D curve, and
larger beta buys a lower rate with more distortion (Alemi et al. 2018, "Fixing a broken ELBO").
beta = 1 is the ordinary ELBO; on the line D + R = -ELBO. The sweep itself trains models, so it
lives in ``vae_core.training.beta_sweep``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from vae_core.config import ConfigError, ModelConfig
from vae_core.evaluation.data_kind import DataKind, data_kind
from vae_core.evaluation.scoring import evaluate_elbo, posterior_means
from vae_core.models.model import LatentVariableModel
from vae_core.models.objectives import active_units


def rate_distortion_point(
    model: LatentVariableModel, x: torch.Tensor, y: torch.Tensor | None = None
) -> dict[str, Any]:
    """{rate, distortion, beta, elbo, active_units} in nats per image on (x, y)."""
    labels = y if model.config.conditional else None
    m = evaluate_elbo(model, x, labels)
    mu, _ = posterior_means(model, x, labels)
    au, _ = active_units(mu)
    return {
        "beta": model.config.beta,
        "rate": m["kl"],
        "distortion": -m["recon"],
        "elbo": m["elbo"],
        "active_units": au,
        "kl_per_dim": m["kl_per_dim"],
    }


def sweep_data_kind(sweep: Mapping[str, Any]) -> DataKind:
    """The data kind of a saved sweep (``python -m vae_core sweep-beta``'s JSON), from the model
    config and the train config it records; ValueError when it does not say."""
    spec, train_config = sweep.get("model"), sweep.get("train_config")
    if not isinstance(spec, dict) or not isinstance(train_config, dict):
        raise ValueError("it does not record its model and train config")
    if "binarize" not in train_config:
        raise ValueError("its train config does not say whether the pixels were binarized")
    try:
        return data_kind(ModelConfig.from_dict(spec), train_config)
    except ConfigError as exc:
        raise ValueError(f"its model config is not valid: {exc}") from exc
