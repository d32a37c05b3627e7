"""Which latent dims matter, their slider ranges, start points and traversals (sliders page).

Dims are ordered by their KL to the prior, KL_j = E_x KL(q(z_j|x) || N(0, 1)) in nats (Burda
et al. 2015 call dims with ~0 KL inactive): a dim the encoder ignores is "collapsed" and moving
its slider changes nothing. A deterministic AE has no KL, so its dims are ranked by the
variance of the encoded test set (the same activity measure) and sliders cover that spread.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st
import torch
from PIL import Image, ImageDraw, ImageFont

from ui.cache_keys import checkpoint_key
from ui.eval_cache import split_posteriors
from vae_core.data.datasets import ImageSet
from vae_core.data.subsets import stratified_subset
from vae_core.evaluation.scoring import evaluate_elbo
from vae_core.io.checkpoint_file import Checkpoint
from vae_core.io.pictures import to_uint8
from vae_core.models.model import LatentVariableModel

COLLAPSED_NATS = 0.01  # KL (or encoded variance, for an AE) below this marks a collapsed dim
PRIOR_RANGE = 3.5  # slider half-width in prior standard deviations
SCORE_SUBSET = 2000  # test images used when KL has to be computed here


@dataclass(frozen=True)
class LatentDims:
    score: list[float]  # per dim, index order: KL in nats, or encoded variance for an AE
    score_name: str  # "KL" | "Var"
    source: str  # where the scores came from, said on the page
    center: list[float]  # the model's prior mean (0 for N(0, I)) or the encoded mean for an AE
    scale: list[float]  # the prior's std per dim (1 for N(0, I)) or the encoded std for an AE

    @property
    def order(self) -> list[int]:
        return sorted(range(len(self.score)), key=lambda j: -self.score[j])

    @property
    def collapsed(self) -> list[bool]:
        return [s < COLLAPSED_NATS for s in self.score]

    def bounds(self, j: int) -> tuple[float, float]:
        half = PRIOR_RANGE * self.scale[j]
        return self.center[j] - half, self.center[j] + half


def _valid(values: Any, dim: int) -> list[float] | None:
    ok = isinstance(values, list) and len(values) == dim
    ok = ok and all(isinstance(v, int | float) and math.isfinite(v) for v in values)
    return [float(v) for v in values] if ok else None


def kl_from_meta(meta: dict[str, Any], dim: int) -> tuple[list[float], str] | None:
    """KL per dim from the checkpoint: test metrics first, else the last training epoch."""
    test = meta.get("test_metrics")
    if isinstance(test, dict) and (kl := _valid(test.get("kl_per_dim"), dim)):
        return kl, "test-set KL per dim (checkpoint metadata)"
    history = meta.get("history")
    if isinstance(history, list) and history and isinstance(history[-1], dict):
        last = history[-1]
        val = last.get("val") if isinstance(last.get("val"), dict) else {}
        kl = _valid(last.get("kl_per_dim"), dim) or _valid(val.get("kl_per_dim"), dim)
        if kl:
            return kl, "KL per dim of the last training epoch (checkpoint metadata)"
    return None


def compute_dims(
    model: LatentVariableModel,
    x: torch.Tensor | None,
    y: torch.Tensor | None,
    known: Any = None,
    labels: torch.Tensor | None = None,
    noun: str = "test images",
    codes: np.ndarray | None = None,
) -> LatentDims:
    """Scores from ``known`` (kl, source) when given, else measured on ``x``: its seeded
    class-stratified subset of ``SCORE_SUBSET`` when ``labels`` (of every image) are given.
    An AE is ranked by ``codes``, the encoder means of every image of ``x``."""
    d = model.config.latent_dim
    ones = [1.0] * d
    center, scale = model.prior.mean().tolist(), model.prior.scale().tolist()
    if model.config.stochastic and known is not None:
        return LatentDims(known[0], "KL", known[1], center, scale)
    if x is None:  # nothing to measure on: keep the prior order and say so
        note = "unknown (no KL in the checkpoint, no test set)"
        return LatentDims(ones, "KL", note, center, scale)
    idx = torch.arange(len(x))
    if len(x) > SCORE_SUBSET:
        idx = (
            torch.from_numpy(stratified_subset(labels.numpy(), SCORE_SUBSET))
            if labels is not None
            else torch.arange(SCORE_SUBSET)
        )
        x, y = x[idx], None if y is None else y[idx]
    if model.config.stochastic:
        kl = evaluate_elbo(model, x, y)["kl_per_dim"]
        note = f"KL per dim measured on {len(x):,} {noun}"
        return LatentDims(kl, "KL", note, center, scale)
    if codes is None:
        raise ValueError("an AE's dims are ranked by its codes: pass the encoder means")
    mu = torch.from_numpy(codes[idx.numpy()])
    std = mu.std(0).clamp_min(1e-3)
    return LatentDims(
        mu.var(0).tolist(),
        "Var",
        f"variance of the codes of {len(x):,} {noun} (an AE has no KL)",
        mu.mean(0).tolist(),
        std.tolist(),
    )


@st.cache_resource(max_entries=16, show_spinner="Measuring the latent dims…")
def _cached_dims(
    key: str,
    _model: LatentVariableModel,
    _x: Any,
    _y: Any,
    _known: Any,
    _labels: Any,
    noun: str,
    _codes: Any,
) -> LatentDims:
    return compute_dims(_model, _x, _y, _known, _labels, noun, _codes)


def latent_dims(
    ckpt: Checkpoint, test: tuple[ImageSet, torch.Tensor, torch.Tensor] | None
) -> LatentDims:
    """The page's dim ranking, from metadata when possible, else measured once and cached on
    the split ``test`` (images, x, y), named by its noun (offline they are no test images).
    An AE's codes are the shared encoder pass of ``ui.eval_cache.split_posteriors``."""
    known = kl_from_meta(ckpt.meta, ckpt.config.latent_dim)
    images, x, y = test if test is not None else (None, None, None)
    noun = "test images" if images is None else images.noun
    codes = None
    if images is not None and not ckpt.config.stochastic:
        codes = split_posteriors(ckpt, images, x, y, binarized=False)[0]
    key = f"{checkpoint_key(ckpt)}:{known is not None}:{x is not None}"
    y_model = y if ckpt.config.conditional else None
    return _cached_dims(key, ckpt.model, x, y_model, known, y, noun, codes)


def random_start(dims: LatentDims, seed: int) -> list[float]:
    """One draw from the prior (an AE: from a Gaussian fitted to its codes), seeded."""
    eps = torch.randn(len(dims.center), generator=torch.Generator().manual_seed(seed))
    return [c + s * e for c, s, e in zip(dims.center, dims.scale, eps.tolist(), strict=True)]


@torch.no_grad()
def encode_start(model: LatentVariableModel, image: torch.Tensor, label: int | None) -> list[float]:
    """The posterior mean of one test image (B=1): where the encoder puts it."""
    mu, _ = model.encode(image[None].to(model.device), label)
    return mu[0].tolist()


@contextmanager
def one_thread() -> Iterator[None]:
    """Run tiny inferences on one intra-op thread, restoring the count afterwards (why: see
    ui/slider_results.py)."""
    before = torch.get_num_threads()
    if before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def decode_one(model: LatentVariableModel, z: list[float], label: int | None) -> torch.Tensor:
    """E[x|z] as (28, 28) for one code (the exact PyTorch decode the browser is checked against)."""
    zt = torch.tensor([z], dtype=torch.float32, device=model.device)
    return model.decode(zt, label)[0, 0].cpu()


@torch.no_grad()
def traversals(
    model: LatentVariableModel, z: list[float], label: int | None, dims: LatentDims, steps: int = 9
) -> torch.Tensor:
    """(D, steps, 28, 28): row j decodes z with dim j swept across its slider range."""
    d = len(z)
    base = torch.tensor(z, dtype=torch.float32).repeat(d, steps, 1)  # (D, steps, D)
    for j in range(d):
        lo, hi = dims.bounds(j)
        base[j, :, j] = torch.linspace(lo, hi, steps)
    images = model.decode(base.view(d * steps, d).to(model.device), label)
    return images.view(d, steps, 28, 28).cpu()


TRAVERSAL_MARGIN = 150  # px left of the strips for each row's label
TRAVERSAL_GAP = 6  # white px between rows


def traversal_image(strips: torch.Tensor, labels: list[str], scale: int = 3) -> np.ndarray:
    """All traversal rows in one uint8 picture with each row's label on its left.

    One image instead of one per dim: a rerun after every slider release then ships one file.
    Built with numpy around a cached label column, because it is redrawn on every release and
    drawing text is the slow part (the labels change with the model, not with z).
    """
    d, steps, h, w = strips.shape
    tiles = to_uint8(strips.reshape(d * steps, h, w)).reshape(d, steps, h, w)
    pad = 2  # dark frame around each tile, as image_grid draws it
    cells = np.zeros((d, h, steps, w + pad), dtype=np.uint8)
    cells[..., :w] = tiles.transpose(0, 2, 1, 3)
    grid = np.zeros((d, h + 2 * pad, pad + steps * (w + pad)), dtype=np.uint8)
    grid[:, pad : pad + h, pad:] = cells.reshape(d, h, steps * (w + pad))
    rows = grid.repeat(scale, axis=1).repeat(scale, axis=2)  # (D, H, W) nearest-neighbour
    row_h = rows.shape[1]
    out = np.array(_label_column(tuple(labels), row_h, rows.shape[2]))
    for j in range(d):
        top = j * (row_h + TRAVERSAL_GAP)
        out[top : top + row_h, TRAVERSAL_MARGIN:] = rows[j]
    return out


@functools.lru_cache(maxsize=32)
def _label_column(labels: tuple[str, ...], row_h: int, strip_w: int) -> np.ndarray:
    """The white traversal canvas with only the row labels drawn (read-only; copy to use)."""
    height = len(labels) * row_h + TRAVERSAL_GAP * (len(labels) - 1)
    canvas = Image.new("L", (TRAVERSAL_MARGIN + strip_w, height), 255)
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=15)
    for j, text in enumerate(labels):
        draw.multiline_text((4, j * (row_h + TRAVERSAL_GAP) + 4), text, fill=40, font=font,
                            spacing=3)  # fmt: skip
    out = np.asarray(canvas)
    out.flags.writeable = False
    return out
