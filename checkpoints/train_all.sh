#!/usr/bin/env bash
# Rebuilds every shipped checkpoint with the CLI (the commands in checkpoints/README.md).
# Here (no internet) the data come from VAE_LAB_DATA=/work/shared/datasets, where MNIST's training
# split is only its first 10,000 images. Elsewhere, leave VAE_LAB_DATA unset: the CLI downloads
# the full MNIST / Fashion-MNIST (checksummed) and the same commands train on all 60,000 images.
# Usage: [THREADS=N] bash checkpoints/train_all.sh [NAME...]   (no names: all of them)
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=.
PY=${PYTHON:-python}
T="${THREADS:+--threads $THREADS} --json"  # the shipped files: THREADS=1 (shared CPU)
MLP="--hidden 256 --lr 2e-3 --lr-schedule onecycle --iw-samples 100"

declare -A CMD=(
  [mnist-vae-2d]="--dataset mnist --kind vae --latent-dim 2 --epochs 100 $MLP"
  [mnist-vae-16d]="--dataset mnist --kind vae --latent-dim 16 --epochs 100 $MLP"
  [mnist-dvae-16d]="--dataset mnist --kind vae --latent-dim 16 --epochs 100 --train-noise gaussian:0.3 $MLP"
  [mnist-vae-2d-vamp]="--dataset mnist --kind vae --latent-dim 2 --epochs 100 --prior vamp --prior-components 50 $MLP"
  [mnist-cvae-2d]="--dataset mnist --kind cvae --latent-dim 2 --epochs 100 $MLP"
  [mnist-cvae-16d]="--dataset mnist --kind cvae --latent-dim 16 --epochs 100 --beta 3 $MLP"
  [mnist-conv-vae-16d]="--dataset mnist --kind vae --arch conv --conv-channels 16,32 --hidden 256 --latent-dim 16 --epochs 15 --lr 2e-3 --lr-schedule onecycle --iw-samples 100"
  [mnist-gauss-vae-16d]="--dataset mnist --kind vae --latent-dim 16 --likelihood gaussian --learn-variance --binarize none --epochs 30 $MLP"
  [fashion-vae-16d]="--dataset fashion-mnist --kind vae --latent-dim 16 --epochs 10 $MLP"
  [fashion-cvae-16d]="--dataset fashion-mnist --kind cvae --latent-dim 16 --epochs 10 $MLP"
  [fashion-cb-vae-16d]="--dataset fashion-mnist --kind vae --latent-dim 16 --likelihood continuous-bernoulli --epochs 10 $MLP"
  [fashion-cb-cvae-16d]="--dataset fashion-mnist --kind cvae --latent-dim 16 --likelihood continuous-bernoulli --epochs 10 $MLP"
  [mnist-vqvae-64]="--dataset mnist --kind vqvae --codebook-size 64 --code-dim 16 --epochs 25"
)
ORDER=(mnist-vae-2d mnist-vae-2d-vamp mnist-conv-vae-16d fashion-vae-16d fashion-cvae-16d mnist-vae-16d mnist-dvae-16d mnist-cvae-2d mnist-cvae-16d mnist-gauss-vae-16d fashion-cb-vae-16d fashion-cb-cvae-16d mnist-vqvae-64)
for name in "${@:-${ORDER[@]}}"; do
  echo "== $name: $PY -m vae_core train ${CMD[$name]} --out checkpoints/$name.safetensors" >&2
  # shellcheck disable=SC2086
  $PY -m vae_core train ${CMD[$name]} $T --out "checkpoints/$name.safetensors" \
    > "${LOG_DIR:-/tmp}/$name.jsonl"
done
