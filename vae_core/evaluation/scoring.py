"""The scoring protocol: which test inputs a model is scored on, then its batch-averaged ELBO
parts, IWAE NLL and active units.

All figures are nats per image. A model trained on binarized pixels is scored on one fixed,
seeded binarization of the whole split, subset afterwards (Burda et al. 2015), so every run,
device and image count sees the same bits; other models are scored on grey pixels. The CLI,
the Train page, the evaluation pages and the OOD sets all take their inputs from
``model_inputs`` (``scored_images`` adds the stratified subset of ``n`` images); ``score_split``
is the one test report that ``python -m vae_core train``, ``evaluate`` and the Train page write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from vae_core.data.binarize import binarize_static
from vae_core.data.datasets import ImageSet
from vae_core.data.subsets import describe_images, subset_of
from vae_core.evaluation.data_kind import uses_binary_test_data
from vae_core.models.model import LatentVariableModel
from vae_core.models.objectives import active_units, elbo_terms, iwae_log_likelihood

SCORING_SEED = 0  # the seed of the test set's one fixed binarization
# Importance samples of a test report's NLL: the K of Burda et al.'s figures when nothing else is
# asked (the Likelihood page and ``python -m vae_core nll`` offer K up to 100,000).
IW_SAMPLES = 100


def model_inputs(x: torch.Tensor, binary: bool, *, seed: int = SCORING_SEED) -> torch.Tensor:
    """The images as the model is scored on them: one fixed binarization for models trained on
    binarized pixels, grey pixels otherwise.

    Pass the whole split and index it afterwards: a subset binarized on its own would get other
    bits, so a figure on 1,000 images would not score the same images as the full one.
    """
    return binarize_static(x, seed=seed) if binary else x


def scored_images(
    images: ImageSet, binary: bool, n: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, labels) of the ``n`` images a score on ``n`` uses, as the model sees them.

    The whole split binarized once (``model_inputs``), then its seeded class-stratified subset
    of ``n`` (``vae_core.data.subsets``; all of it, in order, for ``n`` None or >= N): the
    images ``--limit n`` and the app's figures on ``n`` use.
    """
    x, y = images.tensors()
    x = model_inputs(x, binary)
    if n is not None and n < len(x):
        idx = torch.from_numpy(subset_of(images, n))
        x, y = x[idx], y[idx]
    return x, y


@torch.no_grad()
def evaluate_elbo(
    model: LatentVariableModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    batch_size: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Mean elbo / recon / kl (one z sample per image, seeded) and KL per latent dim."""
    was_training = model.training
    model.eval()
    device = model.device
    gen = torch.Generator(device=device).manual_seed(seed)
    n = len(x)
    sums = torch.zeros(3, dtype=torch.float64)
    kl_dims = torch.zeros(model.config.latent_dim, dtype=torch.float64)
    for s in range(0, n, batch_size):
        xb = x[s : s + batch_size].to(device)
        yb = None if y is None else y[s : s + batch_size].to(device)
        t = elbo_terms(model, xb, yb, generator=gen)
        w = len(xb)
        sums += torch.stack([t.elbo, t.recon, t.kl]).double().cpu() * w
        kl_dims += t.kl_per_dim.double().cpu() * w
    model.train(was_training)
    elbo, recon, kl = (sums / n).tolist()
    return {"elbo": elbo, "recon": recon, "kl": kl, "kl_per_dim": (kl_dims / n).tolist()}


@torch.no_grad()
def posterior_means(
    model: LatentVariableModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    batch_size: int = 2000,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder outputs (mu, logvar) for a whole dataset, on the CPU, each (N, D)."""
    mus, logvars = [], []
    for s in range(0, len(x), batch_size):
        yb = None if y is None else y[s : s + batch_size].to(model.device)
        mu, logvar = model.encode(x[s : s + batch_size].to(model.device), yb)
        mus.append(mu.float().cpu())
        logvars.append(logvar.float().cpu())
    return torch.cat(mus), torch.cat(logvars)


@torch.no_grad()
def iwae_nll(
    model: LatentVariableModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    k: int = 100,
    batch_size: int = 100,
    seed: int = 0,
    progress: Any = None,
) -> torch.Tensor:
    """Per-image importance-weighted NLL estimate -log p(x) (N,), positive nats; the noise
    comes from a Generator seeded with ``seed`` on the model's device."""
    gen = torch.Generator(device=model.device).manual_seed(seed)
    out = []
    for s in range(0, len(x), batch_size):
        yb = None if y is None else y[s : s + batch_size].to(model.device)
        xb = x[s : s + batch_size].to(model.device)
        ll = iwae_log_likelihood(model, xb, yb, k=k, generator=gen)
        out.append(-ll.double().cpu())
        if progress is not None:
            progress(min(s + batch_size, len(x)), len(x))
    return torch.cat(out)


def evaluate_model(
    model: LatentVariableModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    iw_samples: int = IW_SAMPLES,
    progress: Any = None,
) -> dict[str, Any]:
    """The full report for a checkpoint: ELBO parts, IWAE NLL and active units."""
    report = evaluate_elbo(model, x, y)
    mu, _ = posterior_means(model, x, y)
    au, _ = active_units(mu)
    report["active_units"] = au
    report["n"] = len(x)
    if model.config.stochastic and iw_samples > 0:
        nll = iwae_nll(model, x, y, k=iw_samples, progress=progress)
        report["nll"] = float(nll.mean())
        report["iw_samples"] = iw_samples
    else:
        report["nll"] = None  # an AE defines no density
        report["iw_samples"] = 0
    return report


def pixels_note(binary: bool) -> str:
    """How the scored images were processed, for ``describe_images`` captions."""
    return f"binarized once with seed {SCORING_SEED}" if binary else "grey pixels"


def score_split(
    model: LatentVariableModel,
    image_set: ImageSet,
    binarize: str,
    iw_samples: int,
    limit: int | None = None,
    seen: bool | None = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """``evaluate_model`` on a split (its stratified subset of ``limit``), labelled with what
    was scored: the test protocol of a model trained with ``binarize``, the split, the data's
    source, and a ``scored_on`` sentence such as "1,000 of the 10,000 MNIST test images (random
    within each class ...; seed 0), binarized once with seed 0". ``seen``
    (``vae_core.data.datasets.seen_in_training``) adds whether the model trained on them.
    ``progress(done, total)`` follows the IWAE pass and may raise to abandon it.
    """
    binary = uses_binary_test_data(binarize)
    x, y = scored_images(image_set, binary, limit)
    labels = y if model.config.conditional else None
    metrics = evaluate_model(model, x, labels, iw_samples=iw_samples, progress=progress)
    metrics["binarized"] = binary
    metrics["split"] = image_set.split
    metrics["data_source"] = image_set.source  # "offline-sample": not the real test set
    metrics["test_note"] = image_set.note
    metrics["scored_on"] = describe_images(
        image_set, limit, processing=pixels_note(binary), seen=seen
    )
    return metrics
