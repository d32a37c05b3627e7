"""Offline, the app tells its users how to get the data in the app's terms; the CLI keeps its
flag. One message source (``vae_core.data.datasets.how_to_get``) with the two wordings."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from vae_core.cli import main
from vae_core.data import datasets
from vae_core.data.download import DownloadError


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No data folder, an empty private cache, and no network."""

    def no_network(*args, **kwargs):
        raise DownloadError("network disabled in tests")

    monkeypatch.setattr(datasets, "fetch_dataset_files", no_network)
    monkeypatch.delenv("VAE_LAB_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


def _app_words(text: str) -> None:
    assert "--data-dir" not in text and "downloading is off" not in text, text
    assert "VAE_LAB_DATA" in text and "mnist/ and fashion-mnist/" in text, text
    assert "connect to the internet" in text, text


def _page() -> None:
    from ui.data import split_or_error

    split_or_error("mnist")  # the offline sample, with its banner
    split_or_error("fashion-mnist")  # no offline sample: an error


@pytest.mark.usefixtures("offline")
def test_the_app_says_how_to_get_the_data_without_cli_flags() -> None:
    at = AppTest.from_function(_page, default_timeout=120).run()
    assert not at.exception, [e.message for e in at.exception]
    (banner,) = [w.value for w in at.warning]
    assert banner.startswith("Offline sample") and "not the real test set" in banner
    _app_words(banner)
    (error,) = [e.value for e in at.error]
    assert error.startswith("Fashion-MNIST test set is not available")
    _app_words(error)


@pytest.mark.usefixtures("offline")
def test_the_cli_keeps_its_flag_wording(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(datasets.DatasetUnavailable) as info:
        datasets.load_split("fashion-mnist", "test")
    assert "--data-dir DIR" in str(info.value) and "--data-dir" not in info.value.for_app
    assert main(["ppca", "--dataset", "fashion-mnist", "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "--data-dir DIR" in err
