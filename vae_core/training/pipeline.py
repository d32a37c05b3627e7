"""Train → score → checkpoint: the one workflow behind ``python -m vae_core train`` and the
app's Train page.

Both front ends load the data their own way (the CLI with download bars and its data-folder
rules, the app with its offline fallback) and report progress their own way (a tqdm bar, a
live chart), then hand the rest to ``train_and_score``, so a model trained in either carries
the same metadata, was seeded the same way and was scored by the same protocol
(``vae_core.evaluation.scoring.score_split``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vae_core.config import ModelConfig, VQConfig
from vae_core.data.datasets import ImageSet, seen_in_training
from vae_core.evaluation.scoring import IW_SAMPLES, score_split
from vae_core.io.checkpoint_file import save_checkpoint
from vae_core.models.model import LatentVariableModel
from vae_core.training.distributed import current_rank
from vae_core.training.run_metadata import build_metadata
from vae_core.training.trainer import EpochInfo, StepInfo, TrainConfig, TrainResult, train

Progress = Callable[[int, int], None]


@dataclass
class TrainedRun:
    """What a run leaves: the trained model, its history, and its test report.

    ``test_metrics`` is None when the run was stopped before its last epoch (the checkpoint
    then holds the last whole or partial epoch, without a test score), and on every rank but 0
    of a ``torchrun`` group.
    """

    model: LatentVariableModel
    result: TrainResult
    checkpoint: Path
    test_metrics: dict[str, Any] | None


def train_and_score(
    model_config: ModelConfig | VQConfig,
    train_config: TrainConfig,
    *,
    train_set: ImageSet,
    test_set: ImageSet,
    checkpoint: Path,
    name: str,
    device_label: str,
    iw_samples: int = IW_SAMPLES,
    test_images: int | None = None,
    on_step: Callable[[StepInfo], None] | None = None,
    on_epoch: Callable[[EpochInfo], None] | None = None,
    stop: threading.Event | None = None,
    on_trained: Callable[[int], None] | None = None,
    score_progress: Progress | None = None,
) -> TrainedRun:
    """Train a fresh model, score it on the test split, and write its final checkpoint.

    The weights are initialised from a Generator seeded with ``train_config.seed``, so the same
    config gives the same model in the CLI and in the app, whatever else the server samples
    meanwhile. The trainer writes a checkpoint after every epoch (a crash or a Stop keeps the
    last good one); the final write adds the test metrics. ``test_images`` scores the seeded
    stratified subset of that many test images (None: all of them); ``on_trained(n)`` is
    called with that count before scoring starts. Raises ``TrainingDiverged`` on a NaN loss.

    A ``VQConfig`` trains a VQ-VAE through ``vae_core.training.vq`` (its own step, its own
    scoring: no IWAE, so ``iw_samples`` and ``score_progress`` do not apply) with the same
    seeding, data, callbacks, per-epoch checkpoints and stop, so a front end needs one call.
    """
    if isinstance(model_config, VQConfig):
        return _train_and_score_vq(
            model_config,
            train_config,
            train_set=train_set,
            test_set=test_set,
            checkpoint=checkpoint,
            name=name,
            device_label=device_label,
            test_images=test_images,
            on_step=on_step,
            on_epoch=on_epoch,
            stop=stop,
            on_trained=on_trained,
        )
    model = LatentVariableModel(model_config, torch.Generator().manual_seed(train_config.seed))

    def metadata(result: TrainResult, test_metrics: dict[str, Any] | None = None) -> dict[str, Any]:
        meta = build_metadata(
            name=name,
            train_set=train_set,
            train_config=train_config,
            result=result,
            device_label=device_label,
            test_metrics=test_metrics,
        )
        meta["stopped_early"] = bool(result.stopped)
        return meta

    x, y = train_set.tensors()
    result = train(
        model,
        x,
        y,
        train_config,
        on_step=on_step,
        on_epoch=on_epoch,
        stop=stop,
        checkpoint_path=checkpoint,
        checkpoint_meta=metadata,
    )
    if result.stopped or not current_rank().is_main:  # under torchrun rank 0 alone scores
        return TrainedRun(model, result, checkpoint, None)
    n = len(test_set) if test_images is None else min(test_images, len(test_set))
    if on_trained is not None:
        on_trained(n)
    trained_on = {
        "dataset": train_config.dataset,
        "data_source": train_set.source,
        "train_size": len(train_set),
    }
    metrics = score_split(
        model,
        test_set,
        train_config.binarize,
        iw_samples,
        limit=test_images,
        seen=seen_in_training(test_set, trained_on),
        progress=score_progress,
    )
    save_checkpoint(model, checkpoint, metadata(result, metrics))
    return TrainedRun(model, result, checkpoint, metrics)


def _train_and_score_vq(
    config: VQConfig, train_config: TrainConfig, *, on_epoch: Callable[[EpochInfo], None] | None,
    **kwargs: Any,
) -> TrainedRun:  # fmt: skip
    from vae_core.training.vq import train_and_score_vq

    infos: list[EpochInfo] = []

    def epoch_done(info: EpochInfo) -> None:
        infos.append(info)
        if on_epoch is not None:
            on_epoch(info)

    model, history, metrics = train_and_score_vq(
        config, train_config, on_epoch_info=epoch_done, **kwargs
    )
    seconds = history[-1]["seconds"] if history else 0.0
    stopped = metrics is None
    result = TrainResult(model, infos, stopped=stopped, seconds=seconds)  # type: ignore[arg-type]
    return TrainedRun(model, result, kwargs["checkpoint"], metrics)  # type: ignore[arg-type]
