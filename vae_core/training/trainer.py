"""Training loop on tensors that stay on the device (no per-item Dataset/DataLoader).

Built to be driven from a worker thread: progress goes out through ``on_step`` / ``on_epoch``
callbacks, a ``threading.Event`` stops it between steps, and a NaN/inf loss raises
``TrainingDiverged`` after restoring the last good weights. When ``checkpoint_path`` is given, a
checkpoint is written atomically after every epoch, so the last good one always survives.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from vae_core.config import ModelConfig, strict_from_dict
from vae_core.data.binarize import BINARIZATIONS, binarize_dynamic, binarize_static
from vae_core.device import pick_device
from vae_core.evaluation.data_kind import uses_binary_test_data
from vae_core.evaluation.scoring import evaluate_elbo, model_inputs
from vae_core.io.checkpoint_file import save_checkpoint
from vae_core.latent.noise import NO_TRAIN_NOISE, NoiseSpec, parse_noise_spec
from vae_core.models.model import ElboTerms, LatentVariableModel
from vae_core.models.output_bias import init_output_bias
from vae_core.training.cuda_graph import GraphedStep, StepFn, graph_unavailable
from vae_core.training.distributed import Rank, current_rank, sum_over_ranks
from vae_core.training.fallback import fallback_reason

OBJECTIVES = ("elbo", "iwae")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the model holds the last good weights again."""


@dataclass
class TrainConfig:
    dataset: str = "mnist"
    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    lr_schedule: str = "constant"  # "constant" | "onecycle"
    binarize: str = "dynamic"
    seed: int = 0
    device: str = "auto"
    amp: bool = False  # bf16 autocast, CUDA only
    compile: bool = False  # torch.compile the model's forward (falls back to eager if it can't)
    # on CUDA, replay each full batch's step as one CUDA graph (vae_core.training.cuda_graph);
    # it applies only where nothing changes between steps: no --compile, AMP, torchrun, schedule
    cuda_graphs: bool = True
    val_fraction: float = 0.05
    log_every: int = 25
    init_output_bias: bool = (
        True  # start the decoder at the mean image (vae_core.models.output_bias)
    )
    adam_betas: tuple[float, float] = (0.9, 0.999)
    # Denoising criterion (Im et al. 2017): "gaussian:0.3" etc. (vae_core.latent.noise), or "none"
    train_noise: str = NO_TRAIN_NOISE
    # "elbo" (Kingma & Welling 2013) or "iwae": the importance-weighted bound with
    # iw_train_samples samples per image (Burda et al. 2015 train with K = 5 and K = 50)
    objective: str = "elbo"
    iw_train_samples: int = 5

    def __post_init__(self) -> None:
        self.train_noise = str(parse_noise_spec(self.train_noise) or NO_TRAIN_NOISE)
        self.adam_betas = (float(self.adam_betas[0]), float(self.adam_betas[1]))  # JSON: a list
        if not all(0 <= b < 1 for b in self.adam_betas):
            raise ValueError("adam_betas must be two numbers in [0, 1)")
        if self.binarize not in BINARIZATIONS:
            raise ValueError(f"binarize must be one of {BINARIZATIONS}, got {self.binarize!r}")
        if self.lr_schedule not in ("constant", "onecycle"):
            raise ValueError("lr_schedule must be 'constant' or 'onecycle'")
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError("epochs and batch_size must be >= 1 and lr > 0")
        if not 0 <= self.val_fraction < 1:
            raise ValueError("val_fraction must be in [0, 1)")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if not 1 <= self.iw_train_samples <= 5000:
            raise ValueError("iw_train_samples must be in 1..5000")

    def check_model(self, model: ModelConfig) -> None:
        """Refuse a model this objective cannot train, before any work starts (ValueError)."""
        if self.objective == "iwae" and (not model.stochastic or model.beta != 1.0):
            raise ValueError(
                "the IWAE objective needs a VAE or a CVAE with beta = 1 (it bounds log p(x); "
                f"this model is {model.display_name})"
            )

    @property
    def samples_per_image(self) -> int:
        """Posterior samples per image in each step: K for the IWAE objective, else 1."""
        return self.iw_train_samples if self.objective == "iwae" else 1

    @property
    def noise(self) -> NoiseSpec | None:
        """The training corruption, or None for the standard ELBO."""
        return parse_noise_spec(self.train_noise)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> TrainConfig:
        """Build from untrusted JSON, as strictly as ``ModelConfig.from_dict``."""
        return strict_from_dict(cls, data, "train config")


@dataclass
class StepInfo:
    epoch: int
    step: int  # global step, 1-based
    total_steps: int
    loss: float
    elbo: float
    recon: float
    kl: float
    elapsed: float

    @property
    def eta(self) -> float:
        return self.elapsed / self.step * (self.total_steps - self.step)


@dataclass
class EpochInfo:
    epoch: int  # 1-based
    epochs: int
    train: dict[str, float]
    val: dict[str, float]
    kl_per_dim: list[float]
    elapsed: float
    steps: int  # batches trained in this epoch: fewer than steps_per_epoch when it was stopped
    steps_per_epoch: int

    @property
    def eta(self) -> float:
        return self.elapsed / self.epoch * (self.epochs - self.epoch)


@dataclass
class TrainResult:
    model: LatentVariableModel
    history: list[EpochInfo] = field(default_factory=list)
    stopped: bool = False
    seconds: float = 0.0
    device: str = "cpu"
    compiled: bool = False  # the steps ran through torch.compile
    compile_error: str | None = None  # why --compile fell back to eager steps
    cuda_graph: bool = False  # the full batches' steps were replayed as one CUDA graph
    cuda_graph_error: str | None = None  # why the graph's capture failed (the run went on eagerly)
    world_size: int = 1  # processes that trained it together (torchrun)


def prepare_inputs(x: torch.Tensor, mode: str, generator: torch.Generator | None) -> torch.Tensor:
    """Training targets for one epoch: grey, a fresh Bernoulli draw, or the fixed draw."""
    if mode == "dynamic":
        return binarize_dynamic(x, generator)
    if mode == "static":
        return binarize_static(x)
    return x


def corrupted(
    x: torch.Tensor, noise: NoiseSpec | None, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(encoder input, target) of one batch: (x, None) for the ELBO, or with ``noise`` the
    denoising criterion of Im et al. (2017): a fresh corruption x~ = c(x) drawn from
    ``generator``, scored against the clean x. The encoder then learns to map noisy digits onto
    the codes of clean ones; validation and test ELBOs stay the standard clean ELBO."""
    if noise is None:
        return x, None
    if generator is None:
        raise ValueError("the denoising objective needs a torch.Generator for its noise")
    return noise.apply(x, generator), x


def training_terms(
    model: LatentVariableModel,
    x: torch.Tensor,
    y: torch.Tensor | None,
    noise: NoiseSpec | None,
    generator: torch.Generator | None,
    sample: bool = True,
) -> ElboTerms:
    """The objective of one batch (the ELBO, or the denoising criterion: see ``corrupted``)."""
    x_in, target = corrupted(x, noise, generator)
    return model(x_in, y, sample=sample, target=target)


def split_validation(
    x: torch.Tensor, y: torch.Tensor, fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A seeded hold-out of the training images: the test split is never used for choices."""
    n_val = int(len(x) * fraction)
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    val, tr = perm[:n_val], perm[n_val:]
    return x[tr], y[tr], x[val], y[val]


def steps_per_epoch(n_images: int, config: TrainConfig) -> int:
    """Batches in one epoch over ``n_images`` training images, after the validation hold-out."""
    return math.ceil((n_images - int(n_images * config.val_fraction)) / config.batch_size)


def data_parallel(model: LatentVariableModel, device: torch.device) -> nn.Module:
    """The model wrapped for DistributedDataParallel on this rank's device."""
    if device.type != "cuda":
        return DistributedDataParallel(model)
    index = device.index if device.index is not None else torch.cuda.current_device()
    return DistributedDataParallel(model, device_ids=[index])


def rank_share(
    rank: Rank, *batch: torch.Tensor | None
) -> tuple[tuple[torch.Tensor | None, ...], float]:
    """This rank's rows of one global batch's tensors, and their share of the batch's images.

    A rank left without a row (a last batch shorter than the world) runs one row with weight 0,
    so that every rank still takes part in DDP's gradient exchange.
    """
    if rank.world_size == 1:
        return batch, 1.0
    n = len(batch[0])
    shares = tuple(None if t is None else rank.share(t) for t in batch)
    mine = len(shares[0])
    if mine == 0:
        return tuple(None if t is None else t[:1] for t in batch), 0.0
    return shares, mine / n


def _compiled_step(
    step_fn: Callable[..., ElboTerms],
    model: nn.Module,
    result: TrainResult,
    xb: torch.Tensor,
    yb: torch.Tensor | None,
    eps: torch.Tensor | None,
    target: torch.Tensor | None = None,
) -> tuple[ElboTerms, Callable[..., ElboTerms]]:
    """One step through the compiled model; the first one compiles, and if that fails the run
    goes on eagerly (same numbers, only slower) with the reason in ``result.compile_error``."""
    if result.compiled:
        return step_fn(xb, yb, eps=eps, target=target), step_fn
    try:
        terms = step_fn(xb, yb, eps=eps, target=target)
    except Exception as exc:  # inductor raises many kinds (BackendCompilerFailed, OSError...)
        result.compile_error = fallback_reason(exc)
        model.zero_grad(set_to_none=True)
        return model(xb, yb, eps=eps, target=target), model
    result.compiled = True
    return terms, step_fn


def train(
    model: LatentVariableModel,
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    *,
    on_step: Callable[[StepInfo], None] | None = None,
    on_epoch: Callable[[EpochInfo], None] | None = None,
    stop: threading.Event | None = None,
    checkpoint_path: str | Path | None = None,
    checkpoint_meta: Callable[[TrainResult], dict[str, Any]] | None = None,
) -> TrainResult:
    """Fit ``model`` on images x (N,1,28,28) in [0,1] and labels y (N,); returns its history.

    Validation uses a seeded ``val_fraction`` of x. Labels are only fed to a CVAE. Every draw
    comes from Generators seeded with ``config.seed`` (the global RNG is never reseeded); the
    reparameterization noise is drawn outside the model so a compiled forward sees no Generator.
    With ``config.compile`` the steps run ``torch.compile(model)``; when compiling fails (no
    C compiler, an unsupported device) they fall back to the eager model and
    ``TrainResult.compile_error`` says why. On CUDA each full batch's step is replayed as one
    CUDA graph where the run allows it (``config.cuda_graphs``, ``vae_core.training.cuda_graph``):
    the same draws and the same arithmetic, launched at once instead of op by op.

    Under ``torchrun`` (``vae_core.training.distributed``) the model trains with
    DistributedDataParallel: every rank draws the same global batches and noise and runs its
    share of each; only rank 0 calls back, validates and writes checkpoints.
    """
    device = pick_device(config.device)
    rank = current_rank()
    model.to(device).train()
    x_tr, y_tr, x_val, y_val = split_validation(x, y, config.val_fraction, config.seed)
    x_tr, y_tr = x_tr.to(device), y_tr.to(device)
    if len(x_val):
        x_val = model_inputs(x_val, uses_binary_test_data(config.binarize))
    cond = model.config.conditional
    gen = torch.Generator(device=device).manual_seed(config.seed)  # binarization, batch order
    noise = torch.Generator(device=device).manual_seed(config.seed)  # reparameterization eps
    # the corruption's own stream, so that a clean run draws exactly what it drew without it
    corruption, corruption_gen = (
        config.noise,
        torch.Generator(device=device).manual_seed(config.seed + 1),
    )
    if config.init_output_bias:
        init_output_bias(model, x_tr)
    n_steps = steps_per_epoch(len(x), config)
    total = n_steps * config.epochs
    graphs = (
        graph_unavailable(
            wanted=config.cuda_graphs,
            device=device,
            compile=config.compile,
            amp=config.amp,
            world_size=rank.world_size,
            scheduled=config.lr_schedule == "onecycle",
        )
        is None
    )
    # fused: one kernel per parameter instead of ~10 (3-4x cheaper steps on the CPU too);
    # capturable: the step count on the GPU, so that a CUDA graph can replay Adam's update
    opt = torch.optim.Adam(
        model.parameters(),
        lr=config.lr,
        betas=config.adam_betas,
        fused=device.type in ("cpu", "cuda"),
        capturable=graphs,
    )
    sched = (
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total)
        if config.lr_schedule == "onecycle"
        else None
    )
    use_cuda = device.type == "cuda"
    result = TrainResult(model=model, device=str(device), world_size=rank.world_size)
    net = model if rank.world_size == 1 else data_parallel(model, device)
    step_fn: Callable[..., ElboTerms] = torch.compile(net) if config.compile else net
    stochastic = model.config.stochastic
    config.check_model(model.config)
    # (B, K, D) noise for the IWAE bound; (B, D), as always, for the ELBO
    k_shape = (config.samples_per_image,) if config.samples_per_image > 1 else ()

    def one_step(
        x_in: torch.Tensor,
        yb: torch.Tensor | None,
        eps: torch.Tensor | None,
        target: torch.Tensor | None,
        scale: float,
    ) -> ElboTerms:
        nonlocal step_fn
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.amp and use_cuda):
            if step_fn is net:
                terms = net(x_in, yb, eps=eps, target=target)
            else:
                terms, step_fn = _compiled_step(step_fn, net, result, x_in, yb, eps, target)
        (terms.loss * scale).backward()
        opt.step()
        # a kept graph would tie the next step's gradients to this step's stream (CUDA graphs)
        return terms.detach()

    graphed = GraphedStep(one_step, config.batch_size) if graphs else None
    steps: StepFn = graphed if graphed is not None else one_step
    good_state = copy.deepcopy(model.state_dict())
    start = time.perf_counter()
    step = 0
    for epoch in range(1, config.epochs + 1):
        inputs = prepare_inputs(x_tr, config.binarize, gen)
        perm = torch.randperm(len(x_tr), device=device, generator=gen)
        sums = torch.zeros(4, device=device)  # loss, elbo, recon, kl (summed over batches)
        kl_dims = torch.zeros(model.config.latent_dim, device=device)
        for i in range(n_steps):
            if stop is not None and stop.is_set():
                result.stopped = True
                break
            idx = perm[i * config.batch_size : (i + 1) * config.batch_size]
            xb, yb = inputs[idx], (y_tr[idx] if cond else None)
            eps = (
                torch.randn(
                    len(xb), *k_shape, model.config.latent_dim, generator=noise, device=device
                )
                if stochastic
                else None
            )
            x_in, target = corrupted(xb, corruption, corruption_gen)
            (x_in, yb, eps, target), weight = rank_share(rank, x_in, yb, eps, target)
            # DDP averages the ranks' gradients: weighting each by its share of the global batch
            # (times the world size) makes that average the gradient of the global mean loss
            terms = steps(x_in, yb, eps, target, weight * rank.world_size)
            if sched is not None:
                sched.step()
            step += 1
            parts = torch.stack([terms.loss, terms.elbo, terms.recon, terms.kl]) * weight
            sums += parts
            kl_dims += terms.kl_per_dim * weight
            if step % config.log_every == 0 or i == n_steps - 1:
                # the only host sync, every log_every steps; the global batch's means on every rank
                values = sum_over_ranks(parts, rank).tolist()
                if not all(math.isfinite(v) for v in values):
                    model.load_state_dict(good_state)
                    raise TrainingDiverged(
                        f"the loss became {values[0]} at epoch {epoch}, step {step}; training "
                        f"stopped and the weights of epoch {epoch - 1} were restored"
                        + (f" (last good checkpoint: {checkpoint_path})" if checkpoint_path else "")
                    )
                if on_step is not None and rank.is_main:
                    elapsed = time.perf_counter() - start
                    on_step(StepInfo(epoch, step, total, *values, elapsed=elapsed))
        n_done = i + (0 if result.stopped else 1)
        if n_done == 0:
            break
        train_means = (sum_over_ranks(sums, rank) / n_done).tolist()
        kl_dims = sum_over_ranks(kl_dims, rank)
        if not all(math.isfinite(v) for v in train_means):
            model.load_state_dict(good_state)
            raise TrainingDiverged(f"non-finite loss during epoch {epoch}; weights restored")
        validate = len(x_val) and rank.is_main
        val = evaluate_elbo(model, x_val, y_val if cond else None) if validate else {}
        info = EpochInfo(
            epoch=epoch,
            epochs=config.epochs,
            train=dict(zip(("loss", "elbo", "recon", "kl"), train_means, strict=True)),
            val=val,
            kl_per_dim=(kl_dims / n_done).tolist(),
            elapsed=time.perf_counter() - start,
            steps=n_done,
            steps_per_epoch=n_steps,
        )
        result.history.append(info)
        good_state = copy.deepcopy(model.state_dict())
        result.seconds = info.elapsed
        if checkpoint_path is not None and rank.is_main:
            meta = checkpoint_meta(result) if checkpoint_meta else {}
            save_checkpoint(model, checkpoint_path, meta)
        if on_epoch is not None and rank.is_main:
            on_epoch(info)
        if result.stopped:
            break
    result.seconds = time.perf_counter() - start
    if graphed is not None:
        result.cuda_graph, result.cuda_graph_error = graphed.captured, graphed.error
    model.eval()
    return result
