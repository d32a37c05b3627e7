"""2-D maps: PCA recovery and exact inverse, ellipses, the on-disk cache, CSV export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vae_core.latent import maps
from vae_core.latent.ellipse import axis_lengths, ellipse_points
from vae_core.latent.map_cache import EmbeddingKey, cached_coords, load_coords, save_coords
from vae_core.latent.maps import (
    DEFAULT_PARAMS,
    EmbeddingError,
    compute_embedding,
    fit_pca,
    identity_projection,
    latent_table_csv,
    place_by_neighbours,
    resolve_params,
)


def rank2_set(n: int = 500, dim: int = 8, seed: int = 0):
    """z = m + p A: points on a 2-D plane (orthonormal rows A) with variances 9 and 1."""
    rng = np.random.default_rng(seed)
    a, _ = np.linalg.qr(rng.normal(size=(dim, 2)))
    p = rng.normal(size=(n, 2)) * np.array([3.0, 1.0])
    p -= p.mean(axis=0)
    m = rng.normal(size=dim)
    return m + p @ a.T, p, a.T, m


def test_pca_recovers_a_rank2_linear_set() -> None:
    z, p, a, m = rank2_set()
    proj = fit_pca(z)
    np.testing.assert_allclose(proj.mean, m, atol=1e-9)
    np.testing.assert_allclose(proj.explained.sum(), 1.0, atol=1e-9)
    # the same plane: the components are an orthonormal basis of span(A)
    np.testing.assert_allclose(proj.components @ proj.components.T, np.eye(2), atol=1e-9)
    overlap = proj.components @ a.T
    np.testing.assert_allclose(np.abs(np.linalg.det(overlap)), 1.0, atol=1e-9)
    # every point comes back exactly from its 2 coordinates
    np.testing.assert_allclose(proj.inverse(proj.transform(z)), z, atol=1e-9)
    # the map is the planted coordinates up to a rotation/reflection
    q = proj.transform(z)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), np.linalg.norm(p, axis=1), atol=1e-9)
    np.testing.assert_allclose(
        proj.variance, p.var(axis=0, ddof=1)[np.argsort(-p.var(0))], rtol=0.2
    )


def test_pca_signs_are_deterministic() -> None:
    z, *_ = rank2_set()
    a, b = fit_pca(z), fit_pca(-z + 0.0)
    for row in (a.components, b.components):
        assert (row[np.arange(2), np.abs(row).argmax(axis=1)] > 0).all()


def test_pca_inverse_is_exact_on_the_plane_with_and_without_anchor() -> None:
    rng = np.random.default_rng(1)
    proj = fit_pca(rng.normal(size=(300, 6)) * np.arange(1, 7))
    p = rng.normal(size=(20, 2))
    np.testing.assert_allclose(proj.transform(proj.inverse(p)), p, atol=1e-9)
    anchor = rng.normal(size=6)
    z = proj.inverse(p, anchor)
    np.testing.assert_allclose(proj.transform(z), p, atol=1e-9)
    # off the plane, every lifted point sits where the anchor is
    off = lambda v: (v - proj.mean) - ((v - proj.mean) @ proj.components.T) @ proj.components  # noqa: E731
    np.testing.assert_allclose(off(z), np.broadcast_to(off(anchor), z.shape), atol=1e-9)
    # without an anchor the off-plane part is the data mean's (zero)
    np.testing.assert_allclose(off(proj.inverse(p)), 0.0, atol=1e-9)


def test_projected_covariance_matches_w_sigma_wt() -> None:
    rng = np.random.default_rng(2)
    proj = fit_pca(rng.normal(size=(200, 5)) * np.arange(1, 6))
    var = rng.uniform(0.1, 2.0, size=(3, 5))
    got = proj.project_cov(var)
    w = proj.components
    for i in range(3):
        np.testing.assert_allclose(got[i], w @ np.diag(var[i]) @ w.T, atol=1e-12)
    ident = identity_projection()
    np.testing.assert_allclose(ident.project_cov(np.array([[4.0, 0.25]]))[0], np.diag([4.0, 0.25]))


def test_ellipse_lies_on_the_two_sigma_contour() -> None:
    cov = np.array([[2.0, 0.6], [0.6, 0.5]])
    pts = ellipse_points(np.array([1.0, -2.0]), cov, n_sigma=2.0)
    d = pts - np.array([1.0, -2.0])
    maha = np.sqrt(np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d))
    np.testing.assert_allclose(maha, 2.0, atol=1e-9)
    np.testing.assert_allclose(pts[0], pts[-1])
    major, minor = axis_lengths(np.diag([9.0, 1.0]), 2.0)
    assert (major, minor) == pytest.approx((6.0, 2.0))
    with pytest.raises(ValueError):
        ellipse_points(np.zeros(2), np.eye(3))


def test_compute_embedding_methods_and_refusals() -> None:
    rng = np.random.default_rng(3)
    mu2 = rng.normal(size=(50, 2)).astype(np.float32)
    emb = compute_embedding(mu2, "latent")
    np.testing.assert_array_equal(emb.coords, mu2)
    with pytest.raises(EmbeddingError, match="needs PCA"):
        compute_embedding(rng.normal(size=(50, 4)), "latent")
    with pytest.raises(EmbeddingError, match="drawn as is"):
        compute_embedding(mu2, "pca")
    with pytest.raises(EmbeddingError, match="unknown map method"):
        compute_embedding(mu2, "isomap")
    with pytest.raises(EmbeddingError, match="no parameter"):
        resolve_params("umap", {"perplexity": 5})
    mu = rng.normal(size=(60, 5)).astype(np.float32)
    tsne = compute_embedding(mu, "tsne", {"perplexity": 10})
    assert tsne.coords.shape == (60, 2) and np.isfinite(tsne.coords).all()
    assert tsne.projection is None and tsne.params == {"perplexity": 10.0, "seed": 0}


def test_umap_maps_route_the_resolved_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    """compute_embedding hands UMAP its defaults updated with the page's parameters. UMAP itself
    runs (compiled once, from numba's disk cache in a fresh process) in test_numba_cache."""
    seen: dict = {}

    def fake_umap(mu: np.ndarray, **params) -> np.ndarray:
        seen.update(params)
        return mu[:, :2] * 2

    monkeypatch.setattr(maps, "umap_coords", fake_umap)
    mu = np.random.default_rng(4).normal(size=(30, 5))
    emb = compute_embedding(mu, "umap", {"n_neighbors": 7})
    assert seen == {**DEFAULT_PARAMS["umap"], "n_neighbors": 7} == emb.params
    np.testing.assert_allclose(emb.coords, mu[:, :2] * 2, rtol=1e-6)
    assert emb.method == "umap" and emb.projection is None


def test_place_by_neighbours_uses_nearest_latent_codes() -> None:
    mu = np.array([[0.0, 0, 0], [10, 0, 0], [0, 10, 0]])
    coords = np.array([[1.0, 1.0], [5.0, 5.0], [9.0, 9.0]])
    got = place_by_neighbours(mu, coords, np.array([[9.5, 0, 0]]), k=1)
    np.testing.assert_allclose(got, [[5.0, 5.0]])
    got = place_by_neighbours(mu, coords, np.array([[1.0, 0, 0]]), k=2)
    np.testing.assert_allclose(got, [[3.0, 3.0]])


def _key(**kw) -> EmbeddingKey:
    base = {"sha256": "ab" * 32, "dataset": "mnist", "split": "test", "n": 30, "method": "umap",
            "params": {"n_neighbors": 15, "min_dist": 0.1, "seed": 0}}  # fmt: skip
    return EmbeddingKey.make(**{**base, **kw})


def test_disk_cache_returns_identical_arrays_and_new_keys_recompute(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    calls: list[int] = []

    def compute() -> np.ndarray:
        calls.append(1)
        return rng.normal(size=(30, 2)).astype(np.float32)

    first, how1 = cached_coords(_key(), compute, [tmp_path], tmp_path)
    again, how2 = cached_coords(_key(), compute, [tmp_path], tmp_path)
    assert (how1, how2) == ("computed", "disk") and len(calls) == 1
    np.testing.assert_array_equal(first, again)
    assert again.dtype == np.float32
    for changed in (
        _key(sha256="cd" * 32),
        _key(dataset="fashion-mnist"),
        _key(n=30, split="train"),
        _key(method="tsne"),
        _key(params={"n_neighbors": 30, "min_dist": 0.1, "seed": 0}),
    ):
        _, how = cached_coords(changed, compute, [tmp_path], tmp_path)
        assert how == "computed"
    assert len(calls) == 6
    assert len(list(tmp_path.glob("*.npz"))) == 6


def test_disk_cache_ignores_foreign_or_broken_files(tmp_path: Path) -> None:
    key = _key()
    other = _key(sha256="ef" * 32)
    save_coords(other, np.zeros((30, 2)), tmp_path)
    # a file under the right name but holding another key's map is not trusted
    (tmp_path / other.filename).rename(tmp_path / key.filename)
    assert load_coords(key, [tmp_path]) is None
    (tmp_path / key.filename).write_bytes(b"not an npz")
    assert load_coords(key, [tmp_path]) is None
    # the first folder that holds a valid file wins (shipped before the user cache)
    shipped, user = tmp_path / "shipped", tmp_path / "user"
    save_coords(key, np.ones((30, 2)), shipped)
    save_coords(key, np.zeros((30, 2)), user)
    coords, where = load_coords(key, [shipped, user])
    assert where.parent == shipped and coords.sum() == 60
    with pytest.raises(ValueError):
        save_coords(key, np.zeros((29, 2)), tmp_path)


def test_latent_table_csv() -> None:
    mu = np.array([[0.5, -1.0], [2.0, 3.0]], np.float32)
    logvar = np.log(np.array([[4.0, 1.0], [0.25, 1.0]], np.float32))
    coords = np.array([[0.1, 0.2], [0.3, 0.4]], np.float32)
    text = latent_table_csv(np.array([3, 7]), mu, logvar, coords, "pca", tuple("0123456789"))
    lines = text.decode().strip().split("\n")
    assert lines[0] == "index,label,class,mu_0,mu_1,sigma_0,sigma_1,map_x,map_y,method"
    assert len(lines) == 3
    cells = lines[1].split(",")
    assert cells[:3] == ["0", "3", '"3"'] and cells[-1] == "pca"
    assert [float(v) for v in cells[3:9]] == pytest.approx([0.5, -1.0, 2.0, 1.0, 0.1, 0.2])
    assert float(lines[2].split(",")[5]) == pytest.approx(0.5)


def test_exact_neighbours_are_the_brute_force_ones() -> None:
    rng = np.random.default_rng(3)
    mu = rng.normal(size=(400, 16)).astype(np.float32)
    idx, dists = maps.exact_neighbours(mu, 15)
    assert idx.dtype == np.int32 and dists.dtype == np.float32 and idx.shape == (400, 15)
    full = np.linalg.norm(mu[:, None, :].astype(np.float64) - mu[None, :, :], axis=2)
    np.testing.assert_array_equal(idx[:, 0], np.arange(400))  # each point first, at 0
    np.testing.assert_allclose(dists, np.sort(full, axis=1)[:, :15], atol=1e-4)
    np.testing.assert_allclose(np.take_along_axis(full, idx, axis=1), dists, atol=1e-4)


def test_a_seeded_umap_is_the_same_twice_and_keeps_clusters_apart() -> None:
    """The lab's path (exact neighbour graph, one BLAS thread, UMAP_LARGE_EPOCHS) on 3 clusters."""
    n = maps.UMAP_LARGE_FROM
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 3, n)
    mu = (rng.normal(scale=6.0, size=(3, 16))[labels] + rng.normal(size=(n, 16))).astype(np.float32)
    a = maps.umap_coords(mu)
    np.testing.assert_array_equal(a, maps.umap_coords(mu))
    assert not np.array_equal(a, maps.umap_coords(mu, seed=1))  # the seed is used
    from sklearn.neighbors import KNeighborsClassifier

    acc = KNeighborsClassifier(10).fit(a[::2], labels[::2]).score(a[1::2], labels[1::2])
    assert acc > 0.99


REAL = __import__("os").environ.get("VAE_LAB_DATA")
#: (trustworthiness, 10-NN accuracy) of umap-learn's default map of mnist-vae-16d's test codes
UMAP_LEARN_DEFAULTS_QUALITY = (0.963, 0.952)


@pytest.mark.slow
@pytest.mark.skipif(not REAL, reason="VAE_LAB_DATA is not set")
def test_the_labs_umap_settings_map_a_shipped_model_as_well_as_umap_learns() -> None:
    """The 10,000 MNIST test codes of ``mnist-vae-16d``, mapped with the lab's settings (the
    exact neighbour graph, UMAP_LARGE_EPOCHS = 200 layout epochs), against the same measures of
    umap-learn's own settings (pynndescent's approximate graph from 4,096 points up, 500 epochs
    up to 10,000 points, the lab's settings before), measured once on 3 Dec 2026 with
    ``umap.UMAP(n_neighbors=15, min_dist=0.1, random_state=0)`` (fitting it here too would add
    20 s to every run): trustworthiness (15 neighbours, 3,000 points) 0.962 lab vs 0.963
    umap-learn; 10-NN class accuracy of the 2-D map (5-fold) 0.952 vs 0.952, the 16-D codes'
    own 0.954. Seed-to-seed both move by about 0.005."""
    import torch
    from sklearn.manifold import trustworthiness
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    from vae_core.data.datasets import load_split
    from vae_core.evaluation.scoring import posterior_means
    from vae_core.io.checkpoint_file import load_checkpoint

    root = Path(__file__).resolve().parents[1]
    model = load_checkpoint(root / "checkpoints" / "mnist-vae-16d.safetensors").model
    x, y = load_split("mnist", "test", REAL, download=False).tensors()
    with torch.no_grad():
        mu = posterior_means(model, x, y)[0].numpy()
    labels = y.numpy()
    some = np.random.default_rng(0).choice(len(mu), 3000, replace=False)

    def quality(coords: np.ndarray) -> tuple[float, float]:
        trust = trustworthiness(mu[some], coords[some], n_neighbors=15)
        acc = cross_val_score(KNeighborsClassifier(10), coords, labels, cv=5).mean()
        return float(trust), float(acc)

    t_ref, a_ref = UMAP_LEARN_DEFAULTS_QUALITY
    t_lab, a_lab = quality(maps.umap_coords(mu))
    assert t_lab >= t_ref - 0.01, (t_lab, t_ref)
    assert a_lab >= a_ref - 0.01, (a_lab, a_ref)
