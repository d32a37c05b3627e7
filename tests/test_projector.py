"""TensorBoard Embedding Projector export (vae_core/io/projector.py, ``export-projector``, the
Latent map's ZIP): the files parse as the projector reads them.

The config is parsed with protobuf's own text format against TensorBoard's ``ProjectorConfig``
schema (``tensorboard/plugins/projector/projector_config.proto``, rebuilt here field for field,
so the test needs no TensorFlow), which refuses unknown fields and wrong types.
"""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from PIL import Image
from streamlit.testing.v1 import AppTest

from tests.conftest import assert_clean, make_model, synthetic_app_env
from ui.latent_data import LatentCodes, projector_zip
from vae_core.cli import main
from vae_core.data.datasets import ImageSet, load_split
from vae_core.data.sources import get_source
from vae_core.data.subsets import stratified_subset
from vae_core.evaluation.scoring import posterior_means
from vae_core.io.checkpoint_file import save_checkpoint
from vae_core.io.projector import (
    CONFIG,
    MAX_POINTS,
    METADATA,
    SPRITE,
    TENSORS,
    ProjectorError,
    projector_files,
)

LATENT_MAP = str(Path(__file__).resolve().parents[1] / "pages" / "2_Latent_map.py")


def _projector_config_class():
    """TensorBoard's ProjectorConfig message, built from its .proto's fields and numbers."""
    f = descriptor_pb2.FileDescriptorProto(name="projector_config_test.proto", package="tbp")
    f.syntax = "proto3"
    T = descriptor_pb2.FieldDescriptorProto
    rep, opt = T.LABEL_REPEATED, T.LABEL_OPTIONAL

    def message(name: str, fields: list[tuple[str, int, int, int, str]]) -> None:
        m = f.message_type.add(name=name)
        for fname, number, label, ftype, type_name in fields:
            fd = m.field.add(name=fname, number=number, label=label, type=ftype)
            if type_name:
                fd.type_name = type_name

    message("SpriteMetadata", [
        ("image_path", 1, opt, T.TYPE_STRING, ""),
        ("single_image_dim", 2, rep, T.TYPE_UINT32, ""),
    ])  # fmt: skip
    message("EmbeddingInfo", [
        ("tensor_name", 1, opt, T.TYPE_STRING, ""),
        ("metadata_path", 2, opt, T.TYPE_STRING, ""),
        ("bookmarks_path", 3, opt, T.TYPE_STRING, ""),
        ("tensor_shape", 4, rep, T.TYPE_UINT32, ""),
        ("sprite", 5, opt, T.TYPE_MESSAGE, ".tbp.SpriteMetadata"),
        ("tensor_path", 6, opt, T.TYPE_STRING, ""),
    ])  # fmt: skip
    message("ProjectorConfig", [
        ("model_checkpoint_path", 1, opt, T.TYPE_STRING, ""),
        ("embeddings", 2, rep, T.TYPE_MESSAGE, ".tbp.EmbeddingInfo"),
        ("model_checkpoint_dir", 3, opt, T.TYPE_STRING, ""),
    ])  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tbp.ProjectorConfig"))


ProjectorConfig = _projector_config_class()


def check_files(files: dict[str, bytes], n: int, dim: int) -> tuple[np.ndarray, list[list[str]]]:
    """Parse the four files as the projector does; returns (tensors, metadata rows)."""
    assert set(files) == {TENSORS, METADATA, SPRITE, CONFIG}
    lines = files[TENSORS].decode().splitlines()
    tensors = np.array([[float(v) for v in line.split("\t")] for line in lines])
    assert tensors.shape == (n, dim)
    rows = [line.split("\t") for line in files[METADATA].decode().splitlines()]
    assert rows[0] == ["label", "class", "index"] and len(rows) == n + 1
    assert all(len(r) == 3 for r in rows)
    side = math.ceil(math.sqrt(n)) * 28
    assert Image.open(io.BytesIO(files[SPRITE])).size == (side, side)
    config = text_format.Parse(files[CONFIG].decode(), ProjectorConfig())
    (emb,) = config.embeddings
    assert (emb.tensor_path, emb.metadata_path, emb.sprite.image_path) == (
        TENSORS,
        METADATA,
        SPRITE,
    )
    assert list(emb.sprite.single_image_dim) == [28, 28]
    assert list(emb.tensor_shape) == [n, dim]
    return tensors, rows[1:]


def test_files_parse_and_the_sprite_holds_each_image_in_its_cell() -> None:
    rng = np.random.default_rng(0)
    n, dim = 13, 3
    mu = rng.normal(size=(n, dim)).astype(np.float32)
    images = rng.integers(1, 256, size=(n, 28, 28)).astype(np.uint8)
    labels = np.arange(n) % 4
    names = ("zero", "one\ttab", 'say "two"', "three")
    out = projector_files(mu, labels, images, names, np.arange(100, 100 + n), 'a "quoted" name')
    tensors, rows = check_files(out.files, n, dim)
    np.testing.assert_allclose(tensors, mu, rtol=1e-5)
    assert rows[1] == ["1", "one tab", "101"] and rows[2][1] == 'say "two"'
    assert (
        text_format.Parse(out.files[CONFIG].decode(), ProjectorConfig()).embeddings[0].tensor_name
        == 'a "quoted" name'
    )
    sprite = np.asarray(Image.open(io.BytesIO(out.files[SPRITE])))
    for i in (0, 5, 12):  # row-major, 4 columns
        r, c = divmod(i, 4)
        np.testing.assert_array_equal(sprite[r * 28 : r * 28 + 28, c * 28 : c * 28 + 28], images[i])
    assert sprite[3 * 28 :, 28:].max() == 0  # cells after the last image are empty
    with zipfile.ZipFile(io.BytesIO(out.zip_bytes())) as zf:
        assert {k: zf.read(k) for k in zf.namelist()} == out.files


def test_bad_codes_are_refused() -> None:
    images = np.zeros((2, 28, 28), np.uint8)
    with pytest.raises(ProjectorError, match="not finite"):
        projector_files(np.array([[0.0, np.nan], [1, 2]]), [0, 1], images, ("a", "b"), [0, 1], "t")
    with pytest.raises(ProjectorError, match="2 codes but 3 labels"):
        projector_files(np.zeros((2, 2)), [0, 1, 1], images, ("a", "b"), [0, 1], "t")
    assert MAX_POINTS * 28 * 28 <= 8192 * 8192 < (math.isqrt(MAX_POINTS) + 1) ** 2 * 28 * 28


def test_cli_writes_the_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys) -> None:
    runs = synthetic_app_env(monkeypatch, tmp_path, 40)
    ckpt = runs / "tiny.safetensors"
    model = make_model(latent_dim=3)
    save_checkpoint(model, ckpt, {"dataset": "mnist", "name": "tiny"})
    out = tmp_path / "proj"
    assert main(["export-projector", str(ckpt), "--out", str(out), "--limit", "20"]) == 0
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    tensors, rows = check_files(files, 20, 3)
    labels = np.arange(40) % 10  # synthetic_app_env's labels
    picked = stratified_subset(labels, 20)
    assert [int(r[2]) for r in rows] == picked.tolist()  # a stratified subset, not the first 20
    assert [int(r[0]) for r in rows] == labels[picked].tolist()
    x, _ = load_split("mnist", "test", str(tmp_path / "data")).tensors()
    mu, _ = posterior_means(model.eval(), x[torch.from_numpy(picked)])
    np.testing.assert_allclose(tensors, mu.numpy(), rtol=1e-4, atol=1e-5)
    assert (
        "tiny: posterior means E[z|x] of 20 of the 40 MNIST test images" in files[CONFIG].decode()
    )
    assert get_source("mnist").class_names[int(rows[0][0])] == rows[0][1]
    capsys.readouterr()
    (tmp_path / "file").write_text("x")
    assert main(["export-projector", str(ckpt), "--out", str(tmp_path / "file")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must be a folder" in err


def test_latent_map_offers_the_projector_zip(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    runs = synthetic_app_env(monkeypatch, tmp_path, 30)
    monkeypatch.setenv("VAE_LAB_UMAP_WARMUP", "0")
    path = runs / "two.safetensors"
    save_checkpoint(make_model(latent_dim=2), path, {"dataset": "mnist", "name": "two"})
    at = AppTest.from_file(LATENT_MAP, default_timeout=120)
    at.session_state["vae_lab_model_path"] = str(path)
    at.run()
    assert_clean(at)
    (button,) = [b for b in at.get("download_button") if "projector" in b.proto.label]
    assert "ZIP" in button.proto.label


def test_the_maps_zip_holds_the_maps_codes() -> None:
    rng = np.random.default_rng(1)
    n = 30
    labels = np.arange(n) % 10
    images = ImageSet(
        rng.integers(0, 256, (n, 28, 28)).astype(np.uint8), labels, "mnist", "test", "files",
        "synthetic", tuple(str(k) for k in range(10)),
    )  # fmt: skip
    mu = rng.normal(size=(n, 2)).astype(np.float32)
    codes = LatentCodes(mu, mu * 0, labels, "id", "mnist", "test", "files")
    with zipfile.ZipFile(io.BytesIO(projector_zip(codes, images, "two"))) as zf:
        files = {k: zf.read(k) for k in zf.namelist()}
    tensors, rows = check_files(files, n, 2)
    np.testing.assert_allclose(tensors, mu, rtol=1e-5)
    assert [int(r[2]) for r in rows] == list(range(n))
    assert "all 30 MNIST test images" in files[CONFIG].decode()
