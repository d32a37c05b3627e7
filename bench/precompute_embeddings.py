"""Precompute the UMAP and t-SNE maps of the shipped checkpoints into checkpoints/embeddings/.

    PYTHONPATH=. python bench/precompute_embeddings.py [CHECKPOINT ...] [--methods umap,tsne]
        [--prune] [--json]

Run it after the shipped checkpoints are final: files are keyed by each checkpoint's sha256, so
retraining a model makes its old maps unused (``--prune`` deletes maps of checkpoints that are no
longer shipped). The maps are of the model's full test split, encoded exactly as the Latent map
page encodes it, so the page finds them under the same key and opens them instantly. 2-D models
need no map (the latent is the map); PCA is instant and never stored.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vae_core.data.datasets import DatasetUnavailable, load_split  # noqa: E402
from vae_core.evaluation.scoring import posterior_means  # noqa: E402
from vae_core.io.checkpoint_file import CheckpointError, load_checkpoint  # noqa: E402
from vae_core.io.vq_checkpoint import is_vq_checkpoint  # noqa: E402
from vae_core.latent.map_cache import (  # noqa: E402
    EmbeddingKey,
    file_sha256,
    load_coords,
    save_coords,
)
from vae_core.latent.maps import compute_embedding, resolve_params  # noqa: E402

SHIPPED = ROOT / "checkpoints"
OUT = SHIPPED / "embeddings"


def precompute(path: Path, methods: list[str], out: Path, split: str = "test") -> list[dict]:
    """Compute (or confirm) each method's map for one checkpoint; one record per method."""
    ckpt = load_checkpoint(path)
    if ckpt.config.latent_dim <= 2:
        return [{"checkpoint": path.name, "skipped": "2-D latent: the latent is the map"}]
    dataset = str(ckpt.meta.get("dataset", "mnist"))
    images = load_split(dataset, split, download=False, allow_offline_sample=False)
    x, y = images.tensors()
    sha = file_sha256(path)
    mu = None
    records = []
    for method in methods:
        key = EmbeddingKey.make(sha, dataset, split, len(x), method, resolve_params(method))
        record = {"checkpoint": path.name, "method": method, "file": key.filename}
        if load_coords(key, [out]) is not None:
            records.append({**record, "status": "up to date"})
            continue
        if mu is None:
            mu = posterior_means(ckpt.model, x, y)[0].numpy()
        start = time.perf_counter()
        emb = compute_embedding(mu, method)
        save_coords(key, emb.coords, out)
        records.append({**record, "status": "computed", "seconds": time.perf_counter() - start})
        print(json.dumps(records[-1]), file=sys.stderr, flush=True)
    return records


def prune(out: Path, keep: set[str]) -> list[str]:
    """Delete map files whose checkpoint hash is not in ``keep`` (16-hex-digit prefixes)."""
    removed = []
    for file in sorted(out.glob("*.npz")):
        if file.name.split("-", 1)[0] not in keep:
            file.unlink()
            removed.append(file.name)
    return removed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="*", type=Path)
    parser.add_argument("--methods", default="umap,tsne")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--prune", action="store_true", help="delete maps of unshipped models")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    paths = args.checkpoints or [  # a VQ-VAE has no continuous latent to map
        p for p in sorted(SHIPPED.glob("*.safetensors")) if not is_vq_checkpoint(p)
    ]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    try:
        for m in methods:
            if m not in ("umap", "tsne"):
                raise ValueError(f"only umap and tsne are stored, not {m!r}")
        records = [r for p in paths for r in precompute(p, methods, args.out)]
    except (CheckpointError, DatasetUnavailable, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.prune:
        keep = {file_sha256(p)[:16] for p in sorted(SHIPPED.glob("*.safetensors"))}
        records += [{"removed": name} for name in prune(args.out, keep)]
    for r in records:
        print(json.dumps(r) if args.json else "  ".join(f"{k}={v}" for k, v in r.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
