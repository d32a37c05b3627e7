"""Type checks for the free-form part of a checkpoint's metadata (name, history, test metrics).

The app's model card, the sidebar and ``python -m vae_core info`` display these fields. An upload
can put a list where a number belongs, a 3 MB string in ``name`` (sent to every browser on every
rerun), an unknown dataset that every page would then try to load, or JSON nested thousands deep.
Checking types, lengths and depth once, when the file is read, lets every reader trust the fields
instead of guarding each use; unknown extra keys stay allowed (older or newer writers).
"""

from __future__ import annotations

from typing import Any

from vae_core.data.sources import DATASET_NAMES, get_source

MAX_DEPTH = 16  # our own metadata is 4 levels deep (meta > history > entry > train)
MAX_LIST = 100_000  # history entries, kl_per_dim values: far above any real checkpoint
TEXT_LIMITS = {
    "name": 200,
    "dataset": 64,
    "dataset_note": 2000,
    "data_source": 64,
    "binarize": 64,
    "device": 200,
    "created": 64,
}
COUNT_FIELDS = ("train_size", "epoch", "epochs")
NUMBER_FIELDS = ("training_seconds",)
OBJECT_FIELDS = ("train_config", "train_metrics", "test_metrics")
METRIC_NUMBERS = ("elbo", "recon", "kl", "nll")
METRIC_COUNTS = ("active_units", "n", "iw_samples")


class MetadataError(ValueError):
    """A metadata field with the wrong type, length or nesting; the message names the field."""


def _imported(meta: dict[str, Any]) -> bool:
    """Whether the checkpoint's dataset is an image set the user imported (it has a dataset.json)."""
    try:
        get_source(meta["dataset"])
    except (ValueError, TypeError):
        return False
    return True


def check_metadata(meta: dict[str, Any]) -> None:
    """Raise MetadataError unless every field the app or CLI reads has a usable type."""
    _check_depth(meta)
    for key, limit in TEXT_LIMITS.items():
        if key in meta:
            _need_text(meta[key], key, limit)
    if "dataset" in meta and meta["dataset"] not in DATASET_NAMES and not _imported(meta):
        raise MetadataError(
            f"dataset {str(meta['dataset'])[:40]!r} is not one of {DATASET_NAMES} nor an "
            "imported image set in the data folder"
        )
    for key in COUNT_FIELDS:
        if key in meta:
            _need_count(meta[key], key)
    for key in NUMBER_FIELDS:
        if key in meta:
            _need_number(meta[key], key)
    for key in OBJECT_FIELDS:
        if key in meta and not isinstance(meta[key], dict):
            raise MetadataError(f"{key} must be a JSON object, got {_kind(meta[key])}")
    if "stopped_early" in meta and not isinstance(meta["stopped_early"], bool):
        raise MetadataError(
            f"stopped_early must be true or false, got {_kind(meta['stopped_early'])}"
        )
    _check_metrics(meta.get("test_metrics") or {}, "test_metrics")
    _check_history(meta.get("history", []))


def _check_metrics(metrics: dict[str, Any], where: str) -> None:
    for key in METRIC_NUMBERS:
        if metrics.get(key) is not None:
            _need_number(metrics[key], f"{where}.{key}")
    for key in METRIC_COUNTS:
        if metrics.get(key) is not None:
            _need_count(metrics[key], f"{where}.{key}")
    if metrics.get("kl_per_dim") is not None:
        _need_numbers(metrics["kl_per_dim"], f"{where}.kl_per_dim")


def _check_history(history: Any) -> None:
    """Each entry is drawn as a point of the training curves: {epoch, train, val, kl_per_dim},
    and its steps say whether the last epoch was cut short (the picker marks such a model)."""
    if not isinstance(history, list) or len(history) > MAX_LIST:
        raise MetadataError(f"history must be a list of epochs, got {_kind(history)}")
    for i, entry in enumerate(history):
        where = f"history[{i}]"
        if not isinstance(entry, dict):
            raise MetadataError(f"{where} must be a JSON object, got {_kind(entry)}")
        _need_count(entry.get("epoch"), f"{where}.epoch")
        for key in ("steps", "steps_per_epoch"):  # older checkpoints do not have them
            if key in entry:
                _need_count(entry[key], f"{where}.{key}")
        for part in ("train", "val"):
            values = entry.get(part, {})
            if not isinstance(values, dict):
                raise MetadataError(f"{where}.{part} must be a JSON object, got {_kind(values)}")
            for key, value in values.items():
                if value is not None:
                    _need_number(value, f"{where}.{part}.{key}")
        if entry.get("kl_per_dim") is not None:
            _need_numbers(entry["kl_per_dim"], f"{where}.kl_per_dim")


def _check_depth(value: Any) -> None:
    """Iterative (a recursive walk is exactly what deeply nested JSON is meant to break)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise MetadataError(f"the metadata is nested more than {MAX_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def _need_text(value: Any, key: str, limit: int) -> None:
    if not isinstance(value, str):
        raise MetadataError(f"{key} must be a string, got {_kind(value)}")
    if len(value) > limit:
        raise MetadataError(f"{key} is {len(value):,} characters long (limit {limit:,})")


def _need_count(value: Any, key: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**53:
        raise MetadataError(f"{key} must be a non-negative integer, got {_kind(value)}")


def _need_number(value: Any, key: str) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise MetadataError(f"{key} must be a number, got {_kind(value)}")


def _need_numbers(value: Any, key: str) -> None:
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise MetadataError(f"{key} must be a list of numbers, got {_kind(value)}")
    for v in value:
        _need_number(v, key)


def _kind(value: Any) -> str:
    """A short description of a JSON value for a message (never the whole value)."""
    if isinstance(value, bool | int | float):
        return repr(value)[:24]
    if isinstance(value, str):
        return f"a string of {len(value):,} characters" if len(value) > 24 else repr(value)
    return "null" if value is None else f"a {type(value).__name__}"
