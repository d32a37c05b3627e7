"""Importing a user's own image set, so every command and page works on it as on MNIST.

Input: a folder with one sub-folder per class (torchvision's ImageFolder convention), a ``.zip``
of such a folder, or an ``.npz`` with ``x`` (N, H, W[, C]) and integer ``y`` (optionally
``class_names``). Every image goes through the app's upload conversion
(:func:`vae_core.io.uploads.load_user_image`: any size, mode and format, EXIF rotation, MNIST's
20-px box centred by mass in 28x28), so an imported set looks like the data the models were
built for; what cannot be read is refused and listed, not guessed at. The set is split once,
seeded and stratified by class, and stored as ``<data folder>/<name>/`` with MNIST's four IDX
files and a ``dataset.json`` (:data:`vae_core.data.sources.MANIFEST_NAME`) that makes the name
known to :func:`vae_core.data.sources.get_source` and :func:`vae_core.data.datasets.load_split`.

The input comes from strangers (a zip found online, a classmate's folder), so the import is
bounded (:class:`ImportLimits`: files, pixels per image, bytes) and a zip that could write or
read outside its folder (``..``, absolute paths, links) or that inflates absurdly is refused
as a whole, with one line. Nothing is half-written: the set is built in a hidden folder next to
the target and renamed into place only when complete.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from vae_core.data.datasets import resolve_data_dir
from vae_core.data.idx import write_idx
from vae_core.data.sources import MANIFEST_NAME, SOURCES, SplitSpec, is_imported_name
from vae_core.io.uploads import ImageInputError, load_user_image

__all__ = ["ImportLimits", "ImportRefused", "ImportResult", "import_images"]

_MIB = 2**20
#: Entries that archivers add beside the images (macOS resource forks, thumbnails): skipped.
_JUNK = re.compile(r"(^|/)(__MACOSX|\.[^/]*|Thumbs\.db|desktop\.ini)(/|$)", re.IGNORECASE)
_DRIVE = re.compile(r"^[A-Za-z]:")


class ImportRefused(ValueError):
    """The whole import is refused; ``str(exc)`` is one line for the user."""


@dataclass(frozen=True)
class ImportLimits:
    """Bounds on one import, checked before any image is decoded.

    ``max_files``: images in the set; ``max_pixels``: declared width x height of one image;
    ``max_total_bytes``: the files' total size (a zip's or npz's declared uncompressed size);
    ``max_ratio``: the largest uncompressed/compressed ratio of one zip entry above 1 MiB
    (images hardly compress; a zip bomb inflates a thousandfold).
    """

    max_files: int = 20_000
    max_pixels: int = 25_000_000
    max_total_bytes: int = 512 * _MIB
    max_ratio: int = 200

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ImportLimits:
        """The limits the person running the server chose, for the app's upload (a class server
        may need more room, or less): ``VAE_LAB_IMPORT_MAX_FILES``, ``VAE_LAB_IMPORT_MAX_PIXELS``
        and ``VAE_LAB_IMPORT_MAX_MIB``; an unset one keeps its default.

        Raises ``ValueError`` with one line naming the variable when a value is not a positive
        whole number: a typo must not silently lift a bound.
        """
        values: dict[str, int] = {}
        for var, fld, scale in _ENV_LIMITS:
            text = environ.get(var, "").strip()
            if not text:
                continue
            if not text.isdigit() or int(text) < 1:
                raise ValueError(f"{var}={text[:40]!r}: expected a positive whole number")
            values[fld] = int(text) * scale
        return cls(**values)

    def describe(self) -> str:
        """The limits in a user's words, e.g. "up to 20,000 images, 25 megapixels each, 512 MiB
        in all"."""
        return (
            f"up to {self.max_files:,} images, {self.max_pixels / 1e6:g} megapixels each, "
            f"{self.max_total_bytes / _MIB:g} MiB in all"
        )


#: (environment variable, ImportLimits field, multiplier): the server's own import limits.
_ENV_LIMITS = (
    ("VAE_LAB_IMPORT_MAX_FILES", "max_files", 1),
    ("VAE_LAB_IMPORT_MAX_PIXELS", "max_pixels", 1),
    ("VAE_LAB_IMPORT_MAX_MIB", "max_total_bytes", _MIB),
)


@dataclass(frozen=True)
class ImportResult:
    """What was stored: where, the classes, images per class and split, and what was refused."""

    name: str
    folder: Path
    class_names: tuple[str, ...]
    counts: dict[str, list[int]]  # split -> images per class, in class order
    refused: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "folder": str(self.folder),
            "class_names": list(self.class_names),
            "counts": self.counts,
            "refused": [{"file": f, "reason": r} for f, r in self.refused],
        }


def _check_name(name: str) -> None:
    if not is_imported_name(name):
        shipped = " or ".join(SOURCES)
        raise ImportRefused(
            f"dataset name {name[:60]!r}: use 1-40 lowercase letters, digits, '-' or '_' "
            f"(starting with a letter or digit), and not {shipped}"
        )


def _convert(data: bytes, limits: ImportLimits) -> np.ndarray:
    """Image bytes -> (28, 28) uint8, with the import's own pixel limit checked first."""
    try:
        with Image.open(io.BytesIO(data)) as img:  # the header only
            w, h = img.size
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad headers
        raise ImageInputError("not an image file that can be read") from exc
    if w * h > limits.max_pixels:
        raise ImageInputError(f"{w}x{h} pixels, above the limit of {limits.max_pixels:,}")
    return np.rint(load_user_image(data) * 255.0).astype(np.uint8)


def _class_of(parts: list[tuple[str, ...]]) -> list[str | None]:
    """Class of each file from its folders: the first one below the common top folder(s)."""
    dirs = [p[:-1] for p in parts]
    depth = 0
    while dirs and all(len(d) > depth + 1 for d in dirs) and len({d[depth] for d in dirs}) == 1:
        depth += 1  # a zip of a folder: "myset/cats/a.png" is class "cats"
    return [d[depth] if len(d) > depth else None for d in dirs]


def _folder_files(root: Path, limits: ImportLimits) -> tuple[list[tuple[str, Any]], list]:
    """(relative posix name, path) of every file under ``root``; links are refused, not followed."""
    files, refused, total = [], [], 0
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if _JUNK.search(rel):
            continue
        if path.is_symlink():
            refused.append((rel, "a link (links are not followed)"))
        elif path.is_file():
            files.append((rel, path))
            total += path.stat().st_size
            if len(files) > limits.max_files:
                raise ImportRefused(f"{root}: more than {limits.max_files:,} files (the limit)")
    if total > limits.max_total_bytes:
        raise ImportRefused(
            f"{root}: {total / _MIB:.0f} MiB of files, above the limit of "
            f"{limits.max_total_bytes / _MIB:.0f} MiB"
        )
    return files, refused


def _zip_entries(zf: zipfile.ZipFile, where: Path, limits: ImportLimits) -> list[zipfile.ZipInfo]:
    """The file entries to read; ImportRefused for any hostile entry or a bomb."""
    entries, total = [], 0
    for info in zf.infolist():
        name = info.filename
        parts = re.split(r"[/\\]", name)
        if name.startswith(("/", "\\")) or _DRIVE.match(name):
            raise ImportRefused(f"{where}: entry {name[:80]!r} has an absolute path; refused")
        if ".." in parts:
            raise ImportRefused(f"{where}: entry {name[:80]!r} climbs out of its folder; refused")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ImportRefused(f"{where}: entry {name[:80]!r} is a symbolic link; refused")
        if info.is_dir() or _JUNK.search(name):
            continue
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if total > limits.max_total_bytes or (info.file_size > _MIB and ratio > limits.max_ratio):
            raise ImportRefused(
                f"{where}: looks like a zip bomb (entry {name[:80]!r} declares "
                f"{info.file_size:,} bytes, ratio {ratio:,.0f}:1; limits "
                f"{limits.max_total_bytes:,} bytes in all, {limits.max_ratio}:1); refused"
            )
        entries.append(info)
        if len(entries) > limits.max_files:
            raise ImportRefused(f"{where}: more than {limits.max_files:,} files (the limit)")
    return entries


def _read_tree(
    names: list[str], read: Any, limits: ImportLimits
) -> tuple[np.ndarray, list[str], tuple[str, ...], list[tuple[str, str]]]:
    """Convert each named file (``read(i)`` gives its bytes): images, class per image, classes."""
    classes = _class_of([tuple(PurePosixPath(n).parts) for n in names])
    images, labels, refused = [], [], []
    for i, (name, cls) in enumerate(zip(names, classes, strict=True)):
        if cls is None:
            refused.append((name, "not inside a class folder"))
            continue
        try:
            images.append(_convert(read(i), limits))
            labels.append(cls)
        except ImageInputError as exc:
            refused.append((name, str(exc)))
    class_names = tuple(sorted(set(labels)))
    return (
        np.stack(images) if images else np.zeros((0, 28, 28), np.uint8),
        labels,
        class_names,
        refused,
    )


def _read_npz(
    path: Path, limits: ImportLimits
) -> tuple[np.ndarray, list[str], tuple[str, ...], list]:
    with zipfile.ZipFile(path) as zf:  # an .npz is a zip: its members may be compressed too
        _zip_entries(zf, path, limits)
    with np.load(path, allow_pickle=False) as npz:
        if "x" not in npz or "y" not in npz:
            raise ImportRefused(f"{path}: an .npz must hold arrays 'x' and 'y'")
        x, y = npz["x"], npz["y"]
        names = [str(c) for c in npz["class_names"]] if "class_names" in npz else None
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[3] not in (1, 3, 4)):
        raise ImportRefused(
            f"{path}: x must be (N, H, W) or (N, H, W, C) with C 1, 3 or 4; got {x.shape}"
        )
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or (len(y) and y.min() < 0):
        raise ImportRefused(
            f"{path}: y must be {len(x)} integer labels >= 0; got {y.dtype} {y.shape}"
        )
    if len(x) > limits.max_files:
        raise ImportRefused(f"{path}: {len(x):,} images, above the limit of {limits.max_files:,}")
    if x.shape[1] * x.shape[2] > limits.max_pixels:
        raise ImportRefused(f"{path}: {x.shape[2]}x{x.shape[1]} pixels per image, above the limit")
    if names is not None and len(y) and int(y.max()) >= len(names):
        raise ImportRefused(
            f"{path}: label {int(y.max())} has no entry in class_names ({len(names)})"
        )
    if x.ndim == 4 and x.shape[3] == 1:
        x = x[..., 0]
    if np.issubdtype(x.dtype, np.floating):
        x = np.nan_to_num(x, nan=0.0) * (255.0 if np.nanmax(x, initial=0) <= 1.0 else 1.0)
    x = np.clip(x, 0, 255).astype(np.uint8)
    images, labels, refused = [], [], []
    for i in range(len(x)):
        buf = io.BytesIO()
        Image.fromarray(x[i]).save(buf, format="PNG")  # through the one upload conversion
        try:
            images.append(_convert(buf.getvalue(), limits))
            labels.append(names[y[i]] if names is not None else str(int(y[i])))
        except ImageInputError as exc:
            refused.append((f"x[{i}]", str(exc)))
    order = sorted(set(labels), key=(names.index if names is not None else int))
    out = np.stack(images) if images else np.zeros((0, 28, 28), np.uint8)
    return out, labels, tuple(order), refused


def _read(path: Path, limits: ImportLimits) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], list]:
    """(images uint8 (N, 28, 28), labels int64, class names, refused) of any supported input."""
    if path.is_dir():
        files, refused = _folder_files(path, limits)
        images, labels, classes, more = _read_tree(
            [n for n, _ in files], lambda i: files[i][1].read_bytes(), limits
        )
    elif path.suffix.lower() == ".npz":
        images, labels, classes, more = _read_npz(path, limits)
        refused = []
    elif zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            entries = _zip_entries(zf, path, limits)
            images, labels, classes, more = _read_tree(
                [e.filename for e in entries], lambda i: zf.read(entries[i]), limits
            )
        refused = []
    elif path.exists():
        raise ImportRefused(f"{path}: expected a folder, a .zip or an .npz")
    else:
        raise ImportRefused(f"{path}: no such file or folder")
    index = {c: k for k, c in enumerate(classes)}
    return images, np.array([index[c] for c in labels], np.int64), classes, refused + more


def _split(labels: np.ndarray, classes: tuple[str, ...], fraction: float, seed: int, where: Path):
    from sklearn.model_selection import train_test_split

    if not 0.0 < fraction < 1.0:
        raise ImportRefused(f"the test fraction must be between 0 and 1, got {fraction}")
    if len(labels) and len(classes) < 2:
        raise ImportRefused(f"{where}: found {len(classes)} class(es); a set needs at least 2")
    counts = np.bincount(labels, minlength=len(classes))
    few = [c for c, n in zip(classes, counts, strict=True) if n < 2]
    if not len(labels) or few:
        raise ImportRefused(
            f"{where}: every class needs at least 2 readable images (one for each split); "
            f"{'none were readable' if not len(labels) else 'too few in: ' + ', '.join(few)}"
        )
    try:
        return train_test_split(
            np.arange(len(labels)), test_size=fraction, stratify=labels, random_state=seed
        )
    except ValueError as exc:
        raise ImportRefused(f"{where}: cannot split {len(labels)} images by class: {exc}") from exc


def _write_split(folder: Path, spec: SplitSpec, images: np.ndarray, labels: np.ndarray) -> None:
    write_idx(folder / spec.images.name, images)
    write_idx(folder / spec.labels.name, labels.astype(np.uint8))


def import_images(
    path: str | os.PathLike[str],
    name: str,
    data_dir: str | os.PathLike[str] | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
    force: bool = False,
    limits: ImportLimits | None = None,
    title: str | None = None,
) -> ImportResult:
    """Convert, split and store the images at ``path`` as ``<data folder>/<name>/``.

    The data folder is :func:`~vae_core.data.datasets.resolve_data_dir` of ``data_dir``, the
    one :func:`~vae_core.data.datasets.load_split` reads. An existing set of that name is
    replaced only with ``force``. ImportRefused (one line) for a refused input, in which case
    nothing is written; unreadable single images are listed in ``ImportResult.refused``.
    """
    _check_name(name)
    limits = limits or ImportLimits()
    source = Path(path).expanduser()
    root = resolve_data_dir(data_dir)
    target = root / name
    if (target.exists() or target.is_symlink()) and not force:
        raise ImportRefused(f"{target} already exists; pass --force (force=True) to replace it")
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ImportRefused(f"{target} exists and is not a folder; remove it first")
    images, labels, classes, refused = _read(source, limits)
    if len(classes) > 255:
        raise ImportRefused(f"{source}: {len(classes)} classes; at most 255 fit in the IDX labels")
    train, test = _split(labels, classes, test_fraction, seed, source)
    counts = {
        s: np.bincount(labels[idx], minlength=len(classes)).tolist()
        for s, idx in (("train", train), ("test", test))
    }
    manifest = {
        "title": (title or name)[:80],
        "class_names": list(classes),
        "counts": {"train": len(train), "test": len(test), "per_class": counts},
        "source": str(source.absolute()),
        "seed": seed,
        "test_fraction": test_fraction,
        "refused": len(refused),
    }
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.importing-", dir=root))
    try:
        mnist = SOURCES["mnist"]
        _write_split(tmp, mnist.train, images[train], labels[train])
        _write_split(tmp, mnist.test, images[test], labels[test])
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{name}.replaced-", dir=root))
            os.replace(target, old / name)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ImportResult(name, target, classes, counts, refused)
