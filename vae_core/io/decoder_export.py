"""Export a decoder to a compact float32 blob + a small JSON layer spec for the in-browser decoder.

The Latent sliders page decodes z in JavaScript on every slider move (a server round trip per
frame would be far too slow), so the browser needs the decoder's weights once and a description
of the layers to run. The spec lists layers in order with the offsets (in float32 units) of their
parameters inside the blob; ``ui/live_decoder_math.js`` implements exactly these layer types.

Only the layers ``vae_core.models.networks.build_decoder`` uses are supported; anything else raises
``ExportError`` instead of silently producing a decoder that disagrees with PyTorch.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from vae_core.models.model import LatentVariableModel
from vae_core.models.vqvae import GRID, VQVAE

SPEC_FORMAT = "vae-lab-decoder"
SPEC_VERSION = 1
HEADS = ("bernoulli", "gaussian", "categorical", "continuous-bernoulli")


class ExportError(ValueError):
    """A decoder that the in-browser decoder cannot run; the message names the layer."""


@dataclass(frozen=True)
class DecoderExport:
    spec: dict[str, Any]  # JSON-safe layer list; see the module docstring
    weights: bytes  # little-endian float32, concatenated in the order the spec names them
    digest: str  # sha256 of the spec and the weights: a content address for caching

    @property
    def filename(self) -> str:
        return f"{self.digest[:32]}.bin"


class _Blob:
    """Appends arrays as little-endian float32 and hands back their offsets."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0  # in float32 elements

    def add(self, tensor: torch.Tensor) -> int:
        arr = np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype="<f4").ravel()
        offset = self.size
        self.parts.append(arr.tobytes())
        self.size += arr.size
        return offset


def _pair(v: int | tuple[int, ...]) -> list[int]:
    return [int(v), int(v)] if isinstance(v, int) else [int(x) for x in v]


def _conv_transpose(layer: nn.ConvTranspose2d, shape: list[int], blob: _Blob) -> dict[str, Any]:
    if layer.groups != 1 or layer.padding_mode != "zeros":
        raise ExportError("ConvTranspose2d with groups or non-zero padding mode is not supported")
    if len(shape) != 3 or shape[0] != layer.in_channels:
        raise ExportError(f"ConvTranspose2d expects {layer.in_channels} channels, got {shape}")
    (kh, kw), (sh, sw) = _pair(layer.kernel_size), _pair(layer.stride)
    (ph, pw), (dh, dw) = _pair(layer.padding), _pair(layer.dilation)
    oph, opw = _pair(layer.output_padding)
    # H_out = (H_in - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    out_h = (shape[1] - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1
    out_w = (shape[2] - 1) * sw - 2 * pw + dw * (kw - 1) + opw + 1
    return {
        "type": "conv_transpose2d",
        "in_shape": shape,
        "out_shape": [layer.out_channels, out_h, out_w],
        "kernel": [kh, kw],
        "stride": [sh, sw],
        "padding": [ph, pw],
        "dilation": [dh, dw],
        "weight": blob.add(layer.weight),  # (in, out, kh, kw)
        "bias": None if layer.bias is None else blob.add(layer.bias),
    }


def _conv1x1(layer: nn.Conv2d, shape: list[int], blob: _Blob) -> dict[str, Any]:
    simple = (
        _pair(layer.kernel_size) == [1, 1]
        and _pair(layer.stride) == [1, 1]
        and _pair(layer.padding) == [0, 0]
        and layer.groups == 1
    )
    if not simple:
        raise ExportError("only 1x1 Conv2d (stride 1, no padding, no groups) is supported")
    if len(shape) != 3 or shape[0] != layer.in_channels:
        raise ExportError(f"Conv2d expects {layer.in_channels} channels, got {shape}")
    return {
        "type": "conv1x1",
        "in_shape": shape,
        "out_shape": [layer.out_channels, shape[1], shape[2]],
        "weight": blob.add(layer.weight.reshape(layer.out_channels, layer.in_channels)),
        "bias": None if layer.bias is None else blob.add(layer.bias),
    }


def _conv2d(layer: nn.Conv2d, shape: list[int], blob: _Blob) -> dict[str, Any]:
    """A k x k Conv2d with stride 1 and zero padding (the VQ-VAE decoder's first layer)."""
    kh, kw = _pair(layer.kernel_size)
    ph, pw = _pair(layer.padding) if not isinstance(layer.padding, str) else (-1, -1)
    simple = (
        _pair(layer.stride) == [1, 1]
        and _pair(layer.dilation) == [1, 1]
        and layer.groups == 1
        and layer.padding_mode == "zeros"
        and ph >= 0
    )
    if not simple:
        raise ExportError("only Conv2d with stride 1, no dilation or groups, zero padding")
    if len(shape) != 3 or shape[0] != layer.in_channels:
        raise ExportError(f"Conv2d expects {layer.in_channels} channels, got {shape}")
    out = [layer.out_channels, shape[1] + 2 * ph - kh + 1, shape[2] + 2 * pw - kw + 1]
    return {
        "type": "conv2d",
        "in_shape": shape,
        "out_shape": out,
        "kernel": [kh, kw],
        "padding": [ph, pw],
        "weight": blob.add(layer.weight),  # (out, in, kh, kw), row-major
        "bias": None if layer.bias is None else blob.add(layer.bias),
    }


def _layer_spec(layer: nn.Module, shape: list[int], blob: _Blob) -> dict[str, Any]:
    """One layer's spec; ``shape`` is its input shape without the batch dimension."""
    if isinstance(layer, nn.Linear):
        if len(shape) != 1 or shape[0] != layer.in_features:
            raise ExportError(f"Linear expects ({layer.in_features},), got {shape}")
        return {
            "type": "linear",
            "in_shape": shape,
            "out_shape": [layer.out_features],
            "weight": blob.add(layer.weight),  # (out, in), row-major
            "bias": None if layer.bias is None else blob.add(layer.bias),
        }
    if isinstance(layer, nn.ReLU):
        return {"type": "relu", "in_shape": shape, "out_shape": shape}
    if isinstance(layer, nn.Unflatten):
        target = [int(s) for s in layer.unflattened_size]
        if layer.dim not in (1, -len(shape)) or len(shape) != 1 or int(np.prod(target)) != shape[0]:
            raise ExportError(f"Unflatten to {target} does not fit input {shape}")
        return {"type": "unflatten", "in_shape": shape, "out_shape": target}
    if isinstance(layer, nn.ConvTranspose2d):
        return _conv_transpose(layer, shape, blob)
    if isinstance(layer, nn.Conv2d):
        if _pair(layer.kernel_size) == [1, 1] and _pair(layer.padding) == [0, 0]:
            return _conv1x1(layer, shape, blob)
        return _conv2d(layer, shape, blob)
    raise ExportError(f"the in-browser decoder cannot run a {type(layer).__name__} layer")


def _flat_layers(module: nn.Module) -> list[nn.Module]:
    """Leaf layers in execution order (nested Sequentials are walked, other containers refused)."""
    if isinstance(module, nn.Sequential):
        return [leaf for child in module for leaf in _flat_layers(child)]
    return [module]


def _checked_head(model: nn.Module) -> str:
    head = model.likelihood.name
    if head not in HEADS:
        raise ExportError(f"no in-browser head for the {head!r} likelihood")
    return head


def _sealed(
    model: nn.Module, head: str, shape: list[int], blob: _Blob, fields: dict
) -> DecoderExport:
    """Walk ``model.decoder`` from input ``shape`` into ``blob``, check that it ends in the
    likelihood head's channels, and seal the spec (``fields`` first) with its content digest:
    the one tail of both exports."""
    layers = []
    for layer in _flat_layers(model.decoder):
        spec = _layer_spec(layer, shape, blob)
        layers.append(spec)
        shape = spec["out_shape"]
    if len(shape) != 3 or shape[0] != model.likelihood.out_channels:
        raise ExportError(
            f"decoder output {shape} does not match the {head} head "
            f"({model.likelihood.out_channels} channels)"
        )
    spec = {
        "format": SPEC_FORMAT,
        "version": SPEC_VERSION,
        **fields,
        "layers": layers,
        "head": {"type": head, "in_shape": shape},
        "image_shape": [1, shape[1], shape[2]],
        "n_floats": blob.size,
    }
    weights = b"".join(blob.parts)
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode() + weights).hexdigest()
    return DecoderExport(spec=spec, weights=weights, digest=digest)


@torch.no_grad()
def export_decoder(model: LatentVariableModel) -> DecoderExport:
    """Walk ``model.decoder`` and its likelihood head into a spec + float32 weights."""
    config = model.config
    head = _checked_head(model)
    n_classes = config.n_classes if config.conditional else 0
    fields = {"latent_dim": config.latent_dim, "n_classes": n_classes}
    return _sealed(model, head, [config.latent_dim + n_classes], _Blob(), fields)


@torch.no_grad()
def export_vq_decoder(model: VQVAE) -> DecoderExport:
    """A VQ-VAE's decoder and codebook: the spec's input is the (D, 7, 7) grid of code vectors
    (``latent_dim`` = 49 D, channel-major), which the browser builds from a grid of code
    indices by looking them up in ``codebook`` (offset, K, D) in the same blob."""
    head = _checked_head(model)
    d, k = model.config.code_dim, model.config.codebook_size
    blob = _Blob()
    codebook = blob.add(model.quantizer.codebook)
    fields = {
        "latent_dim": d * GRID * GRID,
        "n_classes": 0,
        "codebook": {"offset": codebook, "size": k, "dim": d, "cells": GRID * GRID},
    }
    return _sealed(model, head, [d, GRID, GRID], blob, fields)
