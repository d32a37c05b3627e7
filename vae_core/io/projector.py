"""Export latent codes for TensorBoard's Embedding Projector (and projector.tensorflow.org).

The projector is what many people already use to look at embeddings (PCA, t-SNE, UMAP, nearest
neighbours, with the images as points). It reads four files from a folder:

- ``tensors.tsv``: one row per image, the D posterior means E[z|x] separated by tabs, no header;
- ``metadata.tsv``: a header row (``label``, ``class``, ``index``), then one row per image, so the
  points can be coloured by class and traced back to the split by ``index``;
- ``sprite.png``: every image as a 28 x 28 thumbnail, row-major in a square grid of
  ceil(sqrt(N)) columns (the projector cuts it in that order, N-th image in the N-th cell);
- ``projector_config.pbtxt``: a ``ProjectorConfig`` text protobuf (TensorBoard's
  ``plugins/projector/projector_config.proto``: ``embeddings { tensor_name, tensor_shape,
  tensor_path, metadata_path, sprite { image_path, single_image_dim } }``) naming the three.

TensorBoard (``tensorboard --logdir DIR``) finds the config and shows the points; the standalone
projector's "Load" takes ``tensors.tsv`` and ``metadata.tsv``. The projector refuses sprites
above 8192 x 8192 px, so at most (8192 // 28)^2 = 85,264 images can be exported (the whole
MNIST test split is 10,000).

Written here rather than with ``torch.utils.tensorboard``'s ``add_embedding`` because that needs
TensorFlow or tensorboard installed, writes a run folder of event files and a numbered subfolder
instead of these four plain files, and pads its sprite to a square of the image count.
No Streamlit here; the CLI (``export-projector``) and the Latent map's download share it.
"""

from __future__ import annotations

import io
import math
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vae_core.data.datasets import ImageSet
from vae_core.data.subsets import SUBSET_SEED, describe_images, subset_of
from vae_core.io.atomic import atomic_write
from vae_core.io.pictures import png_bytes, to_uint8

THUMB = 28  # px per thumbnail: the images' own size
MAX_SPRITE_PX = 8192  # the projector's limit on each side of the sprite image
MAX_POINTS = (MAX_SPRITE_PX // THUMB) ** 2  # 85,264

TENSORS, METADATA, SPRITE, CONFIG = (
    "tensors.tsv",
    "metadata.tsv",
    "sprite.png",
    "projector_config.pbtxt",
)
METADATA_HEADER = ("label", "class", "index")

if TYPE_CHECKING:
    from vae_core.models.model import LatentVariableModel


class ProjectorError(ValueError):
    """Codes that cannot be exported (the reason, in one line a student understands)."""


@dataclass(frozen=True)
class ProjectorFiles:
    """The four files' bytes, by file name, and what they hold."""

    files: dict[str, bytes]
    n: int
    dim: int

    def write(self, folder: str | Path) -> list[Path]:
        """Write the files into ``folder`` (created if needed), each one atomically."""
        out = Path(folder)
        if out.exists() and not out.is_dir():
            raise ProjectorError(f"{out} is a file; --out must be a folder")
        out.mkdir(parents=True, exist_ok=True)
        return [atomic_write(out / name, data) for name, data in self.files.items()]

    def zip_bytes(self) -> bytes:
        """The four files in one .zip (unpack it into a folder, point TensorBoard at it)."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data in self.files.items():
                zf.writestr(name, data)
        return buf.getvalue()


def _cell(text: str) -> str:
    """One TSV cell: tabs and line breaks would start a new column or row."""
    return " ".join(str(text).split())


def _pbtxt_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")
    return f'"{escaped}"'


def sprite_image(images: np.ndarray) -> np.ndarray:
    """(N, 28, 28) images -> one uint8 (S*28, S*28) grid, S = ceil(sqrt(N)), row-major, no gaps."""
    tiles = to_uint8(images)
    n = len(tiles)
    side = math.ceil(math.sqrt(n))
    grid = np.zeros((side * THUMB, side * THUMB), dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, side)
        grid[r * THUMB : (r + 1) * THUMB, c * THUMB : (c + 1) * THUMB] = tile
    return grid


def projector_config(tensor_name: str, n: int, dim: int) -> str:
    """The ``ProjectorConfig`` text protobuf naming the other three files (paths relative to it)."""
    return (
        "embeddings {\n"
        f"  tensor_name: {_pbtxt_string(tensor_name)}\n"
        f"  tensor_shape: {n}\n"
        f"  tensor_shape: {dim}\n"
        f'  tensor_path: "{TENSORS}"\n'
        f'  metadata_path: "{METADATA}"\n'
        "  sprite {\n"
        f'    image_path: "{SPRITE}"\n'
        f"    single_image_dim: {THUMB}\n"
        f"    single_image_dim: {THUMB}\n"
        "  }\n"
        "}\n"
    )


def projector_files(
    mu: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    images: np.ndarray,
    class_names: Sequence[str],
    indices: Sequence[int] | np.ndarray,
    tensor_name: str,
) -> ProjectorFiles:
    """The four projector files for the codes ``mu`` (N, D) of ``images`` (N, 28, 28).

    ``indices`` are the images' positions in their split (the ``index`` column), so a subset's
    points can be found again; ``tensor_name`` is the title the projector shows.
    """
    mu = np.asarray(mu, dtype=np.float64)
    labels = np.asarray(labels)
    indices = np.asarray(indices)
    if mu.ndim != 2 or mu.shape[0] == 0:
        raise ProjectorError(f"the codes must be a non-empty (N, D) table, got shape {mu.shape}")
    n, dim = mu.shape
    if not (len(labels) == len(images) == len(indices) == n):
        raise ProjectorError(
            f"{n} codes but {len(labels)} labels, {len(images)} images, {len(indices)} indices"
        )
    if n > MAX_POINTS:
        raise ProjectorError(
            f"{n:,} images do not fit the projector's {MAX_SPRITE_PX} px sprite "
            f"(at most {MAX_POINTS:,} thumbnails of {THUMB} px); export a subset"
        )
    if not np.isfinite(mu).all():
        raise ProjectorError("some codes are not finite numbers (NaN or infinity)")
    tensors = "".join("\t".join(f"{v:.6g}" for v in row) + "\n" for row in mu)
    rows = ["\t".join(METADATA_HEADER)]
    for label, index in zip(labels.tolist(), indices.tolist(), strict=True):
        name = class_names[label] if 0 <= label < len(class_names) else str(label)
        rows.append(f"{label}\t{_cell(name)}\t{index}")
    files = {
        TENSORS: tensors.encode(),
        METADATA: ("\n".join(rows) + "\n").encode(),
        SPRITE: png_bytes(sprite_image(images)),
        CONFIG: projector_config(tensor_name, n, dim).encode(),
    }
    return ProjectorFiles(files, n, dim)


def export_split(
    model: LatentVariableModel,
    image_set: ImageSet,
    n: int | None = None,
    seed: int = SUBSET_SEED,
    name: str = "",
) -> ProjectorFiles:
    """The projector files of ``image_set``'s posterior means, or of its stratified subset of ``n``.

    A subset is ``stratified_subset`` (random within each class, in the split's proportions),
    never the split's first ``n`` (MNIST's files have an order). A CVAE encodes each image with
    its own label, as the Latent map does. The projector's title says which images these are.
    """
    from vae_core.evaluation.scoring import posterior_means  # PyTorch only when exporting

    picked = subset_of(image_set, n, seed)
    if len(picked) > MAX_POINTS:
        raise ProjectorError(
            f"{len(picked):,} images do not fit the projector's sprite; use --limit {MAX_POINTS}"
        )
    x, y = image_set.tensors()
    x, y = x[picked], y[picked]
    mu, _ = posterior_means(model, x, y if model.config.conditional else None)
    what = describe_images(image_set, n, seed=seed)
    title = f"{name}: posterior means E[z|x] of {what}" if name else f"E[z|x] of {what}"
    return projector_files(
        mu.numpy(), image_set.labels[picked], image_set.images[picked],
        image_set.class_names, picked, title,
    )  # fmt: skip
