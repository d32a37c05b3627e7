"""AppTest tests of the Latent sliders page on a synthetic test split and tiny models.

AppTest has no browser, so the component's JS never runs; the tests read the data the page
hands to the component (slider order, collapsed marks, start point, weights URL) and play the
browser's part by putting a reported z into the component's session state.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

import ui.decode_route as decode_route
import ui.live_decoder as live
from tests.conftest import make_model, synthetic_app_env
from ui.latent_dims import traversal_image
from ui.live_decoder import _parse_report
from ui.slider_results import TRAVERSAL_CAPTION
from vae_core.io.checkpoint_file import load_checkpoint, save_checkpoint
from vae_core.io.decoder_export import ExportError

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "3_Latent_sliders.py")
N_TEST = 60


@pytest.fixture
def lab(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A small MNIST-format test split, an empty runs dir, a temp weights dir, fresh caches."""
    runs = synthetic_app_env(monkeypatch, tmp_path, N_TEST)
    monkeypatch.setattr(live, "GENERATED_DIR", tmp_path / "generated")
    st.cache_data.clear()
    st.cache_resource.clear()
    yield runs
    st.cache_data.clear()
    st.cache_resource.clear()


def app_with(runs: Path, name: str, meta: dict | None = None, **cfg) -> tuple[AppTest, Path]:
    path = runs / f"{name}.safetensors"
    save_checkpoint(make_model(**cfg), path, {"dataset": "mnist", "name": name, **(meta or {})})
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["vae_lab_model_path"] = str(path)
    return at.run(), path


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def component_data(at: AppTest) -> dict:
    (element,) = at.get("bidi_component")
    return json.loads(element.proto.json)


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def traversal_caption(at: AppTest) -> str:
    (element,) = at.get("image")  # the server's decode is the component's (decode route)
    return element.proto.imgs[0].caption


def traversal_url(at: AppTest) -> str:
    (element,) = at.get("image")
    return element.proto.imgs[0].url


def test_sliders_follow_kl_order_and_weights_are_published(lab: Path) -> None:
    meta = {"test_metrics": {"kl_per_dim": [0.5, 0.001, 2.0]}}
    at, _ = app_with(lab, "vae", meta, latent_dim=3)
    assert_clean(at)
    data = component_data(at)
    assert [d["index"] for d in data["dims"]] == [2, 0, 1]
    assert [d["collapsed"] for d in data["dims"]] == [False, False, True]
    assert all((d["lo"], d["hi"]) == (-3.5, 3.5) for d in data["dims"])
    assert data["z0"] == data["z"] == [0.0, 0.0, 0.0] and data["y"] is None
    assert data["pad"] == [2, 0]
    weights = live.GENERATED_DIR / Path(data["url"]).name
    assert data["url"].startswith("/app/static/generated/")
    assert weights.stat().st_size == data["nbytes"] == 4 * data["spec"]["n_floats"]
    assert "test-set KL per dim" in captions(at)
    assert traversal_caption(at) == TRAVERSAL_CAPTION
    # The release's server decode comes from the decode route, for this very decoder.
    assert data["decodeUrl"] == decode_route.PATH
    assert decode_route.registered(data["hash"]) is not None
    assert not at.code  # the z readout is the component's (live while dragging), not a rerun's


def test_browser_report_keeps_z_and_redraws_the_traversals(lab: Path) -> None:
    at, path = app_with(lab, "vae", latent_dim=3)
    token = component_data(at)["token"]
    z = [1.25, -0.5, 2.0]
    first_traversals = traversal_url(at)
    at.session_state["live_decoder"] = {"z": {"token": token, "z": z, "y": None}}
    at.run()
    assert_clean(at)
    data = component_data(at)
    assert data["z"] == z
    assert traversal_caption(at) == TRAVERSAL_CAPTION and traversal_url(at) != first_traversals
    kept = traversal_url(at)
    at.run()  # e.g. back from another page: the sliders are rebuilt where the user left them
    assert component_data(at)["z"] == z
    assert traversal_url(at) == kept  # same z: the same picture, not computed again

    # A report made for another start point (stale token) is ignored.
    at.session_state["live_decoder"] = {"z": {"token": "old|mean", "z": [3.0, 3.0, 3.0]}}
    at.radio(key="sl_start").set_value("Random prior sample").run()
    assert_clean(at)
    data = component_data(at)
    assert data["token"].endswith("|random:0") and data["z"] == data["z0"] != [0.0, 0.0, 0.0]


def test_encoded_start_and_cvae_class(lab: Path) -> None:
    at, path = app_with(lab, "cvae", kind="cvae", latent_dim=2)
    assert_clean(at)
    assert at.selectbox(key="sl_class").value == 0
    class_0 = traversal_url(at)
    at.selectbox(key="sl_class").set_value(7).run()  # same z, new class: traversals redrawn now
    assert_clean(at)
    assert traversal_caption(at) == TRAVERSAL_CAPTION and traversal_url(at) != class_0
    at.radio(key="sl_start").set_value("Encoded MNIST test image").run()
    assert_clean(at)
    at.selectbox(key="sl_filter").set_value(4).run()  # "any class" comes first: 4 is class 3
    at.number_input(key="sl_pick").set_value(2).run()
    assert_clean(at)
    data = component_data(at)
    assert data["y"] == 7 and data["token"].endswith("|test:23")  # 3rd image of class 3
    x = torch.tensor(at.session_state["sl_last"][1], dtype=torch.float32)
    model = load_checkpoint(path).model
    (_, images, labels) = _split()
    with torch.no_grad():  # encoded with the image's own label, decoded with the chosen class
        mu, _ = model.encode(images[23:24], int(labels[23]))
    assert torch.allclose(x, mu[0], atol=1e-4)


def _split() -> tuple[None, torch.Tensor, torch.Tensor]:
    from ui.data import split_tensors

    x, y = split_tensors("mnist", "test", "files")
    return None, x, y


def test_kl_is_measured_when_the_checkpoint_has_none(lab: Path) -> None:
    at, _ = app_with(lab, "vae", latent_dim=2)
    assert_clean(at)
    assert f"KL per dim measured on {N_TEST} MNIST test images" in captions(at)


def test_ae_sliders_span_the_encoded_codes(lab: Path) -> None:
    at, _ = app_with(lab, "ae", kind="ae", latent_dim=2)
    assert_clean(at)
    assert "an AE has no KL" in captions(at)
    data = component_data(at)
    assert any((d["lo"], d["hi"]) != (-3.5, 3.5) for d in data["dims"])
    assert data["z0"] != [0.0, 0.0]  # starts at the mean code, not at a prior it does not have


def test_unsupported_decoder_is_a_clear_error(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(model):
        raise ExportError("the in-browser decoder cannot run a Tanh layer")

    monkeypatch.setattr(live, "export_decoder", refuse)
    at, _ = app_with(lab, "vae", latent_dim=2)
    assert not at.exception
    assert "cannot run in the browser" in at.error[0].value and "Tanh" in at.error[0].value
    assert not at.get("bidi_component")


@pytest.mark.parametrize(
    "report",
    [
        None,
        {"token": "other", "z": [0.0, 0.0]},
        {"token": "t", "z": [0.0]},
        {"token": "t", "z": ["a", 0.0]},
    ],
)
def test_reports_for_another_start_or_shape_are_ignored(report) -> None:
    assert _parse_report(report, "t", 2) == live.LiveState(None)


def test_report_keeps_z_and_ignores_extra_fields() -> None:
    state = _parse_report({"token": "t", "z": [1, 2.5], "pixels": [0.1]}, "t", 2)
    assert state == live.LiveState([1.0, 2.5])


def _traversal_image_reference(strips: torch.Tensor, labels: list[str]) -> np.ndarray:
    """The straightforward PIL drawing the fast numpy composition must reproduce exactly."""
    from PIL import Image, ImageDraw, ImageFont

    from vae_core.io.pictures import image_grid, upscale

    rows = [upscale(image_grid(strip, nrow=len(strip), pad=2), 3) for strip in strips]
    height = sum(r.shape[0] for r in rows) + 6 * (len(rows) - 1)
    canvas = Image.new("L", (150 + rows[0].shape[1], height), 255)
    draw, font, top = ImageDraw.Draw(canvas), ImageFont.load_default(size=15), 0
    for row, text in zip(rows, labels, strict=True):
        canvas.paste(Image.fromarray(row), (150, top))
        draw.multiline_text((4, top + 4), text, fill=40, font=font, spacing=3)
        top += row.shape[0] + 6
    return np.asarray(canvas)


def test_traversal_image_matches_the_reference_drawing() -> None:
    strips = torch.rand(4, 9, 28, 28, generator=torch.Generator().manual_seed(0))
    labels = [
        f"z{j}\nKL {j / 3:.2f}{' · collapsed' if j == 3 else ''}\n-3.5 … +3.5" for j in range(4)
    ]
    expected = _traversal_image_reference(strips, labels)
    assert np.array_equal(traversal_image(strips, labels), expected)
    assert np.array_equal(traversal_image(strips, labels), expected)  # cached label column
