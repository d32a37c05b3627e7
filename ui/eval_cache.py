"""Cached evaluation results for the evaluation pages (Likelihood ... Rate-distortion).

Every result is keyed by the checkpoint's path and modification time (a retrained file is
re-scored), the data it was computed on and its settings (K, number of images, seed...).
Slow estimates that report progress (IWAE NLL, OOD scores) live in a small LRU store held by
``st.cache_resource``: ``st.cache_data`` would record the progress-bar updates made inside the
function and fail to replay them on a cache hit, because the bar is created outside it.
All math lives in ``vae_core``; this module only calls it and remembers the answers.
Cached arrays are read-only and shared by all sessions.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import streamlit as st
import torch

from ui.cache_keys import checkpoint_key, file_key
from vae_core.config import DENSITY_LIKELIHOODS
from vae_core.data.datasets import ImageSet, seen_in_training
from vae_core.data.subsets import describe_images, stratified_subset
from vae_core.evaluation.data_kind import uses_binary_test_data
from vae_core.evaluation.ood import (
    OodSet,
    OtherSets,
    as_other_sets,
    build_ood_sets,
    score_sets,
)
from vae_core.evaluation.prior_holes import HoleMap, hole_map, hole_mass
from vae_core.evaluation.scoring import (
    evaluate_elbo,
    model_inputs,
    posterior_means,
)
from vae_core.io.checkpoint_file import Checkpoint

T = TypeVar("T")
Progress = Callable[[int, int], None] | None
MAX_STORED = 96


def frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


# --- a progress-friendly result store ---------------------------------------------------------


class _Store:
    def __init__(self) -> None:
        self.items: OrderedDict[Hashable, Any] = OrderedDict()
        self.lock = threading.Lock()


@st.cache_resource(show_spinner=False)
def _store() -> _Store:
    return _Store()


def stored(key: Hashable) -> bool:
    """Whether ``remember(key, ...)`` would answer without computing."""
    return key in _store().items


def remember(key: Hashable, compute: Callable[[], T]) -> T:
    """The stored value for ``key``, else ``compute()`` (stored, least recently used evicted)."""
    store = _store()
    with store.lock:
        if key in store.items:
            store.items.move_to_end(key)
            return store.items[key]
    value = compute()  # outside the lock: other sessions keep reading meanwhile
    with store.lock:
        store.items[key] = value
        while len(store.items) > MAX_STORED:
            store.items.popitem(last=False)
    return value


# --- the scored test data ---------------------------------------------------------------------


@st.cache_resource(max_entries=64, show_spinner=False)
def _subset(dataset: str, split: str, source: str, total: int, n: int, _labels: torch.Tensor):
    """``vae_core.data.subsets.stratified_subset`` of a cached split, shared: do not modify."""
    return torch.from_numpy(stratified_subset(_labels.numpy(), n))


@dataclass(frozen=True, eq=False)
class EvalSet:
    """The test images as the model is scored on them (Burda et al. 2015 protocol).

    Models trained on binarized pixels see one fixed binarization of the whole split
    (``binarize_static(seed=0)``, then indexed), exactly like ``python -m vae_core evaluate``.
    A figure on fewer than all N images uses ``subset(n)``: the seeded class-stratified subset
    of ``vae_core.data.subsets``, the same images the CLI's ``--limit n`` scores.
    """

    x: torch.Tensor  # (N, 1, 28, 28) in [0, 1], as scored
    grey: torch.Tensor  # the same images before binarization (pPCA, OOD transforms)
    labels: torch.Tensor  # (N,) int64
    binarized: bool
    dataset: str
    source: str
    class_names: tuple[str, ...]
    conditional: bool
    images: ImageSet  # the split these tensors were made from (what it is, for captions)
    seen: bool | None = False  # whether the model trained on these images (offline sample)

    @property
    def n(self) -> int:
        return len(self.x)

    def indices(self, n: int) -> torch.Tensor:
        """Positions of the ``n`` images a figure on ``n`` uses (all N, in order, for n >= N)."""
        n = max(1, min(int(n), self.n))
        images = self.images
        return _subset(images.dataset, images.split, images.source, self.n, n, self.labels)

    def subset(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """(x, y for the model or None, labels) of the ``n`` images (see ``indices``)."""
        if n >= self.n:  # the whole split: no copy
            return self.x, self.labels if self.conditional else None, self.labels
        idx = self.indices(n)
        labels = self.labels[idx]
        return self.x[idx], labels if self.conditional else None, labels

    head = subset  # the name earlier callers use

    def grey_subset(self, n: int) -> torch.Tensor:
        """The grey pixels of ``subset(n)``'s images."""
        return self.grey if n >= self.n else self.grey[self.indices(n)]

    def sizes(self, choices: tuple[int, ...], default: int) -> tuple[list[int], int]:
        """Options for an 'images' select_slider (capped at N) and the default among them."""
        options = [v for v in choices if v < self.n] + [self.n]
        return options, max(v for v in options if v <= max(default, options[0]))

    def describe(self, n: int, grey: bool = False) -> str:
        """Which images a figure on ``n`` uses, e.g. '500 of the 10,000 MNIST test images
        (random within each class ...; seed 0), binarized once with seed 0'. ``grey``: the
        figure uses the grey pixels even for a model scored on binarized ones (pPCA, OOD)."""
        bits = "binarized once with seed 0" if self.binarized and not grey else "grey pixels"
        return describe_images(self.images, n, processing=bits, seen=self.seen)


@st.cache_resource(max_entries=8, show_spinner=False)
def _binarized(dataset: str, split: str, source: str, n: int, _x: torch.Tensor) -> torch.Tensor:
    return model_inputs(_x, binary=True)


def eval_set(ckpt: Checkpoint, images: ImageSet, x: torch.Tensor, y: torch.Tensor) -> EvalSet:
    """The model's test split, binarized when its training data were."""
    binary = uses_binary_test_data(str(ckpt.meta.get("binarize", "none")))
    scored = _binarized(images.dataset, images.split, images.source, len(x), x) if binary else x
    return EvalSet(
        x=scored,
        grey=x,
        labels=y,
        binarized=binary,
        dataset=images.dataset,
        source=images.source,
        class_names=tuple(images.class_names),
        conditional=ckpt.config.conditional,
        images=images,
        seen=seen_in_training(images, ckpt.meta),
    )


# --- ELBO, posteriors, IWAE -------------------------------------------------------------------


def scored_model(ckpt: Checkpoint, discrete: bool):
    """The model itself, or (``discrete``) its 8-bit view (``vae_core.evaluation.discrete``)."""
    from vae_core.evaluation.discrete import discrete_view

    return discrete_view(ckpt.model) if discrete else ckpt.model


@st.cache_data(max_entries=64, show_spinner="Computing the ELBO…")
def _elbo(
    key: str, data: str, n: int, discrete: bool, _ckpt: Checkpoint, _ev: EvalSet
) -> dict[str, Any]:
    x, y, _ = _ev.subset(n)
    return evaluate_elbo(scored_model(_ckpt, discrete), x, y)


def elbo_report(ckpt: Checkpoint, ev: EvalSet, n: int, discrete: bool = False) -> dict[str, Any]:
    """{elbo, recon, kl, kl_per_dim} means over ``ev.subset(n)`` (one seeded z each);
    ``discrete``: of the 8-bit view of a Gaussian decoder."""
    return _elbo(checkpoint_key(ckpt), _data_key(ev), int(n), bool(discrete), ckpt, ev)


def data_key(images: ImageSet, n: int, binarized: bool) -> str:
    """The cache key of the ``n`` images of a split as a model sees them (grey or binarized)."""
    return f"{images.dataset}/{images.split}/{images.source}/{n}/{int(binarized)}"


def _data_key(ev: EvalSet) -> str:
    return data_key(ev.images, ev.n, ev.binarized)


@st.cache_resource(max_entries=16, show_spinner="Encoding the test images…")
def _split_posteriors(key: str, data: str, _ckpt: Checkpoint, _x: torch.Tensor, _y: torch.Tensor):
    y = _y if _ckpt.config.conditional else None
    mu, logvar = posterior_means(_ckpt.model, _x, y)
    return frozen(mu.numpy()), frozen(logvar.numpy())


def split_posteriors(
    ckpt: Checkpoint, images: ImageSet, x: torch.Tensor, y: torch.Tensor, binarized: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Encoder (mu, logvar), (N, D) each, of every image of ``x`` (the split ``images`` as the
    model sees it: ``binarized`` or grey), shared read-only by every page and session, so
    switching pages encodes a split once per model. A CVAE's encoder sees the labels ``y``."""
    return _split_posteriors(checkpoint_key(ckpt), data_key(images, len(x), binarized), ckpt, x, y)


def posteriors(ckpt: Checkpoint, ev: EvalSet, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Encoder (mu, logvar) of ``ev.subset(n)``'s images, (n, D) each, in that order."""
    mu, logvar = split_posteriors(ckpt, ev.images, ev.x, ev.labels, ev.binarized)
    if n >= ev.n:
        return mu, logvar
    idx = ev.indices(n).numpy()
    return frozen(mu[idx]), frozen(logvar[idx])


def _nll_key(
    ckpt: Checkpoint, ev: EvalSet, n: int, k: int, seed: int, discrete: bool = False
) -> tuple:
    kind = "nll-8bit" if discrete else "nll"
    return (kind, checkpoint_key(ckpt), _data_key(ev), int(n), int(k), int(seed))


def nll_cached(
    ckpt: Checkpoint, ev: EvalSet, n: int, k: int, seed: int = 0, discrete: bool = False
) -> bool:
    return stored(_nll_key(ckpt, ev, n, k, seed, discrete))


def iwae_nll(
    ckpt: Checkpoint,
    ev: EvalSet,
    n: int,
    k: int,
    seed: int = 0,
    progress: Progress = None,
    discrete: bool = False,
) -> np.ndarray:
    """Per-image IWAE NLL in nats (Burda et al. 2015) of ``ev.subset(n)``, in that order; the fast
    estimator when it exists. ``discrete``: -log P(x) of the 8-bit pixels under a density
    decoder (its bin masses) instead of its density."""
    x, y, _ = ev.subset(n)

    def compute() -> np.ndarray:
        if discrete:
            from vae_core.evaluation.discrete import check_8bit

            check_8bit(x)
        return frozen(nll_of(scored_model(ckpt, discrete), x, y, k, seed, progress))

    return remember(_nll_key(ckpt, ev, n, k, seed, discrete), compute)


def _classes_key(ckpt: Checkpoint, ev: EvalSet, n: int, k: int, seed: int) -> tuple:
    return ("classes", checkpoint_key(ckpt), _data_key(ev), int(n), int(k), int(seed))


def class_scores_cached(ckpt: Checkpoint, ev: EvalSet, n: int, k: int, seed: int = 0) -> bool:
    return stored(_classes_key(ckpt, ev, n, k, seed))


def class_log_likelihoods(
    ckpt: Checkpoint, ev: EvalSet, n: int, k: int, seed: int = 0, progress: Progress = None
) -> torch.Tensor:
    """log p(x | y) (n, C) of a CVAE for every class y on ``ev.subset(n)``
    (``vae_core.evaluation.comparable.class_log_likelihoods``; the 8-bit view of a Gaussian
    decoder). Its true-label column is ``iwae_nll``'s conditional figure with the same seed."""
    from vae_core.evaluation.comparable import class_log_likelihoods as scores
    from vae_core.evaluation.discrete import check_8bit

    x, _, _ = ev.subset(n)
    discrete = ckpt.config.likelihood in DENSITY_LIKELIHOODS

    def compute() -> torch.Tensor:
        if discrete:
            check_8bit(x)
        return scores(scored_model(ckpt, discrete), x, k=k, seed=seed, progress=progress)

    return remember(_classes_key(ckpt, ev, n, k, seed), compute)


@st.cache_data(max_entries=16, show_spinner="Classifying the same images…")
def _classifier_on(clf_key: str, data: str, n: int, _clf, _ev: EvalSet) -> dict[str, Any]:
    from vae_core.evaluation.comparable import classifier_report

    labels = _ev.subset(n)[2]
    return classifier_report(_clf, _ev.grey_subset(n), labels, len(_ev.class_names))


def classifier_on(ev: EvalSet, n: int, n_classes: int) -> dict[str, Any]:
    """The shipped classifier's accuracy and confusion matrix on the grey pixels of
    ``ev.subset(n)``'s images (what it was trained on); ValueError when none fits."""
    clf, _ = classifier_for(ev.dataset, n_classes)
    path = classifier_file(ev.dataset)
    return _classifier_on(file_key(path), _data_key(ev), int(n), clf, ev)


@st.cache_data(max_entries=16, show_spinner="Reading the decoder's variances…")
def _floor(key: str, data: str, n: int, _ckpt: Checkpoint, _ev: EvalSet) -> float | None:
    from vae_core.evaluation.discrete import variance_floor_fraction

    x, y, _ = _ev.subset(n)
    return variance_floor_fraction(_ckpt.model, x, y)


def variance_floor(ckpt: Checkpoint, ev: EvalSet, n: int) -> float | None:
    """Share of the decoder's pixel log-variances at the clamp on ``ev.subset(n)`` (or None)."""
    return _floor(checkpoint_key(ckpt), _data_key(ev), int(n), ckpt, ev)


def nll_of(model, x, y, k: int, seed: int = 0, progress: Progress = None) -> np.ndarray:
    """Uncached per-image IWAE NLL (nats) by vae_core.evaluation.iwae (generic path inside)."""
    from vae_core.evaluation.iwae import iwae_nll_fast

    return iwae_nll_fast(model, x, y, k=k, seed=seed, progress=progress).double().numpy()


# --- aggregate posterior (Diagnostics) --------------------------------------------------------


@st.cache_data(max_entries=16, show_spinner="Evaluating q(z) and p(z) on a grid…")
def _aggregate(key: str, data: str, n: int, _ckpt: Checkpoint, _ev: EvalSet) -> HoleMap:
    mu, logvar = posteriors(_ckpt, _ev, n)
    return hole_map(_ckpt.model.prior, torch.from_numpy(mu.copy()), torch.from_numpy(logvar.copy()))


def aggregate_maps(ckpt: Checkpoint, ev: EvalSet, n: int) -> HoleMap:
    """q(z) and the model's own p(z) on the latent plane (the PCA plane for D > 2), with the
    holes: ``vae_core.evaluation.prior_holes.hole_map``."""
    return _aggregate(checkpoint_key(ckpt), _data_key(ev), int(n), ckpt, ev)


@st.cache_data(max_entries=16, show_spinner="Measuring the prior mass in holes…")
def _hole_mass(key: str, data: str, n: int, _ckpt: Checkpoint, _ev: EvalSet) -> float:
    mu, logvar = posteriors(_ckpt, _ev, n)
    gen = torch.Generator().manual_seed(0)
    return hole_mass(_ckpt.model.prior, torch.tensor(mu), torch.tensor(logvar), generator=gen)


def prior_hole_mass(ckpt: Checkpoint, ev: EvalSet, n: int) -> float:
    """``vae_core.evaluation.prior_holes.hole_mass`` under the model's own prior, for the
    posteriors of ``ev.subset(n)``."""
    return _hole_mass(checkpoint_key(ckpt), _data_key(ev), int(n), ckpt, ev)


def diagnostic_codes(
    ckpt: Checkpoint, ev: EvalSet, n: int, count: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` codes from the prior and from the aggregate posterior q(z) (seeded)."""
    from vae_core.evaluation.aggregate_posterior import sample_aggregate

    mu, logvar = posteriors(ckpt, ev, n)
    g = torch.Generator().manual_seed(int(seed))
    prior = ckpt.model.prior.sample(count, g)
    agg = sample_aggregate(torch.from_numpy(mu.copy()), torch.from_numpy(logvar.copy()), count, g)
    return prior, torch.as_tensor(agg, dtype=torch.float32)


# --- out-of-distribution (OOD page) -----------------------------------------------------------


@st.cache_resource(max_entries=8, show_spinner=False)
def _ood_sets(data: str, n: int, seed: int, others: str, _ev: EvalSet, _others: dict):
    return build_ood_sets(_ev.images, _ev.binarized, n, _others, seed=seed)


def ood_inputs(
    ev: EvalSet,
    n: int,
    other: ImageSet | OtherSets | None,
    other_note: str = "",
    seed: int = 0,
) -> list[OodSet]:
    """``vae_core.evaluation.ood.build_ood_sets`` of the model's test split, ``n`` images per
    set (the sets ``python -m vae_core evaluate --ood --limit n`` scores), shared read-only.
    ``other``: the other datasets' test splits by name (or the note why one is missing), or
    for a model with one other dataset that split alone, None with ``other_note``."""
    others = as_other_sets(ev.dataset, other, other_note)
    key = "|".join(
        f"{name}={v}" if isinstance(v, str) else f"{name}:{v.dataset}/{v.source}/{len(v)}"
        for name, v in sorted(others.items())
    )
    return _ood_sets(_data_key(ev), int(n), int(seed), key, ev, others)


def _ood_key(ckpt: Checkpoint, ev: EvalSet, name: str, n: int, k: int, seed: int) -> tuple:
    return ("ood", checkpoint_key(ckpt), _data_key(ev), name, int(n), int(k), int(seed))


def ood_cached(ckpt: Checkpoint, ev: EvalSet, name: str, n: int, k: int, seed: int) -> bool:
    return stored(_ood_key(ckpt, ev, name, n, k, seed))


def ood_nll(
    ckpt: Checkpoint,
    ev: EvalSet,
    s: OodSet,
    n: int,
    k: int,
    seed: int,
    progress: Progress = None,
) -> np.ndarray:
    """Per-image IWAE NLL of one OOD set (``vae_core.evaluation.ood.score_sets``; unconditional models)."""
    assert s.x is not None

    def compute() -> np.ndarray:
        return frozen(score_sets(ckpt.model, {s.name: s.x}, k=k, progress=progress)[s.name].numpy())

    return remember(_ood_key(ckpt, ev, s.name, n, k, seed), compute)


# --- probabilistic PCA (pPCA page) ------------------------------------------------------------


@st.cache_resource(max_entries=8, show_spinner="Fitting pPCA in closed form…")
def _ppca(dataset: str, source: str, n: int, m: int, _x: torch.Tensor):
    from vae_core.evaluation.ppca import fit_ppca

    return fit_ppca(_x.reshape(len(_x), -1), m)


def ppca_fit(train: ImageSet, x_train: torch.Tensor, m: int):
    """The ML pPCA (Tipping & Bishop 1999) of the grey training images, shared read-only."""
    return _ppca(train.dataset, train.source, len(x_train), int(m), x_train)


@st.cache_data(max_entries=16, show_spinner="Exact pPCA log-likelihood of the test images…")
def _ppca_nll(dataset: str, source: str, n_train: int, m: int, data: str, n: int, _fit, _ev):
    return frozen(-_fit.log_likelihood(_ev.grey_subset(n).reshape(n, -1)).numpy())


def ppca_test_nll(train: ImageSet, x_train: torch.Tensor, m: int, ev: EvalSet, n: int):
    """Exact per-image NLL (nats) of ``ev.grey_subset(n)`` under the pPCA fit, in that order."""
    fit = ppca_fit(train, x_train, m)
    n = min(int(n), ev.n)
    return _ppca_nll(train.dataset, train.source, len(x_train), int(m), _data_key(ev), n, fit, ev)


@st.cache_data(max_entries=16, show_spinner="pPCA's 8-bit likelihood by importance sampling…")
def _ppca_8bit(
    dataset: str, source: str, n_train: int, m: int, data: str, n: int, k: int, _fit, _ev
) -> np.ndarray:
    from vae_core.evaluation.discrete import ppca_discrete_log_likelihood

    g = torch.Generator().manual_seed(0)
    x = _ev.grey_subset(n).reshape(n, -1)
    return frozen(-ppca_discrete_log_likelihood(_fit, x, k=k, generator=g).numpy())


def ppca_nll_8bit(
    train: ImageSet, x_train: torch.Tensor, m: int, ev: EvalSet, n: int, k: int
) -> np.ndarray:
    """Per-image -log P(x) (nats) of the 8-bit pixels of ``ev.grey_subset(n)`` under pPCA,
    importance-sampled with K samples (seed 0)."""
    fit = ppca_fit(train, x_train, m)
    n = min(int(n), ev.n)
    key = (train.dataset, train.source, len(x_train), int(m), _data_key(ev), n, int(k))
    return _ppca_8bit(*key, fit, ev)


@st.cache_resource(max_entries=4, show_spinner="Fitting the per-pixel baseline…")
def _pixels(dataset: str, source: str, n: int, _x: torch.Tensor):
    from vae_core.evaluation.discrete import fit_pixel_gaussians

    return fit_pixel_gaussians(_x)


@st.cache_data(max_entries=16, show_spinner=False)
def _baseline(dataset: str, source: str, n_train: int, data: str, n: int, _fit, _ev) -> dict:
    from vae_core.evaluation.discrete import pixel_gaussians_log_likelihood

    x = _ev.grey_subset(n)
    mean, logvar = _fit
    return {
        "nll_8bit": frozen(-pixel_gaussians_log_likelihood(x, mean, logvar).numpy()),
        "nll_density": frozen(
            -pixel_gaussians_log_likelihood(x, mean, logvar, discrete=False).numpy()
        ),
    }


def pixel_baseline(train: ImageSet, x_train: torch.Tensor, ev: EvalSet, n: int) -> dict:
    """The latent-free per-pixel Gaussian baseline fitted on the training images: per-image
    ``nll_8bit`` and ``nll_density`` (nats) of ``ev.grey_subset(n)``, exact."""
    fit = _pixels(train.dataset, train.source, len(x_train), x_train)
    n = min(int(n), ev.n)
    return _baseline(train.dataset, train.source, len(x_train), _data_key(ev), n, fit, ev)


def eight_bit_vaes(dataset: str, latent_dim: int) -> list:
    """Unconditional models in the picker whose comparable figure is an 8-bit probability
    (``vae_core.evaluation.units.comparable_data``), of this dataset and latent size. CVAEs are
    left out: their IWAE figure is conditional on the label."""
    from ui.model_list import list_models, model_info
    from vae_core.evaluation.units import comparable_data
    from vae_core.io.header import CheckpointError

    out = []
    for entry in list_models():
        try:
            info = model_info(entry.path)  # cached per file version, like the picker's
        except CheckpointError:
            continue
        cfg = info.config
        if (
            info.meta.get("dataset") == dataset
            and cfg.stochastic
            and not cfg.conditional
            and cfg.latent_dim == latent_dim
            and comparable_data(cfg, info.meta) == "8-bit"
        ):
            out.append(entry)
    return out


# --- CVAE faithfulness ------------------------------------------------------------------------


def classifier_file(dataset: str) -> Path:
    """The classifier for ``dataset`` (shipped, or trained for an imported set inside its
    folder); ValueError (for the page) when there is none."""
    from ui.paths import SHIPPED_DIR
    from vae_core.evaluation.classifier import find_classifier
    from vae_core.training.judge import judge_folder

    return find_classifier(judge_folder(dataset, SHIPPED_DIR / "classifiers"), dataset)


@st.cache_resource(max_entries=4, show_spinner="Loading the classifier…")
def _classifier(path: str, version: str):
    from vae_core.evaluation.classifier import load_classifier

    model, meta = load_classifier(path)
    model.eval().requires_grad_(False)  # shared by all sessions: read-only
    return model, meta


def classifier_for(dataset: str, n_classes: int):
    """(DigitClassifier, meta) shipped for ``dataset``; ValueError with a reason if none fits."""
    from vae_core.evaluation.classifier import check_fits

    path = classifier_file(dataset)
    model, meta = _classifier(str(path), file_key(path))
    check_fits(meta, dataset, n_classes, path)
    return model, meta


@st.cache_data(max_entries=32, show_spinner="Generating and classifying samples…")
def _faithfulness(key: str, clf_key: str, n: int, temp: float, seed: int, _ckpt, _clf, _ev):
    from vae_core.evaluation.classifier import faithfulness

    ref = (_ev.grey, _ev.labels)
    return faithfulness(_ckpt.model, _clf, n, temp, seed, reference=ref)


def faithfulness_report(
    ckpt: Checkpoint, ev: EvalSet, n_per_class: int, temperature: float, seed: int
) -> dict[str, Any]:
    """``vae_core.evaluation.classifier.faithfulness`` with real test images as the diversity
    reference."""
    clf, _ = classifier_for(ev.dataset, ckpt.config.n_classes)
    path = classifier_file(ev.dataset)
    clf_key = file_key(path)
    args = (int(n_per_class), float(temperature), int(seed))
    return _faithfulness(checkpoint_key(ckpt), clf_key, *args, ckpt, clf, ev)


# --- rate-distortion --------------------------------------------------------------------------


@st.cache_data(max_entries=64, show_spinner="Measuring rate and distortion…")
def _rd_point(key: str, data: str, n: int, _ckpt: Checkpoint, _ev: EvalSet) -> dict[str, Any]:
    from vae_core.evaluation.rate_distortion import rate_distortion_point

    x, y, labels = _ev.subset(n)
    return rate_distortion_point(_ckpt.model, x, labels)


def rd_point(ckpt: Checkpoint, ev: EvalSet, n: int) -> dict[str, Any]:
    """{rate, distortion, beta, elbo, active_units} of a model on ``ev.subset(n)``."""
    return _rd_point(checkpoint_key(ckpt), _data_key(ev), int(n), ckpt, ev)


def rd_sweep_files() -> list[Path]:
    from ui.paths import SHIPPED_DIR

    return sorted((SHIPPED_DIR / "rate_distortion").glob("*.json"))


@st.cache_data(max_entries=16, show_spinner=False)
def _read_sweep(path: str, version: str) -> dict[str, Any]:
    import json

    return json.loads(Path(path).read_text())


def rd_sweeps() -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The shipped β sweeps by file stem, and one-line problems with unreadable files."""
    out, problems = {}, []
    for path in rd_sweep_files():
        try:
            sweep = _read_sweep(str(path), file_key(path))
            if not isinstance(sweep, dict) or not isinstance(sweep.get("points"), list):
                raise ValueError("no 'points' list")
            out[path.stem] = sweep
        except (OSError, ValueError) as exc:
            problems.append(f"{path.name}: {exc}")
    return out, problems


# --- a CVAE's p(y|x) of one drawn or uploaded image (Latent map) ------------------------------

DIGIT_K = 200  # importance samples per label for one image: 10 x 200 decoder passes, instant


@st.cache_data(max_entries=32, show_spinner="Bayes' rule over the labels…")
def _label_posterior(key: str, digit: np.ndarray, k: int, _ckpt: Checkpoint) -> dict[str, Any]:
    from vae_core.evaluation.comparable import image_label_posterior

    x = torch.from_numpy(np.asarray(digit, np.float32))[None, None]
    out = image_label_posterior(_ckpt.model, _ckpt.meta, x, k=k)
    return {"posterior": frozen(out["posterior"][0].numpy()), "likelihood": out["likelihood"]}


def label_posterior(ckpt: Checkpoint, digit: np.ndarray, k: int = DIGIT_K) -> dict[str, Any]:
    """A CVAE's p(y | x) (C,) for one image (28, 28) in [0, 1]
    (``vae_core.evaluation.comparable.image_label_posterior``, uniform p(y), seed 0)."""
    return _label_posterior(checkpoint_key(ckpt), np.asarray(digit, np.float32), int(k), ckpt)


# --- classifier regions on a 2-D map (Latent map page) ----------------------------------------


@st.cache_data(max_entries=16, show_spinner="Decoding and classifying the grid…")
def _regions(
    key: str, clf_key: str, plane: str, extent: tuple, resolution: int, _ckpt, _clf, _proj
):
    from vae_core.evaluation.regions import decision_regions

    return decision_regions(_ckpt.model, _clf, _proj, extent, resolution)


def classifier_regions(
    ckpt: Checkpoint, dataset: str, plane: str, projection, extent, resolution: int = 100
):
    """``vae_core.evaluation.regions.decision_regions`` of the shipped classifier, cached per
    model, map plane (``plane`` names it, e.g. the map's cache key) and extent; ValueError
    (for the page) when the dataset has no shipped classifier or the model is a CVAE."""
    clf, _ = classifier_for(dataset, ckpt.config.n_classes)
    path = classifier_file(dataset)
    clf_key = file_key(path)
    extent = tuple(round(float(v), 6) for v in extent)
    return _regions(
        checkpoint_key(ckpt), clf_key, plane, extent, int(resolution), ckpt, clf, projection
    )
