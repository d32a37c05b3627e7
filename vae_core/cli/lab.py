"""The lab's experiments: ``ppca`` (probabilistic PCA in closed form), ``faithfulness`` (a
classifier judges CVAE samples), ``train-classifier`` (that judge) and ``sweep-beta`` (one VAE
per beta, rate vs distortion)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
from pathlib import Path
from typing import Any

import torch

from vae_core.cli.common import (
    CliError,
    add_data_args,
    add_limit_arg,
    command_line,
    emit,
    load_data,
    positive_float_list,
    positive_int,
)
from vae_core.config import ModelConfig
from vae_core.data.subsets import describe_images, subset_of
from vae_core.evaluation.classifier import (
    check_fits,
    faithfulness,
    find_classifier,
    load_classifier,
)
from vae_core.evaluation.data_kind import uses_binary_test_data
from vae_core.evaluation.discrete import (
    fit_pixel_gaussians,
    pixel_gaussians_log_likelihood,
    ppca_dequantization_bound,
    ppca_discrete_log_likelihood,
)
from vae_core.evaluation.ppca import fit_ppca
from vae_core.evaluation.scoring import pixels_note, scored_images
from vae_core.evaluation.units import FigureLabel, bits_per_dim
from vae_core.io.atomic import atomic_write
from vae_core.io.checkpoint_file import load_checkpoint
from vae_core.training.beta_sweep import sweep_beta
from vae_core.training.judge import (
    JUDGE_EPOCHS,
    default_judge_path,
    judge_folder,
    train_judge,
)
from vae_core.training.run_metadata import dataset_note
from vae_core.training.trainer import TrainConfig

ROOT = Path(__file__).resolve().parents[2]
CLASSIFIER_DIR = ROOT / "checkpoints" / "classifiers"


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ppca", help="fit probabilistic PCA in closed form; exact train/test NLL")
    add_data_args(p, "mnist")
    p.add_argument("--latent-dim", type=positive_int, default=16)
    add_limit_arg(p)
    p.add_argument(
        "--k",
        type=positive_int,
        default=100,
        help="importance samples per test image for the 8-bit NLL (test_nll_8bit)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the importance samples")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_ppca)

    p = sub.add_parser("faithfulness", help="classify CVAE samples per label: accuracy, diversity")
    p.add_argument("checkpoint")
    p.add_argument("--classifier", default=None, help="default: the shipped one for the dataset")
    p.add_argument("--n-per-class", type=positive_int, default=100)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_faithfulness)

    p = sub.add_parser("train-classifier", help="train the small CNN judge used by faithfulness")
    add_data_args(p, "mnist")
    p.add_argument("--epochs", type=positive_int, default=JUDGE_EPOCHS)
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    p.add_argument(
        "--out",
        default=None,
        help="default: checkpoints/classifiers/DATASET-classifier.safetensors, or inside an "
        "imported set's own folder",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_train_classifier)

    p = sub.add_parser("sweep-beta", help="train one VAE per beta and record rate vs distortion")
    add_data_args(p, "mnist")
    p.add_argument("--betas", type=positive_float_list, default=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0))
    p.add_argument("--latent-dim", type=positive_int, default=16)
    p.add_argument("--hidden", type=positive_int, default=256, help="one hidden layer width")
    p.add_argument("--epochs", type=positive_int, default=3)
    p.add_argument("--batch-size", type=positive_int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-limit", type=positive_int, default=None, help="first N test images")
    p.add_argument("--threads", type=positive_int, default=None, help="CPU threads for torch")
    p.add_argument("--out", default=None, help="results JSON path")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run_sweep_beta)


def run_ppca(args: argparse.Namespace) -> int:
    train_set = load_data(args.dataset, "train", args.data_dir)
    test_set = load_data(args.dataset, "test", args.data_dir)
    x_tr, _ = train_set.tensors()
    x_te, _ = test_set.tensors()
    if args.limit:  # each split's own stratified subset
        x_tr = x_tr[torch.from_numpy(subset_of(train_set, args.limit))]
        x_te = x_te[torch.from_numpy(subset_of(test_set, args.limit))]
    d = x_tr[0].numel()
    if not 1 <= args.latent_dim < min(d, len(x_tr)):
        raise CliError(f"--latent-dim must be in 1..{min(d, len(x_tr)) - 1}, got {args.latent_dim}")
    model = fit_ppca(x_tr, args.latent_dim)
    train_nll = float(-model.log_likelihood(x_tr).mean())
    test_nll = float(-model.log_likelihood(x_te).mean())
    try:  # the 8-bit figures: probabilities of the 256-level pixels, comparable with any model's
        gen = torch.Generator().manual_seed(args.seed)
        ll_8bit = ppca_discrete_log_likelihood(model, x_te, k=args.k, generator=gen)
        bound = ppca_dequantization_bound(model, x_te)
    except ValueError as e:
        raise CliError(str(e)) from e
    test_nll_8bit = float(-ll_8bit.mean())
    pixel_mean, pixel_logvar = fit_pixel_gaussians(x_tr)
    baseline_8bit = float(-pixel_gaussians_log_likelihood(x_te, pixel_mean, pixel_logvar).mean())
    baseline_density = -pixel_gaussians_log_likelihood(
        x_te, pixel_mean, pixel_logvar, discrete=False
    )
    r = {
        "dataset": args.dataset,
        "latent_dim": args.latent_dim,
        "sigma2": model.sigma2,
        "train_nll": train_nll,
        "test_nll": test_nll,
        "test_nll_bpd": test_nll / (d * math.log(2)),
        "train_size": len(x_tr),
        "test_size": len(x_te),
        "observation_model": "Gaussian density on pixels in [0, 1] (nats per image)",
        "test_nll_8bit": test_nll_8bit,
        "test_bits_per_dim": bits_per_dim(test_nll_8bit, d),
        "test_nll_8bit_dequantization_bound": float(-bound.mean()),
        "test_nll_8bit_k": args.k,
        "baseline_test_nll_8bit": baseline_8bit,
        "baseline_test_bits_per_dim": bits_per_dim(baseline_8bit, d),
        "baseline_test_nll_density": float(baseline_density.mean()),
        "baseline": "independent Gaussian per pixel, no latent variable, variance floored at "
        "the Gaussian decoder's clamp (exact, no sampling)",
        "data_kind": "8-bit",
        "figure": {
            "key": "test_nll_8bit",
            **FigureLabel("8-bit", False, f"importance-sampled estimate, K={args.k}").as_dict(),
        },
        "data_note": train_set.note,
    }
    return emit(
        r,
        args.json,
        [
            f"pPCA on {args.dataset} ({len(x_tr):,} train images), latent dim {args.latent_dim}, "
            f"sigma^2 = {model.sigma2:.5f}",
            f"  exact NLL (Gaussian density on [0, 1] pixels): train {train_nll:.2f}, "
            f"test {test_nll:.2f} nats per image",
            f"  8-bit test NLL {test_nll_8bit:.2f} nats per image "
            f"({bits_per_dim(test_nll_8bit, d):.4f} bits/dim; importance-sampled, K={args.k}); "
            f"dequantization bound {float(-bound.mean()):.2f}",
            f"  latent-free per-pixel Gaussian baseline, 8-bit test NLL {baseline_8bit:.2f} "
            f"nats per image ({bits_per_dim(baseline_8bit, d):.4f} bits/dim)",
        ],
    )


def run_faithfulness(args: argparse.Namespace) -> int:
    ckpt = load_checkpoint(args.checkpoint)
    if not ckpt.config.conditional:
        raise CliError(f"faithfulness needs a CVAE; this one is a {ckpt.config.display_name}")
    if not 0 <= args.temperature <= 10:
        raise CliError(f"--temperature must be in [0, 10], got {args.temperature}")
    if args.n_per_class > 2000:
        raise CliError(f"--n-per-class must be at most 2000, got {args.n_per_class}")
    dataset = ckpt.meta.get("dataset")
    path = (
        Path(args.classifier)
        if args.classifier
        else find_classifier(judge_folder(dataset or "", CLASSIFIER_DIR), dataset)
    )
    clf, clf_meta = load_classifier(path)
    if (
        dataset
    ):  # a checkpoint that names no dataset can still be judged by an explicit --classifier
        check_fits(clf_meta, dataset, ckpt.config.n_classes, path)
    r = faithfulness(ckpt.model, clf, args.n_per_class, args.temperature, args.seed)
    r.pop("examples")
    r.update(
        checkpoint=args.checkpoint,
        classifier=str(path),
        classifier_test_accuracy=clf_meta.get("test_accuracy"),
    )
    per = "  ".join(f"{c}:{a:.2f}" for c, a in enumerate(r["per_class"]))
    return emit(
        r,
        args.json,
        [
            f"{args.n_per_class} samples per class at T={args.temperature}: "
            f"mean accuracy {r['accuracy']:.4f} (classifier test accuracy "
            f"{clf_meta.get('test_accuracy')})",
            f"  per class: {per}",
        ],
    )


def run_train_classifier(args: argparse.Namespace) -> int:
    train_set = load_data(args.dataset, "train", args.data_dir)
    test_set = load_data(args.dataset, "test", args.data_dir)

    def on_epoch(epoch: int, loss: float) -> None:
        print(f"epoch {epoch}/{args.epochs}: train loss {loss:.4f}", file=sys.stderr)

    out = (
        Path(args.out)
        if args.out
        else default_judge_path(args.dataset, CLASSIFIER_DIR, args.data_dir)
    )
    meta = train_judge(
        train_set,
        test_set,
        out,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        command=command_line(),
        on_epoch=on_epoch,
    )
    return emit(
        {**meta, "path": str(out)},
        args.json,
        [f"test accuracy {meta['test_accuracy']:.4f} on {meta['test_size']:,} images; wrote {out}"],
    )


def run_sweep_beta(args: argparse.Namespace) -> int:
    train_set = load_data(args.dataset, "train", args.data_dir)
    test_set = load_data(args.dataset, "test", args.data_dir)
    x, y = train_set.tensors()
    binarize = "dynamic" if args.dataset == "mnist" else "none"
    binary = uses_binary_test_data(binarize)
    xt, yt = scored_images(test_set, binary, args.eval_limit)  # the subset every --limit uses
    mc = ModelConfig(latent_dim=args.latent_dim, hidden=(args.hidden,))
    tc = TrainConfig(
        dataset=args.dataset,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        binarize=binarize,
        seed=args.seed,
        device="cpu",
        val_fraction=0.0,
    )

    def on_point(p: dict[str, Any]) -> None:
        print(
            f"beta {p['beta']:g}: rate {p['rate']:.2f}  distortion {p['distortion']:.2f}  "
            f"active units {p['active_units']}  ({p['train_seconds']:.1f} s wall, "
            f"{p['cpu_seconds']:.1f} s CPU)",
            file=sys.stderr,
        )

    points = sweep_beta(x, y, xt, yt, args.betas, mc, tc, on_point=on_point)
    result = {
        "command": command_line(),
        "dataset": args.dataset,
        "dataset_note": dataset_note(train_set),
        "eval": describe_images(test_set, args.eval_limit, processing=pixels_note(binary)),
        "model": mc.to_dict(),
        "train_config": tc.to_dict(),
        "points": points,
        "total_seconds": round(sum(p["train_seconds"] for p in points), 2),
        "total_cpu_seconds": round(sum(p["cpu_seconds"] for p in points), 2),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    if args.out:
        atomic_write(args.out, (json.dumps(result, indent=2) + "\n").encode())
    lines = [f"{'beta':>6} {'rate':>8} {'distortion':>11} {'-ELBO':>8} {'AU':>3}"]
    lines += [
        f"{p['beta']:6g} {p['rate']:8.2f} {p['distortion']:11.2f} {-p['elbo']:8.2f} {p['active_units']:3d}"
        for p in points
    ]
    if args.out:
        lines.append(f"wrote {args.out}")
    return emit(result, args.json, lines)
