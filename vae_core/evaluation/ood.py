"""Out-of-distribution detection with a VAE's likelihood, and why it needs a correction.

A density model should give unfamiliar inputs a low likelihood, but deep generative models
often do not: Nalisnick et al. 2019 ("Do deep generative models know what they don't know?")
show Fashion-MNIST models rating MNIST digits *more* likely than their own test set, because
the likelihood is dominated by input complexity (how many pixels are "on", how smooth the image
is). Serrà et al. 2020 ("Input complexity and out-of-distribution detection with likelihood-based
generative models") correct for this with a generic lossless compressor as a reference model:
S(x) = -log p_model(x) - L(x), L(x) the compressed length of x in bits (here PNG, one of the
compressors they use); large S means the model explains x worse than a generic compressor does.
The correction assumes both sides measure the same discrete data: it is sound for a model scored
on binarized pixels (PNG of the 0/255 image) but mis-scaled for a Bernoulli model on grey pixels,
whose cross-entropy is not a likelihood of 8-bit images (there it can over-correct noise).

Scores are "higher = more out-of-distribution" throughout, so AUROC(in, out) = 1 is perfect
separation and 0.5 is chance.

The in-distribution set is the model's own test split: MNIST's or Fashion-MNIST's, or an
imported set's (``vae_core.io.imports``). The "other datasets" are the shipped ones the model was
not trained on: one for an MNIST or Fashion-MNIST model, both for a model of an imported set.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from vae_core.data.datasets import ImageSet
from vae_core.data.sources import get_source, is_imported_name
from vae_core.data.subsets import subset_of
from vae_core.evaluation.iwae import iwae_nll_fast
from vae_core.evaluation.scoring import model_inputs, scored_images
from vae_core.models.model import LatentVariableModel

OOD_SETS = ("mnist-test", "fashion-test", "uniform-noise", "inverted", "rotated")
DATASET_SETS = {"mnist-test": "mnist", "fashion-test": "fashion-mnist"}
SET_TITLES = {
    "mnist-test": "MNIST test",
    "fashion-test": "Fashion-MNIST test",
    "uniform-noise": "uniform noise",
    "inverted": "inverted (1 - x)",
    "rotated": "rotated 90°",
}
Progress = Callable[[int, int], None]
# The noise generator is offset from ``seed`` because binarize_static(x, seed) draws its own
# uniforms from a generator seeded the same way: noise made from the *same* stream would be
# binarized as (u < u), i.e. to an all-black image.
NOISE_SEED_OFFSET = 7919


#: What the other datasets' test splits are, as ``build_ood_sets`` takes them: by dataset name,
#: the loaded split, or the sentence saying why it is missing.
OtherSets = Mapping[str, "ImageSet | str"]


def set_name_for(dataset: str) -> str:
    """The set name of a dataset's test split: "mnist" -> "mnist-test" (an OOD_SETS name), an
    imported set "shapes" -> "shapes-test" ("imported-NAME-test" where "NAME-test" would be an
    OOD_SETS name, as for a set called "fashion"), so the in-distribution set never shares a
    name with a set it is compared with."""
    for name, ds in DATASET_SETS.items():
        if ds == dataset:
            return name
    if is_imported_name(dataset):
        name = f"{dataset}-test"
        return f"imported-{name}" if name in OOD_SETS else name
    raise ValueError(f"no test set name for dataset {dataset!r}")


def other_datasets(dataset: str) -> tuple[str, ...]:
    """The shipped datasets that are out of distribution for a model of ``dataset``: the other
    one for MNIST / Fashion-MNIST, both for an imported set (in DATASET_SETS' order)."""
    return tuple(ds for ds in DATASET_SETS.values() if ds != dataset)


def ood_set_names(dataset: str) -> tuple[str, ...]:
    """Every set the OOD page scores for a model of ``dataset``, in display order: OOD_SETS for
    MNIST and Fashion-MNIST (their own test split among them), the imported set's test split
    first and then OOD_SETS for an imported set."""
    own = set_name_for(dataset)
    return OOD_SETS if own in OOD_SETS else (own, *OOD_SETS)


def make_ood_set(
    name: str,
    base_x: torch.Tensor,
    seed: int = 0,
    dataset_x: torch.Tensor | None = None,
) -> torch.Tensor:
    """Images (N, 1, 28, 28) in [0, 1] for one set, N = len(base_x).

    ``base_x`` is the model's in-distribution test images: "inverted" and "rotated" transform
    them, "uniform-noise" draws U(0, 1) pixels from ``seed + NOISE_SEED_OFFSET``.
    "mnist-test" / "fashion-test" are the first N images of ``dataset_x``, that dataset's images
    as the caller has chosen them (``build_ood_sets``: its seeded stratified subset).
    """
    n = len(base_x)
    if name in DATASET_SETS:
        if dataset_x is None:
            raise ValueError(f"the set {name!r} needs that dataset's images (dataset_x)")
        return dataset_x[:n].to(base_x.dtype)
    if name == "uniform-noise":
        g = torch.Generator().manual_seed(seed + NOISE_SEED_OFFSET)
        return torch.rand(base_x.shape, generator=g).to(base_x.dtype)
    if name == "inverted":
        return 1.0 - base_x
    if name == "rotated":
        return torch.rot90(base_x, 1, dims=(2, 3)).contiguous()
    raise ValueError(f"unknown OOD set {name!r}; valid: {', '.join(OOD_SETS)}")


@dataclass(frozen=True)
class OodSet:
    """One set as scored: its model inputs, or ``x`` None with ``note`` saying why it is missing."""

    name: str  # one of OOD_SETS
    title: str
    x: torch.Tensor | None
    in_distribution: bool
    note: str = ""


def build_ood_sets(
    test: ImageSet,
    binary: bool,
    n: int | None = None,
    other: ImageSet | OtherSets | None = None,
    other_note: str = "",
    names: Sequence[str] | None = None,
    seed: int = 0,
) -> list[OodSet]:
    """The named sets, in the order of ``names`` (default ``ood_set_names(test.dataset)``), as
    the model is scored on them.

    The in-distribution set is ``scored_images(test, binary, n)``: the images ``evaluate --limit
    n`` and the app's figures on ``n`` score. The transformed copies and the noise are made from
    the grey pixels of those images. ``other`` holds the other datasets' test splits
    (``other_datasets``) by dataset name, each the loaded split or the note saying why it is
    missing; a model with one other dataset may pass that split alone, or None with
    ``other_note``. Each other dataset's set is its own seeded stratified subset of as many
    images (all of them if it has fewer), or missing with its note. Every set then gets the
    model's test protocol (``model_inputs``). The app's OOD page and ``python -m vae_core
    evaluate --ood`` both call this, so they score the same tensors.
    """
    own = set_name_for(test.dataset)
    expected = other_datasets(test.dataset)
    others = as_other_sets(test.dataset, other, other_note)
    for dataset, found in others.items():
        if dataset not in expected:
            raise ValueError(f"{dataset} is not another dataset of {test.dataset}")
        if isinstance(found, ImageSet) and found.dataset != dataset:
            raise ValueError(f"the images given as {dataset} are {found.dataset}")
    inside, _ = scored_images(test, binary, n)
    grey, _ = test.tensors()
    if n is not None and n < len(grey):
        grey = grey[torch.from_numpy(subset_of(test, n))]
    sets = []
    for name in ood_set_names(test.dataset) if names is None else names:
        if name == own:
            title = SET_TITLES.get(name) or f"{get_source(test.dataset).title} test"
            sets.append(OodSet(name, title + " (in-distribution)", inside, True))
            continue
        title = SET_TITLES.get(name, name)
        dataset = DATASET_SETS.get(name)
        found = others.get(dataset, "its images were not given") if dataset else None
        if isinstance(found, str):
            sets.append(OodSet(name, title, None, False, found))
            continue
        other_x = None
        if isinstance(found, ImageSet):
            other_x = found.tensors()[0][torch.from_numpy(subset_of(found, len(grey)))]
        x = make_ood_set(name, grey, seed, dataset_x=other_x)
        sets.append(OodSet(name, title, model_inputs(x, binary), False))
    return sets


def as_other_sets(
    dataset: str, other: ImageSet | OtherSets | None, note: str = ""
) -> dict[str, ImageSet | str]:
    """``build_ood_sets``' ``other`` as a mapping by dataset name; a lone split (or None, with
    ``note``) stands for the one other dataset of an MNIST or Fashion-MNIST model."""
    if other is None or isinstance(other, ImageSet):
        expected = other_datasets(dataset)
        if len(expected) != 1:
            if other is None and not note:
                return {}
            raise ValueError(f"{dataset} has {len(expected)} other datasets: pass them by name")
        return {expected[0]: note if other is None else other}
    return dict(other)


def score_sets(
    model: LatentVariableModel,
    sets: dict[str, torch.Tensor],
    k: int = 100,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, torch.Tensor]:
    """IWAE NLL per image (nats, higher = less likely) for each named set of model inputs.

    A CVAE has no unconditional likelihood here, so it is refused. ``progress(done, total)``
    counts images over all sets.
    """
    if model.config.conditional:
        raise ValueError("OOD scoring needs an unconditional model (VAE), not a CVAE")
    total = sum(len(x) for x in sets.values())
    done = 0
    out: dict[str, torch.Tensor] = {}
    for name, x in sets.items():
        cb = None if progress is None else (lambda d, _t, base=done: progress(base + d, total))
        out[name] = iwae_nll_fast(model, x, None, k=k, seed=seed, progress=cb)
        done += len(x)
    return out


def auroc(in_scores: torch.Tensor, out_scores: torch.Tensor) -> float:
    """Area under the ROC curve for telling out (label 1) from in (label 0) by the score."""
    from sklearn.metrics import roc_auc_score  # scikit-learn takes seconds to import: only here

    a = np.asarray(torch.as_tensor(in_scores, dtype=torch.float64))
    b = np.asarray(torch.as_tensor(out_scores, dtype=torch.float64))
    if len(a) == 0 or len(b) == 0:
        raise ValueError("AUROC needs at least one in- and one out-of-distribution score")
    labels = np.concatenate([np.zeros(len(a)), np.ones(len(b))])
    return float(roc_auc_score(labels, np.concatenate([a, b])))


def png_bits(x: torch.Tensor) -> torch.Tensor:
    """Compressed length in bits (N,) of each image as an 8-bit greyscale PNG (zlib level 9).

    Includes the PNG container's constant overhead, which shifts every score equally and so
    leaves AUROCs unchanged.
    """
    arr = (x.detach().cpu().float().clamp(0, 1).reshape(len(x), 28, 28).numpy() * 255 + 0.5).astype(
        np.uint8
    )
    bits = []
    for img in arr:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG", compress_level=9)
        bits.append(8 * len(buf.getvalue()))
    return torch.tensor(bits, dtype=torch.float64)


def complexity_corrected(nll: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Serrà et al. 2020 score S(x) = NLL(x) - L(x) in nats (L: PNG bits * ln 2), per image."""
    return nll.double().cpu() - png_bits(x) * math.log(2)


def ood_report(
    model: LatentVariableModel,
    sets: dict[str, torch.Tensor],
    in_name: str,
    k: int = 100,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Per set: mean NLL, and AUROC against ``in_name`` by raw NLL and by Serrà's corrected score.

    ``sets`` holds model inputs (already binarized where the model expects it).
    """
    if in_name not in sets:
        raise ValueError(f"the in-distribution set {in_name!r} is not among the scored sets")
    nll = score_sets(model, sets, k=k, seed=seed, progress=progress)
    corrected = {name: complexity_corrected(nll[name], x) for name, x in sets.items()}
    report: dict[str, Any] = {"in_distribution": in_name, "k": k, "sets": {}}
    for name in sets:
        entry = {
            "n": len(nll[name]),
            "mean_nll": float(nll[name].mean()),
            "mean_corrected": float(corrected[name].mean()),
        }
        if name != in_name:
            entry["auroc_nll"] = auroc(nll[in_name], nll[name])
            entry["auroc_corrected"] = auroc(corrected[in_name], corrected[name])
        report["sets"][name] = entry
    report["scores"] = {"nll": nll, "corrected": corrected}
    return report
