"""Saving and loading checkpoints, including files that must be refused."""

from __future__ import annotations

import json
import struct

import pytest
import torch
from safetensors.torch import save as st_save

from tests.conftest import make_model
from vae_core.io.checkpoint_file import (
    CheckpointError,
    checkpoint_bytes,
    load_checkpoint,
    read_metadata,
    save_checkpoint,
)


def test_save_load_gives_identical_weights_and_config(tmp_path) -> None:
    model = make_model(kind="cvae", arch="conv", latent_dim=4)
    path = save_checkpoint(model, tmp_path / "m.safetensors", {"dataset": "mnist", "epoch": 3})
    loaded = load_checkpoint(path)
    assert loaded.config == model.config
    assert loaded.meta["dataset"] == "mnist" and loaded.meta["epoch"] == 3
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.model.state_dict()[key])
    assert read_metadata(path)["model"] == model.config.to_dict()
    assert load_checkpoint(path.read_bytes()).config == model.config  # an upload


def _with_meta(meta: dict, tensors: dict | None = None) -> bytes:
    tensors = tensors if tensors is not None else make_model().state_dict()
    return st_save(
        {k: v.contiguous() for k, v in tensors.items()}, metadata={"vae_lab": json.dumps(meta)}
    )


def _valid_meta() -> dict:
    return {"format": "vae-latent-lab", "format_version": 1, "model": make_model().config.to_dict()}


BAD_FILES = {
    "empty": lambda: b"",
    "pickle": lambda: b"\x80\x04\x95" + b"x" * 40,
    "zip (.pt)": lambda: b"PK\x03\x04" + b"x" * 40,
    "huge header": lambda: struct.pack("<Q", 2**40) + b"{}",
    "truncated": lambda: checkpoint_bytes(make_model(), {})[:-100],
    "no metadata": lambda: st_save({"a": torch.zeros(2)}),
    "foreign format": lambda: _with_meta({**_valid_meta(), "format": "other"}),
    "future version": lambda: _with_meta({**_valid_meta(), "format_version": 99}),
    "bad config": lambda: _with_meta({**_valid_meta(), "model": {"kind": "gan"}}),
    "wrong shape": lambda: _with_meta(
        {**_valid_meta(), "model": {**_valid_meta()["model"], "latent_dim": 5}}
    ),
    "int dtype": lambda: _with_meta(
        _valid_meta(), {k: v.long() for k, v in make_model().state_dict().items()}
    ),
    "nan weights": lambda: _with_meta(
        _valid_meta(), {k: v * float("nan") for k, v in make_model().state_dict().items()}
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_bad_checkpoints_are_refused_with_a_reason(name: str) -> None:
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(BAD_FILES[name]())
    assert "\n" not in str(err.value) and len(str(err.value)) > 10


def test_valid_file_whose_header_length_starts_like_a_pickle_or_zip_loads() -> None:
    """Header lengths 0x..80 or 0x4B50 ("PK") are legal; only byte 8 tells formats apart."""
    base = checkpoint_bytes(make_model(), {})
    (header_len,) = struct.unpack("<Q", base[:8])
    for first_bytes in (b"\x80\x08", b"PK"):
        target = int.from_bytes(first_bytes, "little")
        while target < header_len:
            target += 65536
        pad = target - header_len  # safetensors allows trailing spaces in the header
        header = base[8 : 8 + header_len] + b" " * pad
        data = struct.pack("<Q", target) + header + base[8 + header_len :]
        assert data[: len(first_bytes)] == first_bytes
        assert load_checkpoint(data).config == make_model().config
