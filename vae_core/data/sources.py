"""Where MNIST and Fashion-MNIST come from: file names, checksums, mirrors, class names, sizes;
and the image sets a user imported (``vae_core.io.imports``), known by their ``dataset.json``.

One registry, so the downloader, the loader, the CLI and the app agree on names and checksums.
The md5s are those of the canonical ``.gz`` files the mirrors serve (as published by the
dataset authors and used by torchvision); they are checked on download only. Local copies are
validated by structure instead, because a re-compressed or subset copy (such as the 10k MNIST
training subset used in development) has different bytes but the same content format.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DATASET_NAMES",
    "MANIFEST_NAME",
    "SOURCES",
    "SPLITS",
    "DatasetSource",
    "RemoteFile",
    "SplitSpec",
    "check_split",
    "get_source",
    "imported_names",
    "is_imported_name",
    "known_names",
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


#: The file that makes ``<data folder>/<name>/`` an imported set (``vae_core.io.imports``).
MANIFEST_NAME = "dataset.json"
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_MAX_MANIFEST_BYTES = 1 << 20
#: Imported sets read in this process, so a set found once through an explicit data folder
#: (``--data-dir``) is still known where only its name travels (``ImageSet.noun``, run titles).
_SEEN: dict[str, DatasetSource] = {}


def is_imported_name(name: object) -> bool:
    """Whether ``name`` can name an imported set: a short lowercase slug, not a shipped set.

    Checked before the name is joined to a folder, so no name can climb out of the data folder.
    """
    return isinstance(name, str) and bool(_SLUG.fullmatch(name)) and name not in SOURCES


def _data_roots(data_dir: str | os.PathLike[str] | None) -> list[Path]:
    """The folders ``load_split`` reads: the resolved data folder, then the cache."""
    from .datasets import default_cache_dir, resolve_data_dir  # datasets imports this module

    return list(dict.fromkeys([resolve_data_dir(data_dir), default_cache_dir().absolute()]))


def _imported_source(name: str, folder: Path) -> DatasetSource | None:
    """The entry that ``folder/dataset.json`` describes, or None if it is missing or unusable."""
    path = folder / MANIFEST_NAME
    try:
        if not path.is_file() or path.stat().st_size > _MAX_MANIFEST_BYTES:
            return None
        info = json.loads(path.read_text(encoding="utf-8"))
        class_names = tuple(str(c) for c in info["class_names"])
        counts = (int(info["counts"]["train"]), int(info["counts"]["test"]))
        title = str(info.get("title") or name)[:80]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not class_names:
        return None
    mnist = SOURCES["mnist"]  # the same four file names as MNIST, no mirrors, no checksums
    return DatasetSource(
        name=name,
        title=title,
        mirrors=(),
        class_names=class_names,
        train=SplitSpec(mnist.train.images, mnist.train.labels, counts[0]),
        test=SplitSpec(mnist.test.images, mnist.test.labels, counts[1]),
    )


def imported_names(data_dir: str | os.PathLike[str] | None = None) -> tuple[str, ...]:
    """Names of the imported sets in the data folder (and the cache), sorted."""
    names = set()
    for root in _data_roots(data_dir):
        if root.is_dir():
            names.update(
                p.name
                for p in root.iterdir()
                if is_imported_name(p.name) and (p / MANIFEST_NAME).is_file()
            )
    return tuple(sorted(names))


def imported_folder(name: str, data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The folder of the imported set ``name`` (the data folder, then the cache), or None."""
    if not is_imported_name(name):
        return None
    for root in _data_roots(data_dir):
        if (root / name / MANIFEST_NAME).is_file():
            return root / name
    return None


def known_names(data_dir: str | os.PathLike[str] | None = None) -> tuple[str, ...]:
    """The shipped datasets, then the imported ones: what ``--dataset`` and the app offer."""
    return DATASET_NAMES + imported_names(data_dir)


def get_source(dataset: str, data_dir: str | os.PathLike[str] | None = None) -> DatasetSource:
    """The registry entry for ``dataset``: a shipped set, else an imported one (its
    ``dataset.json`` in the data folder or the cache, else one read earlier in this process);
    ValueError listing the valid names otherwise."""
    if dataset in SOURCES:
        return SOURCES[dataset]
    if is_imported_name(dataset):
        for root in _data_roots(data_dir):
            source = _imported_source(dataset, root / dataset)
            if source is not None:
                _SEEN[dataset] = source
                return source
        if dataset in _SEEN:
            return _SEEN[dataset]
    valid = ", ".join(map(repr, known_names(data_dir)))
    raise ValueError(
        f"unknown dataset {str(dataset)[:40]!r}; valid: {valid} (import your own images with "
        "`python -m vae_core import-images PATH --name NAME`)"
    )


def check_split(split: str) -> str:
    """Return ``split`` if valid; ValueError listing the valid names otherwise."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid: {', '.join(map(repr, SPLITS))}")
    return split
