"""Which images a figure uses when it cannot use the whole split: :func:`stratified_subset`.

"The first N images" of a split is a biased sample whenever the file has an order: the offline
sample is sorted by class (its first 500 are all zeros), and even the real MNIST test set puts
its 5,000 cleaner digits (from NIST's SD-3 writers) before the 5,000 harder ones. Every page
and CLI command that scores N < all images therefore takes this one seeded, class-stratified
subset, so the app and ``python -m vae_core ... --limit N`` score the very same images.
:func:`describe_subset` writes the caption that says which images those are.

No PyTorch here: the Home page reads a split before PyTorch is loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from .datasets import ImageSet

__all__ = [
    "SUBSET_SEED",
    "class_counts_text",
    "describe_images",
    "describe_subset",
    "provenance_clause",
    "stratified_subset",
    "subset_of",
]

#: The seed every figure's subset uses unless told otherwise (and says so in its caption).
SUBSET_SEED = 0


def stratified_subset(
    labels: Sequence[int] | np.ndarray, n: int, seed: int = SUBSET_SEED
) -> np.ndarray:
    """Indices of ``n`` images of a labelled split, drawn at random (``seed``) within each class.

    Each class gets its share of ``n`` in the split's own class proportions, rounded so that
    every class is within about one image of ``n * count_c / N`` (for a split with equal
    classes: within one of ``n / classes``). Proportional rather than equal shares, because the figures
    estimate a test-set mean (NLL, ELBO, PSNR...), which equal shares would bias towards rare
    classes.

    The order is the point: the result for ``n`` is the first ``n`` entries of the result for
    any larger ``n``, so every prefix is itself stratified (a grid of the first 16 shows mixed
    classes) and a figure on 500 images uses a subset of the 1,000 of the next figure.
    ``n >= len(labels)`` returns ``arange(len(labels))``: the whole split in its own order, so
    whole-split figures are the same as without a subset. Deterministic: a
    ``numpy.random.Generator`` seeded with ``seed``, never the global RNG.

    Written by hand because scikit-learn's stratified splitters (``train_test_split``,
    ``StratifiedShuffleSplit``) draw each size independently, so their subsets of 500 and
    1,000 images are not nested and their order within a subset is not stratified.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    total = len(labels)
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if n >= total:
        return np.arange(total, dtype=np.int64)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(total)  # which images of each class come first: random
    shuffled = labels[perm]
    _, inverse, counts = np.unique(shuffled, return_inverse=True, return_counts=True)
    by_class = np.argsort(inverse, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(total, dtype=np.int64)  # rank of each image within its class
    rank[by_class] = np.arange(total) - np.repeat(starts, counts)
    # An image's "due time": the r-th image of class c is taken at (r + 1/2) / count_c of the
    # way through, so at any cut-off every class has taken its proportional share, rounded.
    # Classes due at the same moment (equal-sized classes) are ordered at random.
    due = (rank + 0.5) / counts[inverse]
    order = np.lexsort((rng.random(total), due))
    return perm[order[:n]].astype(np.int64)


def class_counts_text(labels: Sequence[int] | np.ndarray) -> str:
    """'100 per class' or '89 to 114 per class' for the labels of a subset."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return "no images"
    counts = np.unique(labels, return_counts=True)[1]
    lo, hi = int(counts.min()), int(counts.max())
    return f"{lo:,} per class" if lo == hi else f"{lo:,} to {hi:,} per class"


def capitalized(text: str) -> str:
    """``text`` with its first letter upper-case, the rest as it is ('MNIST' stays 'MNIST',
    which ``str.capitalize`` would lower), for a noun that starts a label."""
    return text[:1].upper() + text[1:]


def describe_subset(
    labels: Sequence[int] | np.ndarray,
    n: int | None,
    noun: str,
    *,
    seed: int = SUBSET_SEED,
    processing: str = "",
) -> str:
    """The caption of a figure on ``stratified_subset(labels, n, seed)`` of a split.

    ``noun`` names the whole split ("MNIST test images"); ``processing`` says how the pixels
    were scored ("binarized once with seed 0", "grey pixels"). E.g. "1,000 of the 10,000 MNIST
    test images (random within each class, in the split's class proportions: 89 to 114 per
    class; seed 0), binarized once with seed 0", or "all 10,000 MNIST test images, grey pixels".
    """
    labels = np.asarray(labels)
    total = len(labels)
    take = total if n is None else min(int(n), total)
    if take >= total:
        text = f"all {total:,} {noun}"
    else:
        chosen = labels[stratified_subset(labels, take, seed)]
        text = (
            f"{take:,} of the {total:,} {noun} (random within each class, in the split's class "
            f"proportions: {class_counts_text(chosen)}; seed {seed})"
        )
    return f"{text}, {processing}" if processing else text


def provenance_clause(images: ImageSet, seen: bool | None) -> str:
    """What a caption must add about the offline sample's held-out digits ('' otherwise).

    They come from MNIST's training set, so they are only test images for a model that did not
    train on them: ``seen`` is :func:`vae_core.data.datasets.seen_in_training` for the model.
    A clause (lower case, no full stop), to follow "; " or " · ".
    """
    if images.source != "offline-sample" or images.split != "test":
        return ""
    if seen:
        return (
            "these are MNIST training digits, and this model was trained on real MNIST, which "
            "holds every one of them: it has seen them, so this is no test of it"
        )
    if seen is False:
        return "MNIST training digits held out from the ones this model was trained on"
    return "MNIST training digits, not the MNIST test set"


def describe_images(
    images: ImageSet,
    n: int | None,
    *,
    processing: str = "",
    seen: bool | None = None,
    seed: int = SUBSET_SEED,
) -> str:
    """:func:`describe_subset` of a loaded split, with :func:`provenance_clause` appended."""
    text = describe_subset(images.labels, n, images.noun, seed=seed, processing=processing)
    clause = provenance_clause(images, seen)
    return f"{text}; {clause}" if clause else text


def subset_of(images: ImageSet, n: int | None, seed: int = SUBSET_SEED) -> np.ndarray:
    """``stratified_subset`` of a loaded split's labels (all of it when ``n`` is None)."""
    return stratified_subset(images.labels, len(images) if n is None else n, seed)


def subset_images(images: ImageSet, n: int | None, seed: int = SUBSET_SEED) -> ImageSet:
    """The split cut to ``subset_of(images, n)`` (itself when ``n`` is None or covers it all):
    its note and counts then describe what a model trained or scored on it really saw."""
    if n is None or n >= len(images):
        return images
    idx = subset_of(images, n, seed)
    return replace(images, images=images.images[idx], labels=images.labels[idx])
