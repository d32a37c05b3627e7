"""VAE Latent Lab's library: plain PyTorch, no Streamlit.

Layers, each a subpackage: ``models`` (networks, p(x|z), the model, its objectives),
``training`` (the trainer and the metadata a run writes), ``evaluation`` (the scoring protocol
and the lab's measurements), ``latent`` (maps, manifold, interpolation, inpainting), ``io``
(checkpoints, pictures, uploads, the browser decoder), ``data`` (the datasets) and ``cli``
(``python -m vae_core``). What a notebook needs is importable from here::

    from vae_core import evaluate_model, load_checkpoint, load_split
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> the module that defines it. Resolved on first use (PEP 562 module __getattr__)
# rather than imported here: Python runs this file before any submodule, and the Home page's
# first run imports ``vae_core.io.header`` on a server where PyTorch has not loaded yet (about
# 2 s of a cold start). Eager imports here would pull PyTorch in through every submodule.
_EXPORTS = {
    "Checkpoint": "vae_core.io.checkpoint_file",
    "CheckpointError": "vae_core.io.header",
    "load_checkpoint": "vae_core.io.checkpoint_file",
    "save_checkpoint": "vae_core.io.checkpoint_file",
    "read_metadata": "vae_core.io.header",
    "ModelConfig": "vae_core.config",
    "LatentVariableModel": "vae_core.models.model",
    "TrainConfig": "vae_core.training.trainer",
    "train": "vae_core.training.trainer",
    "train_and_score": "vae_core.training.pipeline",
    "load_split": "vae_core.data.datasets",
    "evaluate_model": "vae_core.evaluation.scoring",
    "evaluate_elbo": "vae_core.evaluation.scoring",
    "model_inputs": "vae_core.evaluation.scoring",
    "scored_images": "vae_core.evaluation.scoring",
    "uses_binary_test_data": "vae_core.evaluation.data_kind",
    "iwae_nll_fast": "vae_core.evaluation.iwae",
    "likelihood_report": "vae_core.evaluation.iwae",
    "pick_device": "vae_core.device",
}

__all__ = [  # the same names as _EXPORTS, spelled out for static analysers
    "Checkpoint",
    "CheckpointError",
    "LatentVariableModel",
    "ModelConfig",
    "TrainConfig",
    "evaluate_elbo",
    "evaluate_model",
    "iwae_nll_fast",
    "likelihood_report",
    "load_checkpoint",
    "load_split",
    "model_inputs",
    "pick_device",
    "read_metadata",
    "save_checkpoint",
    "scored_images",
    "train",
    "train_and_score",
    "uses_binary_test_data",
]

if TYPE_CHECKING:  # static analysers and IDEs see the real objects
    from vae_core.config import ModelConfig
    from vae_core.data.datasets import load_split
    from vae_core.device import pick_device
    from vae_core.evaluation.data_kind import uses_binary_test_data
    from vae_core.evaluation.iwae import iwae_nll_fast, likelihood_report
    from vae_core.evaluation.scoring import (
        evaluate_elbo,
        evaluate_model,
        model_inputs,
        scored_images,
    )
    from vae_core.io.checkpoint_file import Checkpoint, load_checkpoint, save_checkpoint
    from vae_core.io.header import CheckpointError, read_metadata
    from vae_core.models.model import LatentVariableModel
    from vae_core.training.pipeline import train_and_score
    from vae_core.training.trainer import TrainConfig, train


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'vae_core' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
