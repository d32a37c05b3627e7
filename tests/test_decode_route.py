"""The sliders' decode route (ui/decode_route.py) and the st.App that serves it (app.py): the
ASGI app called in-process, no server, no browser."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
import pytest
import torch
from starlette.applications import Starlette

import ui.decode_route as route
from tests.conftest import make_model

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Reply:
    status_code: int
    headers: dict[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode()


class Client:
    """Calls the ASGI app in-process (one HTTP request, no server, no extra dependency)."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def request(self, method: str, path: str, params: dict[str, str]) -> Reply:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": urlencode(params).encode(), "headers": [],
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "root_path": "",
        }  # fmt: skip
        sent: list[dict] = []

        async def receive() -> dict:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            sent.append(message)

        # A thread of its own: the browser tests' Playwright keeps a loop running in this one.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, self.app(scope, receive, send)).result()
        start = next(m for m in sent if m["type"] == "http.response.start")
        headers = {k.decode(): v.decode() for k, v in start["headers"]}
        body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
        return Reply(start["status"], headers, body)

    def get(self, path: str, params: dict[str, str]) -> Reply:
        return self.request("GET", path, params)

    def post(self, path: str, params: dict[str, str]) -> Reply:
        return self.request("POST", path, params)


@pytest.fixture
def client() -> Client:
    with route._lock:
        route._models.clear()
    return Client(Starlette(routes=route.ROUTES))


def get(client: Client, **params) -> Reply:
    return client.get(route.PATH, params)


def test_decode_is_the_exact_pytorch_decode(client: Client) -> None:
    model = make_model(latent_dim=3)
    route.register_decoder("abc", model)
    r = get(client, d="abc", z="1.25,-0.5,2")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    assert r.headers["cache-control"] == "no-store"
    pixels = np.frombuffer(r.content, dtype="<f4")
    with torch.no_grad():
        expected = model.decode(torch.tensor([[1.25, -0.5, 2.0]]))[0, 0].numpy().ravel()
    assert pixels.shape == (784,) and np.array_equal(pixels, expected.astype(np.float32))


def test_cvae_takes_the_class(client: Client) -> None:
    model = make_model(kind="cvae", latent_dim=2)
    route.register_decoder("c", model)
    a, b = get(client, d="c", z="0,0", y="1"), get(client, d="c", z="0,0", y="7")
    assert a.status_code == b.status_code == 200 and a.content != b.content
    with torch.no_grad():
        expected = model.decode(torch.zeros(1, 2), 7)[0, 0].numpy().ravel()
    assert np.array_equal(np.frombuffer(b.content, dtype="<f4"), expected)


@pytest.mark.parametrize(
    ("params", "status", "reason"),
    [
        ({"d": "nope", "z": "0,0,0"}, 404, "unknown decoder"),
        ({"z": "0,0,0"}, 404, "unknown decoder"),
        ({"d": "abc", "z": "0,0"}, 400, "3 values"),
        ({"d": "abc", "z": "0,0,0,0"}, 400, "3 values"),
        ({"d": "abc", "z": "0,x,0"}, 400, "numbers"),
        ({"d": "abc", "z": ""}, 400, "numbers"),
        ({"d": "abc", "z": "0,nan,0"}, 400, "finite"),
        ({"d": "abc", "z": "0,inf,0"}, 400, "finite"),
        ({"d": "abc", "z": "0,1e9,0"}, 400, "finite"),
        ({"d": "abc", "z": "0,0,0", "y": "3"}, 400, "no class label"),
    ],
)
def test_bad_requests_get_a_reason_and_no_decode(client, params, status, reason) -> None:
    route.register_decoder("abc", make_model(latent_dim=3))
    r = get(client, **params)
    assert r.status_code == status and reason in r.text


@pytest.mark.parametrize("y", ["", "-1", "10", "1.5", "seven"])
def test_cvae_refuses_a_bad_class(client: Client, y: str) -> None:
    route.register_decoder("c", make_model(kind="cvae", latent_dim=2))
    r = get(client, d="c", z="0,0", y=y)
    assert r.status_code == 400 and "class index in 0..9" in r.text


def test_only_get_is_served(client: Client) -> None:
    route.register_decoder("abc", make_model(latent_dim=3))
    assert client.post(route.PATH, {"d": "abc", "z": "0,0,0"}).status_code == 405


def test_registry_keeps_the_most_recent_decoders(client: Client) -> None:
    for i in range(route.MAX_DECODERS + 3):
        route.register_decoder(f"m{i}", object())
    route.register_decoder("m3", object())  # used again: now the most recent
    assert route.registered("m0") is None and route.registered("m2") is None
    assert route.registered("m3") is not None and route.registered(f"m{route.MAX_DECODERS + 2}")
    assert len(route._models) == route.MAX_DECODERS


def test_streamlit_run_finds_the_app_with_the_route() -> None:
    """`streamlit run app.py` serves app.py's st.App (found the way Streamlit finds it)."""
    from streamlit.web.server.app_discovery import discover_asgi_app

    found = discover_asgi_app(ROOT / "app.py")
    assert found.is_asgi_app and found.app_name == "app"
    assert "from ui.decode_route import ROUTES" in (ROOT / "app.py").read_text()
    assert route.PATH in [r.path for r in route.ROUTES]
