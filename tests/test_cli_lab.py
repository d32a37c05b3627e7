"""Smoke tests of the evaluation-lab commands on tiny synthetic IDX data, in subprocesses.

Error cases run ``cli.main`` in-process (fast): an uncaught exception fails the test, and a user
error must come back as one ``error:`` line with exit status 2. Real-data checks are slow-marked.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_model
from vae_core.cli import main
from vae_core.data.idx import write_idx
from vae_core.io.checkpoint_file import save_checkpoint

REPO = Path(__file__).resolve().parents[1]
SPLITS = {"train": ("train", 80), "test": ("t10k", 30)}


def write_dataset(root: Path, dataset: str, seed: int) -> None:
    """Label-dependent bars (learnable) as gzip IDX files under root/dataset/."""
    rng = np.random.default_rng(seed)
    folder = root / dataset
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in SPLITS.values():
        labels = np.arange(n) % 10
        images = rng.integers(0, 25, size=(n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 + 2 * label : 5 + 2 * label, 4:24] = 230
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels.astype(np.uint8))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("lab")
    data = tmp / "data"
    write_dataset(data, "mnist", 0)
    write_dataset(data, "fashion-mnist", 1)
    meta = {"dataset": "mnist", "binarize": "dynamic", "name": "tiny"}
    vae, cvae = tmp / "vae.safetensors", tmp / "cvae.safetensors"
    save_checkpoint(make_model(hidden=(16,), latent_dim=2), vae, meta)
    save_checkpoint(make_model(kind="cvae", hidden=(16,), latent_dim=2), cvae, meta)
    env = {k: v for k, v in os.environ.items() if k not in ("VAE_LAB_DATA", "VAE_LAB_DEBUG")}
    env["PYTHONPATH"] = str(REPO)
    env["XDG_CACHE_HOME"] = str(tmp / "cache")  # never the user's cache, never a download
    return {"tmp": tmp, "data": str(data), "vae": str(vae), "cvae": str(cvae), "env": env}


def run_json(lab: dict, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "vae_core", *args, "--json"],
        capture_output=True,
        text=True,
        env=lab["env"],
        cwd=REPO,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_evaluate_with_ood(lab: dict) -> None:
    r = run_json(
        lab,
        "evaluate",
        lab["vae"],
        "--data-dir",
        lab["data"],
        "--iw-samples",
        "3",
        "--ood",
        "fashion-mnist,noise,inverted,rotated",
    )
    assert r["n"] == 30 and "elbo" in r  # the ordinary evaluate report is kept
    assert set(r["ood_auroc"]) == {"fashion-test", "uniform-noise", "inverted", "rotated"}
    assert all(0.0 <= v <= 1.0 for v in r["ood_auroc"].values())
    assert set(r["ood_mean_nll"]) == {"mnist-test", *r["ood_auroc"]}
    one = run_json(
        lab,
        "evaluate",
        lab["vae"],
        "--data-dir",
        lab["data"],
        "--iw-samples",
        "2",
        "--limit",
        "10",
        "--ood",
        "fashion-mnist",
    )
    assert isinstance(one["ood_auroc"], float) and one["ood"]["sets"]["mnist-test"]["n"] == 10


def test_nll_and_ppca(lab: dict) -> None:
    r = run_json(lab, "nll", lab["cvae"], "--data-dir", lab["data"], "--k", "5")
    assert r["n"] == 30 and r["k"] == 5 and r["fast_path"] is True
    assert r["gap_nats"] == pytest.approx(r["neg_elbo"] - r["nll"])
    assert len(r["per_class_nll"]) == 10
    # the labelled, comparable figures: the CVAE's labels summed out, and its Bayes classifier
    assert r["conditional"] is True and r["data_kind"] == "binarized"
    assert r["nll_marginal"] <= r["nll"] + math.log(10) + 1e-6
    assert r["figure"]["key"] == "nll_marginal" and 0 <= r["bayes_accuracy"] <= 1
    p = run_json(lab, "ppca", "--data-dir", lab["data"], "--latent-dim", "4")
    assert p["test_nll_8bit"] > 0 and p["data_kind"] == "8-bit"  # a probability: -log P >= 0
    assert p["test_bits_per_dim"] == pytest.approx(p["test_nll_8bit"] / (784 * math.log(2)))
    assert p["test_nll_8bit_dequantization_bound"] >= p["test_nll_8bit"] - 1.0
    assert p["baseline_test_nll_8bit"] > 0  # the latent-free baseline, same unit
    assert p["latent_dim"] == 4 and p["train_size"] == 80 and p["test_size"] == 30
    assert p["sigma2"] > 0 and p["train_nll"] < p["test_nll"]  # fitted on train


def test_classifier_faithfulness_and_sweep(lab: dict) -> None:
    clf = str(lab["tmp"] / "clf.safetensors")
    c = run_json(lab, "train-classifier", "--data-dir", lab["data"], "--epochs", "1", "--out", clf)
    assert 0.0 <= c["test_accuracy"] <= 1.0 and c["command"].endswith(f"--out {clf} --json")
    f = run_json(lab, "faithfulness", lab["cvae"], "--classifier", clf, "--n-per-class", "4")
    assert len(f["per_class"]) == 10 and f["accuracy"] == pytest.approx(sum(f["per_class"]) / 10)
    assert f["classifier_test_accuracy"] == c["test_accuracy"]
    out = lab["tmp"] / "rd.json"
    s = run_json(
        lab,
        "sweep-beta",
        "--data-dir",
        lab["data"],
        "--betas",
        "1,4",
        "--epochs",
        "1",
        "--hidden",
        "16",
        "--latent-dim",
        "2",
        "--out",
        str(out),
    )
    saved = json.loads(out.read_text())
    assert [p["beta"] for p in saved["points"]] == [1.0, 4.0] == [p["beta"] for p in s["points"]]
    assert saved["command"].startswith("python -m vae_core sweep-beta")


def test_faithfulness_judges_with_the_classifier_of_the_models_dataset(
    lab: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from vae_core.cli import lab as cli_lab_models

    fashion = tmp_path / "fashion-cvae.safetensors"
    meta = {"dataset": "fashion-mnist", "binarize": "none", "name": "tiny fashion"}
    save_checkpoint(make_model(kind="cvae", hidden=(16,), latent_dim=2), fashion, meta)
    assert main(["faithfulness", str(fashion), "--n-per-class", "2", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert Path(report["classifier"]).name == "fashion-mnist-classifier.safetensors"
    assert len(report["per_class"]) == 10
    digits = SHIPPED / "classifiers" / "mnist-classifier.safetensors"
    assert main(["faithfulness", str(fashion), "--classifier", str(digits)]) == 2
    assert "trained on MNIST, not on Fashion-MNIST" in capsys.readouterr().err
    monkeypatch.setattr(cli_lab_models, "CLASSIFIER_DIR", tmp_path / "no-judges")
    assert main(["faithfulness", str(fashion)]) == 2
    err = capsys.readouterr().err
    assert "no classifier for Fashion-MNIST" in err and "train-classifier --dataset" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["faithfulness", "{vae}"], "needs a CVAE"),
        (["faithfulness", "{cvae}", "--classifier", "{tmp}/none.safetensors"], "no such"),
        (["nll", "{tmp}/missing.safetensors"], "missing.safetensors"),
        (["nll", "{vae}", "--k", "200000"], "--k must be at most"),
        (["ppca", "--data-dir", "{data}", "--latent-dim", "5000"], "--latent-dim must be"),
        (["evaluate", "{cvae}", "--data-dir", "{data}", "--ood", "noise"], "needs a VAE"),
        (["evaluate", "{vae}", "--ood", "cifar"], "unknown OOD set"),
        (["sweep-beta", "--betas", "1,-2"], "positive"),
    ],
)
def test_errors_are_one_line_and_exit_2(lab: dict, capsys, args: list[str], message: str) -> None:
    argv = [a.format(**lab) for a in args]
    with pytest.raises(SystemExit) if message in ("unknown OOD set", "positive") else _no_raise():
        code = main(argv)
        assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1] and "Traceback" not in "\n".join(err)


class _no_raise:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False


REAL = os.environ.get("VAE_LAB_DATA")
SHIPPED = REPO / "checkpoints"


@pytest.mark.slow
@pytest.mark.skipif(not REAL, reason="VAE_LAB_DATA is not set")
def test_real_ppca_and_ood(lab: dict) -> None:
    env = {**lab["env"], "VAE_LAB_DATA": REAL}
    real = {**lab, "env": env}
    p = run_json(  # a stratified 2,000 of each real split; K: the 8-bit estimate is not checked
        real, "ppca", "--latent-dim", "16", "--k", "10", "--limit", "2000"
    )
    assert p["train_size"] == 2_000 and p["test_size"] == 2_000
    assert p["test_nll"] < 0  # a density on [0, 1]^784 that fits MNIST well exceeds 1
    vae = SHIPPED / "mnist-vae-2d.safetensors"
    if vae.exists():
        r = run_json(
            real,
            "evaluate",
            str(vae),
            "--limit",
            "300",
            "--iw-samples",
            "20",
            "--ood",
            "fashion-mnist,noise",
        )
        assert r["ood_auroc"]["uniform-noise"] > 0.99


@pytest.mark.slow
@pytest.mark.skipif(not REAL, reason="VAE_LAB_DATA is not set")
def test_real_classifier_and_faithfulness(lab: dict) -> None:
    from vae_core.data.datasets import load_split
    from vae_core.evaluation.classifier import accuracy, load_classifier

    path = SHIPPED / "classifiers" / "mnist-classifier.safetensors"
    cvae = SHIPPED / "mnist-cvae-2d.safetensors"
    if not path.exists() or not cvae.exists():
        pytest.skip("shipped classifier or CVAE not present")
    clf, meta = load_classifier(path)
    x, y = load_split("mnist", "test", REAL, download=False).tensors()
    acc = accuracy(clf, x, y)
    assert acc == pytest.approx(meta["test_accuracy"], abs=1e-4) and acc > 0.95
    env = {**lab["env"], "VAE_LAB_DATA": REAL}
    f = run_json({**lab, "env": env}, "faithfulness", str(cvae), "--temperature", "0.5")
    assert f["accuracy"] > 0.9  # near the prior's centre a trained CVAE draws the asked class


def test_limit_takes_every_class_of_a_class_sorted_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--limit 100`` of a file sorted by class scores all ten classes, not the first four."""
    monkeypatch.delenv("VAE_LAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    labels = np.repeat(np.arange(10), 25).astype(np.uint8)  # 250 images, sorted by class
    images = np.random.default_rng(0).integers(0, 255, size=(250, 28, 28)).astype(np.uint8)
    for prefix in ("t10k", "train"):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", labels)
    path = tmp_path / "vae.safetensors"
    meta = {"dataset": "mnist", "binarize": "dynamic", "name": "tiny"}
    save_checkpoint(make_model(hidden=(16,), latent_dim=2), path, meta)
    common = [str(path), "--data-dir", str(tmp_path / "data"), "--limit", "100", "--json"]

    def run(*args: str) -> dict:
        assert main([*args]) == 0
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    nll = run("nll", *common, "--k", "2")
    assert nll["n"] == 100 and len(nll["per_class_nll"]) == 10
    assert all(v is not None for v in nll["per_class_nll"])  # every class is in the 100
    assert "100 of the 250 MNIST test images" in nll["scored_on"]
    assert "10 per class; seed 0" in nll["scored_on"]
    ev = run("evaluate", *common, "--iw-samples", "2")
    assert ev["n"] == 100 and ev["scored_on"] == nll["scored_on"]  # the same images
