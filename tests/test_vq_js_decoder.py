"""The in-browser VQ-VAE decoder (codebook lookup + ui/live_decoder_math.js) agrees with
PyTorch within 1e-4 per pixel, for the shipped model and for each likelihood head."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from vae_core.config import VQConfig
from vae_core.io.decoder_export import export_vq_decoder
from vae_core.io.vq_checkpoint import load_vq_checkpoint
from vae_core.models.vqvae import VQVAE

ROOT = Path(__file__).resolve().parents[1]
MATH_JS = ROOT / "ui" / "live_decoder_math.js"
SHIPPED = ROOT / "checkpoints" / "mnist-vqvae-64.safetensors"
NODE = shutil.which("node")
RUNNER = """
const fs = require("fs");
const [mathPath, specPath, binPath, casesPath] = process.argv.slice(2);
const M = require(mathPath);
const spec = JSON.parse(fs.readFileSync(specPath, "utf8"));
const buf = fs.readFileSync(binPath);
const w = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
const dec = M.compile(spec, w);
const cases = JSON.parse(fs.readFileSync(casesPath, "utf8"));
process.stdout.write(JSON.stringify(cases.map((codes) => Array.from(dec.decodeCodes(codes)))));
"""

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not available to run the JS")


def _js_decode(model: VQVAE, codes: torch.Tensor, tmp_path: Path) -> torch.Tensor:
    exported = export_vq_decoder(model)
    (tmp_path / "spec.json").write_text(json.dumps(exported.spec))
    (tmp_path / "w.bin").write_bytes(exported.weights)
    (tmp_path / "cases.json").write_text(json.dumps(codes.reshape(len(codes), -1).tolist()))
    (tmp_path / "run.js").write_text(RUNNER)
    out = subprocess.run(
        [NODE, str(tmp_path / "run.js"), str(MATH_JS), *(str(tmp_path / f) for f in
         ("spec.json", "w.bin", "cases.json"))],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return torch.tensor(json.loads(out.stdout)).reshape(len(codes), 28, 28)


def _codes(k: int, n: int = 4) -> torch.Tensor:
    return torch.randint(0, k, (n, 7, 7), generator=torch.Generator().manual_seed(0))


@pytest.mark.skipif(not SHIPPED.is_file(), reason="no shipped VQ-VAE")
def test_the_shipped_vq_decoder_runs_in_js_like_pytorch(tmp_path: Path) -> None:
    model = load_vq_checkpoint(SHIPPED).model
    codes = _codes(64)
    with torch.no_grad():
        want = model.decode_codes(codes)[:, 0]
    got = _js_decode(model, codes, tmp_path)
    assert (got - want).abs().max().item() < 1e-4
    assert want.std().item() > 0.1  # real images, not a constant the two could agree on


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian", "categorical"])
def test_each_head_of_a_vq_decoder_runs_in_js_like_pytorch(likelihood: str, tmp_path: Path) -> None:
    config = VQConfig(codebook_size=16, code_dim=3, conv_channels=(4, 6), likelihood=likelihood)
    model = VQVAE(config, torch.Generator().manual_seed(1)).eval()
    with torch.no_grad():
        model.quantizer.codebook.normal_(generator=torch.Generator().manual_seed(2))
        want = model.decode_codes(_codes(16))[:, 0]
    got = _js_decode(model, _codes(16), tmp_path)
    assert (got - want).abs().max().item() < 1e-4
