"""Model configuration: one dataclass that fully describes an architecture.

It is stored as JSON inside every checkpoint, so a checkpoint can be rebuilt without code that
pickles objects. ``from_dict`` validates every field because the dict may come from an upload.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T")

MODEL_KINDS = ("vae", "cvae", "ae")
ARCHITECTURES = ("mlp", "conv")
LIKELIHOODS = ("bernoulli", "gaussian", "categorical", "continuous-bernoulli")
# Densities over continuous pixels: their log-density on [0, 1] is no code length of any image,
# so their comparable figure is the probability of the 8-bit pixels (vae_core.evaluation.discrete).
DENSITY_LIKELIHOODS = ("gaussian", "continuous-bernoulli")
LIKELIHOOD_TITLES = {
    "bernoulli": "Bernoulli",
    "gaussian": "Gaussian",
    "categorical": "Categorical",
    "continuous-bernoulli": "Continuous Bernoulli",
}
PRIORS = ("standard", "mog", "vamp")  # N(0, I), a mixture of Gaussians, the VampPrior
PRIOR_LABELS = {"standard": "standard N(0, I)", "mog": "mixture of Gaussians", "vamp": "VampPrior"}
LEARNED_PRIOR_KINDS = ("vae",)  # a CVAE's VampPrior would need a label per pseudo-input
NO_TRAIN_NOISE = "none"  # TrainConfig.train_noise of the standard ELBO (vae_core.latent.noise)
IMAGE_SIZE = 28
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE


class ConfigError(ValueError):
    """A model configuration that cannot describe a valid model (bad field, type or range)."""


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to build a model; ``beta`` is kept here because it defines the objective.

    kind: "vae" (Kingma & Welling 2013), "cvae" (label-conditioned, Sohn et al. 2015) or "ae"
    (deterministic autoencoder, the VAE tutorial's special case without sampling or KL).
    A "beta-VAE" (Higgins et al. 2017) is kind="vae" with beta != 1; beta = 1 is the true ELBO.
    """

    kind: str = "vae"
    arch: str = "mlp"
    latent_dim: int = 2
    hidden: tuple[int, ...] = (512, 256)
    conv_channels: tuple[int, ...] = (32, 64)
    likelihood: str = "bernoulli"
    gaussian_std: float = 0.1
    learn_variance: bool = False
    categorical_channels: int = 8
    n_classes: int = 10
    beta: float = 1.0
    prior: str = "standard"
    prior_components: int = 10
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "conv_channels", tuple(int(c) for c in self.conv_channels))
        self.validate()

    @property
    def conditional(self) -> bool:
        return self.kind == "cvae"

    @property
    def stochastic(self) -> bool:
        return self.kind != "ae"

    @property
    def display_name(self) -> str:
        """Human name used on cards and pickers, e.g. 'β-VAE (β=4)'."""
        base = {"vae": "VAE", "cvae": "CVAE", "ae": "AE"}[self.kind]
        if self.stochastic and self.beta != 1.0:
            return f"β-{base} (β={self.beta:g})"
        return base

    def validate(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(msg)

        need(self.kind in MODEL_KINDS, f"kind must be one of {MODEL_KINDS}, got {self.kind!r}")
        need(self.arch in ARCHITECTURES, f"arch must be one of {ARCHITECTURES}, got {self.arch!r}")
        need(
            self.likelihood in LIKELIHOODS,
            f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}",
        )
        need(1 <= self.latent_dim <= 512, f"latent_dim must be in 1..512, got {self.latent_dim}")
        need(
            0 < len(self.hidden) <= 8 and all(1 <= h <= 8192 for h in self.hidden),
            f"hidden must be 1 to 8 sizes in 1..8192, got {self.hidden}",
        )
        need(
            len(self.conv_channels) == 2 and all(1 <= c <= 512 for c in self.conv_channels),
            f"conv_channels must be two sizes in 1..512, got {self.conv_channels}",
        )
        need(
            0 < self.gaussian_std <= 10, f"gaussian_std must be in (0, 10], got {self.gaussian_std}"
        )
        need(1 <= self.categorical_channels <= 64, "categorical_channels must be in 1..64")
        need(2 <= self.n_classes <= 1000, f"n_classes must be in 2..1000, got {self.n_classes}")
        need(0 <= self.beta <= 1000, f"beta must be in [0, 1000], got {self.beta}")
        need(self.prior in PRIORS, f"prior must be one of {PRIORS}, got {self.prior!r}")
        need(
            1 <= self.prior_components <= 1000,
            f"prior_components must be in 1..1000, got {self.prior_components}",
        )
        need(
            self.prior == "standard" or self.kind in LEARNED_PRIOR_KINDS,
            f"a learned prior ({self.prior}) needs kind 'vae', got {self.kind!r} (an AE has no "
            "prior; a CVAE's VampPrior would need labels for its pseudo-inputs)",
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["conv_channels"] = list(self.conv_channels)
        return d

    @classmethod
    def from_dict(cls, data: Any) -> ModelConfig:
        """Build from untrusted JSON: unknown keys and wrong types are errors, not surprises."""
        return strict_from_dict(cls, data, "model config")


def strict_from_dict(cls: type[T], data: Any, what: str) -> T:
    """A config dataclass from untrusted JSON (checkpoint metadata): unknown keys and values of
    the wrong type raise a ``ConfigError`` naming them, so a damaged or foreign file is reported
    rather than silently half-read; missing keys take the dataclass defaults."""
    if not isinstance(data, dict):
        raise ConfigError(f"{what} must be a JSON object, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"unknown {what} keys: {', '.join(map(str, unknown))}")
    kwargs = {name: _coerce(name, value, known[name].type, what) for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from exc


def _coerce(name: str, value: Any, type_name: Any, what: str = "model config") -> Any:
    """Check one JSON value against the annotated type (annotations are strings here)."""
    t = str(type_name)
    ok: bool
    if t == "str":
        ok = isinstance(value, str)
    elif t == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif t == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif t == "bool":
        ok = isinstance(value, bool)
    elif t.startswith("tuple[float"):
        ok = isinstance(value, list | tuple) and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in value
        )
        value = tuple(float(v) for v in value) if ok else value
    elif t.startswith("tuple"):
        ok = isinstance(value, list | tuple) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        )
        value = tuple(value) if ok else value
    else:
        ok = isinstance(value, dict)
    if not ok:
        raise ConfigError(f"{what} field {name!r} has the wrong type: {value!r}")
    return value


@dataclass(frozen=True)
class VQConfig:
    """A VQ-VAE (van den Oord et al. 2017): a conv encoder to a 7x7 grid of ``code_dim``-vectors,
    each snapped to the nearest of ``codebook_size`` codebook vectors, and a conv decoder.

    Kept apart from ``ModelConfig`` because its posterior is a point on a discrete grid, not a
    Gaussian: code paths that read mu / logvar must not mistake it for a VAE. ``ema`` replaces the
    codebook loss by exponential-moving-average updates (decay ``ema_decay``, Laplace smoothing
    ``ema_epsilon``); ``dead_code_restart`` re-draws codes no cell used in a batch from that batch's
    encoder outputs.
    """

    codebook_size: int = 64
    code_dim: int = 16
    conv_channels: tuple[int, ...] = (32, 64)
    likelihood: str = "bernoulli"
    gaussian_std: float = 0.1
    commitment: float = 0.25
    ema: bool = True
    ema_decay: float = 0.99
    ema_epsilon: float = 1e-5
    dead_code_restart: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "conv_channels", tuple(int(c) for c in self.conv_channels))
        if not 16 <= self.codebook_size <= 512:
            raise ConfigError(f"codebook_size must be in 16..512, got {self.codebook_size}")
        if not 1 <= self.code_dim <= 256:
            raise ConfigError(f"code_dim must be in 1..256, got {self.code_dim}")
        if len(self.conv_channels) != 2 or not all(1 <= c <= 512 for c in self.conv_channels):
            raise ConfigError(
                f"conv_channels must be two sizes in 1..512, got {self.conv_channels}"
            )
        if self.likelihood not in LIKELIHOODS:
            raise ConfigError(f"likelihood must be one of {LIKELIHOODS}, got {self.likelihood!r}")
        if not 0 <= self.commitment <= 100:
            raise ConfigError(f"commitment must be in [0, 100], got {self.commitment}")
        if not 0 < self.ema_decay < 1:
            raise ConfigError(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        if not 0 < self.ema_epsilon <= 1:
            raise ConfigError(f"ema_epsilon must be in (0, 1], got {self.ema_epsilon}")

    @property
    def display_name(self) -> str:
        return "VQ-VAE"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["conv_channels"] = list(self.conv_channels)
        return d

    @classmethod
    def from_dict(cls, data: Any) -> VQConfig:
        return strict_from_dict(cls, data, "VQ-VAE config")
