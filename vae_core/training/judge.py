"""Training the classifier that judges a dataset's images (``train-classifier``, and the Train
page's button for an imported set): the CVAE faithfulness score and the Latent map's classifier
regions read it.

A shipped set's judge lives with the shipped models (``checkpoints/classifiers/``); an imported
set's lives inside the set's own folder, so replacing the set (``import-images --force``) also
removes a judge of the images it no longer holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vae_core.data.datasets import ImageSet
from vae_core.data.sources import SOURCES, imported_folder
from vae_core.evaluation.classifier import (
    accuracy,
    classifier_path,
    save_classifier,
    train_classifier,
)
from vae_core.training.run_metadata import dataset_note

JUDGE_EPOCHS = 3  # the default; the shipped judges' own recipes are in checkpoints/README.md


def judge_folder(dataset: str, shipped: Path, data_dir: str | Path | None = None) -> Path:
    """Where the judge of ``dataset`` lives: ``shipped`` for MNIST and Fashion-MNIST, the set's
    own folder for an imported one (``shipped`` when the set cannot be found, so the message
    that follows names a real folder)."""
    if dataset in SOURCES:
        return shipped
    return imported_folder(dataset, data_dir) or shipped


def train_judge(
    train_set: ImageSet,
    test_set: ImageSet,
    out: Path,
    *,
    epochs: int = JUDGE_EPOCHS,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    command: str = "",
    on_epoch: Callable[[int, float], None] | None = None,
) -> dict[str, Any]:
    """Train the small CNN on ``train_set`` (one output per class of the set), measure it on all
    of ``test_set`` and write it to ``out``; returns the metadata stored with it."""
    x, y = train_set.tensors()
    xt, yt = test_set.tensors()
    n_classes = len(train_set.class_names)
    model, recipe = train_classifier(
        x, y, epochs, batch_size, lr, seed, n_classes=n_classes, on_epoch=on_epoch
    )
    meta = {
        "dataset": train_set.dataset,
        "dataset_note": dataset_note(train_set),
        "test_accuracy": round(accuracy(model, xt, yt), 4),
        "test_size": len(xt),
        "n_classes": n_classes,
        **recipe,
        "command": command,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    save_classifier(model, out, meta)
    return meta


def default_judge_path(dataset: str, shipped: Path, data_dir: str | Path | None = None) -> Path:
    """The file ``train-classifier`` writes and the pages read for ``dataset``."""
    return classifier_path(judge_folder(dataset, shipped, data_dir), dataset)
