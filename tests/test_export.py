"""The exported decoder spec round-trips: a tiny numpy re-implementation of it matches PyTorch.

The numpy decoder below reads only the spec and the float32 blob (never the torch modules), so a
wrong offset, layout or shape in ``vae_core.io.decoder_export`` shows up as a pixel mismatch.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from vae_core.config import ModelConfig
from vae_core.io.decoder_export import ExportError, export_decoder
from vae_core.models.model import LatentVariableModel

SMALL = {"hidden": (32, 16), "conv_channels": (4, 6)}


def spread_decoder(model: LatentVariableModel) -> LatentVariableModel:
    """Jitter a random-init decoder so its images vary strongly: a near-constant image would let
    a wrong weight layout pass. Categorical logits start almost flat (mean ~0.5 everywhere), so
    their 1x1 conv also gets a per-pixel slope over the 256 levels."""
    with torch.no_grad():
        for p in model.decoder.parameters():
            p.add_(torch.randn_like(p) * 0.15)
        last = model.decoder[-1]
        if isinstance(last, nn.Conv2d) and last.out_channels == 256:
            ramp = torch.linspace(-0.5, 0.5, 256)[:, None, None, None]
            last.weight.add_(ramp * torch.randn(1, last.in_channels, 1, 1) * 40)
    return model.eval()


def _np_decode(spec: dict, weights: bytes, z: np.ndarray, y: int | None) -> np.ndarray:
    """Scatter-style reference for one latent vector -> image (H, W)."""
    w = np.frombuffer(weights, dtype="<f4").astype(np.float64)

    def take(offset: int | None, shape: list[int]) -> np.ndarray:
        if offset is None:
            return np.zeros(shape[0])
        return w[offset : offset + int(np.prod(shape))].reshape(shape)

    x = np.zeros(spec["latent_dim"] + spec["n_classes"])
    x[: spec["latent_dim"]] = z
    if spec["n_classes"]:
        x[spec["latent_dim"] + y] = 1.0
    for layer in spec["layers"]:
        kind, out_shape = layer["type"], layer["out_shape"]
        if kind == "linear":
            x = take(layer["weight"], [out_shape[0], layer["in_shape"][0]]) @ x
            x = x + take(layer["bias"], out_shape)
        elif kind == "relu":
            x = np.maximum(x, 0)
        elif kind == "unflatten":
            x = x.reshape(out_shape)
        elif kind == "conv1x1":
            wt = take(layer["weight"], [out_shape[0], layer["in_shape"][0]])
            x = np.einsum("oc,chw->ohw", wt, x) + take(layer["bias"], out_shape[:1])[:, None, None]
        elif kind == "conv_transpose2d":
            cin, h, wd = layer["in_shape"]
            (kh, kw), (sy, sx) = layer["kernel"], layer["stride"]
            (py, px), (dy, dx) = layer["padding"], layer["dilation"]
            wt = take(layer["weight"], [cin, out_shape[0], kh, kw])
            out = np.zeros(out_shape) + take(layer["bias"], out_shape[:1])[:, None, None]
            for iy in range(h):
                for ix in range(wd):
                    for ky in range(kh):
                        for kx in range(kw):
                            oy, ox = iy * sy - py + ky * dy, ix * sx - px + kx * dx
                            if 0 <= oy < out_shape[1] and 0 <= ox < out_shape[2]:
                                out[:, oy, ox] += wt[:, :, ky, kx].T @ x[:, iy, ix]
            x = out
        else:
            raise AssertionError(kind)
    if spec["head"]["type"] == "categorical":
        p = np.exp(x - x.max(0))
        p /= p.sum(0)
        return (p * np.arange(256)[:, None, None]).sum(0) / 255
    return 1 / (1 + np.exp(-x[0]))


CASES = [
    ModelConfig(arch=arch, likelihood=lik, latent_dim=3, **SMALL)
    for arch in ("mlp", "conv")
    for lik in ("bernoulli", "gaussian", "categorical")
] + [
    ModelConfig(kind="cvae", arch="conv", latent_dim=2, **SMALL),
    ModelConfig(kind="cvae", arch="mlp", latent_dim=2, likelihood="categorical", **SMALL),
    ModelConfig(kind="ae", arch="mlp", latent_dim=4, **SMALL),
    ModelConfig(arch="conv", likelihood="gaussian", learn_variance=True, **SMALL),
]


@pytest.mark.parametrize("config", CASES, ids=lambda c: f"{c.kind}-{c.arch}-{c.likelihood}")
def test_numpy_reimplementation_matches_pytorch(config: ModelConfig) -> None:
    torch.manual_seed(0)
    model = spread_decoder(LatentVariableModel(config))
    exported = export_decoder(model)
    spec = json.loads(json.dumps(exported.spec))  # the spec must survive JSON as-is
    assert len(exported.weights) == 4 * spec["n_floats"]
    z = torch.randn(3, config.latent_dim) * 2
    y = [7, 0, 3] if config.conditional else [None] * 3
    with torch.no_grad():
        ref = model.decode(z, torch.tensor(y) if config.conditional else None)[:, 0].double()
    for i in range(3):
        got = _np_decode(spec, exported.weights, z[i].double().numpy(), y[i])
        assert got.shape == (28, 28)
        assert np.abs(got - ref[i].numpy()).max() < 1e-5
    assert ref.std() > 0.02  # far from a constant image, so the comparison has teeth


def test_blob_holds_every_parameter_once() -> None:
    model = LatentVariableModel(ModelConfig(arch="conv", likelihood="categorical", **SMALL))
    exported = export_decoder(model)
    n_params = sum(p.numel() for p in model.decoder.parameters())
    assert exported.spec["n_floats"] == n_params
    assert exported.spec["head"] == {"type": "categorical", "in_shape": [256, 28, 28]}


def test_digest_is_a_content_address() -> None:
    torch.manual_seed(1)
    model = LatentVariableModel(ModelConfig(**SMALL))
    first = export_decoder(model)
    assert export_decoder(model).digest == first.digest
    with torch.no_grad():
        model.decoder[0].bias[0] += 1.0
    assert export_decoder(model).digest != first.digest
    assert first.filename.endswith(".bin") and len(first.filename) == 36


@pytest.mark.parametrize(
    "bad_layer",
    [
        nn.Tanh(),
        nn.BatchNorm1d(32),
        nn.Dropout(0.1),
    ],
    ids=lambda m: type(m).__name__,
)
def test_unsupported_layers_raise(bad_layer: nn.Module) -> None:
    model = LatentVariableModel(ModelConfig(**SMALL))
    model.decoder.insert(1, bad_layer)
    with pytest.raises(ExportError, match=type(bad_layer).__name__):
        export_decoder(model)


def test_strided_conv_and_grouped_conv_transpose_raise() -> None:
    model = LatentVariableModel(ModelConfig(arch="conv", likelihood="categorical", **SMALL))
    model.decoder[-1] = nn.Conv2d(4, 256, 3, stride=2, padding=1)  # k x k runs, strided not
    with pytest.raises(ExportError, match="stride 1"):
        export_decoder(model)
    model = LatentVariableModel(ModelConfig(arch="conv", conv_channels=(4, 6), hidden=(8,)))
    idx = next(i for i, m in enumerate(model.decoder) if isinstance(m, nn.ConvTranspose2d))
    model.decoder[idx] = nn.ConvTranspose2d(6, 4, 4, stride=2, padding=1, groups=2)
    with pytest.raises(ExportError, match="groups"):
        export_decoder(model)


def test_shape_mismatch_raises() -> None:
    model = LatentVariableModel(ModelConfig(**SMALL))
    model.decoder[0] = nn.Linear(5, 16)  # latent_dim is 2
    with pytest.raises(ExportError, match="Linear expects"):
        export_decoder(model)
