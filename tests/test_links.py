"""Links that keep state (ui/links.py): ?model=<stem> on any page, ?z=&y= on the Latent sliders.

AppTest passes ``at.query_params`` as the address bar's query and reads back what the script
wrote there, so a second ``run`` is the browser rerunning with the URL the page left.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import ui.live_decoder as live
from tests.conftest import assert_clean, make_model, synthetic_app_env
from ui.model_list import list_models
from ui.picker import MODEL_KEY, PICKER_KEY
from vae_core.io.checkpoint_file import save_checkpoint

PAGES = Path(__file__).resolve().parents[1] / "pages"
SLIDERS = str(PAGES / "3_Latent_sliders.py")
GENERATE = str(PAGES / "4_Generate.py")
LINK_MODE = "The link's code"


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A small synthetic test split, two tiny trained models ("alpha" 2-D, "beta" 3-D)."""
    runs = synthetic_app_env(monkeypatch, tmp_path, 40)
    monkeypatch.setattr(live, "GENERATED_DIR", tmp_path / "generated")
    for name, dim in (("alpha", 2), ("beta", 3)):
        meta = {"dataset": "mnist", "name": name}
        save_checkpoint(make_model(latent_dim=dim), runs / f"{name}.safetensors", meta)
    save_checkpoint(
        make_model(kind="cvae", latent_dim=2),
        runs / "gamma.safetensors",
        {"dataset": "mnist", "name": "gamma"},
    )
    yield runs
    st.cache_data.clear()
    st.cache_resource.clear()


def opened(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(page, default_timeout=180)
    at.query_params.update(query)
    return at.run()


def warnings(at: AppTest) -> str:
    return "\n".join(w.value for w in at.warning) + "\n".join(w.value for w in at.sidebar.warning)


def component_data(at: AppTest) -> dict:
    (element,) = at.get("bidi_component")
    return json.loads(element.proto.json)


@pytest.mark.parametrize("page", [SLIDERS, GENERATE])
def test_model_link_selects_that_model(runs: Path, page: str) -> None:
    at = opened(page, model="beta")
    assert_clean(at)
    assert at.session_state[MODEL_KEY] == str(runs / "beta.safetensors")
    assert at.selectbox(key=PICKER_KEY).value == str(runs / "beta.safetensors")
    assert not warnings(at)
    assert at.query_params["model"] == "beta"


def test_unknown_model_gets_a_message_and_the_default(runs: Path) -> None:
    at = opened(GENERATE, model="no-such-model")
    assert_clean(at)
    default = list_models()[0].path
    assert at.session_state[MODEL_KEY] == default
    assert "no-such-model" in warnings(at) and "does not have" in warnings(at)
    assert at.query_params["model"] == Path(default).stem  # the address bar: a real link now
    at.run()  # the next rerun (any click) still explains why the link's model is not shown
    assert "no-such-model" in warnings(at)


def test_the_address_follows_a_pick_and_a_stale_link_never_undoes_it(runs: Path) -> None:
    at = opened(GENERATE, model="alpha")
    assert at.query_params["model"] == "alpha"
    at.selectbox(key=PICKER_KEY).set_value(str(runs / "beta.safetensors")).run()
    assert_clean(at)
    assert at.query_params["model"] == "beta"
    at.run()
    assert at.session_state[MODEL_KEY] == str(runs / "beta.safetensors")
    at.query_params["model"] = "alpha"  # the user edits the address: a new link is applied
    at.run()
    assert at.session_state[MODEL_KEY] == str(runs / "alpha.safetensors")


def test_sliders_open_at_the_links_code(runs: Path) -> None:
    at = opened(SLIDERS, model="alpha", z="1.5,-0.5")
    assert_clean(at)
    assert at.radio(key="sl_start").value == LINK_MODE
    data = component_data(at)
    assert data["z0"] == [1.5, -0.5] and data["z"] == [1.5, -0.5]
    assert data["linkModel"] == "alpha"
    assert at.query_params["z"] == "1.5,-0.5"
    # The user moves a slider: the address no longer claims the link's code.
    at.session_state["live_decoder"] = {"z": {"token": data["token"], "z": [0.25, -0.5]}}
    at.run()
    assert component_data(at)["z"] == [0.25, -0.5]
    assert "z" not in at.query_params and at.query_params["model"] == "alpha"
    at.radio(key="sl_start").set_value("Prior mean").run()  # the link's code stays on offer
    assert LINK_MODE in at.radio(key="sl_start").options


@pytest.mark.parametrize(
    ("z", "reason"),
    [("1,2,3", "2 values, got 3"), ("nan,0", "finite"), ("1,x", "numbers"), ("1e9,0", "within")],
)
def test_a_bad_code_gets_a_message_and_the_default_start(runs: Path, z: str, reason: str) -> None:
    at = opened(SLIDERS, model="alpha", z=z)
    assert_clean(at)
    assert reason in warnings(at) and "not used" in warnings(at)
    assert at.radio(key="sl_start").value == "Prior mean"
    assert LINK_MODE not in at.radio(key="sl_start").options
    data = component_data(at)
    assert data["token"].endswith("|mean") and data["z"] == data["z0"]
    assert "z" not in at.query_params


def test_cvae_link_sets_the_class(runs: Path) -> None:
    at = opened(SLIDERS, model="gamma", z="0.5,1", y="7")
    assert_clean(at)
    assert at.selectbox(key="sl_class").value == 7
    data = component_data(at)
    assert data["y"] == 7 and data["z0"] == [0.5, 1.0]
    assert at.query_params["y"] == "7"
    bad = opened(SLIDERS, model="gamma", z="0.5,1", y="12")
    assert "class index in 0..9" in warnings(bad)
    assert bad.selectbox(key="sl_class").value == 0


def test_a_link_for_one_model_is_not_applied_to_another(runs: Path) -> None:
    at = opened(SLIDERS, model="alpha", z="1.5,-0.5")
    at.selectbox(key=PICKER_KEY).set_value(str(runs / "beta.safetensors")).run()
    assert_clean(at)
    assert at.radio(key="sl_start").value == "Prior mean"  # 3-D model: the 2-D code is not its
    assert len(component_data(at)["z"]) == 3


LATENT_MAP = str(PAGES / "2_Latent_map.py")


def test_generate_link_sets_the_class_by_index_or_name(runs: Path) -> None:
    at = opened(GENERATE, model="gamma", **{"class": "3"})
    assert_clean(at)
    assert at.selectbox(key="gen_class").value == 3
    assert at.query_params["class"] == "3"
    at.selectbox(key="gen_class").set_value(5).run()
    assert at.query_params["class"] == "5"  # the address follows the pick
    bad = opened(GENERATE, model="gamma", **{"class": "twelve"})
    assert "'twelve' is not one of" in warnings(bad)
    assert bad.selectbox(key="gen_class").value == 7  # the page's default


def test_latent_map_link_sets_the_method(runs: Path) -> None:
    at = opened(LATENT_MAP, model="beta", method="tsne")
    assert_clean(at)
    (method,) = [r for r in at.radio if r.key and r.key.startswith("lm_method_")]
    assert method.value == "tsne"
    assert at.query_params["method"] == "tsne"
    bad = opened(LATENT_MAP, model="beta", method="isomap")
    (method,) = [r for r in bad.radio if r.key and r.key.startswith("lm_method_")]
    assert method.value == "pca" and "'isomap' is not one of pca, umap, tsne" in warnings(bad)
