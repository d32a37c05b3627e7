"""Importance-weighted NLL (Burda et al. 2015) fast enough for K = 1000 on 10,000 images on a CPU.

The estimator is exactly ``vae_core.models.objectives.iwae_log_likelihood``: per image,
log p(x) ~ logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K, z_k = mu + sigma eps_k,
with the noise drawn in the same order (``torch.randn(k, b, d)`` per batch of images from one
Generator seeded with ``seed``), so it matches ``vae_core.evaluation.scoring.iwae_nll`` sample for
sample. The noise never touches the global RNG, so estimates running in parallel threads give the
numbers of a sequential run.

Why it is faster for a Bernoulli MLP decoder: log p(x|z) = sum_d x_d l_d - softplus(l_d) with
logits l = W h + b (h the last hidden layer). The data term needs no 784-wide product per sample:
x.l = h.(W^T x) + b.x, so W^T x is computed once per image and each of the K samples pays a
512-wide dot product. The logits are then only needed inside one fused softplus-sum, and x is
never expanded K times. Other decoders use the generic estimator.

On a CPU with native bfloat16, large jobs (``BF16_MIN_PASSES``) run the last decoder layer in
bf16 (``_neg_log_px_bf16``: 2.2x the float32 matmul rate, and a fused softplus-sum) and then
redo each image's largest weights in float32 (``_corrected``). K = 1000 on 10,000 images takes
about half the float32 path's time; the figures and the accuracy are in bench/nll_speed.py.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from vae_core.evaluation.units import bits_per_dim
from vae_core.models.model import LatentVariableModel
from vae_core.models.objectives import LOG_2PI, iwae_log_likelihood
from vae_core.models.priors import GaussianMixturePrior, kl_divergence

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
MAX_K = 100_000
ROWS_PER_CHUNK = 4096  # decoder rows alive at once: 4096 x 784 floats = 12.8 MB, fits in L3


#: the decoder arithmetic of the fast path: "auto" picks bfloat16 where it pays (see below)
Arithmetic = Literal["auto", "float32", "bfloat16"]
#: decoder passes (images x K) from which "auto" takes the bfloat16 path: below this the fp32
#: path is done before the kernel would have compiled (about 1 s with inductor's disk cache)
BF16_MIN_PASSES = 1_000_000
#: samples per image the bfloat16 path recomputes in float32 (see ``_corrected``)
EXACT_TOP = 32


def fast_path_available(model: LatentVariableModel) -> bool:
    """True when the decoder ends in Linear -> Unflatten with one Bernoulli logit per pixel."""
    dec = model.decoder
    return (
        model.likelihood.name == "bernoulli"
        and model.config.stochastic
        and len(dec) >= 2
        and isinstance(dec[-1], nn.Unflatten)
        and isinstance(dec[-2], nn.Linear)
    )


def bf16_path_available(model: LatentVariableModel) -> bool:
    """The fast path on a CPU with native bfloat16 dot products and a Linear/ReLU decoder body.

    Without native bf16 (AVX-512 BF16 or AMX) oneDNN emulates it and the float32 matmul is
    faster; on CUDA the float32 path is fast already.
    """
    body = list(model.decoder[:-2])
    return (
        fast_path_available(model)
        and model.device.type == "cpu"
        and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        and len(body) % 2 == 0
        and all(isinstance(m, nn.Linear) for m in body[0::2])
        and all(isinstance(m, nn.ReLU) for m in body[1::2])
    )


def decoder_arithmetic(
    model: LatentVariableModel, n: int, k: int, arithmetic: Arithmetic = "auto"
) -> str:
    """Which arithmetic ``iwae_nll_fast`` uses for ``n`` images and ``k`` samples: "float32",
    "bfloat16" or "generic" (the plain estimator, other decoders)."""
    if not fast_path_available(model):
        return "generic"
    if arithmetic == "float32":
        return "float32"
    if not bf16_path_available(model):
        if arithmetic == "bfloat16":
            raise ValueError("the bfloat16 path needs a CPU with native bf16 and an MLP decoder")
        return "float32"
    if arithmetic == "bfloat16" or n * k >= BF16_MIN_PASSES:
        return "bfloat16"
    return "float32"


def _neg_log_px_bf16(
    inp: torch.Tensor,
    weights: list[torch.Tensor],
    biases: list[torch.Tensor],
    last_w_t: torch.Tensor,
    h_ref: torch.Tensor,
    l_ref: torch.Tensor,
    x: torch.Tensor,
    group: int,
) -> torch.Tensor:
    """-log p(x|z) (B, kk) for decoder inputs ``inp`` (B*kk, D_in), the last layer in bfloat16.

    The hidden layers stay float32 (rounding z or the small first layer moves the decoded point
    while log p(z) and log q(z|x) are taken at the unrounded z: 3x the error for 5 % of the
    time). The last layer's product runs in bf16 with float32 accumulation, 2.2x the float32
    rate here, on the change from each image's reference: logits = l_ref + (h - h_ref) W^T, with
    h_ref and l_ref (B, H), (B, P) the last hidden layer and logits at z = mu in float32. The
    rounding errors of bf16 (of the input, the weights and the output) scale with the size of
    what is rounded, and h - h_ref is much smaller than h: the largest per-image change of the
    estimate on the 2-D VampPrior model went from 0.26 to 0.03 nats. Then sum_d softplus(l_d) - x_d l_d with softplus(l) = max(l, 0) +
    log(1 + e^-|l|), the logs taken of products over ``group`` pixels: each factor is in
    (1, 2], so a product of at most 64 stays finite in float32, and one log per group replaces
    one log1p per pixel (1.8x faster; 1e-7 relative error). Compiled, the elementwise steps
    fuse into one pass over the logits. Only tensors come in, so one compiled graph serves
    every model of the same layer sizes.
    """
    h = inp
    for w, b in zip(weights, biases, strict=True):
        h = F.linear(h, w, b).relu()
    b_, p = x.shape
    delta = (h.view(b_, -1, h.shape[-1]) - h_ref[:, None]).view(h.shape)
    logits = torch.mm(delta.bfloat16(), last_w_t).float().view(b_, -1, p) + l_ref[:, None]
    linear = (logits.clamp_min(0) - x[:, None, :] * logits).sum(-1)
    factors = (1 + torch.exp(-logits.abs())).view(b_, logits.shape[1], p // group, group)
    return linear + factors.prod(-1).log().sum(-1)


def _mixture_log_prob(
    z: torch.Tensor, log_w: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> torch.Tensor:
    """log sum_k w_k N(z; mu_k, diag e^logvar_k) (...,) for z (..., D), components (K, D): the
    arithmetic of ``GaussianMixturePrior.log_prob``, compiled here so that the (..., K, D)
    terms are never stored (10 M samples x 50 VampPrior components would be 1 G of them)."""
    per = -0.5 * (LOG_2PI + logvar + (z.unsqueeze(-2) - mu).pow(2) * torch.exp(-logvar)).sum(-1)
    return torch.logsumexp(per + log_w, -1)


_KERNEL_LOCK = threading.Lock()
_kernels: dict[Callable[..., torch.Tensor], Callable[..., torch.Tensor]] = {}


def _compiled(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """``fn`` through torch.compile, or ``fn`` itself where compiling fails (no C++ compiler
    on the machine): the same arithmetic, slower (the bf16 kernel about 1.6x)."""
    with _KERNEL_LOCK:
        if fn not in _kernels:
            compiled = torch.compile(fn, dynamic=None)

            def run(*args: Any) -> torch.Tensor:
                try:
                    return compiled(*args)
                except Exception as err:  # noqa: BLE001 - any compiler failure: same math, eager
                    log.warning("IWAE kernel %s runs eager: torch.compile failed (%s)", fn, err)
                    _kernels[fn] = fn
                    return fn(*args)

            _kernels[fn] = run
        return _kernels[fn]


def _bf16_kernel() -> Callable[..., torch.Tensor]:
    return _compiled(_neg_log_px_bf16)


def _pixel_group(pixels: int) -> int:
    """The largest divisor of ``pixels`` up to 64 (see ``_neg_log_px_bf16``)."""
    return max(g for g in range(1, 65) if pixels % g == 0)


@dataclass
class _ImageBatch:
    """Everything the log weights of one batch of images need, computed once per batch."""

    model: LatentVariableModel
    x_flat: torch.Tensor  # (B, P)
    mu: torch.Tensor  # (B, D)
    std: torch.Tensor  # (B, D)
    xw: torch.Tensor  # (B, H): W^T x per image
    xb: torch.Tensor  # (B,)
    c: torch.Tensor | None  # (B, classes) one-hot, or None
    log_q_const: torch.Tensor  # (B,)
    logits_buf: torch.Tensor  # (rows, P), reused by every chunk
    _reference: tuple[torch.Tensor, torch.Tensor] | None = None  # see reference()
    _components: tuple[torch.Tensor, ...] | None = None  # a mixture prior's, once per batch

    def decoder_inputs(self, eps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z (B, kk, D), the decoder's input rows (B*kk, D_in)) for noise eps (B, kk, D)."""
        b, kk, _ = eps.shape
        z = self.mu[:, None] + self.std[:, None] * eps
        c = self.c
        inp = z if c is None else torch.cat([z, c[:, None].expand(b, kk, c.shape[1])], dim=2)
        return z, inp.reshape(b * kk, -1)

    def prior_minus_posterior(self, z: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """log p(z) - log q(z|x) (B, kk); log q at z = mu + std eps needs no division.

        A mixture prior's components are taken once per batch (a VampPrior encodes its
        pseudo-inputs to get them) and its density goes through ``_mixture_log_prob``.
        """
        log_q = self.log_q_const[:, None] - 0.5 * eps.pow(2).sum(-1)
        prior = self.model.prior
        if not isinstance(prior, GaussianMixturePrior):
            return prior.log_prob(z) - log_q
        if self._components is None:
            self._components = tuple(t.to(z.dtype) for t in prior.components())
        return _compiled(_mixture_log_prob)(z, *self._components) - log_q

    def log_weights(self, eps: torch.Tensor) -> torch.Tensor:
        """log w (B, kk) in float32: the data term as h.(W^T x), the logits in one buffer."""
        b, kk, _ = eps.shape
        z, inp = self.decoder_inputs(eps)
        body, last = self.model.decoder[:-2], self.model.decoder[-2]
        h = _run_body(body, inp)  # (B*kk, H)
        logits = self.logits_buf[: b * kk]
        torch.addmm(last.bias, h, last.weight.t(), out=logits)
        torch.ops.aten.softplus.out(logits, 1, 20, out=logits)  # in place, no new buffer
        sp = logits.sum(1).view(b, kk)
        xl = torch.bmm(h.view(b, kk, -1), self.xw.unsqueeze(2)).squeeze(2) + self.xb[:, None]
        return xl - sp + self.prior_minus_posterior(z, eps)

    def reference(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(h_ref, l_ref): the last hidden layer (B, H) and the logits (B, P) at z = mu."""
        if self._reference is None:
            _, inp = self.decoder_inputs(torch.zeros_like(self.mu)[:, None])
            body, last = self.model.decoder[:-2], self.model.decoder[-2]
            h_ref = _run_body(body, inp)
            self._reference = (h_ref, F.linear(h_ref, last.weight, last.bias))
        return self._reference

    def log_weights_bf16(self, eps: torch.Tensor) -> torch.Tensor:
        """log w (B, kk) with the last decoder layer in bfloat16 (``_neg_log_px_bf16``)."""
        z, inp = self.decoder_inputs(eps)
        body, last = self.model.decoder[:-2], self.model.decoder[-2]
        h_ref, l_ref = self.reference()
        nll = _bf16_kernel()(
            inp,
            [m.weight for m in body[0::2]],
            [m.bias for m in body[0::2]],
            _bf16_weight_t(last),
            h_ref,
            l_ref,
            self.x_flat,
            _pixel_group(self.x_flat.shape[1]),
        )
        return self.prior_minus_posterior(z, eps) - nll


def _bf16_weight_t(last: nn.Linear) -> torch.Tensor:
    """The last layer's W^T in bfloat16, converted once per weight version."""
    key = (last.weight.data_ptr(), last.weight._version)
    cached = getattr(last, "_iwae_bf16", None)
    if cached is None or cached[0] != key:
        cached = (key, last.weight.t().contiguous().bfloat16())
        last._iwae_bf16 = cached  # type: ignore[attr-defined] - a cache, not a parameter
    return cached[1]


def _corrected(
    log_w: torch.Tensor, eps_all: torch.Tensor, batch: _ImageBatch, chunk: int
) -> torch.Tensor:
    """bfloat16 log weights (B, K) with the ``EXACT_TOP`` largest recomputed in float32.

    The logsumexp is dominated by its largest terms, so those are made exact. The bf16 error
    of log w is a smooth function of z (the rounding of W is fixed), so the other samples share
    most of the top samples' offset c = logsumexp(exact) - logsumexp(bf16) over the top, which
    is added to them. Measured on 1,000 MNIST test images, K = 1000, against the float32 path:
    the largest per-image change is 0.010 nats (2-D VAE) and 0.019 (2-D VampPrior VAE) with
    this step, 0.062 for both without it; the mean change is about 1e-4 nats either way.
    """
    m = min(EXACT_TOP, log_w.shape[1])
    idx = log_w.topk(m, dim=1).indices  # (B, m)
    eps_top = eps_all.transpose(0, 1).gather(1, idx[..., None].expand(-1, -1, eps_all.shape[2]))
    exact = _chunked(batch.log_weights, eps_top, chunk)
    offset = torch.logsumexp(exact, 1, keepdim=True) - torch.logsumexp(
        log_w.gather(1, idx), 1, keepdim=True
    )
    return (log_w + offset).scatter_(1, idx, exact)


def _chunked(
    weigh: Callable[[torch.Tensor], torch.Tensor], eps: torch.Tensor, chunk: int
) -> torch.Tensor:
    """``weigh`` over eps (B, n, D) in slices of ``chunk`` samples per image: (B, n)."""
    b, n, _ = eps.shape
    out = torch.empty(b, n, device=eps.device, dtype=eps.dtype)
    for start in range(0, n, chunk):
        # image-major rows (B, kk): each image's samples are contiguous, so the data term is
        # one batched matrix-vector product; the set of samples per image is unchanged.
        out[:, start : start + chunk] = weigh(eps[:, start : start + chunk])
    return out


def _fast_log_likelihood(
    model: LatentVariableModel,
    x: torch.Tensor,
    y: torch.Tensor | None,
    k: int,
    rows_per_chunk: int,
    logits_buf: torch.Tensor,
    generator: torch.Generator | None = None,
    bf16: bool = False,
) -> torch.Tensor:
    """log p(x) estimate (B,) for one batch; same noise order as ``iwae_log_likelihood``.

    ``logits_buf`` (rows_per_chunk, 784) is reused for every chunk: allocating a fresh 12.8 MB
    tensor per chunk (twice, logits then softplus) cost ~40 % of the run in page faults.
    """
    mu, logvar = model.encode(x, y)  # (B, D)
    b, d = mu.shape
    # the same draw as the generic estimator
    eps_all = torch.randn(k, b, d, generator=generator, device=mu.device, dtype=mu.dtype)
    last = model.decoder[-2]
    x_flat = x.reshape(b, -1).to(mu.dtype)
    batch = _ImageBatch(
        model=model,
        x_flat=x_flat,
        mu=mu,
        std=(0.5 * logvar).exp(),
        xw=x_flat @ last.weight,
        xb=x_flat @ last.bias,
        c=model.onehot(y, b),
        log_q_const=-0.5 * (LOG_2PI + logvar).sum(-1),
        logits_buf=logits_buf,
    )
    chunk = max(1, min(k, rows_per_chunk // max(1, b)))
    eps = eps_all.transpose(0, 1)  # (B, K, D) view
    if bf16:
        log_w = _corrected(_chunked(batch.log_weights_bf16, eps, chunk), eps_all, batch, chunk)
    else:
        log_w = _chunked(batch.log_weights, eps, chunk)
    return torch.logsumexp(log_w, 1) - math.log(k)


def _run_body(body: nn.Sequential, h: torch.Tensor) -> torch.Tensor:
    """The decoder up to its last layer, with ReLUs in place (each Linear output is fresh)."""
    for layer in body:
        if isinstance(layer, nn.Linear):
            h = F.linear(h, layer.weight, layer.bias)
        elif isinstance(layer, nn.ReLU):
            h = h.relu_()
        else:
            h = layer(h)
    return h


def iwae_nll_fast(
    model: LatentVariableModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    k: int = 1000,
    batch_size: int = 100,
    seed: int = 0,
    progress: Progress | None = None,
    rows_per_chunk: int = ROWS_PER_CHUNK,
    force_generic: bool = False,
    arithmetic: Arithmetic = "auto",
) -> torch.Tensor:
    """Per-image IWAE NLL estimate -log p(x) (N,), positive nats, float64 on the CPU.

    Same estimator and noise as ``vae_core.evaluation.scoring.iwae_nll(model, x, y, k, batch_size, seed)``.
    ``progress(done_images, total_images)`` is called after every batch. ``y`` is used only for
    a CVAE (pass the labels; they are ignored otherwise). ``arithmetic`` is the decoder's on
    the fast path (``decoder_arithmetic``): "auto" runs the last layer in bfloat16 for jobs of
    ``BF16_MIN_PASSES`` or more on a CPU with native bf16, within a few hundredths of a nat
    per image of float32 and far inside the estimator's own seed-to-seed spread.
    """
    if not 1 <= k <= MAX_K:
        raise ValueError(f"k must be in 1..{MAX_K:,}, got {k}")
    if not model.config.stochastic:
        raise ValueError("an AE defines no density: the IWAE NLL needs a VAE or CVAE")
    if len(x) == 0:
        raise ValueError("no images to score")
    labels = y if model.config.conditional else None
    mode = "generic" if force_generic else decoder_arithmetic(model, len(x), k, arithmetic)
    fast = mode != "generic"
    was_training = model.training
    model.eval()
    device = model.device
    gen = torch.Generator(device=device).manual_seed(seed)
    out = []
    rows = max(min(rows_per_chunk, batch_size * k), batch_size)  # see the chunk size below
    try:
        with torch.inference_mode():
            logits_buf = (
                torch.empty(rows, model.decoder[-2].out_features, device=device) if fast else None
            )
            for s in range(0, len(x), batch_size):
                xb = x[s : s + batch_size].to(device)
                yb = None if labels is None else labels[s : s + batch_size].to(device)
                if fast:
                    ll = _fast_log_likelihood(
                        model, xb, yb, k, rows, logits_buf, gen, bf16=mode == "bfloat16"
                    )
                else:
                    ll = iwae_log_likelihood(model, xb, yb, k=k, generator=gen)
                out.append(-ll.double().cpu())
                if progress is not None:
                    progress(min(s + batch_size, len(x)), len(x))
    finally:
        model.train(was_training)
    return torch.cat(out)


@torch.inference_mode()
def elbo_per_image(
    model: LatentVariableModel,
    x: torch.Tensor,
    y: torch.Tensor | None = None,
    batch_size: int = 500,
    seed: int = 0,
) -> torch.Tensor:
    """Per-image ELBO (N,) in nats: one reparameterised sample for the reconstruction term and
    the analytic KL, as in ``vae_core.models.objectives.elbo_terms`` (K&W 2013, eq. 10)."""
    labels = y if model.config.conditional else None
    gen = torch.Generator(device=model.device).manual_seed(seed)
    out = []
    for s in range(0, len(x), batch_size):
        xb = x[s : s + batch_size].to(model.device)
        yb = None if labels is None else labels[s : s + batch_size].to(model.device)
        mu, logvar = model.encode(xb, yb)
        z = model.reparameterize(mu, logvar, generator=gen)
        recon = model.log_prob(model.decoder_output(z, yb), xb)
        kl, _ = kl_divergence(model.prior, mu, logvar, z)
        out.append((recon - kl).double().cpu())
    return torch.cat(out)


def per_class_mean(
    values: torch.Tensor, labels: torch.Tensor, n_classes: int
) -> list[float | None]:
    """Mean of ``values`` per class label (None for a class with no images)."""
    labels = torch.as_tensor(labels).long().cpu()
    values = torch.as_tensor(values).double().cpu()
    return [
        float(values[labels == c].mean()) if (labels == c).any() else None for c in range(n_classes)
    ]


def likelihood_report(
    model: LatentVariableModel,
    x: torch.Tensor,
    y: torch.Tensor,
    k: int = 1000,
    seed: int = 0,
    n_classes: int = 10,
    progress: Progress | None = None,
    arithmetic: Arithmetic = "auto",
) -> dict[str, Any]:
    """NLL, ELBO and the ELBO-to-NLL gap, in nats per image and bits/dim, overall and per class.

    The gap -ELBO - NLL estimates KL(q(z|x) || p(z|x)) averaged over images, i.e. how far the
    encoder is from the true posterior (plus the K-sample bias of the NLL estimate).
    """
    nll = iwae_nll_fast(model, x, y, k=k, seed=seed, progress=progress, arithmetic=arithmetic)
    neg_elbo = -elbo_per_image(model, x, y, seed=seed)
    d = x[0].numel()
    gap = neg_elbo - nll
    return {
        "k": k,
        "n": len(x),
        "decoder_arithmetic": decoder_arithmetic(model, len(x), k, arithmetic),
        "nll": float(nll.mean()),
        "neg_elbo": float(neg_elbo.mean()),
        "gap_nats": float(gap.mean()),
        "nll_bpd": float(bits_per_dim(nll.mean(), d)),
        "neg_elbo_bpd": float(bits_per_dim(neg_elbo.mean(), d)),
        "gap_bpd": float(bits_per_dim(gap.mean(), d)),
        "per_class_nll": per_class_mean(nll, y, n_classes),
        "per_class_gap": per_class_mean(gap, y, n_classes),
        "nll_per_image": nll,
    }
