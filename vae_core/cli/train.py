"""``python -m vae_core train``: fit a model, score it on the test split, write a checkpoint.

The test split is loaded before training starts, so a missing file fails in seconds rather than
after the last epoch. A checkpoint is written atomically after every epoch (by the trainer), so a
crash, Ctrl-C or a NaN leaves the last good epoch on disk; the final write adds the test metrics.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from tqdm import tqdm

from vae_core.cli.common import (
    CliError,
    add_data_args,
    check_iw_samples,
    format_metrics,
    int_list,
    load_data,
    non_negative_int,
    positive_int,
)
from vae_core.config import (
    ARCHITECTURES,
    LIKELIHOODS,
    MODEL_KINDS,
    PRIORS,
    ConfigError,
    ModelConfig,
    VQConfig,
)
from vae_core.data.binarize import BINARIZATIONS, default_binarization
from vae_core.data.sources import get_source
from vae_core.data.subsets import subset_images
from vae_core.device import device_label, pick_device
from vae_core.evaluation.scoring import IW_SAMPLES
from vae_core.training.distributed import Rank, init_from_env, leave_group
from vae_core.training.pipeline import train_and_score
from vae_core.training.run_metadata import dataset_note, default_name
from vae_core.training.trainer import (
    OBJECTIVES,
    EpochInfo,
    StepInfo,
    TrainConfig,
    TrainingDiverged,
    steps_per_epoch,
)

# The defaults of every option come from the config dataclasses: one place for each default.
_MODEL, _TRAIN, _VQ = ModelConfig(), TrainConfig(), VQConfig()
VQ_KIND = "vqvae"


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model and write a checkpoint")
    m = p.add_argument_group("model")
    m.add_argument("--kind", choices=(*MODEL_KINDS, VQ_KIND), default=_MODEL.kind)
    m.add_argument(
        "--codebook-size",
        type=positive_int,
        default=_VQ.codebook_size,
        help="VQ-VAE: number of codebook vectors K (16..512)",
    )
    m.add_argument(
        "--code-dim", type=positive_int, default=_VQ.code_dim, help="VQ-VAE: code vector size D"
    )
    m.add_argument("--arch", choices=ARCHITECTURES, default=_MODEL.arch)
    m.add_argument("--latent-dim", type=int, default=_MODEL.latent_dim)
    m.add_argument("--hidden", type=int_list, default=_MODEL.hidden, help="e.g. 512,256")
    m.add_argument(
        "--conv-channels", type=int_list, default=_MODEL.conv_channels, help="e.g. 32,64"
    )
    m.add_argument("--likelihood", choices=LIKELIHOODS, default=_MODEL.likelihood)
    m.add_argument("--gaussian-std", type=float, default=_MODEL.gaussian_std)
    m.add_argument("--learn-variance", action="store_true", help="Gaussian: learn sigma per pixel")
    m.add_argument("--beta", type=float, default=_MODEL.beta, help="KL weight (beta-VAE when != 1)")
    m.add_argument(
        "--prior",
        choices=PRIORS,
        default=_MODEL.prior,
        help="p(z): standard N(0, I), a learned mixture of Gaussians (mog) or the VampPrior "
        "(vamp, Tomczak & Welling 2018); learned priors need --kind vae",
    )
    m.add_argument(
        "--prior-components",
        type=positive_int,
        default=_MODEL.prior_components,
        help="mixture components (mog) or pseudo-inputs (vamp)",
    )
    d = p.add_argument_group("data and optimisation")
    add_data_args(d, _TRAIN.dataset)
    d.add_argument("--epochs", type=positive_int, default=_TRAIN.epochs)
    d.add_argument("--batch-size", type=positive_int, default=_TRAIN.batch_size)
    d.add_argument("--lr", type=float, default=_TRAIN.lr)
    d.add_argument("--lr-schedule", choices=("constant", "onecycle"), default=_TRAIN.lr_schedule)
    d.add_argument(
        "--binarize",
        choices=BINARIZATIONS,
        default=None,  # chosen from the likelihood and the dataset: default_binarization
        help="default: dynamic for a Bernoulli model on MNIST, none otherwise",
    )
    d.add_argument(
        "--train-noise",
        default=_TRAIN.train_noise,
        metavar="SPEC",
        help="denoising objective (Im et al. 2017): corrupt each batch with fresh noise, encode "
        "it, reconstruct the clean image; KIND:LEVEL with a Denoise-page noise, e.g. "
        "gaussian:0.3, salt-pepper:0.2, occlusion-square:0.4 (default: none). The test ELBO "
        "stays the standard ELBO on clean images",
    )
    d.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default=_TRAIN.objective,
        help="elbo (Kingma & Welling 2013) or iwae, the importance-weighted bound (Burda et al. "
        "2015) with --iw-train-samples samples per image",
    )
    d.add_argument(
        "--iw-train-samples",
        type=positive_int,
        default=_TRAIN.iw_train_samples,
        help="K of the IWAE objective (the paper trains with 5 and 50); each step costs K "
        "decoder passes per image",
    )
    d.add_argument("--seed", type=int, default=_TRAIN.seed)
    d.add_argument("--device", choices=("auto", "cuda", "mps", "cpu"), default=_TRAIN.device)
    d.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only)")
    d.add_argument(
        "--compile", action="store_true", help="torch.compile the model (eager if it fails)"
    )
    d.add_argument(
        "--no-cuda-graphs",
        dest="cuda_graphs",
        action="store_false",
        help="on CUDA, launch each step's kernels one by one instead of replaying a CUDA graph",
    )
    d.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    o = p.add_argument_group("output")
    o.add_argument(
        "--iw-samples",
        type=non_negative_int,
        default=IW_SAMPLES,
        help="importance samples for the final test NLL (0 skips it)",
    )
    o.add_argument(
        "--limit",
        type=positive_int,
        default=None,
        help="train on N training images and score N test images (seeded subsets, stratified "
        "by class): a quick run",
    )
    o.add_argument("--name", default=None, help="short title stored in the checkpoint")
    o.add_argument("--out", default=None, help="checkpoint path (.safetensors)")
    o.add_argument("--json", action="store_true", help="one JSON line per epoch on stdout")
    p.set_defaults(run=run_train)


def model_config_from_args(args: argparse.Namespace) -> ModelConfig:
    return ModelConfig(
        kind=args.kind,
        arch=args.arch,
        latent_dim=args.latent_dim,
        hidden=args.hidden,
        conv_channels=args.conv_channels,
        likelihood=args.likelihood,
        gaussian_std=args.gaussian_std,
        learn_variance=args.learn_variance,
        beta=args.beta,
        n_classes=len(get_source(args.dataset, args.data_dir).class_names),
        prior=args.prior,
        prior_components=args.prior_components,
    )


def train_config_from_args(args: argparse.Namespace) -> TrainConfig:
    binarize = args.binarize or default_binarization(args.likelihood, args.dataset)
    return TrainConfig(
        dataset=args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_schedule=args.lr_schedule,
        binarize=binarize,
        seed=args.seed,
        device=args.device,
        amp=args.amp,
        compile=args.compile,
        cuda_graphs=args.cuda_graphs,
        train_noise=args.train_noise,
        objective=args.objective,
        iw_train_samples=args.iw_train_samples,
    )


class TrainReporter:
    """tqdm bar on stderr plus per-epoch lines (JSON on stdout with --json, else human text)."""

    def __init__(self, as_json: bool, total_steps: int, show: bool = True) -> None:
        self.as_json = as_json
        self.bar = tqdm(
            total=total_steps,
            unit="step",
            desc="training",
            file=sys.stderr,
            disable=None if show else True,  # under torchrun only rank 0 reports
            dynamic_ncols=True,
        )
        self.epochs_done = 0

    def on_step(self, info: StepInfo) -> None:
        self.bar.update(info.step - self.bar.n)
        self.bar.set_postfix(elbo=f"{info.elbo:.2f}", kl=f"{info.kl:.2f}", refresh=False)

    def on_epoch(self, info: EpochInfo) -> None:
        self.epochs_done = info.epoch
        val = {k: v for k, v in info.val.items() if k != "kl_per_dim"}
        if self.as_json:
            line = {
                "event": "epoch",
                "epoch": info.epoch,
                "epochs": info.epochs,
                "train": info.train,
                "val": val,
                "elapsed": round(info.elapsed, 3),
            }
            self.bar.clear()
            print(json.dumps(line), flush=True)
            self.bar.refresh()
            return
        v = f"  val ELBO {val['elbo']:8.2f}" if "elbo" in val else ""
        tqdm.write(
            f"epoch {info.epoch:3d}/{info.epochs}  train ELBO {info.train['elbo']:8.2f}  "
            f"KL {info.train['kl']:6.2f}{v}  {info.elapsed:6.1f}s",
            file=sys.stdout,
        )

    def close(self) -> None:
        self.bar.close()


def check_writable(out: Path) -> None:
    """Fail in a second, not after the first epoch, when the checkpoint cannot be written there
    (its folder is a file, read-only, or on a full or missing disk)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out.parent):
            pass
    except OSError as exc:
        raise CliError(f"--out {out}: cannot write there ({exc.strerror or exc})") from exc


def run_train(args: argparse.Namespace) -> int:
    """Train, score and save; under ``torchrun`` every process runs this, rank 0 reports."""
    rank = init_from_env(args.device)
    try:
        return _train(args, rank)
    finally:
        leave_group()


def _train(args: argparse.Namespace, rank: Rank) -> int:
    if args.kind == VQ_KIND:
        return _train_vq(args)
    model_config = model_config_from_args(args)
    config = train_config_from_args(args)
    config.check_model(model_config)  # before the data is read: a wrong pair fails at once
    check_iw_samples(args.iw_samples)
    device = pick_device(config.device)
    out = Path(args.out or f"{args.dataset}-{args.kind}-{args.latent_dim}d.safetensors")
    if out.suffix != ".safetensors":
        raise CliError(f"--out must end in .safetensors, got {out}")
    if out.is_dir():
        raise CliError(f"--out {out} is a folder; give a file name ending in .safetensors")
    check_writable(out)
    train_set = subset_images(load_data(args.dataset, "train", args.data_dir), args.limit)
    test_set = load_data(args.dataset, "test", args.data_dir)
    name = args.name or default_name(model_config, config)
    label = device_label(device)
    if rank.world_size > 1:
        label += f" × {rank.world_size} processes (torchrun, DDP)"
    steps = steps_per_epoch(len(train_set), config) * config.epochs
    reporter = TrainReporter(args.json, steps, show=rank.is_main)
    bar: tqdm | None = None

    def start_scoring(n: int) -> None:
        nonlocal bar
        reporter.close()
        bar = tqdm(
            total=n,
            unit="img",
            desc=f"test NLL (K={args.iw_samples})",
            file=sys.stderr,
            disable=None if args.iw_samples and model_config.stochastic else True,
        )

    try:
        run = train_and_score(
            model_config,
            config,
            train_set=train_set,
            test_set=test_set,
            checkpoint=out,
            name=name,
            device_label=label,
            iw_samples=args.iw_samples,
            test_images=args.limit,
            on_step=reporter.on_step,
            on_epoch=reporter.on_epoch,
            on_trained=start_scoring,
            score_progress=lambda done, _total: bar.update(done - bar.n) if bar else None,
        )
    except TrainingDiverged as exc:
        kept = (
            f"the checkpoint of epoch {reporter.epochs_done} is kept in {out}"
            if reporter.epochs_done
            else "no checkpoint was written"
        )
        raise CliError(
            f"training diverged (NaN/inf loss): {exc}; {kept}. Try a lower --lr."
        ) from exc
    finally:
        reporter.close()
        if bar is not None:
            bar.close()
    if not rank.is_main:
        return 0
    result, metrics = run.result, run.test_metrics or {}
    if config.compile and not result.compiled:
        print(
            f"--compile: could not compile, trained eagerly ({result.compile_error})",
            file=sys.stderr,
        )
    if result.cuda_graph_error:
        print(
            f"CUDA graph: could not capture the step, trained eagerly ({result.cuda_graph_error})",
            file=sys.stderr,
        )
    summary = {
        "event": "test",
        "checkpoint": str(out),
        "training_seconds": round(result.seconds, 2),
        "device": label,
        "cuda_graph": result.cuda_graph,
        "dataset_note": dataset_note(train_set, config.val_fraction),
        **metrics,
    }
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        print(f"{name}: trained {len(result.history)} epochs in {result.seconds:.1f} s on {label}")
        print(summary["dataset_note"])
        print(format_metrics(metrics))
        print(f"checkpoint: {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0


def _train_vq(args: argparse.Namespace) -> int:
    """``--kind vqvae``: the VQ-VAE's train → score → checkpoint (``vae_core.training.vq``)."""
    try:
        vq = VQConfig(
            codebook_size=args.codebook_size,
            code_dim=args.code_dim,
            conv_channels=args.conv_channels,
            likelihood=args.likelihood,
            gaussian_std=args.gaussian_std,
        )
    except ConfigError as exc:
        raise CliError(str(exc)) from exc
    config = train_config_from_args(args)
    device = pick_device(config.device)
    out = Path(args.out or f"{args.dataset}-vqvae-{vq.codebook_size}.safetensors")
    if out.suffix != ".safetensors":
        raise CliError(f"--out must end in .safetensors, got {out}")
    check_writable(out)
    train_set = subset_images(load_data(args.dataset, "train", args.data_dir), args.limit)
    test_set = subset_images(load_data(args.dataset, "test", args.data_dir), args.limit)
    name = args.name or f"VQ-VAE K={vq.codebook_size} · {args.dataset}"

    def on_epoch(info: EpochInfo) -> None:
        rec = {
            "epoch": info.epoch,
            "loss": info.train["loss"],
            "recon": info.train["recon"],
            "perplexity": info.train["perplexity"],
            "seconds": info.elapsed,
        }
        if args.json:
            print(json.dumps({"event": "epoch", **rec}), flush=True)
        else:
            print(
                f"epoch {rec['epoch']}: loss {rec['loss']:.2f}  recon {rec['recon']:.2f}  "
                f"perplexity {rec['perplexity']:.1f}",
                file=sys.stderr,
            )

    run = train_and_score(  # the one pipeline: a VQConfig goes to vae_core.training.vq
        vq,
        config,
        train_set=train_set,
        test_set=test_set,
        checkpoint=out,
        name=name,
        device_label=device_label(device),
        on_epoch=on_epoch,
    )
    history, metrics = run.result.history, run.test_metrics or {}
    seconds = run.result.seconds
    summary = {"event": "test", "checkpoint": str(out), "training_seconds": round(seconds, 2)}
    if args.json:
        print(json.dumps({**summary, **metrics}), flush=True)
    else:
        print(f"{name}: trained {len(history)} epochs in {seconds:.1f} s")
        print(json.dumps(metrics, indent=1))
        print(f"checkpoint: {out} ({out.stat().st_size / 1e6:.2f} MB)")
    return 0
