"""Encoder and decoder networks for 28x28x1 images, built only from simple layers.

Decoders are a plain ``nn.Sequential`` of Linear / ReLU / Unflatten / ConvTranspose2d / Conv2d so
that ``vae_core.io.decoder_export`` can walk them and ship the weights to the in-browser decoder.
The label of a CVAE enters as a one-hot vector concatenated to the input of each network.
"""

from __future__ import annotations

import torch
from torch import nn

from vae_core.config import IMAGE_SIZE, N_PIXELS, ModelConfig
from vae_core.models.likelihoods import N_LEVELS


class Encoder(nn.Module):
    """x (B,1,28,28) [+ one-hot y (B,K)] -> raw head output (B, out_dim).

    ``features`` turns the image into a flat vector (identity-like Flatten for the MLP, two
    stride-2 convolutions 28->14->7 for the conv net); ``head`` is an MLP on [features, y].
    """

    def __init__(self, config: ModelConfig, out_dim: int) -> None:
        super().__init__()
        cond = config.n_classes if config.conditional else 0
        if config.arch == "mlp":
            self.features = nn.Flatten()
            flat, hidden = N_PIXELS, list(config.hidden)
        else:
            c1, c2 = config.conv_channels
            self.features = nn.Sequential(
                nn.Conv2d(1, c1, 4, stride=2, padding=1),  # (B, c1, 14, 14)
                nn.ReLU(),
                nn.Conv2d(c1, c2, 4, stride=2, padding=1),  # (B, c2, 7, 7)
                nn.ReLU(),
                nn.Flatten(),
            )
            flat, hidden = c2 * 7 * 7, [config.hidden[0]]
        self.head = _mlp([flat + cond, *hidden, out_dim])

    def forward(self, x: torch.Tensor, y_onehot: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x)
        if y_onehot is not None:
            h = torch.cat([h, y_onehot], dim=1)
        return self.head(h)


def build_decoder(config: ModelConfig, out_channels: int) -> nn.Sequential:
    """[z, y] (B, D+K) -> raw likelihood parameters (B, out_channels, 28, 28)."""
    cond = config.n_classes if config.conditional else 0
    categorical = out_channels == N_LEVELS
    # A categorical decoder emits a few feature maps, then a 1x1 conv to 256 logits per pixel,
    # instead of a 784*256-wide final layer (80 M weights for an MLP).
    maps = config.categorical_channels if categorical else out_channels
    if config.arch == "mlp":
        widths = [config.latent_dim + cond, *reversed(config.hidden), maps * N_PIXELS]
        layers: list[nn.Module] = [*_mlp(widths), nn.Unflatten(1, (maps, IMAGE_SIZE, IMAGE_SIZE))]
    else:
        c1, c2 = config.conv_channels
        layers = [
            *_mlp([config.latent_dim + cond, config.hidden[0], c2 * 7 * 7]),
            nn.ReLU(),
            nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),  # (B, c1, 14, 14)
            nn.ReLU(),
            nn.ConvTranspose2d(c1, maps, 4, stride=2, padding=1),  # (B, maps, 28, 28)
        ]
    if categorical:
        layers += [nn.ReLU(), nn.Conv2d(maps, N_LEVELS, 1)]
    return nn.Sequential(*layers)


def _mlp(widths: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)
