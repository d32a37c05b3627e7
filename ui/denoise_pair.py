"""Which standard / denoising VAE pair the Denoise page shows beside the chosen model.

A fair comparison needs two models that differ only in the objective: the same dataset and
architecture (``ModelConfig``), one trained on clean digits (the ELBO), one with training noise
(the denoising criterion). The chosen model is used when it is one of such a pair; otherwise
the first pair found for its dataset (shipped files come first in the model list).
"""

from __future__ import annotations

from dataclasses import dataclass

from ui.model_list import ModelEntry, ModelInfo, list_models, model_info
from vae_core.config import NO_TRAIN_NOISE
from vae_core.io.header import CheckpointError
from vae_core.training.run_metadata import recipe_differences, train_noise_of


@dataclass(frozen=True)
class DenoisePair:
    standard: ModelEntry
    denoising: ModelEntry
    train_noise: str  # the denoising model's training noise, e.g. "gaussian:0.3"
    differences: tuple[str, ...]  # recipe settings other than the noise in which they differ


def _infos(dataset: str) -> list[tuple[ModelEntry, ModelInfo]]:
    out = []
    for entry in list_models():
        try:
            info = model_info(entry.path)
        except CheckpointError:
            continue
        if info.meta.get("dataset", "mnist") == dataset:
            out.append((entry, info))
    return out


def _is_denoising(info: ModelInfo) -> bool:
    return train_noise_of(info.meta) != NO_TRAIN_NOISE


def _pair(standard: tuple[ModelEntry, ModelInfo], denoising: tuple[ModelEntry, ModelInfo]):
    return DenoisePair(
        standard[0],
        denoising[0],
        train_noise_of(denoising[1].meta),
        tuple(recipe_differences(standard[1].meta, denoising[1].meta)),
    )


def find_pair(chosen_path: str) -> DenoisePair | None:
    """The pair to show for the chosen model, or None when its dataset has no such pair."""
    try:
        chosen = model_info(chosen_path)
    except CheckpointError:
        return None
    models = _infos(str(chosen.meta.get("dataset", "mnist")))
    me = next(((e, i) for e, i in models if e.path == chosen_path), None)

    def partner(of: tuple[ModelEntry, ModelInfo]) -> tuple[ModelEntry, ModelInfo] | None:
        """A model of the same architecture with the other objective (fewest recipe changes)."""
        others = [
            (e, i)
            for e, i in models
            if i.config == of[1].config and _is_denoising(i) != _is_denoising(of[1])
        ]
        return min(
            others, key=lambda m: len(recipe_differences(of[1].meta, m[1].meta)), default=None
        )

    if me is not None and (other := partner(me)) is not None:
        return _pair(other, me) if _is_denoising(me[1]) else _pair(me, other)
    for model in models:
        if _is_denoising(model[1]) and (other := partner(model)) is not None:
            return _pair(other, model)
    return None
