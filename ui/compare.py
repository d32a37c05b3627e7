"""Two models side by side (the Compare page): which models may be compared, their metrics in
the comparable unit, and the figures both draw from the same inputs.

Only models trained on the same dataset are offered, so the two latent maps show the same test
images and the selection in one can light up the same images in the other. Their likelihood
figures share a column only when ``vae_core.evaluation.units.figure_label`` says they measure
the same thing; otherwise each stands in its own column, labelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import torch

from ui import eval_cache as ec
from ui.model_list import ModelEntry, list_models, model_info
from vae_core.config import DENSITY_LIKELIHOODS
from vae_core.evaluation.units import bits_per_dim, comparable_data, figure_label, iwae_estimator
from vae_core.io.checkpoint_file import Checkpoint
from vae_core.io.header import CheckpointError


def partners(chosen: str, dataset: str) -> list[ModelEntry]:
    """Every other model in the picker trained on ``dataset``."""
    out = []
    for entry in list_models():
        if entry.path == chosen:
            continue
        try:
            meta = model_info(entry.path).meta
        except CheckpointError:
            continue
        if meta.get("dataset", "mnist") == dataset:
            out.append(entry)
    return out


@dataclass(frozen=True)
class ComparedFigure:
    model: str
    label: str  # the figure's full label (figure_label(...).text)
    nats: float | None  # None: an AE, no density


def likelihood_figure(
    ckpt: Checkpoint, ev: ec.EvalSet, name: str, n: int, k: int
) -> ComparedFigure:
    """The model's comparable figure on ``ev.subset(n)``: the IWAE estimate with K samples on
    the data its likelihood is a probability of (8-bit for density decoders)."""
    cfg = ckpt.config
    label = figure_label(cfg, ckpt.meta, iwae_estimator(k), conditional=cfg.conditional)
    if not cfg.stochastic:
        return ComparedFigure(name, label.text, None)
    discrete = cfg.likelihood in DENSITY_LIKELIHOODS and comparable_data(cfg, ckpt.meta) == "8-bit"
    nll = ec.iwae_nll(ckpt, ev, n, k, discrete=discrete)
    return ComparedFigure(name, label.text, float(nll.mean()))


def figures_table(figures: list[ComparedFigure]) -> pd.DataFrame:
    """One row per model, one column per kind of figure: two figures share a column only when
    their labels are equal (same data, conditional or marginal, estimator and unit)."""
    columns: list[str] = []
    for f in figures:
        if f.label not in columns:
            columns.append(f.label)
    rows = []
    for f in figures:
        row: dict[str, object] = {"model": f.model}
        for c in columns:
            row[c] = f.nats if c == f.label else None
        if f.nats is not None:
            row["bits/dim"] = bits_per_dim(f.nats)
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


@torch.no_grad()
def reconstructions(ckpt: Checkpoint, ev: ec.EvalSet, rows: list[int]) -> torch.Tensor:
    """The model's reconstructions (decoded posterior means) of test images ``rows``."""
    x = ev.x[rows]
    y = ev.labels[rows] if ckpt.config.conditional else None
    return ckpt.model.reconstruct(x, y).cpu()


@torch.no_grad()
def shared_codes(
    a: Checkpoint, b: Checkpoint, n: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The same n prior codes (from model a's prior, a seeded Generator) decoded by both models;
    a CVAE decodes them with the classes 0, 1, 2, ... in turn."""
    z = a.model.prior.sample(n, torch.Generator().manual_seed(seed))
    labels = torch.arange(n) % a.config.n_classes

    def decode(ckpt: Checkpoint) -> torch.Tensor:
        return ckpt.model.decode(z, labels if ckpt.config.conditional else None).cpu()

    return decode(a), decode(b)
