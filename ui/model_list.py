"""The model picker's catalogue: shipped, trained and uploaded checkpoints, from metadata alone.

Nothing here imports PyTorch: the picker and the Home page's card need only each file's header
(``vae_core.io.header``), so the first page a visitor opens does not wait for it.
Loading a model's weights is ``ui.models``' job.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ui.paths import SHIPPED_DIR, uploads_dir, user_models_dir
from vae_core.config import ModelConfig, VQConfig
from vae_core.io.header import VQ_KEY, CheckpointError, read_any_metadata
from vae_core.training.run_metadata import training_extent

DEFAULT_SHIPPED = "mnist-vae-2d.safetensors"  # what a first visit opens on
MAX_LISTED = 512  # remembered picker titles (one per file version; tiny strings)
MAX_DESCRIBED = 32  # remembered metadata of chosen models (a few KB to ~1 MB of history each)


SOURCE_TAGS = {"shipped": "shipped", "trained": "trained", "uploaded": "uploaded"}


@dataclass(frozen=True)
class ModelEntry:
    """One model of the picker. Its label must tell apart two runs with the same settings (same
    default name): trained and uploaded models carry their creation time, and ``list_models``
    adds a short file id where two labels would still be equal."""

    path: str
    title: str
    source: str  # "shipped" | "trained" | "uploaded"
    created: str = ""  # local time the model was saved, e.g. "21 Nov 14:03" ("" if unknown)
    partial: str | None = None  # e.g. "partial (4.2 of 20 epochs)" (None: trained to the end)
    file_id: str = ""  # "#1a2b3c", only where the label alone would not be unique
    vq: bool = False  # a VQ-VAE (discrete codes, no Gaussian posterior)

    @property
    def label(self) -> str:
        """'MNIST VAE, 2-D latent · partial (4.2 of 20 epochs) · trained 21 Nov 14:03'.

        What tells models apart comes before the source: the picker cuts long labels at the end
        (its box is about 30 characters wide in the 300 px sidebar). Shipped models, listed first,
        carry no source tag, so even the longest shipped name fits; the tooltip says "shipped".
        """
        if self.source == "shipped":
            return " · ".join(p for p in (self.title, self.partial, self.file_id) if p)
        where = SOURCE_TAGS[self.source]
        if self.created:
            where += f" {self.created}"
        parts = [self.title, self.partial, where, self.file_id]
        return " · ".join(p for p in parts if p)


@dataclass(frozen=True)
class ModelInfo:
    """What a checkpoint says about itself: the validated metadata and the model config."""

    path: Path
    meta: dict[str, Any]
    config: ModelConfig | VQConfig

    @property
    def is_vq(self) -> bool:
        """A VQ-VAE: its card and pages differ (no continuous z, no Gaussian posterior)."""
        return isinstance(self.config, VQConfig)


def _version(path: str) -> tuple[int, int]:
    stat = Path(path).stat()
    return stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=MAX_DESCRIBED)
def _info(path: str, mtime_ns: int, size: int) -> ModelInfo:
    meta = read_any_metadata(path)
    if VQ_KEY in meta:
        return ModelInfo(Path(path), meta, VQConfig.from_dict(meta[VQ_KEY]))
    return ModelInfo(Path(path), meta, ModelConfig.from_dict(meta["model"]))


def created_text(meta: dict[str, Any]) -> str:
    """The checkpoint's creation time (stored in UTC) in this computer's time zone."""
    try:
        when = dt.datetime.fromisoformat(str(meta.get("created", "")))
    except ValueError:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    local = when.astimezone()
    return f"{local.day} {local:%b %H:%M}"


@functools.lru_cache(maxsize=MAX_LISTED)
def _entry(path: str, mtime_ns: int, size: int, source: str) -> ModelEntry | None:
    """The picker entry of one file, read once per version (None: not a valid checkpoint).

    Every page draws the picker on every rerun; parsing and checking each file's metadata each
    time cost ~5 ms per file, per rerun, per session. A rewritten file has a new mtime/size.
    The header is read through ``_info``, so the card of a listed model reads it no second time.
    """
    try:
        info = _info(path, mtime_ns, size)
    except CheckpointError:
        return None  # a half-written or foreign file is not offered
    meta = info.meta
    return ModelEntry(
        path,
        str(meta.get("name") or Path(path).stem),
        source,
        created=created_text(meta),
        partial=training_extent(meta).short(),
        vq=info.is_vq,
    )


def _entries(folder: Path, source: str) -> list[ModelEntry]:
    out = []
    for path in sorted(folder.glob("*.safetensors")):
        try:
            version = _version(str(path))
        except OSError:
            continue  # removed meanwhile
        entry = _entry(str(path), *version, source)
        if entry is not None:
            out.append(entry)
    return out


def _distinct(entries: list[ModelEntry]) -> list[ModelEntry]:
    """Add a short file id to every entry whose label another entry also has (two runs with the
    same settings saved in the same minute, or two uploads with the same name)."""
    counts = Counter(e.label for e in entries)
    return [
        dataclasses.replace(e, file_id=f"#{Path(e.path).stem[-6:]}") if counts[e.label] > 1 else e
        for e in entries
    ]


def _shipped_order(entry: ModelEntry) -> tuple[bool, str]:
    """The classic 2-D MNIST VAE (Kingma & Welling's manifold) first, then by file name."""
    return (Path(entry.path).name != DEFAULT_SHIPPED, Path(entry.path).name)


def list_models(include_vq: bool = False) -> list[ModelEntry]:
    """Shipped checkpoints first (the default model on top), then trained models, then uploads.

    VQ-VAEs only with ``include_vq`` (the picker, the Home page): every other list (a second
    model to compare, a prior to set beside, ...) wants a model with a Gaussian posterior, and
    a VQ-VAE's config has no latent size, prior or posterior to read.
    """
    entries = _distinct(
        sorted(_entries(SHIPPED_DIR, "shipped"), key=_shipped_order)
        + _entries(user_models_dir(), "trained")
        + _entries(uploads_dir(), "uploaded")
    )
    return entries if include_vq else [e for e in entries if not e.vq]


def model_info(path: str) -> ModelInfo:
    """The checkpoint's metadata and config, read once per file version, without PyTorch.

    Raises CheckpointError (one-line reason) for a file whose header is not valid; the weights
    are not checked here (``ui.models.load_model`` does that).
    """
    try:
        version = _version(path)
    except OSError as exc:
        raise CheckpointError(
            f"{Path(path).name}: cannot be read ({exc.strerror or exc})", "missing"
        ) from exc
    return _info(path, *version)


UNLOADABLE = "This model cannot be loaded; pick another one in the sidebar. "


def checkpoint_problem(exc: CheckpointError | OSError, lead: str = "") -> str:
    """Markdown for ``st.error``: ``lead``, the student's summary (what the file is, what the app
    expects), then the exact reason, as code: it quotes names an uploader chose.

    An OSError (the file vanished between listing and loading) reads as an unreadable file.
    """
    if not isinstance(exc, CheckpointError):
        exc = CheckpointError(f"cannot be read ({exc.strerror or exc})", "missing")
    detail = str(exc).replace("`", "'")
    return f"{lead}{exc.summary}\n\nTechnical detail: `{detail}`"
