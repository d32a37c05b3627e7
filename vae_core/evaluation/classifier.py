"""A small CNN digit classifier, used as a judge of whether a CVAE draws the class it was asked for.

"Faithfulness" of a conditional generator (the classifier-based check of e.g. the conditional
GAN / CVAE literature, Sohn et al. 2015 evaluate CVAEs by what they generate per label): sample
n images per label y, classify them, and report the share classified as y. A generator can score
100% by drawing one perfect digit per class, so a per-class diversity figure sits next to it:
the mean pairwise Euclidean distance between generated images of a class, next to the same
figure for real test images of that class as a reference.

Checkpoints are safetensors files whose header metadata holds {"classifier": json} with the
training recipe, the dataset it was trained on and the measured test accuracy. A judge only means
something for the data it learned: a digit classifier reads every garment as some digit, so the
lookup below picks the classifier by the model's dataset and refuses one that does not fit.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from vae_core.io.atomic import atomic_write
from vae_core.models.model import LatentVariableModel
from vae_core.models.sampling import prior_codes

META_KEY = "classifier"
FILE_SUFFIX = "-classifier.safetensors"


def classifier_path(directory: str | Path, dataset: str) -> Path:
    """Where the classifier for ``dataset`` lives: DIRECTORY/DATASET-classifier.safetensors."""
    return Path(directory) / f"{dataset}{FILE_SUFFIX}"


def _dataset_title(dataset: str) -> str:
    from vae_core.data.sources import get_source

    try:
        return get_source(dataset).title
    except ValueError:
        return dataset


def find_classifier(directory: str | Path, dataset: str | None) -> Path:
    """The classifier file in ``directory`` for a model trained on ``dataset``.

    ValueError, worded for a student, when the model names no dataset or no file fits; the
    message lists the datasets that do have a classifier and the command that makes one.
    """
    directory = Path(directory)
    if not dataset:
        raise ValueError(
            "the model does not say which dataset it was trained on, so no classifier can be "
            "chosen to judge it"
        )
    path = classifier_path(directory, dataset)
    if path.is_file():
        return path
    have = sorted(f.name.removesuffix(FILE_SUFFIX) for f in directory.glob(f"*{FILE_SUFFIX}"))
    there = ", ".join(_dataset_title(d) for d in have) if have else "none"
    raise ValueError(
        f"there is no classifier for {_dataset_title(dataset)} in {directory} (classifiers "
        f"there: {there}); make one with `python -m vae_core train-classifier --dataset "
        f"{dataset}`"
    )


def check_fits(meta: dict[str, Any], dataset: str, n_classes: int, path: str | Path) -> None:
    """ValueError unless the classifier ``meta`` was trained on ``dataset`` with ``n_classes``."""
    name = Path(path).name
    trained_on = meta.get("dataset")
    if trained_on is not None and trained_on != dataset:
        raise ValueError(
            f"{name} was trained on {_dataset_title(str(trained_on))}, not on "
            f"{_dataset_title(dataset)}, so it cannot judge this model's images"
        )
    if int(meta.get("n_classes", 10)) != n_classes:
        raise ValueError(
            f"{name} tells {meta.get('n_classes', 10)} classes apart, but this model has "
            f"{n_classes}"
        )


class DigitClassifier(nn.Module):
    """conv(32) -> pool -> conv(64) -> pool -> 128 -> n_classes: ~99% on MNIST after 3 epochs."""

    def __init__(self, n_classes: int = 10, generator: torch.Generator | None = None) -> None:
        """``generator``: draw the initial weights from it (reproducible, see reset_parameters)."""
        super().__init__()
        self.n_classes = n_classes
        # The layers' constructors draw a default initialisation from the global RNG; with a
        # generator that draw is overwritten, so fork_rng keeps it from advancing anyone's stream.
        with torch.random.fork_rng(devices=[], enabled=generator is not None):
            self.features = nn.Sequential(
                nn.Conv2d(1, 32, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),  # 14x14
                nn.Conv2d(32, 64, 3, padding=1),
                nn.ReLU(),
                nn.MaxPool2d(2),  # 7x7
                nn.Flatten(),
                nn.Linear(64 * 7 * 7, 128),
                nn.ReLU(),
            )
            self.head = nn.Linear(128, n_classes)
        if generator is not None:
            self.reset_parameters(generator)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator) -> None:
        """PyTorch's default Conv2d/Linear initialisation, drawn from ``generator``.

        Written out because the layers' own ``reset_parameters`` draw from the global RNG, and
        seeding that (``torch.manual_seed``) would reseed every other user of it in the process.
        """
        for layer in self.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
                fan_in = layer.weight[0].numel()
                bound = 1 / math.sqrt(fan_in)
                nn.init.uniform_(layer.bias, -bound, bound, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, n_classes) for images (B, 1, 28, 28) in [0, 1]."""
        return self.head(self.features(x))

    @torch.inference_mode()
    def predict(self, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
        """Predicted labels (N,) int64."""
        self.eval()
        return torch.cat(
            [self(x[s : s + batch_size]).argmax(1) for s in range(0, len(x), batch_size)]
        )


@torch.inference_mode()
def accuracy(model: DigitClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    return float((model.predict(x) == y).double().mean())


def train_classifier(
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 1e-3,
    seed: int = 0,
    n_classes: int = 10,
    on_epoch: Callable[[int, float], None] | None = None,
) -> tuple[DigitClassifier, dict[str, Any]]:
    """Adam on cross-entropy over grey images x (N, 1, 28, 28) in [0, 1]; returns model and recipe."""
    if len(x) != len(y) or len(x) == 0:
        raise ValueError("need the same positive number of images and labels")
    g = torch.Generator().manual_seed(seed)
    model = DigitClassifier(n_classes, generator=g)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        total = 0.0
        for s in range(0, len(x), batch_size):
            idx = perm[s : s + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        if on_epoch is not None:
            on_epoch(epoch, total / len(x))
    model.eval()
    recipe = {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "train_size": len(x),
        "training_seconds": round(time.perf_counter() - start, 2),
    }
    return model, recipe


def save_classifier(model: DigitClassifier, path: str | Path, meta: dict[str, Any]) -> Path:
    """Atomic safetensors write; ``meta`` (JSON-safe) goes in the header."""
    header = {META_KEY: json.dumps({**meta, "n_classes": model.n_classes})}
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    return atomic_write(path, st_save(tensors, metadata=header))


def load_classifier(path: str | Path) -> tuple[DigitClassifier, dict[str, Any]]:
    """(model in eval mode, metadata); ValueError with a one-line reason for a bad file."""
    path = Path(path)
    try:
        data = path.read_bytes()
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_len])
        meta = json.loads(header.get("__metadata__", {}).get(META_KEY, "null"))
    except FileNotFoundError:
        raise ValueError(f"{path}: no such classifier file") from None
    except (SafetensorError, json.JSONDecodeError, UnicodeDecodeError, OverflowError) as exc:
        raise ValueError(f"{path}: not a classifier checkpoint ({exc})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: not a classifier checkpoint (no '{META_KEY}' metadata)")
    model = DigitClassifier(int(meta.get("n_classes", 10)))
    try:
        model.load_state_dict(tensors)
    except RuntimeError as exc:
        raise ValueError(
            f"{path}: classifier weights do not fit ({str(exc).splitlines()[0]})"
        ) from None
    model.eval()
    return model, meta


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean Euclidean distance between all pairs of images (a simple diversity figure)."""
    flat = x.reshape(len(x), -1).double()
    if len(flat) < 2:
        return 0.0
    d = torch.cdist(flat, flat)
    n = len(flat)
    return float(d.sum() / (n * (n - 1)))


@torch.inference_mode()
def _class_sample(x: torch.Tensor, y: torch.Tensor, c: int, n: int, seed: int) -> torch.Tensor:
    """A seeded random ``n`` of class ``c``'s images (the split's first ones are not typical:
    MNIST's test set puts its cleaner digits first)."""
    from vae_core.data.subsets import stratified_subset

    members = torch.nonzero(y == c).flatten()
    return x[members[torch.from_numpy(stratified_subset(y[members].numpy(), n, seed))]]


@torch.inference_mode()
def faithfulness(
    cvae: LatentVariableModel,
    classifier: DigitClassifier,
    n_per_class: int = 100,
    temperature: float = 1.0,
    seed: int = 0,
    reference: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Generate n_per_class decoded means per label, classify them, report accuracy and diversity.

    ``reference`` (x, y) real images add ``reference_diversity`` per class for comparison, and
    ``reconstruction_accuracy``: how often the classifier reads the CVAE's reconstructions of
    those images (posterior mean, true label) as their true class. That is the ceiling for the
    accuracy above, because generated images are decoded means too: blurrier than the real
    images the classifier's own test accuracy was measured on, and misread more often.
    """
    if not cvae.config.conditional:
        raise ValueError(f"faithfulness needs a CVAE; this model is a {cvae.config.display_name}")
    if n_per_class < 1:
        raise ValueError("n_per_class must be >= 1")
    k = cvae.config.n_classes
    if k != classifier.n_classes:
        raise ValueError(f"the CVAE has {k} classes but the classifier {classifier.n_classes}")
    cvae.eval()
    g = torch.Generator().manual_seed(int(seed))
    per_class, diversity, confusion = [], [], torch.zeros(k, k, dtype=torch.long)
    samples = []
    for c in range(k):
        z = prior_codes(n_per_class, cvae.config.latent_dim, temperature, g)
        imgs = cvae.decode(z.to(cvae.device), c).float().cpu()
        pred = classifier.predict(imgs)
        confusion[c] += torch.bincount(pred, minlength=k)
        per_class.append(float((pred == c).double().mean()))
        diversity.append(mean_pairwise_distance(imgs))
        samples.append(imgs[:8])
    out: dict[str, Any] = {
        "accuracy": sum(per_class) / k,
        "per_class": per_class,
        "diversity": diversity,
        "confusion": confusion.tolist(),
        "n_per_class": n_per_class,
        "temperature": temperature,
        "seed": seed,
        "examples": torch.cat(samples),
    }
    if reference is not None:
        rx, ry = reference
        out["reference_diversity"] = [
            mean_pairwise_distance(_class_sample(rx, ry, c, n_per_class, seed)) for c in range(k)
        ]
        out["reconstruction_accuracy"] = reconstruction_accuracy(cvae, classifier, rx, ry)
        out["reference_size"] = len(rx)
    return out


@torch.inference_mode()
def reconstruction_accuracy(
    cvae: LatentVariableModel,
    classifier: DigitClassifier,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 1000,
) -> float:
    """Share of the CVAE's reconstructions (decoded posterior mean, true label) read as y."""
    if len(x) == 0:
        raise ValueError("need at least one image")
    cvae.eval()
    hits = 0
    for s in range(0, len(x), batch_size):
        xb, yb = x[s : s + batch_size].to(cvae.device), y[s : s + batch_size].to(cvae.device)
        mu, _ = cvae.encode(xb, yb)
        rec = cvae.decode(mu, yb).float().cpu()
        hits += int((classifier.predict(rec) == yb.cpu()).sum())
    return hits / len(x)
