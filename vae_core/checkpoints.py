"""Checkpoints: safetensors weights with the JSON metadata stored in the same file's header.

Loading treats the file as hostile (it may be an upload): nothing is unpickled, sizes are checked
before anything is allocated, the config is validated field by field, and every tensor's name,
shape and dtype must match the model the config describes. Writes are atomic (temp + rename), so a
crash mid-write never replaces a good checkpoint with a broken one.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from vae_core.config import ConfigError, ModelConfig
from vae_core.model import LatentVariableModel

FORMAT_NAME = "vae-latent-lab"
FORMAT_VERSION = 1
METADATA_KEY = "vae_lab"
MAX_CHECKPOINT_BYTES = 256 * 1024 * 1024
MAX_HEADER_BYTES = 4 * 1024 * 1024
FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


class CheckpointError(ValueError):
    """A file that is not a loadable VAE Latent Lab checkpoint; the message says why."""


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


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write to a temp file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_current_umask())  # mkstemp's 0600 is too strict
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_checkpoint(model: LatentVariableModel, path: str | Path, meta: dict[str, Any]) -> Path:
    return atomic_write(path, checkpoint_bytes(model, meta))


def _read_source(source: str | Path | bytes) -> tuple[bytes, str]:
    if isinstance(source, bytes | bytearray):
        return bytes(source), "upload"
    path = Path(source)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(
            f"{path.name}: {size / 2**20:.0f} MiB is larger than the 256 MiB limit"
        )
    return path.read_bytes(), path.name


def _check_container(data: bytes, name: str) -> None:
    """Cheap structural checks before the safetensors parser sees the bytes."""
    if len(data) == 0:
        raise CheckpointError(f"{name}: the file is empty")
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{name}: larger than the 256 MiB limit")
    # A safetensors header is a JSON object, so byte 8 is "{" whatever the (little-endian)
    # header length in bytes 0-7 is; a zip (.pt) starts with "PK", a raw pickle with 0x80.
    looks_pickled = data[:2] == b"PK" or data[:1] == b"\x80"
    if looks_pickled and data[8:9] != b"{":
        raise CheckpointError(
            f"{name}: this is a PyTorch/pickle file (.pt), not safetensors; pickles can run code, "
            "so it is refused. Convert it with safetensors.torch.save_file."
        )
    if len(data) < 8:
        raise CheckpointError(f"{name}: truncated (only {len(data)} bytes)")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > MAX_HEADER_BYTES or header_len > len(data) - 8:
        raise CheckpointError(
            f"{name}: the header claims {header_len:,} bytes but the file has {len(data):,}: "
            "not a valid or complete safetensors file"
        )


def read_metadata(source: str | Path | bytes) -> dict[str, Any]:
    """The checkpoint's JSON metadata, validated, without building the model."""
    data, name = _read_source(source)
    _check_container(data, name)
    return _parse_metadata(data, name)


def _parse_metadata(data: bytes, name: str) -> dict[str, Any]:
    (header_len,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{name}: the safetensors header is not valid JSON") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{name}: the safetensors header is not a JSON object")
    raw = (header.get("__metadata__") or {}).get(METADATA_KEY)
    if raw is None:
        raise CheckpointError(
            f"{name}: a safetensors file without VAE Latent Lab metadata (no model config); "
            "only checkpoints saved by this app or `python -m vae_core train` can be loaded"
        )
    try:
        meta = json.loads(raw)
    except (TypeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{name}: the model metadata is not valid JSON") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{name}: the metadata is not in the {FORMAT_NAME} format")
    version = meta.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise CheckpointError(
            f"{name}: format version {version!r} is not supported (this app reads 1..{FORMAT_VERSION})"
        )
    try:
        meta["model"] = ModelConfig.from_dict(meta.get("model")).to_dict()
    except ConfigError as exc:
        raise CheckpointError(f"{name}: invalid model config: {exc}") from exc
    return meta


def load_checkpoint(source: str | Path | bytes, device: str | torch.device = "cpu") -> Checkpoint:
    """Load and validate a checkpoint from a path or raw bytes (an upload)."""
    data, name = _read_source(source)
    _check_container(data, name)
    meta = _parse_metadata(data, name)
    config = ModelConfig.from_dict(meta["model"])
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError, RuntimeError, OverflowError) as exc:
        raise CheckpointError(f"{name}: corrupt safetensors data ({exc})") from exc
    model = LatentVariableModel(config)
    _check_tensors(model, tensors, name)
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    model.to(device).eval()
    return Checkpoint(
        model=model, meta=meta, path=None if isinstance(source, bytes) else Path(source)
    )


def _check_tensors(model: LatentVariableModel, tensors: dict[str, torch.Tensor], name: str) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
        if unexpected:
            parts.append(f"unexpected {', '.join(unexpected[:4])}")
        raise CheckpointError(
            f"{name}: the weights do not match the config ({model.config.display_name}, "
            f"{model.config.arch}): {'; '.join(parts)}"
        )
    for key, ref in expected.items():
        t = tensors[key]
        if tuple(t.shape) != tuple(ref.shape):
            raise CheckpointError(
                f"{name}: tensor {key} has shape {tuple(t.shape)} but the config needs "
                f"{tuple(ref.shape)} (latent_dim={model.config.latent_dim}, "
                f"hidden={list(model.config.hidden)})"
            )
        if t.dtype not in FLOAT_DTYPES:
            raise CheckpointError(f"{name}: tensor {key} has dtype {t.dtype}, expected a float")
        if not torch.isfinite(t).all():
            raise CheckpointError(f"{name}: tensor {key} contains NaN or infinite values")


def save_resume_state(state: dict[str, Any], path: str | Path) -> Path:
    """Optimizer state for resuming; read back only with ``torch.load(weights_only=True)``."""
    buf = io.BytesIO()
    torch.save(state, buf)
    return atomic_write(path, buf.getvalue())


def load_resume_state(path: str | Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure means "not a usable resume file"
        raise CheckpointError(f"{Path(path).name}: not a usable resume state ({exc})") from exc
