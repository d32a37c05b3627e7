"""Importing a user's own images (vae_core.io.imports, ``import-images``): folder, zip and npz
inputs, the seeded stratified split, refusals (unreadable files, hostile zips, name clashes) and
training on the imported set."""

from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vae_core.cli import main
from vae_core.data.datasets import DatasetUnavailable, load_split
from vae_core.data.idx import read_idx
from vae_core.data.sources import get_source
from vae_core.io.imports import ImportLimits, ImportRefused, import_images

CLASSES = ("bars", "blocks", "dots")


def picture(kind: str, i: int, size: int = 40, mode: str = "L") -> Image.Image:
    """A bright shape on black whose form depends on the class, varied a little by ``i``."""
    a = np.zeros((size, size), np.uint8)
    o = i % 4
    if kind == "bars":
        a[5 + o : 10 + o, 4:36] = 240
    elif kind == "blocks":
        a[8 + o : 32, 8 + o : 32] = 220
    else:
        a[10 + o : 16 + o, 10:16] = 250
        a[24:30, 22 - o : 28 - o] = 250
    return Image.fromarray(a).convert(mode)


def png(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def image_folder(root: Path, per_class: int = 5) -> Path:
    """ImageFolder layout, in several formats and modes, with one unreadable file."""
    for kind in CLASSES:
        (root / kind).mkdir(parents=True)
        for i in range(per_class):
            fmt, mode = [("PNG", "L"), ("JPEG", "RGB"), ("PNG", "RGBA")][i % 3]
            ext = "jpg" if fmt == "JPEG" else "png"
            (root / kind / f"{i}.{ext}").write_bytes(png(picture(kind, i, 30 + i, mode), fmt))
    (root / "dots" / "broken.png").write_bytes(b"\x89PNG not really")
    return root


def zip_of(folder: Path, path: Path, top: str = "myset") -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, f"{top}/{f.relative_to(folder).as_posix()}")
    return path


@pytest.fixture
def data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty data folder as $VAE_LAB_DATA, and a cache that is not the user's."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("VAE_LAB_DATA", str(root))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("VAE_LAB_DEBUG", raising=False)
    return root


def test_folder_import_stores_idx_files_and_manifest(data: Path, tmp_path: Path) -> None:
    result = import_images(image_folder(tmp_path / "in"), "shapes", test_fraction=0.4)
    assert result.class_names == CLASSES
    assert [r[0] for r in result.refused] == ["dots/broken.png"]
    assert result.counts == {"train": [3, 3, 3], "test": [2, 2, 2]}
    folder = data / "shapes"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [
            "dataset.json",
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ]
    )
    manifest = json.loads((folder / "dataset.json").read_text())
    assert manifest["class_names"] == list(CLASSES)
    assert manifest["counts"]["train"] == 9 and manifest["counts"]["test"] == 6
    assert manifest["seed"] == 0 and manifest["test_fraction"] == 0.4
    assert read_idx(folder / "train-images-idx3-ubyte.gz").shape == (9, 28, 28)
    assert not [p for p in data.iterdir() if p.name.startswith(".")]  # no temp folder left

    source = get_source("shapes")
    assert source.class_names == CLASSES and source.test.count == 6
    test = load_split("shapes", "test")
    assert test.images.shape == (6, 28, 28) and test.images.max() > 200
    assert test.class_names == CLASSES and test.source == "files"
    assert sorted(test.labels.tolist()) == [0, 0, 1, 1, 2, 2]


def test_split_is_seeded_and_stratified(data: Path, tmp_path: Path) -> None:
    src = image_folder(tmp_path / "in", per_class=10)
    labels = {}
    for seed, name in ((0, "a"), (0, "b"), (1, "c")):
        import_images(src, name, seed=seed)
        test = load_split(name, "test")
        assert np.bincount(test.labels).tolist() == [2, 2, 2]
        labels[name] = (test.images.tobytes(), test.labels.tolist())
    assert labels["a"] == labels["b"]
    assert labels["a"] != labels["c"]


def test_zip_import_strips_the_top_folder(data: Path, tmp_path: Path) -> None:
    archive = zip_of(image_folder(tmp_path / "in"), tmp_path / "set.zip")
    result = import_images(archive, "zipped")
    assert result.class_names == CLASSES
    assert [r[0] for r in result.refused] == ["myset/dots/broken.png"]
    assert len(load_split("zipped", "train")) + len(load_split("zipped", "test")) == 15


def test_npz_import_with_class_names(data: Path, tmp_path: Path) -> None:
    x = np.stack([np.asarray(picture(CLASSES[i % 3], i, 32)) for i in range(12)])
    rgb = np.repeat(x[..., None], 3, axis=3)
    np.savez(tmp_path / "set.npz", x=rgb, y=np.arange(12) % 3, class_names=np.array(CLASSES))
    result = import_images(tmp_path / "set.npz", "arrays", test_fraction=0.25)
    assert result.class_names == CLASSES and result.counts["test"] == [1, 1, 1]
    assert get_source("arrays").class_names == CLASSES


def test_cli_import_prints_counts_and_refused_files(data: Path, tmp_path: Path, capsys) -> None:
    src = image_folder(tmp_path / "in")
    assert main(["import-images", str(src), "--name", "shapes", "--test-fraction", "0.4"]) == 0
    out = capsys.readouterr().out
    assert "bars: 3 train, 2 test" in out
    assert "dots/broken.png" in out and "refused 1 file(s)" in out
    assert main(["import-images", str(src), "--name", "shapes", "--json"]) == 2
    assert "already exists" in capsys.readouterr().err and (data / "shapes").is_dir()
    assert main(["import-images", str(src), "--name", "shapes", "--force", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["test"] == [1, 1, 1]  # --test-fraction 0.2 this time: replaced
    assert report["refused"] == [
        {"file": "dots/broken.png", "reason": report["refused"][0]["reason"]}
    ]


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist", "../up", "Bad Name", ""])
def test_reserved_or_unsafe_names_are_refused(data: Path, tmp_path: Path, capsys, name) -> None:
    src = image_folder(tmp_path / "in")
    assert main(["import-images", str(src), "--name", name]) == 2
    assert "dataset name" in capsys.readouterr().err
    assert not list(data.iterdir())


def _hostile(path: Path, kind: str) -> Path:
    good = png(picture("bars", 0))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for k in range(2):
            zf.writestr(f"bars/{k}.png", good)
            zf.writestr(f"dots/{k}.png", png(picture("dots", k)))
        if kind == "climb":
            zf.writestr("bars/../../evil.png", good)
        elif kind == "absolute":
            zf.writestr("/tmp/evil.png", good)
        elif kind == "link":
            info = zipfile.ZipInfo("bars/link.png")
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
        elif kind == "bomb":
            zf.writestr("bars/huge.bmp", b"\0" * (3 * 2**20))  # 3 MiB of zeros: ~1000:1
    return path


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("climb", "climbs out"),
        ("absolute", "absolute path"),
        ("link", "symbolic link"),
        ("bomb", "zip bomb"),
    ],
)
def test_hostile_zips_are_refused_and_nothing_is_written(
    data: Path, tmp_path: Path, capsys, kind: str, words: str
) -> None:
    archive = _hostile(tmp_path / f"{kind}.zip", kind)
    assert main(["import-images", str(archive), "--name", "evil"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err and len(err.strip().splitlines()) == 1
    assert not list(data.iterdir())
    assert not (tmp_path / "evil.png").exists()


def test_bomb_by_declared_size_is_refused_before_reading(data: Path, tmp_path: Path) -> None:
    archive = _hostile(tmp_path / "ok.zip", "none")
    limits = ImportLimits(max_total_bytes=100)  # the four pictures declare more than that
    with pytest.raises(ImportRefused, match="zip bomb"):
        import_images(archive, "small", limits=limits)
    assert not list(data.iterdir())


def test_limits_on_files_and_pixels(data: Path, tmp_path: Path) -> None:
    src = image_folder(tmp_path / "in")
    with pytest.raises(ImportRefused, match="more than 4 files"):
        import_images(src, "few", limits=ImportLimits(max_files=4))
    result = import_images(src, "tiny", limits=ImportLimits(max_pixels=33 * 33))
    too_big = {f"{k}/4.jpg": "34x34 pixels, above the limit of 1,089" for k in CLASSES}
    assert {f: r for f, r in result.refused if f != "dots/broken.png"} == too_big


def test_limits_from_the_environment_bound_an_import(data: Path, tmp_path: Path) -> None:
    env = {"VAE_LAB_IMPORT_MAX_FILES": "4", "VAE_LAB_IMPORT_MAX_MIB": " 3 "}
    limits = ImportLimits.from_env(env)
    assert limits == ImportLimits(max_files=4, max_total_bytes=3 * 2**20)
    assert ImportLimits.from_env({}) == ImportLimits()
    with pytest.raises(ImportRefused, match="more than 4 files"):
        import_images(image_folder(tmp_path / "in"), "few", limits=limits)
    for bad in ("0", "-5", "2.5", "1e9", "lots"):
        with pytest.raises(ValueError, match="VAE_LAB_IMPORT_MAX_PIXELS=.*positive whole number"):
            ImportLimits.from_env({"VAE_LAB_IMPORT_MAX_PIXELS": bad})


def test_failed_import_leaves_an_existing_set_alone(data: Path, tmp_path: Path) -> None:
    import_images(image_folder(tmp_path / "in"), "shapes")
    before = (data / "shapes" / "dataset.json").read_bytes()
    with pytest.raises(ImportRefused):
        import_images(_hostile(tmp_path / "x.zip", "climb"), "shapes", force=True)
    assert (data / "shapes" / "dataset.json").read_bytes() == before
    assert sorted(p.name for p in data.iterdir()) == ["shapes"]


def test_missing_imported_set_is_unavailable(data: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown dataset 'nothere'.*import-images"):
        load_split("nothere", "test")
    import_images(image_folder(tmp_path / "in"), "shapes")
    (data / "shapes" / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(DatasetUnavailable, match="import-images PATH --name shapes") as exc:
        load_split("shapes", "test")
    assert "could not be downloaded" not in str(exc.value)


def test_train_and_evaluate_on_an_imported_set(data: Path, tmp_path: Path, capsys) -> None:
    import_images(image_folder(tmp_path / "in", per_class=6), "shapes")
    out = tmp_path / "m.safetensors"
    tiny = ["--hidden", "16", "--latent-dim", "2", "--batch-size", "8", "--threads", "1"]
    argv = ["train", "--dataset", "shapes", "--epochs", "1", "--iw-samples", "2", "--out", str(out)]
    assert main([*argv, "--json", *tiny]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1]["event"] == "test" and lines[-1]["n"] == 4
    assert main(["evaluate", str(out), "--iw-samples", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 4
    assert main(["info", str(out)]) == 0
    with pytest.raises(SystemExit) as exc:
        main(["train", "--dataset", "nothere", "--epochs", "1", *tiny])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "nothere" in err and "mnist, fashion-mnist, shapes" in err


def test_data_dir_flag_finds_an_imported_set(data: Path, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.delenv("VAE_LAB_DATA")
    other = tmp_path / "elsewhere"
    src = image_folder(tmp_path / "in", per_class=4)
    assert main(["import-images", str(src), "--name", "far", "--data-dir", str(other)]) == 0
    assert (other / "far" / "dataset.json").is_file() and not list(data.iterdir())
    out = tmp_path / "far.safetensors"
    tiny = ["--hidden", "16", "--latent-dim", "2", "--batch-size", "8", "--threads", "1"]
    argv = ["train", "--data-dir", str(other), "--dataset", "far", "--epochs", "1", *tiny]
    assert main([*argv, "--iw-samples", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    assert (
        main(["evaluate", str(out), "--data-dir", str(other), "--iw-samples", "2", "--json"]) == 0
    )
    assert json.loads(capsys.readouterr().out)["n"] == 3
