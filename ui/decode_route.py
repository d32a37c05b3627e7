"""The exact PyTorch decode of one z over plain HTTP, for the Latent sliders' release.

Why not a Streamlit rerun: a rerun is a round of protobuf messages that the browser answers
with three or four whole-page React passes (10-35 ms each on a 2-core machine, traced by
``bench/ui_latency.py``), so the release-to-server-image time was mostly the browser redrawing
Streamlit, not PyTorch (a 16-D decode takes 1-2 ms). The component fetches
``GET /vae-lab/decode?d=<decoder digest>&z=<comma-separated floats>[&y=<class>]`` the moment the
slider is released and draws the answer itself; the page's rerun (z kept, traversals) follows
on its own. ``app.py`` serves this route with ``st.App``.

Only decoders a page has published (``register_decoder``, keyed by the content digest of their
exported weights) can be asked for; inputs are checked before any tensor is made. The answer
is the 784 pixel means as little-endian float32, so the browser can report its own agreement
with PyTorch to the float.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

PATH = "/vae-lab/decode"
MAX_DECODERS = 16  # as many as the export cache holds (ui/live_decoder.py)
MAX_ABS_Z = 1e3

_lock = threading.Lock()
_models: OrderedDict[str, Any] = OrderedDict()  # digest -> LatentVariableModel (shared, eval)


def register_decoder(digest: str, model: Any) -> None:
    """Make ``model``'s decoder available under ``digest`` (most recent kept, bounded)."""
    with _lock:
        _models[digest] = model
        _models.move_to_end(digest)
        while len(_models) > MAX_DECODERS:
            _models.popitem(last=False)


def registered(digest: str) -> Any | None:
    with _lock:
        return _models.get(digest)


class BadRequest(ValueError):
    """A request this route refuses, with the reason it answers."""


def parse_request(params: dict[str, str], model: Any) -> tuple[list[float], int | None]:
    """``z`` and ``y`` from the query, checked against the model (BadRequest otherwise)."""
    cfg = model.config
    try:
        z = [float(v) for v in params.get("z", "").split(",")]
    except ValueError:
        raise BadRequest("z must be comma-separated numbers") from None
    if len(z) != cfg.latent_dim:
        raise BadRequest(f"z must have {cfg.latent_dim} values, got {len(z)}")
    if not all(math.isfinite(v) and abs(v) <= MAX_ABS_Z for v in z):
        raise BadRequest(f"z values must be finite and within ±{MAX_ABS_Z:g}")
    y_text = params.get("y", "")
    if not cfg.conditional:
        if y_text:
            raise BadRequest("this model takes no class label")
        return z, None
    if not y_text.isdigit() or not 0 <= int(y_text) < cfg.n_classes:
        raise BadRequest(f"y must be a class index in 0..{cfg.n_classes - 1}")
    return z, int(y_text)


def decode_bytes(model: Any, z: list[float], label: int | None) -> bytes:
    """E[x|z] as 784 little-endian float32 (one intra-op thread: see ui.slider_results)."""
    from ui.latent_dims import decode_one, one_thread  # here, not at import: keeps app.py light

    with one_thread():
        image = decode_one(model, z, label)
    return image.numpy().astype("<f4", copy=False).tobytes()


async def decode(request: Request) -> Response:
    model = registered(request.query_params.get("d", ""))
    if model is None:
        return PlainTextResponse("unknown decoder: open the Latent sliders page again", 404)
    try:
        z, label = parse_request(dict(request.query_params), model)
    except BadRequest as exc:
        return PlainTextResponse(str(exc), 400)
    body = await run_in_threadpool(decode_bytes, model, z, label)
    # identity: 3 kB of float32 does not compress, and skipping Streamlit's gzip middleware
    # avoids its extra buffering on the path the release waits for.
    headers = {"Cache-Control": "no-store", "Content-Encoding": "identity"}
    return Response(body, media_type="application/octet-stream", headers=headers)


ROUTES = [Route(PATH, decode, methods=["GET"])]
