"""Smoke tests of ``python -m vae_core`` on tiny synthetic IDX data (no network, no real data).

The happy path runs in real subprocesses (the way users call it); the error cases call
``cli.main`` in-process to stay fast, so an uncaught exception (a traceback) fails the test,
and one error case also runs as a subprocess to check the end-to-end exit status and stderr.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vae_core.cli import main
from vae_core.data.idx import write_idx
from vae_core.io.checkpoint_file import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 96),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 40),
}
TINY = ["--hidden", "16", "--latent-dim", "2", "--batch-size", "32", "--threads", "1"]


def write_dataset(root: Path, dataset: str = "mnist") -> Path:
    """Bars whose row depends on the label, like tests/conftest.py's tiny_images, as IDX files."""
    rng = np.random.default_rng(0)
    folder = root / dataset
    folder.mkdir(parents=True, exist_ok=True)
    for images_name, labels_name, n in FILES.values():
        labels = np.arange(n) % 10
        images = rng.integers(0, 25, size=(n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 + 2 * label : 5 + 2 * label, 4:24] = 230
        write_idx(folder / images_name, images)
        write_idx(folder / labels_name, labels.astype(np.uint8))
    return root


def cli_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VAE_LAB_DATA", "VAE_LAB_DEBUG")}
    env["PYTHONPATH"] = str(REPO)
    env["XDG_CACHE_HOME"] = str(tmp / "cache")  # never the user's cache, never a download
    return env


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vae_core", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    tmp = tmp_path_factory.mktemp("cli")
    data = write_dataset(tmp / "data")
    env = cli_env(tmp)
    out = tmp / "tiny.safetensors"
    proc = run_cli(
        [
            "train",
            "--data-dir",
            str(data),
            "--epochs",
            "1",
            "--iw-samples",
            "4",
            "--json",
            "--out",
            str(out),
            *TINY,
        ],
        env,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [line["event"] for line in lines] == ["epoch", "test"]
    assert lines[-1]["n"] == FILES["test"][2]
    return out, data, env


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("VAE_LAB_DATA", raising=False)
    monkeypatch.delenv("VAE_LAB_DEBUG", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_train_writes_a_loadable_checkpoint_with_metadata(trained) -> None:
    out, _, _ = trained
    ckpt = load_checkpoint(out)
    meta = ckpt.meta
    assert ckpt.config.latent_dim == 2 and ckpt.config.hidden == (16,)
    assert meta["dataset"] == "mnist" and meta["binarize"] == "dynamic"
    assert "96 of 60,000 MNIST training images" in meta["dataset_note"]
    assert len(meta["history"]) == 1 and meta["epoch"] == 1
    assert meta["test_metrics"]["iw_samples"] == 4 and meta["test_metrics"]["binarized"]
    for key in (
        "train_size",
        "train_config",
        "train_metrics",
        "training_seconds",
        "device",
        "created",
        "name",
    ):
        assert key in meta, key


def test_evaluate_json_reports_consistent_bounds(trained) -> None:
    out, data, env = trained
    proc = run_cli(
        [
            "evaluate",
            str(out),
            "--data-dir",
            str(data),
            "--json",
            "--iw-samples",
            "50",
            "--limit",
            "30",
        ],
        env,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    for key in (
        "dataset",
        "model",
        "latent_dim",
        "n",
        "elbo",
        "recon",
        "kl",
        "nll",
        "iw_samples",
        "active_units",
        "kl_per_dim",
        "checkpoint",
        "data_source",
    ):
        assert key in report, key
    assert report["n"] == 30 and report["iw_samples"] == 50 and report["data_source"] == "files"
    assert report["elbo"] == pytest.approx(report["recon"] - report["kl"], abs=1e-3)
    assert report["kl"] >= 0 and report["elbo"] < 0
    # The IWAE bound is at least the ELBO in expectation: NLL <= -ELBO up to Monte Carlo noise.
    assert 0 < report["nll"] <= -report["elbo"] + 2.0


def test_sample_writes_png_of_grid_size(trained, tmp_path: Path, isolated) -> None:
    out, _, _ = trained
    png = tmp_path / "grid.png"
    argv = ["sample", str(out), "--n", "12", "--nrow", "4", "--scale", "2", "--out", str(png)]
    assert main(argv) == 0
    with Image.open(png) as im:  # 4 x 3 tiles of 28 px with 2 px padding, doubled
        assert im.size == ((4 * 30 + 2) * 2, (3 * 30 + 2) * 2) and im.mode == "L"
        assert np.asarray(im).std() > 0  # not a blank grid


def test_info_prints_metadata(trained, capsys: pytest.CaptureFixture[str]) -> None:
    out, _, _ = trained
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"]["latent_dim"] == 2


def test_missing_checkpoint_exits_2_without_traceback(tmp_path: Path) -> None:
    proc = run_cli(["evaluate", str(tmp_path / "nope.safetensors")], cli_env(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert "no such checkpoint" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "payload",
    [b"", b"\x80\x04garbage", struct.pack("<Q", 10**9) + b"{}", struct.pack("<Q", 2) + b"{}"],
    ids=["empty", "pickle", "huge-header", "no-metadata"],
)
def test_corrupt_checkpoint_exits_2(payload: bytes, tmp_path: Path, capsys, isolated) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(payload)
    for command in (["info", str(bad)], ["sample", str(bad), "--out", str(tmp_path / "s.png")]):
        assert main(command) == 2
        error_line(capsys)


def test_bad_arguments_exit_2(trained, tmp_path: Path, capsys, isolated) -> None:
    out, data, _ = trained
    cases = [
        [
            "train",
            "--latent-dim",
            "0",
            "--data-dir",
            str(data),
            "--out",
            str(tmp_path / "a.safetensors"),
        ],
        ["train", "--out", str(tmp_path / "model.pt"), "--data-dir", str(data)],
        ["train", "--device", "cuda" if not _has_cuda() else "mps", "--data-dir", str(data)],
        ["sample", str(out), "--label", "3", "--out", str(tmp_path / "s.png")],
        ["sample", str(out), "--temperature", "-1", "--out", str(tmp_path / "s.png")],
    ]
    for argv in cases:
        assert main(argv) == 2, argv
        error_line(capsys)
    assert not (tmp_path / "a.safetensors").exists()


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--dataset", "cifar10"],
        ["train", "--hidden", "16,x"],
        ["evaluate", "x.safetensors", "--iw-samples", "-3"],
        ["sample", "x.safetensors"],
    ],
)
def test_argparse_errors_exit_2(argv: list[str], capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and "error:" in capsys.readouterr().err


def test_corrupt_idx_file_exits_2(tmp_path: Path, capsys, isolated) -> None:
    data = write_dataset(tmp_path / "data")
    (data / "mnist" / FILES["test"][0]).write_bytes(b"\x1f\x8b not really gzip")
    argv = [
        "train",
        "--data-dir",
        str(data),
        "--epochs",
        "1",
        "--out",
        str(tmp_path / "m.safetensors"),
        *TINY,
    ]
    assert main(argv) == 2
    assert "damaged" in error_line(capsys)
    assert not (tmp_path / "m.safetensors").exists()  # failed before training, not after


def test_cvae_sample_rows_per_class(tmp_path: Path, capsys, isolated) -> None:
    data = write_dataset(tmp_path / "data")
    ckpt = tmp_path / "c.safetensors"
    argv = [
        "train",
        "--kind",
        "cvae",
        "--data-dir",
        str(data),
        "--epochs",
        "1",
        "--iw-samples",
        "0",
        "--out",
        str(ckpt),
        *TINY,
    ]
    assert main(argv) == 0
    metrics = load_checkpoint(ckpt).meta["test_metrics"]
    assert metrics["nll"] is None and metrics["iw_samples"] == 0  # --iw-samples 0 skips it
    png = tmp_path / "rows.png"
    assert main(["sample", str(ckpt), "--n", "20", "--out", str(png)]) == 0
    with Image.open(png) as im:  # 10 class rows of 2 samples
        assert im.size == (2 * 30 + 2, 10 * 30 + 2)
    capsys.readouterr()
    assert main(["sample", str(ckpt), "--label", "10", "--out", str(png)]) == 2
    assert "0..9" in error_line(capsys)


def test_divergence_exits_2_and_keeps_last_checkpoint(
    tmp_path: Path, capsys, isolated, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vae_core.training import pipeline
    from vae_core.training.trainer import TrainingDiverged

    real_train = pipeline.train

    def diverge_after_first_epoch(*args, **kwargs):  # one real epoch, then a NaN
        real_train(*args, **kwargs)
        raise TrainingDiverged("the loss became nan at epoch 2, step 4")

    monkeypatch.setattr(pipeline, "train", diverge_after_first_epoch)
    data = write_dataset(tmp_path / "data")
    ckpt = tmp_path / "d.safetensors"
    argv = ["train", "--data-dir", str(data), "--epochs", "1", "--out", str(ckpt), *TINY]
    assert main(argv) == 2
    err = error_line(capsys)
    assert "diverged" in err and "epoch 1 is kept" in err
    assert load_checkpoint(ckpt).meta["epoch"] == 1  # the last good epoch survives


@pytest.mark.slow
def test_shipped_checkpoint_on_real_data(tmp_path: Path) -> None:
    if not os.environ.get("VAE_LAB_DATA"):
        pytest.skip("VAE_LAB_DATA is not set")
    env = {**cli_env(tmp_path), "VAE_LAB_DATA": os.environ["VAE_LAB_DATA"]}
    proc = run_cli(
        [
            "evaluate",
            "checkpoints/mnist-vae-2d.safetensors",
            "--json",
            "--iw-samples",
            "10",
            "--limit",
            "500",
        ],
        env,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["data_source"] == "files" and report["n"] == 500 and report["latent_dim"] == 2
    # A trained 2-D MNIST VAE scores around -150 nats; an untrained one is near -540.
    assert -200 < report["elbo"] < -100
    assert report["nll"] <= -report["elbo"] + 2.0


def test_train_limit_trains_and_scores_stratified_subsets(tmp_path: Path, capsys) -> None:
    from vae_core.cli import main

    data = write_dataset(tmp_path / "data")
    out = tmp_path / "quick.safetensors"
    tiny = ["--hidden", "16", "--latent-dim", "2", "--batch-size", "32"]
    argv = ["train", "--data-dir", str(data), "--epochs", "1", "--iw-samples", "2", *tiny]
    assert main([*argv, "--limit", "20", "--json", "--out", str(out)]) == 0
    test = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    meta = load_checkpoint(out).meta
    assert meta["train_size"] == 20 and "20 of 60,000 MNIST training images" in meta["dataset_note"]
    assert test["n"] == 20 and test["scored_on"].startswith("20 of the 40 MNIST test images")
    assert meta["test_metrics"]["n"] == 20
