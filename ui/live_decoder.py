"""The live in-browser decoder: a Streamlit components-v2 element with one slider per latent dim.

st.slider reruns the script only on release, so the image cannot follow a drag. This component
runs the decoder in the page instead (ui/live_decoder_math.js, checked against PyTorch by
tests/test_js_decoder.py). The weights travel once per decoder: they are written to
``static/generated/<content hash>.bin``, served by Streamlit's static file serving, fetched by
the JS once and cached in the page, so a rerun only resends the small JSON spec and the code.
Publishing a decoder also registers its model with the app's decode route (ui/decode_route.py),
which the component asks for the exact PyTorch image of z on every release.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit import config as st_config

from ui.cache_keys import checkpoint_key
from ui.decode_route import PATH as DECODE_PATH
from ui.decode_route import register_decoder
from ui.latent_dims import LatentDims
from ui.paths import ROOT
from vae_core.io.atomic import atomic_write
from vae_core.io.checkpoint_file import Checkpoint
from vae_core.io.decoder_export import ExportError, export_decoder

COMPONENT_NAME = "vae_lab_live_decoder"
GENERATED_DIR = ROOT / "static" / "generated"
_HERE = Path(__file__).resolve().parent
_JS = "\n".join(
    (_HERE / name).read_text()
    for name in ("live_decoder_math.js", "decoder_loader.js", "live_decoder.js")
)
_CSS = (_HERE / "live_decoder.css").read_text()
_HTML = '<div class="vll-root" data-testid="live-decoder"></div>'

__all__ = [
    "ExportError",
    "LiveState",
    "Published",
    "live_decoder",
    "publish_decoder",
    "reported_state",
]


@dataclass(frozen=True)
class Published:
    digest: str
    url: str  # where the browser fetches the float32 weights
    spec: dict[str, Any]
    nbytes: int


@dataclass(frozen=True)
class LiveState:
    """What the browser reported on the last release (None until it reports for this start)."""

    z: list[float] | None


def app_url(path: str) -> str:
    """``path`` on this server, honouring server.baseUrlPath."""
    base = str(st_config.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}{path}" if base else path


def static_url(filename: str) -> str:
    """URL of a file in static/generated/ (Streamlit's static file serving)."""
    return app_url(f"/app/static/generated/{filename}")


@st.cache_resource(max_entries=16, show_spinner=False)
def _export(key: str, _ckpt: Checkpoint) -> tuple[str, str, dict[str, Any], bytes]:
    exported = export_decoder(_ckpt.model)
    return exported.digest, exported.filename, exported.spec, exported.weights


def publish_decoder(ckpt: Checkpoint) -> Published:
    """Export the decoder (cached per checkpoint file) and make sure its weights are served.

    Raises ExportError when the decoder has a layer the browser cannot run.
    """
    digest, filename, spec, weights = _export(checkpoint_key(ckpt), ckpt)
    target = GENERATED_DIR / filename
    if not target.exists() or target.stat().st_size != len(weights):
        atomic_write(target, weights)  # content-addressed: concurrent writers write equal bytes
    register_decoder(digest, ckpt.model)  # the release's server decode (ui/decode_route.py)
    return Published(digest, static_url(filename), spec, len(weights))


def _dims_payload(dims: LatentDims) -> list[dict[str, Any]]:
    out = []
    for j in dims.order:
        lo, hi = dims.bounds(j)
        score = dims.score[j]
        label = f"KL {score:.2f}" if dims.score_name == "KL" else f"Var {score:.2f}"
        out.append(
            {
                "index": j,
                "score": label,
                "collapsed": dims.collapsed[j],
                "tip": "below 0.01: the decoder ignores this dim" if dims.collapsed[j] else "",
                "lo": round(lo, 4),
                "hi": round(hi, 4),
            }
        )
    return out


def live_decoder(
    published: Published,
    dims: LatentDims,
    *,
    z_start: list[float],
    z_now: list[float],
    token: str,
    label: int | None,
    link_model: str | None = None,
    key: str = "live_decoder",
) -> LiveState:
    """Mount the sliders + live image; ``token`` names the start point (a new one resets z).

    ``link_model``: the checkpoint's file stem, for the component's "Copy link" (a link to this
    page, model and current z, in the form ``ui.links`` reads); None offers no link.
    """
    renderer = st.components.v2.component(COMPONENT_NAME, html=_HTML, css=_CSS, js=_JS)
    order = dims.order
    data = {
        "hash": published.digest,
        "url": published.url,
        "spec": published.spec,
        "nbytes": published.nbytes,
        "token": token,
        "z0": [round(v, 4) for v in z_start],
        "z": [round(v, 4) for v in z_now],
        "y": label,
        "dims": _dims_payload(dims),
        "pad": order[:2] if len(order) >= 2 else order,
        "decodeUrl": app_url(DECODE_PATH),
        "linkModel": link_model,
    }
    result = renderer(data=data, key=key, on_z_change=lambda: None, height="content")
    return _parse_report(result.get("z"), token, len(z_start))


def reported_state(token: str, dim: int, key: str = "live_decoder") -> LiveState:
    """The browser's last report (its z), readable before the component is mounted."""
    value = st.session_state.get(key)
    return _parse_report(value.get("z") if isinstance(value, Mapping) else None, token, dim)


def _parse_report(reported: Any, token: str, dim: int) -> LiveState:
    """Accept the browser's z only for the current start point and with the right length."""
    if not isinstance(reported, dict) or reported.get("token") != token:
        return LiveState(None)
    z = reported.get("z")
    if not (isinstance(z, list) and len(z) == dim and all(isinstance(v, int | float) for v in z)):
        return LiveState(None)
    return LiveState([float(v) for v in z])
