"""A small CNN digit classifier, used as a judge of whether a CVAE draws the class it was asked for.

"Faithfulness" of a conditional generator (the classifier-based check of e.g. the conditional
GAN / CVAE literature, Sohn et al. 2015 evaluate CVAEs by what they generate per label): sample
n images per label y, classify them, and report the share classified as y. A generator can score
100% by drawing one perfect digit per class, so a per-class diversity figure sits next to it:
the mean pairwise Euclidean distance between generated images of a class, next to the same
figure for real test images of that class as a reference.

Checkpoints are safetensors files whose header metadata holds {"classifier": json} with the
training recipe and the measured test accuracy.
"""

from __future__ import annotations

import json
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

from vae_core.checkpoints import atomic_write
from vae_core.model import LatentVariableModel

META_KEY = "classifier"


class DigitClassifier(nn.Module):
    """conv(32) -> pool -> conv(64) -> pool -> 128 -> n_classes: ~99% on MNIST after 3 epochs."""

    def __init__(self, n_classes: int = 10) -> None:
        super().__init__()
        self.n_classes = n_classes
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
    torch.manual_seed(seed)
    model = DigitClassifier(n_classes)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
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


def faithfulness(
    cvae: LatentVariableModel,
    classifier: DigitClassifier,
    n_per_class: int = 100,
    temperature: float = 1.0,
    seed: int = 0,
    reference: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict[str, Any]:
    """Generate n_per_class decoded means per label, classify them, report accuracy and diversity.

    ``reference`` (x, y) real images add ``reference_diversity`` per class for comparison.
    """
    if not cvae.config.conditional:
        raise ValueError(f"faithfulness needs a CVAE; this model is a {cvae.config.display_name}")
    if n_per_class < 1:
        raise ValueError("n_per_class must be >= 1")
    k = cvae.config.n_classes
    if k != classifier.n_classes:
        raise ValueError(f"the CVAE has {k} classes but the classifier {classifier.n_classes}")
    cvae.eval()
    torch.manual_seed(seed)
    per_class, diversity, confusion = [], [], torch.zeros(k, k, dtype=torch.long)
    samples = []
    for c in range(k):
        imgs = cvae.sample(n_per_class, c, temperature=temperature).float().cpu()
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
    return out
