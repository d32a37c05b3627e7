"""A beta sweep: one model per KL weight on the same data, seed and recipe, each measured as a
rate-distortion point (``vae_core.evaluation.rate_distortion``).

It trains, so it sits in the training layer, above the evaluation it measures with.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import torch

from vae_core.config import ModelConfig
from vae_core.evaluation.rate_distortion import rate_distortion_point
from vae_core.models.model import LatentVariableModel
from vae_core.training.trainer import TrainConfig, train


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
