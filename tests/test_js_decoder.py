"""The in-browser decoder (ui/live_decoder_math.js) agrees with PyTorch within 1e-4 per pixel.

Runs the JS under node (it is a plain script with a CommonJS export for exactly this), else in
headless Chromium through Playwright (``VAE_LAB_JS_BACKEND=chromium`` forces that). Covers MLP
and conv decoders with every likelihood head, a CVAE and a learned-variance Gaussian, on
random-init models, since the math does not depend on training.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from tests.test_export import spread_decoder
from vae_core.config import ModelConfig
from vae_core.io.decoder_export import export_decoder
from vae_core.models.model import LatentVariableModel

ROOT = Path(__file__).resolve().parents[1]
MATH_JS = ROOT / "ui" / "live_decoder_math.js"
NODE = shutil.which("node")
CHROMIUM = os.environ.get("VAE_LAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu"]


def _backend() -> str | None:
    forced = os.environ.get("VAE_LAB_JS_BACKEND")
    if forced:
        return forced
    if NODE:
        return "node"
    if Path(CHROMIUM).exists() and importlib.util.find_spec("playwright"):
        return "chromium"
    return None


BACKEND = _backend()

RUNNER = """
const fs = require("fs");
const [mathPath, specPath, binPath, casesPath] = process.argv.slice(2);
const M = require(mathPath);
const spec = JSON.parse(fs.readFileSync(specPath, "utf8"));
const buf = fs.readFileSync(binPath);
const w = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
const dec = M.compile(spec, w);
const cases = JSON.parse(fs.readFileSync(casesPath, "utf8"));
const out = cases.map((c) => Array.from(dec.decode(c.z, c.y)));
process.stdout.write(JSON.stringify(out));
"""

BROWSER_RUNNER = """([specJson, b64, cases]) => {
  const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  const dec = LiveDecoderMath.compile(JSON.parse(specJson), new Float32Array(bytes.buffer));
  return cases.map((c) => Array.from(dec.decode(c.z, c.y)));
}"""

pytestmark = pytest.mark.skipif(
    BACKEND is None, reason="neither node nor Chromium + Playwright is available to run the JS"
)


@pytest.fixture(scope="module")
def js_page():
    """A blank Chromium page with the decoder math loaded (only for the Chromium backend)."""
    if BACKEND != "chromium":
        yield None
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_content("<html><body></body></html>")
        page.add_script_tag(content=MATH_JS.read_text())
        yield page
        browser.close()


CASES = [
    ModelConfig(arch=arch, likelihood=lik, latent_dim=4, hidden=(64, 32), conv_channels=(8, 16))
    for arch in ("mlp", "conv")
    for lik in ("bernoulli", "gaussian", "categorical", "continuous-bernoulli")
] + [
    ModelConfig(kind="cvae", arch="mlp", latent_dim=2, hidden=(64, 32)),
    ModelConfig(kind="cvae", arch="conv", latent_dim=2, hidden=(64,), conv_channels=(8, 16)),
    ModelConfig(arch="conv", likelihood="gaussian", learn_variance=True, conv_channels=(8, 16)),
]


def run_js(
    tmp_path: Path, model: LatentVariableModel, cases: list[dict], js_page=None
) -> torch.Tensor:
    exported = export_decoder(model)
    if js_page is not None:
        b64 = base64.b64encode(exported.weights).decode()
        out = js_page.evaluate(BROWSER_RUNNER, [json.dumps(exported.spec), b64, cases])
        return torch.tensor(out, dtype=torch.float64).view(-1, 28, 28)
    (tmp_path / "spec.json").write_text(json.dumps(exported.spec))
    (tmp_path / "w.bin").write_bytes(exported.weights)
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    (tmp_path / "run.js").write_text(RUNNER)
    args = [str(tmp_path / n) for n in ("run.js", "spec.json", "w.bin", "cases.json")]
    proc = subprocess.run(
        [NODE, args[0], str(MATH_JS), *args[1:]], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return torch.tensor(json.loads(proc.stdout), dtype=torch.float64).view(-1, 28, 28)


@pytest.mark.parametrize("config", CASES, ids=lambda c: f"{c.kind}-{c.arch}-{c.likelihood}")
def test_js_matches_pytorch(tmp_path: Path, config: ModelConfig, js_page) -> None:
    torch.manual_seed(0)
    model = spread_decoder(LatentVariableModel(config))
    z = torch.randn(4, config.latent_dim) * 2
    z[0] = 0  # the prior mean, the page's default start
    ys = [3, 9, 0, 5] if config.conditional else [None] * 4
    with torch.no_grad():
        ref = model.decode(z, torch.tensor(ys) if config.conditional else None)[:, 0].double()
    cases = [{"z": z[i].tolist(), "y": ys[i]} for i in range(4)]
    got = run_js(tmp_path, model, cases, js_page)
    assert got.shape == ref.shape
    assert (got - ref).abs().max().item() < 1e-4
    assert ref.std() > 0.02  # far from a constant image, so the comparison has teeth


@pytest.mark.skipif(BACKEND != "node", reason="checks the node runner's error path")
def test_js_rejects_wrong_sized_weights(tmp_path: Path) -> None:
    model = LatentVariableModel(ModelConfig(hidden=(16, 8)))
    exported = export_decoder(model)
    (tmp_path / "spec.json").write_text(json.dumps(exported.spec))
    (tmp_path / "w.bin").write_bytes(exported.weights[:-4])
    (tmp_path / "cases.json").write_text("[]")
    (tmp_path / "run.js").write_text(RUNNER)
    args = [str(tmp_path / n) for n in ("run.js", "spec.json", "w.bin", "cases.json")]
    proc = subprocess.run([NODE, args[0], str(MATH_JS), *args[1:]], capture_output=True, text=True)
    assert proc.returncode != 0 and "the spec needs" in proc.stderr
