"""OOD sets, AUROC and the complexity-corrected score (Serrà et al. 2020)."""

from __future__ import annotations

import math

import pytest
import torch

from tests.conftest import make_model
from vae_core.evaluation.ood import (
    OOD_SETS,
    as_other_sets,
    auroc,
    complexity_corrected,
    make_ood_set,
    ood_report,
    ood_set_names,
    other_datasets,
    png_bits,
    score_sets,
    set_name_for,
)
from vae_core.evaluation.scoring import model_inputs


def test_auroc_of_separable_sets_is_one() -> None:
    g = torch.Generator().manual_seed(0)
    inside = torch.rand(200, generator=g)  # scores in [0, 1)
    outside = torch.rand(150, generator=g) + 2.0  # scores in [2, 3)
    assert auroc(inside, outside) == 1.0
    assert auroc(outside, inside) == 0.0
    assert auroc(inside, inside.clone()) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        auroc(inside, torch.tensor([]))


def test_ood_sets_are_the_promised_transforms(tiny_images) -> None:
    x, _ = tiny_images
    assert torch.equal(make_ood_set("inverted", x), 1 - x)
    rot = make_ood_set("rotated", x)
    assert torch.equal(torch.rot90(rot, -1, dims=(2, 3)), x)
    noise = make_ood_set("uniform-noise", x, seed=5)
    assert torch.equal(noise, make_ood_set("uniform-noise", x, seed=5))
    assert noise.shape == x.shape and float(noise.min()) >= 0 and float(noise.max()) <= 1
    other = torch.zeros(100, 1, 28, 28)
    assert make_ood_set("fashion-test", x, dataset_x=other).shape == x.shape
    with pytest.raises(ValueError, match="unknown OOD set"):
        make_ood_set("cifar", x)
    assert set(OOD_SETS) >= {"mnist-test", "fashion-test"}
    assert set_name_for("fashion-mnist") == "fashion-test"


def test_set_names_and_other_datasets_of_an_imported_set() -> None:
    assert other_datasets("mnist") == ("fashion-mnist",)
    assert other_datasets("fashion-mnist") == ("mnist",)
    assert other_datasets("shapes") == ("mnist", "fashion-mnist")  # both, for an imported set
    assert ood_set_names("mnist") == ood_set_names("fashion-mnist") == OOD_SETS
    assert ood_set_names("shapes") == ("shapes-test", *OOD_SETS)
    assert set_name_for("fashion") == "imported-fashion-test"  # never Fashion-MNIST's own name
    with pytest.raises(ValueError, match="no test set name"):
        set_name_for("Not A Slug")
    assert as_other_sets("mnist", None, "Skipped: offline") == {"fashion-mnist": "Skipped: offline"}
    assert as_other_sets("shapes", None) == {}
    with pytest.raises(ValueError, match="2 other datasets"):
        as_other_sets("shapes", None, "Skipped: offline")


def test_model_inputs_binarize_only_binary_models(tiny_images) -> None:
    x, _ = tiny_images
    assert model_inputs(x, binary=False) is x
    b = model_inputs(x, binary=True)
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(b, model_inputs(x, binary=True))
    # binarized noise is half ones: its uniforms must not be the binarization's own uniforms
    noise_bits = model_inputs(make_ood_set("uniform-noise", x, seed=0), binary=True, seed=0)
    assert abs(float(noise_bits.mean()) - 0.5) < 0.02


def test_png_bits_measure_complexity(tiny_images) -> None:
    x, _ = tiny_images
    blank = torch.zeros(2, 1, 28, 28)
    noise = torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert float(png_bits(blank).max()) < float(png_bits(x[:2]).min())
    assert float(png_bits(x[:2]).max()) < float(png_bits(noise).min())
    nll = torch.tensor([100.0, 200.0])
    expected = nll.double() - png_bits(noise) * math.log(2)
    assert torch.allclose(complexity_corrected(nll, noise), expected)


def test_ood_report_on_a_tiny_model(tiny_images) -> None:
    x, _ = tiny_images
    model = make_model()
    sets = {"mnist-test": x, "inverted": make_ood_set("inverted", x)}
    calls: list[int] = []
    r = ood_report(model, sets, "mnist-test", k=4, progress=lambda d, t: calls.append(t))
    assert set(calls) == {128}
    assert "auroc_nll" not in r["sets"]["mnist-test"]
    inv = r["sets"]["inverted"]
    assert 0.0 <= inv["auroc_nll"] <= 1.0 and 0.0 <= inv["auroc_corrected"] <= 1.0
    assert inv["mean_nll"] == pytest.approx(float(r["scores"]["nll"]["inverted"].mean()))
    with pytest.raises(ValueError, match="in-distribution"):
        ood_report(model, sets, "rotated", k=2)
    with pytest.raises(ValueError, match="CVAE"):
        score_sets(make_model(kind="cvae"), sets, k=2)


def test_the_app_and_the_cli_score_the_same_sets(tmp_path, monkeypatch) -> None:
    """The OOD page and ``evaluate --ood --limit n`` build their sets with one rule."""
    from argparse import Namespace

    import numpy as np

    import vae_core.cli.evaluate as cli
    from ui import eval_cache as ec
    from vae_core.data.datasets import load_split
    from vae_core.data.idx import write_idx
    from vae_core.io.checkpoint_file import load_checkpoint, save_checkpoint

    rng = np.random.default_rng(0)
    for dataset in ("mnist", "fashion-mnist"):
        folder = tmp_path / "data" / dataset
        folder.mkdir(parents=True)
        write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (60, 28, 28), np.uint8))
        write_idx(folder / "t10k-labels-idx1-ubyte", (np.arange(60) % 10).astype(np.uint8))
    data = str(tmp_path / "data")
    path = tmp_path / "vae.safetensors"
    save_checkpoint(make_model(latent_dim=2), path, {"dataset": "mnist", "binarize": "dynamic"})
    ckpt = load_checkpoint(path)

    passed: dict[str, torch.Tensor] = {}

    def capture(model, sets, in_name, **kwargs):
        passed.update(sets)
        return {
            "sets": {
                name: {"auroc_nll": 0.5, "auroc_corrected": 0.5, "mean_nll": 0.0} for name in sets
            },
            "scores": None,
        }

    monkeypatch.setattr(cli, "ood_report", capture)
    ood = list(cli.OOD_CHOICES)
    cli.ood_scores(ckpt, Namespace(dataset=None, data_dir=data, limit=20, ood=ood, iw_samples=1))

    images = load_split("mnist", "test", data, allow_offline_sample=False)
    other = load_split("fashion-mnist", "test", data, allow_offline_sample=False)
    ev = ec.eval_set(ckpt, images, *images.tensors())
    app = {s.name: s.x for s in ec.ood_inputs(ev, 20, other, "", seed=0)}
    assert set(app) == set(passed) == set(OOD_SETS)
    for name in OOD_SETS:
        assert torch.equal(app[name], passed[name]), name
