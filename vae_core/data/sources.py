"""Where MNIST and Fashion-MNIST come from: file names, checksums, mirrors, class names, sizes.

One registry, so the downloader, the loader, the CLI and the app agree on names and checksums.
The md5s are those of the canonical ``.gz`` files the mirrors serve (as published by the
dataset authors and used by torchvision); they are checked on download only. Local copies are
validated by structure instead, because a re-compressed or subset copy (such as the 10k MNIST
training subset used in development) has different bytes but the same content format.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DATASET_NAMES",
    "SOURCES",
    "SPLITS",
    "DatasetSource",
    "RemoteFile",
    "SplitSpec",
    "check_split",
    "get_source",
]

SPLITS: tuple[str, ...] = ("train", "test")


@dataclass(frozen=True)
class RemoteFile:
    """One file as served by the mirrors, with the md5 of its exact bytes."""

    name: str
    md5: str

    @property
    def raw_name(self) -> str:
        """The name once decompressed (users often keep the files un-gzipped)."""
        return self.name.removesuffix(".gz")


@dataclass(frozen=True)
class SplitSpec:
    """The two files of one split and how many examples the full split has."""

    images: RemoteFile
    labels: RemoteFile
    count: int

    @property
    def files(self) -> tuple[RemoteFile, RemoteFile]:
        return (self.images, self.labels)


@dataclass(frozen=True)
class DatasetSource:
    """Everything needed to fetch, check and describe one dataset."""

    name: str
    title: str
    mirrors: tuple[str, ...]
    class_names: tuple[str, ...]
    train: SplitSpec
    test: SplitSpec

    def split(self, split: str) -> SplitSpec:
        """The spec of ``split`` ("train" or "test"); ValueError otherwise."""
        check_split(split)
        return self.train if split == "train" else self.test


def _split(prefix: str, images_md5: str, labels_md5: str, count: int) -> SplitSpec:
    return SplitSpec(
        images=RemoteFile(f"{prefix}-images-idx3-ubyte.gz", images_md5),
        labels=RemoteFile(f"{prefix}-labels-idx1-ubyte.gz", labels_md5),
        count=count,
    )


SOURCES: dict[str, DatasetSource] = {
    "mnist": DatasetSource(
        name="mnist",
        title="MNIST",
        # yann.lecun.com no longer serves the files reliably; these are the mirrors torchvision uses.
        mirrors=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ),
        class_names=tuple(str(d) for d in range(10)),
        train=_split(
            "train", "f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432", 60_000
        ),
        test=_split(
            "t10k", "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c", 10_000
        ),
    ),
    "fashion-mnist": DatasetSource(
        name="fashion-mnist",
        title="Fashion-MNIST",
        mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",  # label 7 (canonical order: Sneaker before Bag; checked on the data)
            "Bag",  # label 8
            "Ankle boot",
        ),
        train=_split(
            "train", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe", 60_000
        ),
        test=_split(
            "t10k", "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310", 10_000
        ),
    ),
}

DATASET_NAMES: tuple[str, ...] = tuple(SOURCES)


def get_source(dataset: str) -> DatasetSource:
    """The registry entry for ``dataset``; ValueError listing the valid names otherwise."""
    try:
        return SOURCES[dataset]
    except KeyError:
        raise ValueError(
            f"unknown dataset {dataset!r}; valid: {', '.join(map(repr, SOURCES))}"
        ) from None


def check_split(split: str) -> str:
    """Return ``split`` if valid; ValueError listing the valid names otherwise."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(map(repr, SPLITS))}")
    return split
