"""The pages that show a split's posterior means share one encoder pass per model and data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import streamlit as st

from tests.conftest import make_model
from ui import eval_cache as ec
from ui.latent_data import latent_codes
from ui.latent_dims import latent_dims
from vae_core.data.datasets import load_split
from vae_core.data.idx import write_idx
from vae_core.evaluation.scoring import posterior_means
from vae_core.io.checkpoint_file import load_checkpoint, save_checkpoint


@pytest.fixture
def grey_ae(tmp_path: Path):
    """(checkpoint, test split) of a tiny AE scored on grey pixels, with fresh caches."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (60, 28, 28), np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte", (np.arange(60) % 10).astype(np.uint8))
    path = tmp_path / "ae.safetensors"
    save_checkpoint(make_model(kind="ae", latent_dim=2), path, {"dataset": "mnist"})
    st.cache_resource.clear()
    yield load_checkpoint(path), load_split("mnist", "test", str(tmp_path), download=False)
    st.cache_resource.clear()


def test_the_pages_share_one_encoder_pass(grey_ae) -> None:
    ckpt, images = grey_ae
    x, y = images.tensors()
    calls = []
    encode = ckpt.model.encode

    def counted(*args, **kwargs):
        calls.append(len(args[0]))
        return encode(*args, **kwargs)

    ckpt.model.encode = counted
    codes = latent_codes(ckpt, images, x, y)  # Latent map, Interpolate
    latent_dims(ckpt, (images, x, y))  # Latent sliders (an AE is ranked by its codes)
    ev = ec.eval_set(ckpt, images, x, y)
    full, _ = ec.posteriors(ckpt, ev, ev.n)  # Diagnostics, pPCA
    part, _ = ec.posteriors(ckpt, ev, 20)
    assert calls == [60]
    ckpt.model.encode = encode
    mu, _ = posterior_means(ckpt.model, x)
    assert np.array_equal(codes.mu, mu.numpy()) and np.array_equal(full, mu.numpy())
    assert np.array_equal(part, mu.numpy()[ev.indices(20).numpy()])
