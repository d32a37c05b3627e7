"""The one rule for "N images of a split": seeded, class-stratified, nested, deterministic."""

from __future__ import annotations

import numpy as np
import pytest

from vae_core.data.datasets import ImageSet
from vae_core.data.subsets import (
    class_counts_text,
    describe_images,
    describe_subset,
    stratified_subset,
)

SORTED = np.repeat(np.arange(10), 500)  # like the offline sample: 500 zeros, then 500 ones...
# MNIST's test-set class sizes, in a class-sorted file
MNIST_COUNTS = np.array([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
UNEQUAL = np.repeat(np.arange(10), MNIST_COUNTS)


@pytest.mark.parametrize("n", [1, 9, 10, 11, 100, 250, 499, 500, 1234, 2000, 4999])
def test_every_class_within_one_of_its_share_on_a_sorted_split(n: int) -> None:
    idx = stratified_subset(SORTED, n)
    assert len(idx) == n and len(set(idx.tolist())) == n
    counts = np.bincount(SORTED[idx], minlength=10)
    assert np.all(np.abs(counts - n / 10) <= 1), counts


def test_unequal_classes_keep_the_split_proportions() -> None:
    share = MNIST_COUNTS / MNIST_COUNTS.sum()
    for n in (100, 500, 1000, 5000):
        counts = np.bincount(UNEQUAL[stratified_subset(UNEQUAL, n)], minlength=10)
        assert counts.sum() == n
        assert np.all(np.abs(counts - n * share) <= 1.0), (n, counts, n * share)


def test_prefixes_are_nested_and_themselves_stratified() -> None:
    big = stratified_subset(SORTED, 3000)
    for n in (5, 16, 100, 1000):
        assert np.array_equal(stratified_subset(SORTED, n), big[:n])
    first16 = np.bincount(SORTED[big[:16]], minlength=10)  # a grid of the first 16: mixed
    assert first16.min() >= 1 and first16.max() <= 2


def test_deterministic_seeded_and_not_the_global_rng() -> None:
    np.random.seed(1)
    a = stratified_subset(SORTED, 300)
    np.random.seed(2)
    assert np.array_equal(a, stratified_subset(SORTED, 300))  # same call, same images
    b = stratified_subset(SORTED, 300, seed=1)
    assert not np.array_equal(np.sort(a), np.sort(b))  # another seed, other images
    assert np.array_equal(np.bincount(SORTED[a]), np.bincount(SORTED[b]))  # same balance


def test_the_whole_split_is_the_split_in_its_order() -> None:
    assert np.array_equal(stratified_subset(SORTED, 5000), np.arange(5000))
    assert np.array_equal(stratified_subset(SORTED, 10**6), np.arange(5000))
    assert len(stratified_subset(SORTED, 0)) == 0
    with pytest.raises(ValueError):
        stratified_subset(SORTED, -1)
    with pytest.raises(ValueError):
        stratified_subset(SORTED.reshape(50, 100), 10)


def test_the_caption_says_which_images() -> None:
    text = describe_subset(SORTED, 1000, "MNIST test images", processing="grey pixels")
    assert text.startswith("1,000 of the 5,000 MNIST test images")
    assert "100 per class" in text and "seed 0" in text and text.endswith(", grey pixels")
    assert describe_subset(SORTED, None, "MNIST test images") == "all 5,000 MNIST test images"
    assert describe_subset(SORTED, 9000, "x") == "all 5,000 x"
    assert class_counts_text(UNEQUAL[stratified_subset(UNEQUAL, 1000)]) == "89 to 114 per class"


def _offline_test_set() -> ImageSet:
    images = np.zeros((len(SORTED), 28, 28), np.uint8)
    names = tuple(str(d) for d in range(10))
    return ImageSet(images, SORTED, "mnist", "test", "offline-sample", "n", names)


def test_offline_captions_never_call_training_digits_test_images() -> None:
    offline = _offline_test_set()
    assert "test images" not in offline.noun
    seen = describe_images(offline, 500, processing="grey pixels", seen=True)
    assert "held-out offline-sample digits" in seen and "has seen them" in seen
    assert "no test of it" in seen
    unseen = describe_images(offline, 500, seen=False)
    assert "held out from the ones this model was trained on" in unseen
    assert "not the MNIST test set" in describe_images(offline, 500, seen=None)
