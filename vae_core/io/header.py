"""The torch-free half of reading a checkpoint: the safetensors container and its metadata.

The picker lists every model, and the Home page draws a model's card, from the metadata alone;
neither should wait for PyTorch to import (about 2 s of a cold start). So the container checks,
the header parse and the metadata validation live here, with no PyTorch import; building the
model from the weights is ``vae_core.io.checkpoint_file``' job. A file is treated as hostile either way.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from vae_core.config import ConfigError, ModelConfig, VQConfig
from vae_core.io.metadata_checks import MetadataError, check_metadata

FORMAT_NAME = "vae-latent-lab"
FORMAT_VERSION = 1
METADATA_KEY = "vae_lab"
VQ_KEY = "vq_model"  # a VQ-VAE's config; a Gaussian model's is under "model"
MAX_CHECKPOINT_BYTES = 256 * 1024 * 1024
MAX_HEADER_BYTES = 4 * 1024 * 1024
MAX_REASON_CHARS = 300


# What a student is told about a refused file, by kind of problem: what the file is and what the
# app expects. The exact technical reason (``str(exc)``) comes after it, for whoever digs deeper.
EXPECTED = "a .safetensors checkpoint saved by the Train page or `python -m vae_core train`"
SUMMARIES = {
    "missing": "The checkpoint file cannot be found or read.",
    "empty": "This file is empty (0 bytes), so it holds no model: perhaps a download or copy "
    f"did not finish. The app expects {EXPECTED}.",
    "too-large": "This file is larger than the 256 MiB the app accepts; a VAE Latent Lab "
    "checkpoint is a few MB.",
    "pickle": "This is a PyTorch .pt (pickle) file, not a VAE Latent Lab checkpoint. The app "
    "never opens pickles, because opening one can run any program hidden inside it; it "
    f"expects {EXPECTED}.",
    "not-safetensors": "This file is not a model checkpoint saved by VAE Latent Lab "
    "(.safetensors): it is damaged or cut short (an interrupted download?), or another kind of "
    f"file renamed. The app expects {EXPECTED}.",
    "foreign": "This is a safetensors file, but not a VAE Latent Lab model: it does not say "
    "which model its weights belong to (it may be another network, e.g. a classifier). The app "
    f"expects {EXPECTED}.",
    "metadata": "This file looks like a VAE Latent Lab checkpoint, but its description of the "
    "model (the metadata saved with the weights) is damaged or was edited, so the app cannot "
    "rebuild the model from it.",
    "version": "This checkpoint was saved by another version of VAE Latent Lab, one this "
    "version cannot read.",
    "weights": "The weights in this file do not fit the model the file describes (it was edited "
    "or damaged), so the app cannot rebuild the model from them.",
    "nan": "This model's weights contain NaN or infinite values (its training went wrong), so "
    "it cannot draw anything; train it again, e.g. with a lower learning rate.",
}


class CheckpointError(ValueError):
    """A file that is not a loadable VAE Latent Lab checkpoint; the message says why.

    ``str(exc)`` is the exact reason, forced onto one short line: it quotes file names, config
    keys and parser errors that an uploader controls, and it is the CLI's ``error:`` line.
    ``summary`` says the same for a student: what the file is and what the app expects
    (``kind`` picks it from ``SUMMARIES``); the app shows both.
    """

    def __init__(self, message: str, kind: str = "not-safetensors") -> None:
        text = " ".join(str(message).split())
        if len(text) > MAX_REASON_CHARS:
            text = text[: MAX_REASON_CHARS - 1] + "…"
        super().__init__(text)
        self.kind = kind if kind in SUMMARIES else "not-safetensors"

    @property
    def summary(self) -> str:
        return SUMMARIES[self.kind]


def read_source(source: str | Path | bytes) -> tuple[bytes, str]:
    """(bytes, name for messages); the size is checked from stat before anything is read."""
    if isinstance(source, bytes | bytearray):
        return bytes(source), "upload"
    path = Path(source)
    if not path.is_file():  # also refuses folders, FIFOs and devices such as /dev/zero
        raise CheckpointError(f"{path}: no such checkpoint file", "missing")
    try:
        size = path.stat().st_size
        if size > MAX_CHECKPOINT_BYTES:
            raise CheckpointError(
                f"{path.name}: {size / 2**20:.0f} MiB is larger than the 256 MiB limit",
                "too-large",
            )
        return path.read_bytes(), path.name
    except OSError as exc:  # e.g. no read permission: a reason, like any other bad file
        raise CheckpointError(
            f"{path.name}: cannot be read ({exc.strerror or exc})", "missing"
        ) from exc


def check_container(data: bytes, name: str) -> None:
    """Cheap structural checks before the safetensors parser sees the bytes."""
    if len(data) == 0:
        raise CheckpointError(f"{name}: the file is empty", "empty")
    if len(data) > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{name}: larger than the 256 MiB limit", "too-large")
    # A safetensors header is a JSON object, so byte 8 is "{" whatever the (little-endian)
    # header length in bytes 0-7 is; a zip (.pt) starts with "PK", a raw pickle with 0x80.
    looks_pickled = data[:2] == b"PK" or data[:1] == b"\x80"
    if looks_pickled and data[8:9] != b"{":
        raise CheckpointError(
            f"{name}: this is a PyTorch/pickle file (.pt), not safetensors; pickles can run code, "
            "so it is refused. Convert it with safetensors.torch.save_file.",
            "pickle",
        )
    if len(data) < 8:
        raise CheckpointError(f"{name}: truncated (only {len(data)} bytes)")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > len(data) - 8:
        raise CheckpointError(
            f"{name}: the header claims {header_len:,} bytes but the file has {len(data):,}: "
            "not a valid or complete safetensors file"
        )
    if header_len > MAX_HEADER_BYTES:
        raise CheckpointError(
            f"{name}: the header (metadata) is {header_len / 2**20:.1f} MiB, more than the "
            f"{MAX_HEADER_BYTES // 2**20} MiB limit",
            "metadata",
        )


def parse_header(data: bytes, name: str) -> dict[str, Any]:
    """The safetensors header as a dict (after ``check_container``).

    RecursionError (JSON nested thousands deep) and ValueError (bad UTF-8, an integer of more
    than 4,300 digits) must become a reason, not an exception the app or CLI cannot explain.
    """
    (header_len,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{name}: the safetensors header is not valid JSON") from exc
    if not isinstance(header, dict):
        raise CheckpointError(f"{name}: the safetensors header is not a JSON object")
    return header


def read_metadata(source: str | Path | bytes) -> dict[str, Any]:
    """The checkpoint's JSON metadata, validated, without building the model."""
    data, name = read_source(source)
    check_container(data, name)
    return parse_metadata(parse_header(data, name), name)


def read_any_metadata(source: str | Path | bytes) -> dict[str, Any]:
    """Like ``read_metadata``, but a VQ-VAE's metadata (config under ``vq_model``) is accepted
    and validated too: the picker and the Home card list both kinds, while ``read_metadata``
    (and so ``load_checkpoint``) keeps refusing a VQ-VAE where a Gaussian posterior is needed."""
    data, name = read_source(source)
    check_container(data, name)
    header = parse_header(data, name)
    meta = _common_metadata(header, name)
    if VQ_KEY not in meta:
        return _with_model_config(meta, name)
    try:
        meta[VQ_KEY] = VQConfig.from_dict(meta.get(VQ_KEY)).to_dict()
    except ConfigError as exc:
        raise CheckpointError(f"{name}: invalid VQ-VAE config: {exc}", "metadata") from exc
    return meta


def parse_metadata(header: dict[str, Any], name: str) -> dict[str, Any]:
    return _with_model_config(_common_metadata(header, name), name)


def _with_model_config(meta: dict[str, Any], name: str) -> dict[str, Any]:
    try:
        meta["model"] = ModelConfig.from_dict(meta.get("model")).to_dict()
    except ConfigError as exc:
        raise CheckpointError(f"{name}: invalid model config: {exc}", "metadata") from exc
    return meta


def _common_metadata(header: dict[str, Any], name: str) -> dict[str, Any]:
    """The parsed, format-checked metadata of either model kind (config not yet validated)."""
    raw = _metadata_string(header, name)
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{name}: the model metadata is not valid JSON", "metadata") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{name}: the metadata is not in the {FORMAT_NAME} format", "foreign")
    version = meta.get("format_version")
    if not isinstance(version, int) or not 1 <= version <= FORMAT_VERSION:
        raise CheckpointError(
            f"{name}: format version {str(version)[:20]!r} is not supported "
            f"(this app reads 1..{FORMAT_VERSION})",
            "version",
        )
    try:  # first: its depth check protects the recursive dataclasses.asdict below
        check_metadata(meta)
    except MetadataError as exc:
        raise CheckpointError(f"{name}: invalid metadata: {exc}", "metadata") from exc
    return meta


def _metadata_string(header: dict[str, Any], name: str) -> str:
    """Our JSON string from the header's ``__metadata__`` (a str -> str map in safetensors)."""
    table = header.get("__metadata__")
    raw = table.get(METADATA_KEY) if isinstance(table, dict) else None
    if raw is None:
        raise CheckpointError(
            f"{name}: a safetensors file without VAE Latent Lab metadata (no model config); "
            "only checkpoints saved by this app or `python -m vae_core train` can be loaded",
            "foreign",
        )
    if not isinstance(raw, str):
        raise CheckpointError(f"{name}: the model metadata is not a JSON string", "metadata")
    return raw
