"""Data dir resolution, load_split on tiny synthetic IDX files, and binarization protocols."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from vae_core.data.binarize import (
    BINARIZATIONS,
    binarize,
    binarize_dynamic,
    binarize_static,
    to_unit_float,
)
from vae_core.data.datasets import (
    DATA_ENV_VAR,
    DATASET_NAMES,
    DatasetUnavailable,
    ImageSet,
    default_cache_dir,
    load_split,
    resolve_data_dir,
)
from vae_core.data.idx import IdxFormatError, write_idx
from vae_core.data.sources import SOURCES

NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def make_split(
    root: Path,
    dataset: str,
    split: str,
    n: int = 8,
    n_labels: int | None = None,
    gz: bool = True,
    label_max: int = 9,
) -> tuple[np.ndarray, np.ndarray]:
    """Write n random images and labels as IDX files under root/dataset/."""
    rng = np.random.default_rng(n)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = (np.arange(n_labels if n_labels is not None else n) % (label_max + 1)).astype(np.uint8)
    folder = root / dataset
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    write_idx(folder / (NAMES[split][0] + suffix), images)
    write_idx(folder / (NAMES[split][1] + suffix), labels)
    return images, labels


# --- where the data lives ---------------------------------------------------------------------


def test_resolve_order_arg_then_env_then_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert default_cache_dir() == tmp_path / "xdg" / "vae-latent-lab"
    assert resolve_data_dir() == tmp_path / "xdg" / "vae-latent-lab"
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir(str(tmp_path / "arg")) == tmp_path / "arg"


def test_cache_dir_without_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "vae-latent-lab"


# --- loading ----------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_load_split_from_files(tmp_path: Path, gz: bool) -> None:
    images, labels = make_split(tmp_path / "data", "fashion-mnist", "test", gz=gz)
    s = load_split("fashion-mnist", "test", data_dir=tmp_path / "data", download=False)
    assert isinstance(s, ImageSet) and len(s) == 8
    assert (s.dataset, s.split, s.source) == ("fashion-mnist", "test", "files")
    assert s.class_names == SOURCES["fashion-mnist"].class_names and len(s.class_names) == 10
    assert s.class_names[7] == "Sneaker" and s.class_names[8] == "Bag"
    np.testing.assert_array_equal(s.images, images)
    assert s.labels.dtype == np.int64
    np.testing.assert_array_equal(s.labels, labels)
    assert "8 of 10,000 images (subset)" in s.note and str(tmp_path / "data") in s.note
    assert not s.images.flags.writeable  # shared through the cache
    x, y = s.tensors()
    assert x.shape == (8, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.allclose(x[:, 0], torch.from_numpy(images.astype(np.float32)) / 255)


def test_load_split_env_var_and_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "env"))
    make_split(tmp_path / "env", "mnist", "train", n=5)
    s = load_split("mnist", "train", download=False, allow_offline_sample=False)
    assert s.note.startswith("MNIST training set: 5 of 60,000 images (subset) from ")
    # The same files are read once: the arrays come from the in-process cache.
    assert load_split("mnist", "train", download=False).images is s.images


def test_replaced_file_is_read_again(tmp_path: Path) -> None:
    make_split(tmp_path, "mnist", "test", n=4)
    assert len(load_split("mnist", "test", data_dir=tmp_path, download=False)) == 4
    make_split(tmp_path, "mnist", "test", n=6)
    assert len(load_split("mnist", "test", data_dir=tmp_path, download=False)) == 6


def test_count_mismatch_is_reported(tmp_path: Path) -> None:
    make_split(tmp_path, "mnist", "test", n=8, n_labels=7)
    with pytest.raises(DatasetUnavailable, match="8 images but 7 labels") as info:
        load_split("mnist", "test", data_dir=tmp_path, download=False)
    assert isinstance(info.value.__cause__, IdxFormatError)


def test_label_out_of_range_is_reported(tmp_path: Path) -> None:
    make_split(tmp_path, "mnist", "test", n=12, label_max=11)
    with pytest.raises(DatasetUnavailable, match=r"expected 0\.\.9"):
        load_split("mnist", "test", data_dir=tmp_path, download=False)


def test_damaged_file_is_reported(tmp_path: Path) -> None:
    make_split(tmp_path, "mnist", "test")
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(DatasetUnavailable, match="damaged"):
        load_split("mnist", "test", data_dir=tmp_path, download=False)


def test_unknown_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'mnist', 'fashion-mnist'"):
        load_split("cifar10", "test", data_dir=tmp_path)
    with pytest.raises(ValueError, match="'train', 'test'"):
        load_split("mnist", "valid", data_dir=tmp_path)
    assert DATASET_NAMES == ("mnist", "fashion-mnist")


def test_missing_files_without_download(tmp_path: Path) -> None:
    make_split(tmp_path, "", "test")  # files directly in the root: a common mistake
    with pytest.raises(DatasetUnavailable) as info:
        load_split("fashion-mnist", "test", data_dir=tmp_path, download=False)
    msg = str(info.value)
    assert "downloading is off" in msg and "--data-dir" in msg and DATA_ENV_VAR in msg
    assert "directly in" in msg


# --- binarization -----------------------------------------------------------------------------


@pytest.fixture
def probs() -> torch.Tensor:
    p = torch.linspace(0, 1, 28 * 28).reshape(1, 1, 28, 28)
    return p.repeat(200, 1, 1, 1)


def test_to_unit_float() -> None:
    raw = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    x = to_unit_float(raw)
    assert x.shape == (1, 1, 2, 2) and x.dtype == torch.float32
    assert torch.allclose(x.flatten(), torch.tensor([0.0, 1.0, 0.2, 0.4]))
    assert torch.equal(to_unit_float(torch.from_numpy(raw)), x)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        to_unit_float(raw.astype(np.float32))
    with pytest.raises(TypeError):
        to_unit_float(raw.astype(np.int32))


def test_static_is_deterministic_per_seed(probs: torch.Tensor) -> None:
    a, b = binarize_static(probs, seed=3), binarize_static(probs, seed=3)
    assert torch.equal(a, b)
    assert not torch.equal(a, binarize_static(probs, seed=4))
    assert set(a.unique().tolist()) <= {0.0, 1.0} and a.dtype == probs.dtype
    assert torch.equal(binarize(probs, "static", seed=3), a)


def test_dynamic_draws_differ_and_match_intensities(probs: torch.Tensor) -> None:
    a, b = binarize_dynamic(probs), binarize_dynamic(probs)
    assert not torch.equal(a, b)
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    # Per-pixel mean over 200 draws tracks the intensity (sd <= 0.035 per pixel).
    assert (a.mean(0) - probs[0]).abs().mean() < 0.03
    assert torch.equal(a[:, :, 0, 0], torch.zeros(200, 1))  # p = 0 is never on
    assert torch.equal(a[:, :, -1, -1], torch.ones(200, 1))  # p = 1 is always on
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(binarize_dynamic(probs, g1), binarize_dynamic(probs, g2))


def test_static_mean_matches_intensities(probs: torch.Tensor) -> None:
    s = binarize_static(probs, seed=0)
    assert (s.mean(0) - probs[0]).abs().mean() < 0.03
    assert BINARIZATIONS == ("none", "dynamic", "static")
    assert binarize(probs, "none") is probs
    with pytest.raises(ValueError, match="'none', 'dynamic', 'static'"):
        binarize(probs, "otsu")


# --- real data (skipped unless $VAE_LAB_DATA points at the IDX files) ------------------------

REAL = os.environ.get(DATA_ENV_VAR, "")


def real_files(dataset: str, split: str) -> bool:
    folder = Path(REAL) / dataset
    return bool(REAL) and all(
        (folder / n).is_file() or (folder / (n + ".gz")).is_file() for n in NAMES[split]
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dataset", "split"),
    [("mnist", "test"), ("mnist", "train"), ("fashion-mnist", "test"), ("fashion-mnist", "train")],
)
def test_real_files(dataset: str, split: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if not real_files(dataset, split):
        pytest.skip(f"${DATA_ENV_VAR} is not set or lacks {dataset} {split} files")
    s = load_split(dataset, split, data_dir=REAL, download=False, allow_offline_sample=False)
    assert s.source == "files" and s.images.shape[1:] == (28, 28)
    assert set(np.unique(s.labels)) == set(range(10))
    expected = SOURCES[dataset].split(split).count
    assert len(s) == expected or (len(s) < expected and "(subset)" in s.note)
    if split == "test":  # the test sets are always the full canonical ones
        assert len(s) == 10_000
