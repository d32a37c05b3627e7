"""Train → score → checkpoint for a VQ-VAE, with the same data, binarization, seeding and
scoring protocol as ``train_and_score`` (``vae_core.training.pipeline``).

Separate from the Gaussian trainer because a VQ step is different (EMA codebook updates and
dead-code restarts after each batch, no KL to anneal); the data handling and the scored images
(``scored_images``: one fixed binarization of the test split) are shared.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vae_core.config import ModelConfig, VQConfig
from vae_core.data.binarize import binarize
from vae_core.data.datasets import ImageSet
from vae_core.evaluation.data_kind import data_kind, uses_binary_test_data
from vae_core.evaluation.scoring import scored_images
from vae_core.io.vq_checkpoint import save_vq_checkpoint
from vae_core.models.vqvae import N_CELLS, VQVAE, perplexity, uniform_prior_kl
from vae_core.training.trainer import EpochInfo, StepInfo, TrainConfig


def train_vq(
    model: VQVAE,
    x: torch.Tensor,
    config: TrainConfig,
    generator: torch.Generator,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    *,
    on_step: Callable[[StepInfo], None] | None = None,
    stop: threading.Event | None = None,
) -> list[dict[str, float]]:
    """Adam on the VQ objective; batch order, dynamic binarization and dead-code restarts all
    draw from ``generator``. Returns one {epoch, loss, recon, perplexity, seconds, steps,
    steps_per_epoch} per epoch. ``on_step`` gets a ``StepInfo`` every ``config.log_every``
    batches (ELBO under the uniform prior, its constant KL); a set ``stop`` ends the run after
    the current batch, its last epoch then recorded with the batches it got."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=config.lr, betas=config.adam_betas)
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    per_epoch = math.ceil(len(x) / config.batch_size)
    total = per_epoch * config.epochs
    kl = uniform_prior_kl(model.config.codebook_size)
    step = 0
    model.train()
    for epoch in range(1, config.epochs + 1):
        if stop is not None and stop.is_set():
            break
        order = torch.randperm(len(x), generator=generator)
        loss_sum = recon_sum = 0.0
        counts = torch.zeros(model.config.codebook_size, dtype=torch.long)
        n = steps = 0
        for i in range(0, len(x), config.batch_size):
            if stop is not None and stop.is_set():
                break
            xb = binarize(x[order[i : i + config.batch_size]], config.binarize, generator=generator)
            t = model(xb, update=True, generator=generator)
            opt.zero_grad(set_to_none=True)
            t.loss.backward()
            opt.step()
            loss = t.loss.detach().item()
            if not math.isfinite(loss):
                raise RuntimeError("VQ-VAE training diverged (NaN/inf loss)")
            loss_sum += loss * len(xb)
            recon_sum += t.recon.detach().item() * len(xb)
            counts += torch.bincount(t.codes.flatten(), minlength=len(counts))
            n += len(xb)
            step += 1
            steps += 1
            if on_step is not None and (step % config.log_every == 0 or step == total):
                r = t.recon.detach().item()
                elapsed = time.perf_counter() - start
                on_step(StepInfo(epoch, step, total, loss, r - kl, r, kl, elapsed))
        if n == 0:
            break
        codes = torch.repeat_interleave(torch.arange(len(counts)), counts)
        rec = {
            "epoch": epoch,
            "loss": loss_sum / n,
            "recon": recon_sum / n,
            "perplexity": perplexity(codes, len(counts)),
            "seconds": time.perf_counter() - start,
            "steps": steps,
            "steps_per_epoch": per_epoch,
        }
        history.append(rec)
        if on_epoch is not None:
            on_epoch(rec)
    model.eval()
    return history


@torch.no_grad()
def score_vq(
    model: VQVAE, images: ImageSet, binarize_mode: str, limit: int | None = None
) -> dict[str, Any]:
    """Reconstruction log-likelihood (labelled with the data kind), MSE, code use and the ELBO
    under a uniform prior over codes (a lower bound: recon - 49 log K), nats per image."""
    x, _ = scored_images(images, uses_binary_test_data(binarize_mode), limit)
    model.eval()
    recon, mse, codes = [], [], []
    for i in range(0, len(x), 1000):
        xb = x[i : i + 1000]
        idx = model.encode_codes(xb)
        out = model.decoder(model.quantizer.codebook[idx].permute(0, 3, 1, 2))
        recon.append(model.likelihood.log_prob(out, xb))
        mse.append((model.likelihood.mean(out) - xb).pow(2).flatten(1).mean(1))
        codes.append(idx)
    k = model.config.codebook_size
    all_codes = torch.cat(codes)
    r = float(torch.cat(recon).mean())
    kind = data_kind(ModelConfig(likelihood=model.config.likelihood), {"binarize": binarize_mode})
    return {
        "model": model.config.display_name,
        "codebook_size": k,
        "code_dim": model.config.code_dim,
        "codes_used": int(torch.unique(all_codes).numel()),
        "perplexity": perplexity(all_codes, k),
        "images": len(x),
        "data_kind": kind.key,
        "data_kind_label": kind.label,
        "recon_log_likelihood": r,
        "recon_unit": "nats per image",
        "mse": float(torch.cat(mse).mean()),
        "kl_uniform_prior": uniform_prior_kl(k),
        "elbo_uniform_prior": r - uniform_prior_kl(k),
        "elbo_note": f"a lower bound on log p(x) in nats per image: recon - {N_CELLS} log K",
        "elbo_unit": "nats per image",
    }


def train_and_score_vq(
    vq_config: VQConfig,
    train_config: TrainConfig,
    *,
    train_set: ImageSet,
    test_set: ImageSet,
    checkpoint: Path,
    name: str,
    device_label: str,
    test_images: int | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    on_step: Callable[[StepInfo], None] | None = None,
    on_epoch_info: Callable[[EpochInfo], None] | None = None,
    stop: threading.Event | None = None,
    on_trained: Callable[[int], None] | None = None,
) -> tuple[VQVAE, list[dict[str, float]], dict[str, Any] | None]:
    """Train a fresh VQ-VAE seeded with ``train_config.seed``, score it, write its checkpoint.

    A checkpoint is written after every epoch too (before ``on_epoch`` / ``on_epoch_info``), so
    a stop or a crash keeps the last epoch; a stopped run is not scored (metrics None).
    ``on_epoch_info`` reports each epoch as the Gaussian trainer does (``EpochInfo``: train
    ELBO under the uniform prior, reconstruction and the constant KL), for the Train page.
    """
    generator = torch.Generator().manual_seed(train_config.seed)
    model = VQVAE(vq_config, generator)
    x, _ = train_set.tensors()
    history: list[dict[str, float]] = []
    kl = uniform_prior_kl(vq_config.codebook_size)

    def epoch_done(rec: dict[str, float]) -> None:
        history.append(rec)
        save_vq_checkpoint(model, checkpoint, metadata(None))
        if on_epoch is not None:
            on_epoch(rec)
        if on_epoch_info is not None:
            train = {
                "elbo": rec["recon"] - kl,
                "recon": rec["recon"],
                "kl": kl,
                "loss": rec["loss"],
                "perplexity": rec["perplexity"],
            }
            steps, per_epoch = int(rec["steps"]), int(rec["steps_per_epoch"])
            info = EpochInfo(
                int(rec["epoch"]), train_config.epochs, train, {}, [], rec["seconds"], steps,
                per_epoch,
            )  # fmt: skip
            on_epoch_info(info)

    def metadata(metrics: dict[str, Any] | None) -> dict[str, Any]:
        meta = {
            "name": name,
            "dataset": train_config.dataset,
            "data_source": train_set.source,
            "train_size": len(train_set),
            "binarize": train_config.binarize,
            "epoch": len(history),
            "epochs": train_config.epochs,
            "batch_size": train_config.batch_size,
            "lr": train_config.lr,
            "seed": train_config.seed,
            "device": device_label,
            "training_seconds": history[-1]["seconds"] if history else 0.0,
            "history": history,
            "stopped_early": bool(stop is not None and stop.is_set()),
        }
        if metrics is not None:
            meta["test_metrics"] = metrics
        return meta

    train_vq(model, x, train_config, generator, epoch_done, on_step=on_step, stop=stop)
    if stop is not None and stop.is_set():
        if history:  # the last epoch's checkpoint, now marked as stopped early
            save_vq_checkpoint(model, checkpoint, metadata(None))
        return model, history, None
    if on_trained is not None:
        on_trained(len(test_set) if test_images is None else min(test_images, len(test_set)))
    metrics = score_vq(model, test_set, train_config.binarize, test_images)
    save_vq_checkpoint(model, checkpoint, metadata(metrics))
    return model, history, metrics
