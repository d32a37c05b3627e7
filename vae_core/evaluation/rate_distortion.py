"""Rate and distortion of a VAE, and a beta sweep that traces the trade-off between them.

The negative ELBO splits into a rate R = E_x KL(q(z|x) || p(z)) (nats the code spends on each
image) and a distortion D = -E_x E_q log p(x|z) (how badly the code reconstructs it); beta-VAE
minimises D + beta R (Higgins et al. 2017), so each beta picks one point of the R-D curve, and
larger beta buys a lower rate with more distortion (Alemi et al. 2018, "Fixing a broken ELBO").
beta = 1 is the ordinary ELBO; on the line D + R = -ELBO.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from vae_core.config import ConfigError, ModelConfig
from vae_core.evaluation.scoring import evaluate_elbo, posterior_means
from vae_core.models.model import LatentVariableModel
from vae_core.models.objectives import active_units
from vae_core.training.run_metadata import DataKind, data_kind
from vae_core.training.trainer import TrainConfig, train


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


def sweep_beta(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_eval: torch.Tensor,
    y_eval: torch.Tensor | None,
    betas: Sequence[float],
    model_config: ModelConfig,
    train_config: TrainConfig,
    on_point: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train one model per beta (same data, seed and recipe) and measure its R-D point on x_eval.

    ``x_eval`` must already be in the form the model is scored on (e.g. statically binarized).
    """
    if not betas:
        raise ValueError("give at least one beta")
    if any(not b > 0 for b in betas):
        raise ValueError(f"betas must be positive, got {list(betas)}")
    points = []
    for beta in betas:
        cfg = ModelConfig.from_dict({**model_config.to_dict(), "beta": float(beta)})
        model = LatentVariableModel(cfg, torch.Generator().manual_seed(train_config.seed))
        start, cpu_start = time.perf_counter(), time.process_time()
        result = train(model, x_train, y_train, train_config)
        point = rate_distortion_point(result.model, x_eval, y_eval)
        point["train_seconds"] = round(time.perf_counter() - start, 2)  # wall clock
        point["cpu_seconds"] = round(time.process_time() - cpu_start, 2)  # all threads
        point["epochs"] = len(result.history)
        points.append(point)
        if on_point is not None:
            on_point(point)
    return points
