"""2-D maps of a model's posterior means: the latent itself, PCA, UMAP and t-SNE.

A 2-D latent is its own map. Above two dimensions PCA (Pearson 1901) is the default because it
is instant, linear and invertible on its plane: the decoded manifold grid and the posterior
ellipse (Σ_2d = W diag(σ²) Wᵀ) are exact for it. UMAP (McInnes et al. 2018) and t-SNE
(van der Maaten & Hinton 2008) keep neighbourhoods better but have no inverse, so neither
ellipses nor grids are defined on their maps; an out-of-sample point is placed at the mean map
position of its nearest neighbours in latent space.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vae_core.latent.numba_cache import import_umap

#: method id -> label shown in the UI.
METHODS: dict[str, str] = {
    "latent": "latent z (2-D)",
    "pca": "PCA",
    "umap": "UMAP",
    "tsne": "t-SNE",
}
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "latent": {},
    "pca": {},
    "umap": {"n_neighbors": 15, "min_dist": 0.1, "seed": 0},
    "tsne": {"perplexity": 30.0, "seed": 0},
}
LINEAR_METHODS = ("latent", "pca")
#: up to this many points UMAP gets the exact neighbour graph (fast; no uncacheable numba)
EXACT_NEIGHBOURS_MAX = 50_000
#: from this many points up UMAP runs UMAP_LARGE_EPOCHS layout epochs, not umap-learn's 500
UMAP_LARGE_FROM = 4096
#: umap-learn's own number above 10,000 points; on 10,000 16-D codes as good a map as 500
#: (tests/test_embeddings.py) in 2/5 of the time, which the layout's epochs dominate
UMAP_LARGE_EPOCHS = 200
SMALL_TSNE = 5000  # below this many points (or on <= 2 cores) t-SNE runs single-threaded


class EmbeddingError(ValueError):
    """The latent codes cannot be mapped as asked (wrong shape, too few points, bad params)."""


@dataclass(frozen=True)
class LinearProjection:
    """An orthonormal 2-D projection p = W (z - mean) of a D-dim latent, with its exact inverse.

    ``components`` (2, D) has orthonormal rows; ``variance`` is the data variance along each.
    """

    mean: np.ndarray  # (D,)
    components: np.ndarray  # (2, D)
    variance: np.ndarray  # (2,)
    explained: np.ndarray  # (2,) fraction of the total variance

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])

    def transform(self, z: np.ndarray) -> np.ndarray:
        """Map coordinates (N, 2) of latent codes (N, D)."""
        return (np.asarray(z, np.float64) - self.mean) @ self.components.T

    def inverse(self, p: np.ndarray, anchor: np.ndarray | None = None) -> np.ndarray:
        """Latent codes (N, D) whose map coordinates are ``p`` (N, 2).

        z = mean + Wᵀp + (I - WᵀW)(anchor - mean): the off-plane components are held at the
        anchor's (the data mean when None), so ``transform(inverse(p)) == p`` exactly.
        """
        w = self.components
        z = self.mean + np.asarray(p, np.float64) @ w
        if anchor is not None:
            off = np.asarray(anchor, np.float64) - self.mean
            z = z + (off - (off @ w.T) @ w)
        return z

    def project_cov(self, var: np.ndarray) -> np.ndarray:
        """Map-plane covariances W diag(σ²) Wᵀ (N, 2, 2) of diagonal posteriors var (N, D)."""
        var = np.atleast_2d(np.asarray(var, np.float64))
        return np.einsum("id,nd,jd->nij", self.components, var, self.components)


def identity_projection(dim: int = 2) -> LinearProjection:
    """The 2-D latent as its own map (so grids and ellipses use one code path)."""
    if dim != 2:
        raise EmbeddingError(f"the identity map needs a 2-D latent, not {dim}-D")
    return LinearProjection(np.zeros(2), np.eye(2), np.ones(2), np.full(2, 0.5))


def fit_pca(z: np.ndarray) -> LinearProjection:
    """The top-2 principal axes of z (N, D); signs fixed so the result is deterministic.

    Eigendecomposition of the D x D covariance rather than an SVD of the N x D data: the same
    axes for N >> D, and under 1 ms for 10,000 x 16, where a threaded SVD took 0.6 s on a
    busy 2-core machine (BLAS threads spin-waiting).
    """
    z = np.asarray(z, np.float64)
    if z.ndim != 2 or z.shape[0] < 3 or z.shape[1] < 2:
        raise EmbeddingError(f"PCA needs at least 3 points of dimension >= 2, got {z.shape}")
    mean = z.mean(axis=0)
    centred = z - mean
    evals, evecs = np.linalg.eigh(centred.T @ centred / (len(z) - 1))
    order = np.argsort(evals)[::-1]
    eig = np.clip(evals[order], 0.0, None)
    top = evecs[:, order[:2]].T
    signs = np.sign(top[np.arange(2), np.abs(top).argmax(axis=1)])
    top = top * np.where(signs == 0, 1.0, signs)[:, None]
    total = eig.sum()
    return LinearProjection(
        mean=mean,
        components=top,
        variance=eig[:2],
        explained=eig[:2] / total if total > 0 else np.zeros(2),
    )


@dataclass
class Embedding:
    """Map coordinates of N latent codes and how they were made."""

    coords: np.ndarray  # (N, 2) float32
    method: str
    params: dict[str, Any] = field(default_factory=dict)
    projection: LinearProjection | None = None  # set for the linear methods only
    seconds: float = 0.0
    origin: str = "computed"  # or "shipped" / "cache" when read from disk


def resolve_params(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """The method's defaults updated with ``params`` (unknown names are an error)."""
    if method not in METHODS:
        raise EmbeddingError(f"unknown map method {method!r}; choose from {', '.join(METHODS)}")
    out = dict(DEFAULT_PARAMS[method])
    for name, value in (params or {}).items():
        if name not in out:
            raise EmbeddingError(f"{METHODS[method]} has no parameter {name!r}")
        out[name] = type(out[name])(value)
    return out


def exact_neighbours(mu: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact k nearest neighbours of each row of mu (itself included): (indices, distances).

    Brute force (one distance matrix product per chunk): 0.3 s for 10,000 x 16, where
    pynndescent's approximate NN-descent takes about as long to run but first compiles about
    15 s of numba code in every process, code numba cannot keep on disk because it takes the
    distance function as an argument (``numba_cache._static_args_cache``).
    """
    from sklearn.neighbors import NearestNeighbors  # noqa: PLC0415 - umap imports it anyway

    mu = np.asarray(mu, np.float32)
    dists, idx = NearestNeighbors(n_neighbors=k, algorithm="brute").fit(mu).kneighbors(mu)
    return idx.astype(np.int32), dists.astype(np.float32)


def umap_coords(
    mu: np.ndarray,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    seed: int = 0,
    force_approximate: bool = False,
) -> np.ndarray:
    """UMAP of the means; imported lazily, with numba's compiled code cached on disk.

    Up to ``EXACT_NEIGHBOURS_MAX`` points UMAP is given the exact neighbour graph
    (``exact_neighbours``), as umap-learn itself does below 4,096 points; above, or with
    ``force_approximate``, it builds pynndescent's approximate one. From ``UMAP_LARGE_FROM``
    points up the layout runs ``UMAP_LARGE_EPOCHS`` epochs.
    """
    umap = import_umap()
    mu = np.asarray(mu, np.float32)
    k = min(n_neighbors, len(mu) - 1)
    exact = not force_approximate and len(mu) <= EXACT_NEIGHBOURS_MAX
    reducer = umap.UMAP(
        n_neighbors=k,
        min_dist=min_dist,
        random_state=seed,
        n_components=2,
        n_jobs=1,  # what a seed forces anyway (umap warns otherwise)
        n_epochs=UMAP_LARGE_EPOCHS if len(mu) >= UMAP_LARGE_FROM else None,
        force_approximation_algorithm=force_approximate,
        precomputed_knn=exact_neighbours(mu, k) if exact else (None, None, None),
    )
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    # One BLAS thread: the spectral initialisation's sparse eigensolver took 5.3 s instead of
    # 0.23 s for 10,000 points with two threads spin-waiting on a busy 2-core machine; one
    # thread also keeps the seeded map independent of the machine's thread count.
    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
        # no search index: the lab never calls transform (see place_by_neighbours)
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")
        return reducer.fit_transform(mu)


def tsne_coords(mu: np.ndarray, perplexity: float = 30.0, seed: int = 0) -> np.ndarray:
    """Barnes-Hut t-SNE of the means, PCA-initialised (stable across runs for one seed)."""
    from sklearn.manifold import TSNE  # noqa: PLC0415
    from threadpoolctl import threadpool_limits  # noqa: PLC0415

    perplexity = min(perplexity, (len(mu) - 1) / 3.0)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    # Small sets gain nothing from OpenMP threads, and on a busy machine with few cores their
    # spin-waiting made a 120-point fit take 90 s instead of 4 s.
    single = len(mu) < SMALL_TSNE or (os.cpu_count() or 1) <= 2
    with threadpool_limits(limits=1 if single else None, user_api="openmp"):
        return tsne.fit_transform(np.asarray(mu, np.float32))


def compute_embedding(
    mu: np.ndarray, method: str, params: dict[str, Any] | None = None
) -> Embedding:
    """Map the latent means mu (N, D) to 2-D with ``method`` (see METHODS)."""
    mu = np.asarray(mu, np.float32)
    if mu.ndim != 2 or not np.isfinite(mu).all():
        raise EmbeddingError("latent means must be a finite (N, D) array")
    params = resolve_params(method, params)
    dim = mu.shape[1]
    if method == "latent" and dim != 2:
        raise EmbeddingError(f"a {dim}-D latent needs PCA, UMAP or t-SNE to be drawn in 2-D")
    if method != "latent" and dim < 3:
        raise EmbeddingError(f"a {dim}-D latent is drawn as is; {METHODS[method]} is not needed")
    if method in ("umap", "tsne") and len(mu) < 10:
        raise EmbeddingError(f"{METHODS[method]} needs at least 10 points, got {len(mu)}")
    start = time.perf_counter()
    projection = None
    if method in LINEAR_METHODS:
        projection = identity_projection() if method == "latent" else fit_pca(mu)
        coords = projection.transform(mu)
    elif method == "umap":
        coords = umap_coords(mu, **params)
    else:
        coords = tsne_coords(mu, **params)
    return Embedding(
        np.asarray(coords, np.float32), method, params, projection, time.perf_counter() - start
    )


def place_by_neighbours(
    mu_all: np.ndarray, coords: np.ndarray, mu_new: np.ndarray, k: int = 10
) -> np.ndarray:
    """Approximate map positions (M, 2) for new codes on a non-invertible map (UMAP, t-SNE).

    The mean map position of the k nearest data points in latent space: the usual
    out-of-sample placement when the fitted reducer is not kept (t-SNE has none).
    """
    mu_all = np.asarray(mu_all, np.float32)
    mu_new = np.atleast_2d(np.asarray(mu_new, np.float32))
    k = max(1, min(k, len(mu_all)))
    d2 = (mu_new**2).sum(1)[:, None] - 2 * mu_new @ mu_all.T + (mu_all**2).sum(1)[None, :]
    nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]
    return np.asarray(coords, np.float64)[nearest].mean(axis=1)


def latent_table_csv(
    labels: np.ndarray,
    mu: np.ndarray,
    logvar: np.ndarray,
    coords: np.ndarray,
    method: str,
    class_names: tuple[str, ...] | None = None,
) -> bytes:
    """CSV: index, label[, class], mu_0.., sigma_0.., map_x, map_y, method (one row per image)."""
    n, dim = mu.shape
    sigma = np.exp(0.5 * np.asarray(logvar, np.float64))
    head = ["index", "label"] + (["class"] if class_names else [])
    head += [f"mu_{i}" for i in range(dim)] + [f"sigma_{i}" for i in range(dim)]
    head += ["map_x", "map_y", "method"]
    lines = [",".join(head)]
    nums = np.concatenate([mu, sigma, coords], axis=1)
    for i in range(n):
        label = int(labels[i])
        cells = [str(i), str(label)]
        if class_names:
            cells.append(f'"{class_names[label]}"')
        cells += [f"{v:.6g}" for v in nums[i]]
        cells.append(method)
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


_WARMUP_LOCK = threading.Lock()
_WARMUP_THREAD: threading.Thread | None = None


def warm_up_umap() -> float:
    """Fit a tiny UMAP once so numba loads (or, the first time on a machine, compiles and saves
    to disk) the kernels a real map uses; returns the seconds it took.

    The same path and types as a map of real codes: float32 16-D codes, the default
    n_neighbors, the exact neighbour graph.
    """
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    umap_coords(
        rng.normal(size=(300, 16)).astype(np.float32), DEFAULT_PARAMS["umap"]["n_neighbors"]
    )
    return time.perf_counter() - start


def start_umap_warmup(on_done: Callable[[float], None] | None = None) -> bool:
    """Compile UMAP in a daemon thread, once per process, off the request path.

    Returns True if this call started it. Failures are swallowed: UMAP will then compile (or
    report its error) when the user chooses it.
    """
    global _WARMUP_THREAD
    with _WARMUP_LOCK:
        if _WARMUP_THREAD is not None:
            return False

        def run() -> None:
            try:
                seconds = warm_up_umap()
            except Exception:  # noqa: BLE001 - a warm-up must never take the app down
                return
            if on_done is not None:
                on_done(seconds)

        _WARMUP_THREAD = threading.Thread(target=run, name="umap-warmup", daemon=True)
        _WARMUP_THREAD.start()
        return True


def umap_warm() -> bool:
    """Whether the warm-up thread has finished (UMAP will then start without compiling)."""
    return _WARMUP_THREAD is not None and not _WARMUP_THREAD.is_alive()
