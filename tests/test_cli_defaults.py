"""Each default is written once: ``python -m vae_core train``'s options take theirs from the
config dataclasses, and the CLI and the Train page share the one binarization rule."""

from __future__ import annotations

import dataclasses

import pytest

from vae_core.cli import build_parser
from vae_core.cli.train import model_config_from_args, train_config_from_args
from vae_core.config import ModelConfig
from vae_core.data.binarize import default_binarization
from vae_core.training.trainer import TrainConfig

# Fields the train command does not expose, or chooses by a rule of its own (binarize).
NOT_OPTIONS = {"extra", "categorical_channels", "n_classes"}
TRAIN_NOT_OPTIONS = {"binarize", "val_fraction", "log_every", "init_output_bias", "adam_betas"}


def parsed(*argv: str):
    return build_parser().parse_args(["train", *argv])


def test_train_defaults_are_the_dataclass_defaults() -> None:
    args = parsed()
    model = model_config_from_args(args)
    for f in dataclasses.fields(ModelConfig):
        if f.name not in NOT_OPTIONS:
            assert getattr(model, f.name) == getattr(ModelConfig(), f.name), f.name
    config = train_config_from_args(args)
    for f in dataclasses.fields(TrainConfig):
        if f.name not in TRAIN_NOT_OPTIONS:
            assert getattr(config, f.name) == getattr(TrainConfig(), f.name), f.name


def test_the_defaults_follow_a_changed_dataclass(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parser reads the dataclasses, it does not repeat their numbers."""
    import vae_core.cli.train as cli_train

    monkeypatch.setattr(cli_train, "_MODEL", ModelConfig(latent_dim=7, hidden=(33,)))
    monkeypatch.setattr(cli_train, "_TRAIN", TrainConfig(epochs=3, lr=0.005))
    args = parsed()
    assert (args.latent_dim, args.hidden, args.epochs, args.lr) == (7, (33,), 3, 0.005)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ((), "dynamic"),
        (("--dataset", "fashion-mnist"), "none"),
        (("--likelihood", "gaussian"), "none"),
        (("--likelihood", "categorical"), "none"),
        (("--binarize", "static"), "static"),
        (("--dataset", "fashion-mnist", "--binarize", "dynamic"), "dynamic"),
    ],
)
def test_cli_binarization_is_the_shared_rule(argv: tuple[str, ...], expected: str) -> None:
    args = parsed(*argv)
    assert train_config_from_args(args).binarize == expected
    if args.binarize is None:
        assert expected == default_binarization(args.likelihood, args.dataset)
