"""The latent-variable model: VAE, CVAE and deterministic AE behind one API.

q(z|x[,y]) = N(mu, diag sigma^2), p(z) from ``vae_core.models.priors`` (N(0, I) or learned), p(x|z[,y]) from
``vae_core.models.likelihoods`` (Kingma & Welling 2013; the CVAE of Sohn et al. 2015 keeps
p(z|y) = p(z)). All public methods take images (B,1,28,28) in [0,1] and integer labels (B,) or a
single int. ``forward`` is the training objective (the ELBO terms), so ``torch.compile(model)``
compiles exactly what a training step runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields

import torch
from torch import nn

from vae_core.config import ModelConfig
from vae_core.models.likelihoods import make_likelihood
from vae_core.models.networks import Encoder, build_decoder
from vae_core.models.priors import (
    GaussianMixturePrior,
    MixtureOfGaussiansPrior,
    StandardNormalPrior,
    VampPrior,
    diag_gaussian_log_prob,
    kl_divergence,
)

AE_LOGVAR = -30.0  # an AE's "posterior" is a point: sigma ~ 3e-7, reported but never sampled


@dataclass
class ElboTerms:
    """Batch-mean ELBO parts (tensors, so training can backprop through ``loss``)."""

    loss: torch.Tensor  # -(recon - beta * kl), the minimised objective
    elbo: torch.Tensor  # recon - kl (beta = 1), a lower bound on log p(x)
    recon: torch.Tensor  # E_q log p(x|z)
    kl: torch.Tensor  # KL(q(z|x) || p(z)), summed over latent dims
    kl_per_dim: torch.Tensor  # (D,); for a mixture prior, to its 1-D marginals (see kl_divergence)

    def detach(self) -> ElboTerms:
        """The same numbers cut from the autograd graph, so that keeping them (for the epoch's
        sums) does not keep the step's graph alive into the next step."""
        return ElboTerms(*(getattr(self, f.name).detach() for f in fields(self)))


def init_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """Redraw every Linear / conv layer's weights from ``generator`` with PyTorch's default init
    (kaiming-uniform weights with a = sqrt(5), uniform(+-1/sqrt(fan_in)) biases), in module order.

    Written out because ``reset_parameters`` draws from the global RNG, which a seeded run would
    have to reseed (and so disturb every other thread). Drawn in the order the layers were built,
    the result equals ``torch.manual_seed(seed)`` followed by building the model.
    """
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
                nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
                if m.bias is not None:
                    fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
                    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                    nn.init.uniform_(m.bias, -bound, bound, generator=generator)
            elif isinstance(m, GaussianMixturePrior):
                m.reset_parameters(generator)


def make_prior(
    config: ModelConfig, encode: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
) -> nn.Module:
    """The prior ``config.prior`` names; ``encode`` (images -> (mu, logvar)) feeds a VampPrior.

    The standard normal has no parameters or buffers, so a standard model's state_dict (the
    checkpoint's tensors) is what it always was.
    """
    if config.prior == "mog":
        return MixtureOfGaussiansPrior(config.latent_dim, config.prior_components)
    if config.prior == "vamp":
        return VampPrior(config.prior_components, encode, config.latent_dim)
    return StandardNormalPrior(config.latent_dim)


class LatentVariableModel(nn.Module):
    def __init__(self, config: ModelConfig, generator: torch.Generator | None = None) -> None:
        """Build the networks; with ``generator`` their initial weights are drawn from it (a
        seeded, reproducible start), else from PyTorch's global RNG."""
        super().__init__()
        self.config = config
        self.likelihood = make_likelihood(config)
        out_dim = 2 * config.latent_dim if config.stochastic else config.latent_dim
        self.encoder = Encoder(config, out_dim)
        self.decoder = build_decoder(config, self.likelihood.out_channels)
        self.prior = make_prior(config, self.encode)
        if generator is not None:
            init_parameters(self, generator)

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor | None = None,
        *,
        beta: float | None = None,
        sample: bool = True,
        eps: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        target: torch.Tensor | None = None,
        samples: int = 1,
    ) -> ElboTerms:
        """One-sample SGVB estimate of the ELBO parts (K&W 2013, estimator B, eq. 10).

        With ``samples`` = K > 1 (or ``eps`` of shape (B, K, D)) the loss is the importance-
        weighted bound instead (Burda et al. 2015, eq. 8), the IWAE training objective.

        x is the encoder input (B,1,28,28) and, unless ``target`` is given, also the target: the
        denoising criterion (Im et al. 2017) encodes a corrupted x and scores the clean target. The noise is ``eps`` (B, D) when
        given (a compiled step takes it from outside, where a Generator can draw it), else drawn
        from ``generator``; ``sample=False`` decodes the posterior mean. For an AE the code is
        deterministic, KL is 0 and ``elbo`` is the reconstruction log-likelihood (not a bound).
        """
        beta = self.config.beta if beta is None else beta
        mu, logvar = self.encode(x, y)
        if sample and (samples > 1 or (eps is not None and eps.dim() == 3)):
            k = eps.shape[1] if eps is not None else samples
            return self._iwae_terms(
                x if target is None else target, y, mu, logvar, k, eps, generator
            )
        if self.config.stochastic:
            z = self.reparameterize(mu, logvar, eps=eps, generator=generator) if sample else mu
            kl_img, kl_dims = kl_divergence(self.prior, mu, logvar, z)
            kl = kl_img.mean()
        else:
            z = mu
            kl_dims = torch.zeros_like(mu)
            kl = kl_dims.sum(1).mean()
        recon = self.log_prob(self.decoder_output(z, y), x if target is None else target).mean()
        return ElboTerms(
            loss=-(recon - beta * kl),
            elbo=recon - kl,
            recon=recon,
            kl=kl,
            kl_per_dim=kl_dims.mean(0),
        )

    def _iwae_terms(
        self,
        target: torch.Tensor,
        y: torch.Tensor | None,
        mu: torch.Tensor,
        logvar: torch.Tensor,
        k: int,
        eps: torch.Tensor | None,
        generator: torch.Generator | None,
    ) -> ElboTerms:
        """The IWAE bound log (1/K) sum_k p(x, z_k) / q(z_k|x) as the loss (Burda et al. 2015).

        Its gradient weights the K samples by their normalised importance weights, so the
        encoder is no longer punished for samples the decoder explains badly; K = 1 is the ELBO
        with a sampled KL. ``elbo``, ``recon`` and ``kl`` stay the ELBO's parts (the K samples'
        mean reconstruction and the usual KL), so the curves of both objectives read alike.
        """
        if not self.config.stochastic:
            raise ValueError("the IWAE bound needs a stochastic encoder (a VAE or a CVAE)")
        b, d = mu.shape
        if eps is None:
            eps = torch.randn(b, k, d, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu.unsqueeze(1) + (0.5 * logvar).exp().unsqueeze(1) * eps  # (B, K, D)
        log_q = diag_gaussian_log_prob(z, mu.unsqueeze(1), logvar.unsqueeze(1))  # (B, K)
        log_pz = self.prior.log_prob(z)
        yk = y
        if y is not None and torch.as_tensor(y).dim() > 0:  # one label per image: one per sample
            yk = torch.as_tensor(y, device=mu.device).repeat_interleave(k, 0, output_size=b * k)
        out = self.decoder_output(z.reshape(b * k, d), yk)
        # output_size: without it CUDA waits for the host to learn the size (no graph capture)
        log_px = self.log_prob(out, target.repeat_interleave(k, 0, output_size=b * k)).view(b, k)
        bound = torch.logsumexp(log_px + log_pz - log_q, 1) - math.log(k)
        kl_img, kl_dims = kl_divergence(self.prior, mu, logvar, z[:, 0])
        recon, kl = log_px.mean(), kl_img.mean()
        return ElboTerms(
            loss=-bound.mean(), elbo=recon - kl, recon=recon, kl=kl, kl_per_dim=kl_dims.mean(0)
        )

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def onehot(self, y: torch.Tensor | int | None, batch: int) -> torch.Tensor | None:
        """One-hot labels for a CVAE (None for other kinds); an int is broadcast to the batch."""
        if not self.config.conditional:
            return None
        if y is None:
            raise ValueError("a CVAE needs class labels y")
        k = self.config.n_classes
        y = torch.as_tensor(y, device=self.device)
        if y.dim() == 0:
            y = y.expand(batch)
        if y.dtype.is_floating_point and y.dim() == 2:  # already soft/one-hot (class morphs)
            return y.to(self.device, torch.float32)
        # the check waits for the GPU, which a CUDA graph's capture cannot do; a replayed training
        # step still stops on a bad label (one_hot's device-side assert on CUDA)
        capturing = y.is_cuda and torch.cuda.is_current_stream_capturing()
        if not capturing and (int(y.min()) < 0 or int(y.max()) >= k):
            raise ValueError(f"labels must be in 0..{k - 1}")
        return nn.functional.one_hot(y.long(), k).float()

    def encode(
        self, x: torch.Tensor, y: torch.Tensor | int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior parameters (mu, logvar), each (B, D)."""
        h = self.encoder(x, self.onehot(y, x.shape[0]))
        if not self.config.stochastic:
            return h, torch.full_like(h, AE_LOGVAR)
        mu, logvar = h.chunk(2, dim=1)
        return mu, logvar

    def decoder_output(self, z: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        """Raw likelihood parameters (B, C, 28, 28) for latent codes z (B, D)."""
        c = self.onehot(y, z.shape[0])
        return self.decoder(z if c is None else torch.cat([z, c], dim=1))

    def decode(self, z: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        """Image-space mean E[x|z] in [0, 1], (B, 1, 28, 28)."""
        return self.likelihood.mean(self.decoder_output(z, y))

    @staticmethod
    def reparameterize(
        mu: torch.Tensor,
        logvar: torch.Tensor,
        *,
        eps: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """z = mu + sigma * eps, eps ~ N(0, I): the reparameterization trick (K&W 2013, sec. 2.4).

        ``eps`` (same shape as mu) is drawn from ``generator`` (on mu's device) unless given.
        """
        if eps is None:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + (0.5 * logvar).exp() * eps

    @torch.no_grad()
    def sample(
        self,
        n: int,
        y: torch.Tensor | int | None = None,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Decoded means of n codes from the prior at ``temperature``, (n, 1, 28, 28).

        The codes are drawn from ``generator`` on its device (the CPU one when None) and then
        moved to the model, so a seed gives the same images on every device.
        """
        z = self.prior.sample(n, generator, temperature=temperature)
        return self.decode(z.to(self.device), y)

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | int | None = None) -> torch.Tensor:
        """Decode the posterior mean: the usual deterministic reconstruction."""
        mu, _ = self.encode(x, y)
        return self.decode(mu, y)

    def log_prob(self, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) in nats per image, (B,)."""
        return self.likelihood.log_prob(out, x)
