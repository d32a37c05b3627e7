"""Classifier regions of a latent plane: which class the decoder draws where (LAPEX-style).

Every point p of a fine grid over a 2-D latent map (the latent itself for a 2-D model, or the
plane of a PCA map, lifted to z = mean + Wᵀp) is decoded to its mean image, and the shipped
classifier labels that image. The regions show what the decoder has learnt to draw in each part
of the plane, and the classifier's confidence where its borders are. A test image whose code
falls in the region of another class is a confusion of the model (its encoder placed it where
the decoder draws something else), or of the classifier: the page says which points those are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from vae_core.evaluation.classifier import DigitClassifier
from vae_core.latent.maps import LinearProjection
from vae_core.models.model import LatentVariableModel


@dataclass(frozen=True)
class DecisionRegions:
    """The classifier's label and confidence on a ``resolution`` x ``resolution`` grid."""

    xs: np.ndarray  # (G,) grid x coordinates on the map, increasing
    ys: np.ndarray  # (G,) grid y coordinates, increasing
    label: np.ndarray  # (G, G) int: row i is ys[i], column j is xs[j]
    confidence: np.ndarray  # (G, G) float: the classifier's probability of that label

    def label_at(self, points: np.ndarray) -> np.ndarray:
        """The region label at each map point (N, 2): the nearest grid cell's."""
        pts = np.asarray(points, np.float64)
        j = np.clip(np.rint(np.interp(pts[:, 0], self.xs, np.arange(len(self.xs)))), 0, None)
        i = np.clip(np.rint(np.interp(pts[:, 1], self.ys, np.arange(len(self.ys)))), 0, None)
        return self.label[i.astype(int), j.astype(int)]


def map_extent(coords: np.ndarray, margin: float = 0.05) -> tuple[float, float, float, float]:
    """(x0, x1, y0, y1) around the map's points, ``margin`` of the span added on each side."""
    lo, hi = coords.min(0).astype(np.float64), coords.max(0).astype(np.float64)
    pad = (hi - lo) * margin + 1e-6
    return (
        float(lo[0] - pad[0]),
        float(hi[0] + pad[0]),
        float(lo[1] - pad[1]),
        float(hi[1] + pad[1]),
    )


@torch.no_grad()
def decision_regions(
    model: LatentVariableModel,
    classifier: DigitClassifier,
    projection: LinearProjection,
    extent: tuple[float, float, float, float],
    resolution: int = 100,
    batch_size: int = 2000,
) -> DecisionRegions:
    """Decode the grid over ``extent`` (map coordinates) and classify every decoded image.

    Above 2-D, each grid point is lifted exactly through the PCA inverse with the off-plane
    directions at the data mean (``LinearProjection.inverse``), so the regions are those of the
    plane the map shows. A CVAE is refused: its decoder needs a class for every point, which is
    the very thing the regions are to show.
    """
    if model.config.conditional:
        raise ValueError("classifier regions need an unconditional model: a CVAE decodes a class")
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    x0, x1, y0, y1 = extent
    xs, ys = np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution)
    gx, gy = np.meshgrid(xs, ys)  # row i: y = ys[i]
    plane = np.stack([gx.ravel(), gy.ravel()], 1)
    z = torch.as_tensor(projection.inverse(plane), dtype=torch.float32)
    probs = []
    for s in range(0, len(z), batch_size):
        images = model.decode(z[s : s + batch_size].to(model.device)).float()
        probs.append(classifier(images.to(next(classifier.parameters()).device)).softmax(1).cpu())
    p = torch.cat(probs)
    confidence, label = p.max(1)
    shape = (resolution, resolution)
    return DecisionRegions(
        xs=xs,
        ys=ys,
        label=label.numpy().reshape(shape),
        confidence=confidence.numpy().reshape(shape),
    )


def region_confusions(
    regions: DecisionRegions, coords: np.ndarray, labels: np.ndarray
) -> np.ndarray:
    """Indices of the points whose own class differs from the region their code falls in."""
    return np.flatnonzero(regions.label_at(coords) != np.asarray(labels))
