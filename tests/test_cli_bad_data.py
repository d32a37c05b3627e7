"""``python -m vae_core`` given wrong or corrupt data or bad arguments: one ``error:`` line, exit 2.

Everything runs ``cli.main`` in-process with downloading made impossible (``fetch_dataset_files``
raises), so no test touches the network; the data-related failures happen before any training.
"""

from __future__ import annotations

import gzip
import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_model
from tests.test_cli import FILES, TINY, write_dataset
from vae_core.cli import main
from vae_core.io.checkpoint_file import save_checkpoint

TEST_IMAGES, TEST_LABELS, N_TEST = FILES["test"]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """No data env var, a private cache, no network; returns the list of attempted downloads."""
    from vae_core.data import datasets
    from vae_core.data.download import DownloadError

    attempts: list[str] = []

    def no_network(dataset: str, split: str, *args, **kwargs):
        attempts.append(f"{dataset}/{split}")
        raise DownloadError("network disabled in tests")

    monkeypatch.setattr(datasets, "fetch_dataset_files", no_network)
    monkeypatch.delenv("VAE_LAB_DATA", raising=False)
    monkeypatch.delenv("VAE_LAB_DEBUG", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return attempts


@pytest.fixture
def ckpt(tmp_path: Path) -> str:
    path = tmp_path / "m.safetensors"
    save_checkpoint(make_model(hidden=(16,), latent_dim=2), path, {"dataset": "mnist"})
    return str(path)


def commands(data: str | None, ckpt: str, tmp: Path) -> list[list[str]]:
    """One invocation of each command that reads data (``--data-dir`` only when ``data``)."""
    d = ["--data-dir", data] if data else []
    out = str(tmp / "new.safetensors")
    return [
        ["train", *d, "--epochs", "1", "--out", out, *TINY],
        ["evaluate", ckpt, *d, "--iw-samples", "2"],
        ["ppca", *d, "--latent-dim", "2"],
        ["nll", ckpt, *d, "--k", "2"],
    ]


def assert_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str], *fragments: str) -> str:
    assert main(argv) == 2, argv
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, (argv, err)
    for fragment in fragments:
        assert fragment in err, (argv, fragment, err)
    return err


# ------------------------------------------------------------------------- data folder problems
def test_named_folder_that_does_not_exist(offline, ckpt, tmp_path, capsys, monkeypatch) -> None:
    missing = str(tmp_path / "no-such-folder")
    for argv in commands(missing, ckpt, tmp_path):
        assert_exit_2(argv, capsys, "--data-dir", "no such folder")
    monkeypatch.setenv("VAE_LAB_DATA", missing)
    for argv in commands(None, ckpt, tmp_path):
        assert_exit_2(argv, capsys, "$VAE_LAB_DATA", "no such folder")
    assert offline == []  # refused before any download was tried
    assert not (tmp_path / "new.safetensors").exists()


def test_named_path_that_is_a_file(offline, ckpt, tmp_path, capsys, monkeypatch) -> None:
    a_file = tmp_path / "data.txt"
    a_file.write_text("not a folder")
    for argv in commands(str(a_file), ckpt, tmp_path):
        assert_exit_2(argv, capsys, "is a file")
    monkeypatch.setenv("VAE_LAB_DATA", str(a_file))
    assert_exit_2(commands(None, ckpt, tmp_path)[0], capsys, "$VAE_LAB_DATA", "is a file")
    assert offline == []


def test_empty_named_folder_without_network(offline, ckpt, tmp_path, capsys, monkeypatch) -> None:
    """No offline-sample fallback when the user named a folder: that is not the data asked for."""
    empty = tmp_path / "empty"
    empty.mkdir()
    for argv in commands(str(empty), ckpt, tmp_path):
        assert_exit_2(argv, capsys, "not available", "downloading failed", "--data-dir")
    monkeypatch.setenv("VAE_LAB_DATA", str(empty))
    assert_exit_2(["evaluate", ckpt, "--dataset", "fashion-mnist"], capsys, "Fashion-MNIST")
    assert offline  # a download was tried (and could not happen)
    assert not (tmp_path / "new.safetensors").exists()


def test_files_directly_in_the_named_folder_get_a_hint(offline, tmp_path, capsys) -> None:
    data = write_dataset(tmp_path / "data")
    flat = tmp_path / "flat"
    (data / "mnist").rename(flat)
    assert_exit_2(["ppca", "--data-dir", str(flat)], capsys, "subfolder")


def _truncate(path: Path) -> None:
    raw = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(raw[: len(raw) // 2]))


def _bad_magic(path: Path) -> None:
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[2] = 0x42  # an unknown dtype code in the magic number
    path.write_bytes(gzip.compress(bytes(raw)))


def _cut_gzip(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _random_gz(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(5000))


def _zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def _gzip_of_text(path: Path) -> None:
    path.write_bytes(gzip.compress(b"<html>404 Not Found</html>"))


def _fewer_labels(path: Path) -> None:
    raw = gzip.decompress(path.read_bytes())
    header = struct.pack(">II", 0x00000801, N_TEST - 5)
    path.write_bytes(gzip.compress(header + raw[8 : 8 + N_TEST - 5]))


def _label_out_of_range(path: Path) -> None:
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[8] = 12
    path.write_bytes(gzip.compress(bytes(raw)))


def _wrong_image_size(path: Path) -> None:
    header = struct.pack(">IIII", 0x00000803, N_TEST, 32, 32)
    path.write_bytes(gzip.compress(header + bytes(N_TEST * 32 * 32)))


CORRUPTIONS: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "truncated": (TEST_IMAGES, _truncate, "truncated payload"),
    "gzip-cut": (TEST_IMAGES, _cut_gzip, "corrupt gzip data"),
    "bad-magic": (TEST_IMAGES, _bad_magic, "unknown IDX dtype code 0x42"),
    "random-bytes-gz": (TEST_IMAGES, _random_gz, "not an IDX file"),
    "zero-bytes": (TEST_IMAGES, _zero_bytes, "empty file"),
    "html-in-gz": (TEST_IMAGES, _gzip_of_text, "not an IDX file"),
    "count-mismatch": (TEST_LABELS, _fewer_labels, f"{N_TEST} images but {N_TEST - 5} labels"),
    "label-out-of-range": (TEST_LABELS, _label_out_of_range, "labels span 0..12"),
    "wrong-image-size": (TEST_IMAGES, _wrong_image_size, f"({N_TEST}, 32, 32)"),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_corrupt_test_split_exits_2(name, offline, ckpt, tmp_path, capsys, monkeypatch) -> None:
    """The test split is broken (train is fine): every command fails before doing any work."""
    data = write_dataset(tmp_path / "data")
    filename, corrupt, fragment = CORRUPTIONS[name]
    corrupt(data / "mnist" / filename)
    monkeypatch.setenv("VAE_LAB_DATA", str(data))  # via the environment variable this time
    for argv in commands(None, ckpt, tmp_path):
        assert_exit_2(argv, capsys, fragment, str(data / "mnist"))
    assert not (tmp_path / "new.safetensors").exists()
    assert offline == []


# ----------------------------------------------------------------------------- bad arguments
@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--epochs", "-1"],
        ["train", "--epochs", "0"],
        ["train", "--batch-size", "0"],
        ["train", "--latent-dim", "x"],
        ["train", "--dataset", "cifar10"],
        ["train", "--kind", "gan"],
        ["ppca", "--latent-dim", "0"],
        ["ppca", "--dataset", "imagenet"],
        ["evaluate", "m.safetensors", "--limit", "0"],
        ["sample", "m.safetensors", "--n", "-5", "--out", "x.png"],
        ["nll", "m.safetensors", "--k", "0"],
    ],
)
def test_argparse_rejections_exit_2(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_bad_values_exit_2_before_training(offline, ckpt, tmp_path, capsys) -> None:
    data = str(write_dataset(tmp_path / "data"))
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    base = ["train", "--data-dir", data, "--epochs", "1", *TINY]
    cases = [
        ([*base, "--latent-dim", "0", "--out", str(tmp_path / "a.safetensors")], "latent_dim"),
        ([*base, "--latent-dim", "-3", "--out", str(tmp_path / "a.safetensors")], "latent_dim"),
        ([*base, "--hidden", "0", "--out", str(tmp_path / "a.safetensors")], "hidden"),
        ([*base, "--gaussian-std", "-1", "--out", str(tmp_path / "a.safetensors")], "gaussian_std"),
        ([*base, "--beta", "nan", "--out", str(tmp_path / "a.safetensors")], "beta"),
        ([*base, "--lr", "-0.1", "--out", str(tmp_path / "a.safetensors")], "lr"),
        ([*base, "--out", str(blocker / "m.safetensors")], "cannot write there"),
        ([*base, "--out", str(tmp_path)], "must end in .safetensors"),
        (["ppca", "--data-dir", data, "--latent-dim", "5000"], "--latent-dim"),
        (["sample", ckpt, "--out", str(blocker / "s.png")], "a-file"),
        (["evaluate", ckpt, "--data-dir", data, "--iw-samples", "10000000"], "--iw-samples"),
    ]
    for argv, fragment in cases:
        assert_exit_2(argv, capsys, fragment)
    assert not (tmp_path / "a.safetensors").exists()
    assert offline == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_out_folder(offline, tmp_path, capsys) -> None:
    data = str(write_dataset(tmp_path / "data"))
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    argv = ["train", "--data-dir", data, "--epochs", "1", "--out", str(ro / "m.safetensors"), *TINY]
    assert_exit_2(argv, capsys, "cannot write there")
