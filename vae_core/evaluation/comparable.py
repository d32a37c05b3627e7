"""The figures that compare models: the 8-bit NLL of Gaussian decoders, a CVAE's marginal
likelihood with its labels summed out, and the CVAE read as a generative classifier.

A CVAE's IWAE NLL is conditional, -log p(x | y_true). With the label prior p(y) the marginal is
-log p(x) = -log sum_y p(y) p(x|y), each p(x|y) an IWAE estimate, combined by logsumexp over y;
since the sum includes the true label's term, -log p(x) <= -log p(x|y_true) - log p(y_true)
(= + ln 10 with a uniform prior). Bayes' rule on the same numbers gives p(y|x) proportional to
p(y) p(x|y): the CVAE as a classifier that never saw a classification loss.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from vae_core.config import DENSITY_LIKELIHOODS
from vae_core.evaluation.discrete import check_8bit, discrete_view
from vae_core.evaluation.iwae import Progress, iwae_nll_fast
from vae_core.evaluation.scoring import model_inputs
from vae_core.evaluation.units import bits_per_dim, comparable_data, figure_label, iwae_estimator
from vae_core.models.likelihoods import N_LEVELS
from vae_core.models.model import LatentVariableModel


def uniform_label_prior(n_classes: int) -> torch.Tensor:
    """p(y) = 1/C: the model has no learned label prior, and the training classes are balanced
    to within a few per cent on both datasets."""
    return torch.full((n_classes,), 1.0 / n_classes, dtype=torch.float64)


def class_log_likelihoods(
    model: LatentVariableModel,
    x: torch.Tensor,
    k: int = 100,
    seed: int = 0,
    progress: Progress | None = None,
) -> torch.Tensor:
    """log p(x | y) (N, C) for every class y, each an IWAE estimate with K samples.

    Every class uses the same seed: the noise is then shared across classes (common random
    numbers), so their differences, which decide p(y|x), carry less Monte Carlo noise, and
    the true class's column is exactly the conditional ``nll`` with that seed.
    """
    n, c = len(x), model.config.n_classes
    out = torch.empty(n, c, dtype=torch.float64)
    for label in range(c):
        cb = None if progress is None else (lambda d, _t, i=label: progress(i * n + d, n * c))
        y = torch.full((n,), label, dtype=torch.long)
        out[:, label] = -iwae_nll_fast(model, x, y, k=k, seed=seed, progress=cb)
    return out


def bayes_log_posterior(log_px_y: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """log p(y | x) (N, C) = log p(y) + log p(x|y) - log p(x); each row's exp sums to 1."""
    joint = log_px_y + prior.log()[None]
    return joint - torch.logsumexp(joint, 1, keepdim=True)


def marginal_nll(log_px_y: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """-log sum_y p(y) p(x|y) per image (N,), nats."""
    return -torch.logsumexp(log_px_y + prior.log()[None], 1)


def _confusion(true: np.ndarray, pred: np.ndarray, n_classes: int) -> list[list[int]]:
    """scikit-learn's confusion matrix (rows: true class), imported here: sklearn costs 1.5 s
    at import, which every CLI command would otherwise pay."""
    from sklearn.metrics import confusion_matrix  # noqa: PLC0415

    return confusion_matrix(true, pred, labels=range(n_classes)).tolist()


def bayes_report(
    log_px_y: torch.Tensor, labels: torch.Tensor, prior: torch.Tensor
) -> dict[str, Any]:
    """Accuracy and confusion matrix (rows: true class, columns: argmax_y p(y|x))."""
    pred = bayes_log_posterior(log_px_y, prior).argmax(1).numpy()
    true = torch.as_tensor(labels).long().numpy()
    return {
        "bayes_accuracy": float(np.mean(pred == true)),
        "bayes_confusion": _confusion(true, pred, len(prior)),
    }


@torch.no_grad()
def classifier_report(
    classifier: torch.nn.Module, x: torch.Tensor, labels: torch.Tensor, n_classes: int
) -> dict[str, Any]:
    """The discriminative classifier on the same images, in ``bayes_report``'s shape, so the two
    confusion matrices (rows: true class) stand side by side."""
    pred = classifier.predict(x).cpu().numpy()
    true = torch.as_tensor(labels).long().numpy()
    return {
        "accuracy": float(np.mean(pred == true)),
        "confusion": _confusion(true, pred, n_classes),
    }


def as_scored(model: LatentVariableModel, meta: Mapping[str, Any], x: torch.Tensor) -> torch.Tensor:
    """A user's images (N, 1, 28, 28) in [0, 1] put on the data the model's likelihood is a
    probability of: binarized once with the test images' seed (``model_inputs``), rounded to the
    256 levels for an 8-bit figure (a resized upload is off the grid), grey otherwise."""
    kind = comparable_data(model.config, meta)
    if kind == "binarized":
        return model_inputs(x, binary=True)
    if kind == "8-bit" and model.config.likelihood in DENSITY_LIKELIHOODS:
        return (x * (N_LEVELS - 1)).round() / (N_LEVELS - 1)
    return x


def image_label_posterior(
    model: LatentVariableModel,
    meta: Mapping[str, Any],
    x: torch.Tensor,
    k: int = 100,
    seed: int = 0,
) -> dict[str, Any]:
    """A CVAE's p(y | x) for each image (N, C) by Bayes' rule with a uniform p(y), and the
    images as scored (``as_scored``). ``likelihood`` is False for a grey-pixel Bernoulli CVAE:
    its cross-entropy stands in for log p(x|y), so the result is a softmax score, not a
    posterior of any probability model."""
    if not model.config.conditional:
        raise ValueError("p(y | x) by Bayes' rule needs a conditional VAE (a CVAE)")
    scored = as_scored(model, meta, x)
    view = discrete_view(model) if model.config.likelihood in DENSITY_LIKELIHOODS else model
    log_px_y = class_log_likelihoods(view, scored, k=k, seed=seed)
    prior = uniform_label_prior(model.config.n_classes)
    return {
        "posterior": bayes_log_posterior(log_px_y, prior).exp(),
        "x": scored,
        "likelihood": comparable_data(model.config, meta) != "grey",
    }


def comparable_figures(
    model: LatentVariableModel,
    config_meta: Mapping[str, Any],
    x: torch.Tensor,
    y: torch.Tensor,
    k: int,
    nll: float | None,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The keys ``evaluate`` and ``nll`` add to their JSON (existing keys keep their meaning).

    ``data_kind``, ``conditional``, ``figure`` (the label of the comparable figure: which key,
    what it measures) and ``bits_per_dim`` of it; for density decoders (Gaussian, continuous
    Bernoulli) ``nll_8bit``; for a
    CVAE ``nll_marginal``, ``bayes_accuracy`` and ``bayes_confusion``. ``nll`` is the
    conditional/density IWAE NLL already measured with the same K and seed.
    """
    config = model.config
    label = figure_label(config, config_meta, iwae_estimator(k), conditional=False)
    out: dict[str, Any] = {"conditional": config.conditional, "data_kind": label.data}
    if not config.stochastic or k < 1:
        return out  # an AE, or no IWAE asked for: no likelihood figure to label
    scored = model
    key, value = "nll", nll
    if config.likelihood in DENSITY_LIKELIHOODS:
        check_8bit(x)
        scored = discrete_view(model)
        labels = y if config.conditional else None
        value = float(iwae_nll_fast(scored, x, labels, k=k, seed=seed).mean())
        key = "nll_8bit"
        out[key] = value
    if config.conditional:
        prior = uniform_label_prior(config.n_classes)
        log_px_y = class_log_likelihoods(scored, x, k=k, seed=seed, progress=progress)
        out["nll_marginal"] = value = float(marginal_nll(log_px_y, prior).mean())
        out["label_prior"] = "uniform"
        out.update(bayes_report(log_px_y, y, prior))
        key = "nll_marginal"
    out["figure"] = {"key": key, **label.as_dict()}
    out["bits_per_dim"] = None if value is None else bits_per_dim(value, x[0].numel())
    return out
