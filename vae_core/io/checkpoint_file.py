"""Checkpoints: safetensors weights with the JSON metadata stored in the same file's header.

The container and metadata checks are in ``vae_core.io.header`` (no PyTorch needed for them).

Loading treats the file as hostile (it may be an upload): nothing is unpickled, sizes are checked
before anything is allocated, the config is validated field by field, the other metadata fields
by type, length and depth (``vae_core.io.metadata_checks``), and every tensor's name, shape and dtype must
match the model the config describes, checked from the header before any weight is read.
Writes are atomic (temp + rename), so a crash mid-write never replaces a good checkpoint with a
broken one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from vae_core.config import ModelConfig
from vae_core.io.atomic import atomic_write
from vae_core.io.header import (
    FORMAT_NAME,
    FORMAT_VERSION,
    MAX_CHECKPOINT_BYTES,
    METADATA_KEY,
    CheckpointError,
    check_container,
    parse_header,
    parse_metadata,
    read_metadata,
    read_source,
)
from vae_core.models.model import LatentVariableModel

__all__ = [  # the header half is re-exported: callers need one module for checkpoints
    "MAX_CHECKPOINT_BYTES",
    "Checkpoint",
    "CheckpointError",
    "checkpoint_bytes",
    "load_checkpoint",
    "read_metadata",
    "save_checkpoint",
]

FLOAT_DTYPES = ("F32", "F16", "BF16")  # safetensors dtype names accepted for weights


@dataclass
class Checkpoint:
    model: LatentVariableModel
    meta: dict[str, Any]
    path: Path | None = None

    @property
    def config(self) -> ModelConfig:
        return self.model.config


def checkpoint_bytes(model: LatentVariableModel, meta: dict[str, Any]) -> bytes:
    """Serialise weights + metadata (the config is taken from the model, never from ``meta``)."""
    full = {**meta, "format": FORMAT_NAME, "format_version": FORMAT_VERSION}
    full["model"] = model.config.to_dict()
    state = {
        k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()
    }
    return st_save(state, metadata={METADATA_KEY: json.dumps(full)})


def save_checkpoint(model: LatentVariableModel, path: str | Path, meta: dict[str, Any]) -> Path:
    return atomic_write(path, checkpoint_bytes(model, meta))


def load_checkpoint(source: str | Path | bytes, device: str | torch.device = "cpu") -> Checkpoint:
    """Load and validate a checkpoint from a path or raw bytes (an upload).

    Order matters for hostile files: the config's weight shapes are compared with the header's
    tensor table before any tensor is read or any real model is allocated, so a config that
    describes gigabytes of weights costs nothing.
    """
    data, name = read_source(source)
    check_container(data, name)
    header = parse_header(data, name)
    meta = parse_metadata(header, name)
    config = ModelConfig.from_dict(meta["model"])
    expected = _expected_shapes(config)
    _check_tensor_table(config, expected, _tensor_table(header, name), name)
    _check_weight_budget(config, expected, len(data), name)
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError, RuntimeError, OverflowError) as exc:
        raise CheckpointError(f"{name}: corrupt safetensors data ({exc})") from exc
    _check_finite(tensors, name)
    model = LatentVariableModel(config)
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    model.to(device).eval()
    return Checkpoint(
        model=model, meta=meta, path=None if isinstance(source, bytes | bytearray) else Path(source)
    )


def _expected_shapes(config: ModelConfig) -> dict[str, tuple[int, ...]]:
    """Name -> shape of every weight the config needs, from a model on the "meta" device.

    A meta-device model has shapes but no storage, so even a config describing gigabytes of
    weights is inspected in microseconds without allocating them.
    """
    with torch.device("meta"):
        model = LatentVariableModel(config)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _check_weight_budget(
    config: ModelConfig, expected: dict[str, tuple[int, ...]], size: int, name: str
) -> None:
    """Even at 2 bytes per weight the file must be able to hold them all.

    Reached when a crafted header lists exactly the tensors of a huge config; safetensors would
    refuse the offsets too, but this says why in terms of the config.
    """
    n_weights = sum(math.prod(shape) for shape in expected.values())
    if 2 * n_weights > size:
        raise CheckpointError(
            f"{name}: the config (latent_dim={config.latent_dim}, hidden={list(config.hidden)}) "
            f"needs {n_weights:,} weights but the file has only {size:,} bytes",
            "weights",
        )


def _tensor_table(header: dict[str, Any], name: str) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Tensor name -> (dtype, shape) as the header declares them (offsets are safetensors' job)."""
    table = {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        dtype = entry.get("dtype") if isinstance(entry, dict) else None
        ok_shape = isinstance(shape, list) and all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
        )
        if not isinstance(dtype, str) or not ok_shape:
            raise CheckpointError(f"{name}: tensor entry {key[:60]!r} in the header is malformed")
        table[key] = (dtype, tuple(shape))
    return table


def _check_tensor_table(
    config: ModelConfig,
    expected: dict[str, tuple[int, ...]],
    table: dict[str, tuple[str, tuple[int, ...]]],
    name: str,
) -> None:
    """Names, shapes and dtypes from the header alone, so a mismatch is refused (with the tensor
    and the config in the message) before safetensors allocates anything."""
    missing = sorted(set(expected) - set(table))
    unexpected = sorted(set(table) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(k[:60] for k in unexpected[:4])}")
        raise CheckpointError(
            f"{name}: the weights do not match the config ({config.display_name}, "
            f"{config.arch}): {'; '.join(parts)}",
            "weights",
        )
    for key, shape in expected.items():
        dtype, got = table[key]
        if got != shape:
            raise CheckpointError(
                f"{name}: tensor {key} has shape {got} but the config needs {shape} "
                f"(latent_dim={config.latent_dim}, hidden={list(config.hidden)})",
                "weights",
            )
        if dtype not in FLOAT_DTYPES:
            raise CheckpointError(
                f"{name}: tensor {key} has dtype {dtype[:12]}, expected float32, float16 or "
                "bfloat16",
                "weights",
            )


def _check_finite(tensors: dict[str, torch.Tensor], name: str) -> None:
    """NaN/inf weights are refused: every output of such a model is NaN, and no page or
    metric can say anything useful about it (training stops before it saves one)."""
    for key, t in tensors.items():
        if not torch.isfinite(t).all():
            raise CheckpointError(f"{name}: tensor {key} contains NaN or infinite values", "nan")
