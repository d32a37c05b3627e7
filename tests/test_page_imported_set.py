"""The app on an imported image set: the Train page offers it, and Home, Latent map, Generate
(with the folder's class names) and Out-of-distribution open on a model trained on it; and
``evaluate --ood`` scores such a model against MNIST, Fashion-MNIST, noise and transforms."""

from __future__ import annotations

import json
import math
import os
import zipfile
from pathlib import Path

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

import ui.data
from tests.conftest import assert_clean
from tests.test_imports import CLASSES, image_folder
from ui.imports import import_upload
from vae_core.cli import main
from vae_core.config import ModelConfig
from vae_core.data.datasets import load_split
from vae_core.io.checkpoint_file import save_checkpoint
from vae_core.io.imports import ImportLimits, ImportRefused, import_images
from vae_core.models.model import LatentVariableModel
from vae_core.training.trainer import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]
REAL = os.environ.get("VAE_LAB_DATA", "")  # read before any fixture points it at a tmp folder
SHIPPED_SETS = ("mnist", "fashion-mnist")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An imported set 'shapes' in the app's data folder, an empty runs dir, fresh caches."""
    monkeypatch.setenv("VAE_LAB_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("VAE_LAB_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "runs").mkdir()
    import_images(image_folder(tmp_path / "in", per_class=6), "shapes")
    st.cache_data.clear()
    st.cache_resource.clear()
    yield tmp_path
    st.cache_data.clear()
    st.cache_resource.clear()


def tiny_model(runs: Path, kind: str) -> Path:
    """A model trained for one epoch on the imported set, saved as the app saves one."""
    x, y = load_split("shapes", "train").tensors()
    model = LatentVariableModel(
        ModelConfig(kind=kind, hidden=(16,), latent_dim=2, n_classes=len(CLASSES))
    )
    train(model, x, y, TrainConfig(dataset="shapes", epochs=1, batch_size=8, seed=0))
    path = runs / f"{kind}.safetensors"
    save_checkpoint(model, path, {"dataset": "shapes", "name": f"tiny {kind}"})
    return path


def page(name: str, model: Path) -> AppTest:
    at = AppTest.from_file(str(ROOT / name), default_timeout=180)
    at.session_state["vae_lab_model_path"] = str(model)
    return at.run()


def test_train_page_offers_the_imported_set(env: Path) -> None:
    at = AppTest.from_file(str(ROOT / "pages" / "1_Train.py"), default_timeout=120).run()
    assert_clean(at)
    dataset = next(w for w in at.selectbox if w.label == "Dataset")
    assert dataset.options == ["MNIST", "Fashion-MNIST", "shapes"]
    assert at.text_input(key="import_name") is not None


def test_upload_import_replaces_only_with_force(env: Path, tmp_path: Path) -> None:
    archive = tmp_path / "up.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted((tmp_path / "in").rglob("*.png")):
            zf.write(f, f.relative_to(tmp_path / "in").as_posix())
    with pytest.raises(ImportRefused, match="already exists"):
        import_upload(archive.read_bytes(), "shapes", False, ImportLimits())
    result = import_upload(archive.read_bytes(), "shapes", True, ImportLimits())
    assert result.class_names == CLASSES
    assert len(load_split("shapes", "test")) == sum(result.counts["test"])


def test_the_upload_states_the_servers_limits_and_refuses_a_bad_setting(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VAE_LAB_IMPORT_MAX_FILES", "300")
    monkeypatch.setenv("VAE_LAB_IMPORT_MAX_MIB", "8")
    at = AppTest.from_file(str(ROOT / "pages" / "1_Train.py"), default_timeout=120).run()
    assert_clean(at)
    assert any("up to 300 images, 25 megapixels each, 8 MiB in all" in c.value for c in at.caption)
    monkeypatch.setenv("VAE_LAB_IMPORT_MAX_FILES", "lots")
    at = AppTest.from_file(str(ROOT / "pages" / "1_Train.py"), default_timeout=120).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Importing is off: this server's import limit is not valid "
        "(VAE_LAB_IMPORT_MAX_FILES='lots': expected a positive whole number)."
    ]
    assert "import_name" not in [w.key for w in at.text_input]  # no upload under a broken limit


def test_pages_open_on_a_model_of_the_imported_set(env: Path, monkeypatch) -> None:
    torch.manual_seed(0)  # the tests' own randomness; the library takes generators
    vae, cvae = tiny_model(env / "runs", "vae"), tiny_model(env / "runs", "cvae")
    home = page("app.py", vae)
    assert not home.exception, [e.message for e in home.exception]
    assert any("shapes" in m.value for m in home.markdown)
    assert_clean(page("pages/2_Latent_map.py", vae))
    gen = page("pages/4_Generate.py", cvae)
    assert_clean(gen)
    captions = [c for img in gen.get("image") for c in img.captions]
    assert any(f"class {k}: {c}" in s for s in captions for k, c in enumerate(CLASSES)), captions
    # no MNIST or Fashion-MNIST files here and no network: the OOD page falls back to the
    # offline MNIST sample and skips Fashion-MNIST, saying so, instead of refusing the model
    failed = {(d, "test") for d in SHIPPED_SETS}
    monkeypatch.setattr(ui.data, "_FAILED_DOWNLOADS", failed)
    ood = page("pages/9_Out_of_distribution.py", vae)
    assert_clean(ood)
    assert any("Fashion-MNIST test: Skipped" in w.value for w in ood.warning)
    table = ood.table[0].value
    assert list(table["set"])[:2] == ["shapes test (in-distribution)", "MNIST test"]
    assert len(ood.get("plotly_chart")) == 2


@pytest.fixture
def with_shipped_sets(env: Path) -> Path:
    """``env`` plus the real MNIST and Fashion-MNIST (linked, read-only, from $VAE_LAB_DATA)."""
    if not REAL or not all((Path(REAL) / d).is_dir() for d in SHIPPED_SETS):
        pytest.skip("VAE_LAB_DATA with mnist/ and fashion-mnist/ is not set")
    for d in SHIPPED_SETS:
        (env / "data" / d).symlink_to(Path(REAL) / d, target_is_directory=True)
    return env


OOD_NAMES = {"shapes-test", "mnist-test", "fashion-test", "uniform-noise", "inverted", "rotated"}


def test_evaluate_ood_on_an_imported_set(with_shipped_sets: Path, capsys) -> None:
    torch.manual_seed(0)
    vae = tiny_model(with_shipped_sets / "runs", "vae")
    argv = ["evaluate", str(vae), "--ood", "all", "--iw-samples", "3", "--threads", "1"]
    assert main([*argv, "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["dataset"] == "shapes" and r["ood"]["in_distribution"] == "shapes-test"
    sets = r["ood"]["sets"]
    assert set(sets) == set(r["ood_mean_nll"]) == OOD_NAMES
    assert sets["shapes-test"]["title"] == "shapes test (in-distribution)"
    assert sets["fashion-test"]["title"] == "Fashion-MNIST test"
    assert all(e["n"] == r["n"] == 4 for e in sets.values())  # as many of each as of the test set
    assert all(math.isfinite(e["mean_nll"]) for e in sets.values())
    assert set(r["ood_auroc"]) == set(r["ood_auroc_corrected"]) == OOD_NAMES - {"shapes-test"}
    assert all(
        0.0 <= v <= 1.0 for v in [*r["ood_auroc"].values(), *r["ood_auroc_corrected"].values()]
    )
    assert main([*argv[:3], "mnist"]) == 0  # one other dataset: plain figures, as for MNIST models
    assert "mnist-test" in capsys.readouterr().out


def test_ood_page_on_an_imported_set(with_shipped_sets: Path) -> None:
    torch.manual_seed(0)
    vae = tiny_model(with_shipped_sets / "runs", "vae")
    at = page("pages/9_Out_of_distribution.py", vae)
    assert_clean(at)
    assert not at.warning  # both other datasets are there
    table = at.table[0].value
    assert list(table["set"]) == [
        "shapes test (in-distribution)",
        "MNIST test",
        "Fashion-MNIST test",
        "uniform noise",
        "inverted (1 - x)",
        "rotated 90°",
    ]
    # a Bernoulli decoder on the grey imported pixels: its score is a cross-entropy
    aurocs = table[["AUROC (cross-entropy)", "AUROC (corrected)"]].dropna()
    assert len(aurocs) == 5 and ((aurocs >= 0) & (aurocs <= 1)).all().all()
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    for chart in charts:  # one panel per other set, each with the in-distribution scores
        fig = json.loads(chart.proto.spec)
        titles = [a["text"] for a in fig["layout"]["annotations"]]
        assert [t.split("<br>")[0] for t in titles] == list(table["set"])[1:]
        assert len(fig["data"]) == 10
    caption = next(c.value for c in at.caption if c.value.startswith("In-distribution"))
    assert "the MNIST test images and of the Fashion-MNIST test images" in caption
    assert "shapes test images" in caption


def test_an_imported_set_gets_its_own_classifier_and_the_pages_that_need_one_run(
    env: Path, tmp_path: Path, capsys
) -> None:
    """train-classifier writes the judge into the set's own folder, the CVAE faithfulness page and
    the classifier regions then run on the set, the Train page reports it, and replacing the set
    removes the judge of the images it no longer holds."""
    from vae_core.cli import main

    cvae, vae = tiny_model(env / "runs", "cvae"), tiny_model(env / "runs", "vae")
    judge = env / "data" / "shapes" / "shapes-classifier.safetensors"
    faith = page("pages/11_CVAE_faithfulness.py", cvae)
    assert any("no classifier for shapes" in e.value for e in faith.error)
    assert main(["train-classifier", "--dataset", "shapes", "--epochs", "1", "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["path"] == str(judge) and judge.is_file()
    assert meta["dataset"] == "shapes" and meta["n_classes"] == len(CLASSES)
    assert meta["test_size"] == len(load_split("shapes", "test"))
    faith = page("pages/11_CVAE_faithfulness.py", cvae)
    assert_clean(faith)
    assert any("Judge: `shapes-classifier.safetensors`" in c.value for c in faith.caption)
    regions = page("pages/2_Latent_map.py", vae)
    regions.toggle(key="lm_regions").set_value(True).run()
    assert_clean(regions)
    assert any("lie in another class's region" in c.value for c in regions.caption)
    train = AppTest.from_file(str(ROOT / "pages" / "1_Train.py"), default_timeout=120).run()
    assert any("shapes has a classifier" in c.value for c in train.caption)
    import_images(image_folder(tmp_path / "again", per_class=6), "shapes", force=True)
    assert not judge.exists()  # a judge of the replaced images is gone with them


def test_the_train_page_trains_an_imported_sets_classifier(env: Path) -> None:
    judge = env / "data" / "shapes" / "shapes-classifier.safetensors"
    at = AppTest.from_file(str(ROOT / "pages" / "1_Train.py"), default_timeout=180).run()
    assert any("shapes has no classifier yet" in c.value for c in at.caption)
    at.button(key="judge_train").click().run()
    assert_clean(at)
    assert any(s.value.startswith("Trained: ") for s in at.success) and judge.is_file()
