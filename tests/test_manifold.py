"""The decoded manifold grid: axis values (K&W inverse CDF), image order, exact PCA lift."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import norm

from tests.conftest import make_model
from vae_core.latent.manifold import (
    decode_latents,
    grid_axis,
    grid_bounds,
    lift,
    manifold_images,
    plane_grid,
)
from vae_core.latent.maps import fit_pca, identity_projection


def test_inverse_cdf_axis_matches_gaussian_quantiles() -> None:
    axis = grid_axis(7, "inverse-cdf", edge=0.05)
    np.testing.assert_allclose(axis, norm.ppf(np.linspace(0.05, 0.95, 7)), atol=1e-12)
    assert axis[3] == pytest.approx(0.0, abs=1e-12)
    assert axis[-1] == pytest.approx(1.6448536, abs=1e-6)  # the 95% quantile
    np.testing.assert_allclose(axis, -axis[::-1], atol=1e-12)
    np.testing.assert_array_equal(grid_axis(1, "inverse-cdf"), [0.0])


def test_linear_axis_and_bad_arguments() -> None:
    np.testing.assert_allclose(grid_axis(5, "linear", half_width=2.0), [-2, -1, 0, 1, 2])
    with pytest.raises(ValueError, match="unknown grid mode"):
        grid_axis(5, "log")
    with pytest.raises(ValueError):
        grid_axis(5, "inverse-cdf", edge=0.5)
    with pytest.raises(ValueError):
        grid_axis(0)
    with pytest.raises(ValueError):
        grid_axis(3, "linear", half_width=0.0)


def test_plane_grid_shape_and_image_order() -> None:
    pts = plane_grid(4, "linear", center=(1.0, -1.0), scale=(2.0, 0.5), half_width=1.5)
    assert pts.shape == (16, 2)
    grid = pts.reshape(4, 4, 2)
    # row 0 is the top of the picture (largest y); x grows to the right along a row
    assert (np.diff(grid[:, 0, 1]) < 0).all() and (np.diff(grid[0, :, 0]) > 0).all()
    assert grid_bounds(pts) == pytest.approx((1 - 3.0, 1 + 3.0, -1 - 0.75, -1 + 0.75))
    kw = plane_grid(3, "inverse-cdf", edge=0.1)
    q = norm.ppf(0.9)
    np.testing.assert_allclose(kw[0], [-q, q], atol=1e-12)
    np.testing.assert_allclose(kw[-1], [q, -q], atol=1e-12)


def test_lift_is_exact_through_pca() -> None:
    rng = np.random.default_rng(0)
    proj = fit_pca(rng.normal(size=(200, 5)) * np.arange(5, 0, -1))
    pts = plane_grid(5, "inverse-cdf", scale=np.sqrt(proj.variance))
    z = lift(pts, proj)
    assert z.shape == (25, 5)
    np.testing.assert_allclose(proj.transform(z), pts, atol=1e-9)


def test_manifold_images_shape_range_and_batching() -> None:
    model = make_model(latent_dim=2).eval()
    pts = plane_grid(6)
    imgs = manifold_images(model, identity_projection(), pts)
    assert imgs.shape == (36, 1, 28, 28)
    assert float(imgs.min()) >= 0.0 and float(imgs.max()) <= 1.0
    with torch.no_grad():
        direct = model.decode(torch.tensor(pts, dtype=torch.float32))
    torch.testing.assert_close(decode_latents(model, pts, batch_size=5), direct)
    with pytest.raises(ValueError, match=r"\(M, 2\)"):
        decode_latents(model, np.zeros((3, 4)))


def test_cvae_grid_needs_and_uses_the_class() -> None:
    model = make_model(kind="cvae", latent_dim=4).eval()
    rng = np.random.default_rng(1)
    proj = fit_pca(rng.normal(size=(50, 4)))
    pts = plane_grid(3)
    with pytest.raises(ValueError, match="needs a class"):
        manifold_images(model, proj, pts)
    a = manifold_images(model, proj, pts, y=1)
    b = manifold_images(model, proj, pts, y=7)
    assert a.shape == (9, 1, 28, 28) and not torch.allclose(a, b)


def test_the_prior_grid_is_kingma_and_wellings_for_n01_and_equal_mass_slices_for_a_mixture() -> (
    None
):
    from vae_core.latent.manifold import mixture_quantiles, prior_plane_grid
    from vae_core.models.priors import MixtureOfGaussiansPrior, StandardNormalPrior

    np.testing.assert_allclose(
        prior_plane_grid(StandardNormalPrior(2), 7), plane_grid(7, "inverse-cdf"), atol=1e-9
    )
    probs = np.array([0.05, 0.3, 0.5, 0.95])
    np.testing.assert_allclose(
        mixture_quantiles(np.ones(1), np.array([1.0]), np.array([2.0]), probs),
        1.0 + 2.0 * norm.ppf(probs),
        atol=1e-9,
    )
    mog = MixtureOfGaussiansPrior(2, 3)
    with torch.no_grad():
        mog.means.copy_(torch.tensor([[-4.0, 0.0], [0.0, 3.0], [5.0, -2.0]]))
        mog.logvars.copy_(torch.tensor([[0.0, -1.0], [-2.0, 0.0], [0.5, -0.5]]))
        mog.logits.copy_(torch.tensor([0.0, 1.0, -0.5]))
    n, edge = 9, 0.05
    grid = prior_plane_grid(mog, n, "inverse-cdf", edge)
    xs, ys = np.unique(grid[:, 0]), np.unique(grid[:, 1])
    z = mog.sample(400_000, torch.Generator().manual_seed(0)).numpy()
    expected = np.linspace(edge, 1 - edge, n)
    # each column and row is an equally probable slice of the prior's own marginal
    np.testing.assert_allclose((z[:, 0][:, None] <= xs).mean(0), expected, atol=0.003)
    np.testing.assert_allclose((z[:, 1][:, None] <= ys).mean(0), expected, atol=0.003)
    assert grid[0, 1] == ys.max() and grid[0, 0] == xs.min()  # row 0 on top, x to the right
