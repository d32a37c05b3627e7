"""The app on an imported image set: the Train page offers it, and Home, Latent map and Generate
(with the folder's class names) open on a model trained on it."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from tests.conftest import assert_clean
from tests.test_imports import CLASSES, image_folder
from ui.imports import import_upload
from vae_core.config import ModelConfig
from vae_core.data.datasets import load_split
from vae_core.io.checkpoint_file import save_checkpoint
from vae_core.io.imports import ImportLimits, ImportRefused, import_images
from vae_core.models.model import LatentVariableModel
from vae_core.training.trainer import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]


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


def test_pages_open_on_a_model_of_the_imported_set(env: Path) -> None:
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
    ood = page("pages/9_Out_of_distribution.py", vae)
    assert_clean(ood)
    assert any("does not run on an imported image set" in i.value for i in ood.info)
