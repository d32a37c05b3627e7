"""VQ-VAE checkpoints: the same safetensors container as every model, the config under
``vq_model`` instead of ``model``.

A separate key because a VQ-VAE has no Gaussian posterior: the loaders of ``checkpoint_file``
(and so every page that reads mu / logvar) refuse it with an "invalid model config" message
rather than building a wrong model. Loading is as defensive as ``load_checkpoint``: the config is
validated, tensor names and shapes are compared with the header before any weight is read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from vae_core.config import ConfigError, VQConfig
from vae_core.io.atomic import atomic_write
from vae_core.io.checkpoint_file import _check_finite, _tensor_table
from vae_core.io.header import (
    FORMAT_NAME,
    FORMAT_VERSION,
    METADATA_KEY,
    VQ_KEY,
    CheckpointError,
    _metadata_string,
    check_container,
    parse_header,
    read_source,
)
from vae_core.models.vqvae import VQVAE


@dataclass
class VQCheckpoint:
    model: VQVAE
    meta: dict[str, Any]
    path: Path | None = None


def is_vq_metadata(meta: Any) -> bool:
    """Whether parsed checkpoint metadata describes a VQ-VAE."""
    return isinstance(meta, dict) and VQ_KEY in meta


def vq_checkpoint_bytes(model: VQVAE, meta: dict[str, Any]) -> bytes:
    full = {k: v for k, v in meta.items() if k != "model"}
    full.update(format=FORMAT_NAME, format_version=FORMAT_VERSION)
    full[VQ_KEY] = model.config.to_dict()
    state = {
        k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()
    }
    return st_save(state, metadata={METADATA_KEY: json.dumps(full)})


def save_vq_checkpoint(model: VQVAE, path: str | Path, meta: dict[str, Any]) -> Path:
    return atomic_write(path, vq_checkpoint_bytes(model, meta))


def load_vq_checkpoint(
    source: str | Path | bytes, device: str | torch.device = "cpu"
) -> VQCheckpoint:
    data, name = read_source(source)
    check_container(data, name)
    header = parse_header(data, name)
    try:
        meta = json.loads(_metadata_string(header, name))
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{name}: the model metadata is not valid JSON", "metadata") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{name}: the metadata is not in the {FORMAT_NAME} format", "foreign")
    try:
        config = VQConfig.from_dict(meta.get(VQ_KEY))
    except ConfigError as exc:
        raise CheckpointError(f"{name}: invalid VQ-VAE config: {exc}", "metadata") from exc
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in VQVAE(config).state_dict().items()}
    table = _tensor_table(header, name)
    if set(table) != set(expected) or any(table[k][1] != expected[k] for k in expected):
        raise CheckpointError(f"{name}: the tensors do not match the VQ-VAE config", "weights")
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError, RuntimeError, OverflowError) as exc:
        raise CheckpointError(f"{name}: corrupt safetensors data ({exc})") from exc
    _check_finite(tensors, name)
    model = VQVAE(config)
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    model.to(device).eval()
    path = None if isinstance(source, bytes | bytearray) else Path(source)
    return VQCheckpoint(model=model, meta=meta, path=path)


def is_vq_checkpoint(source: str | Path | bytes) -> bool:
    """Whether a checkpoint file holds a VQ-VAE (False for anything unreadable: the ordinary
    loader then reports what is wrong with it)."""
    try:
        data, name = read_source(source)
        check_container(data, name)
        return is_vq_metadata(json.loads(_metadata_string(parse_header(data, name), name)))
    except (CheckpointError, ValueError, RecursionError, OSError):
        return False
