"""Every download button defers its file and does not rerun the page.

Bytes passed straight to ``st.download_button`` are registered with Streamlit's media file
manager on every run and dropped when the next run ends; when a slider is stepped a keypress
apart, the browser asks for a file the next run already deleted (a 404 in the console, "Download
Button source error"). A callable is run only when the user clicks, so there is nothing to fetch
on a rerun, and nothing is encoded (a GIF, a zip) that nobody downloads. ``on_click="ignore"``
keeps a click from rerunning a page whose charts take seconds.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [
    ROOT / "app.py",
    *sorted((ROOT / "pages").glob("*.py")),
    *sorted((ROOT / "ui").glob("*.py")),
]


def _buttons() -> list[tuple[str, ast.Call]]:
    found = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "download_button"
            ):
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return found


BUTTONS = _buttons()


def test_the_scan_finds_the_download_buttons() -> None:
    assert len(BUTTONS) >= 8


@pytest.mark.parametrize(("where", "call"), BUTTONS, ids=[w for w, _ in BUTTONS])
def test_download_button_data_is_deferred_and_the_click_is_ignored(where, call) -> None:
    keywords = {k.arg: k.value for k in call.keywords}
    data = keywords.get("data", call.args[1] if len(call.args) > 1 else None)
    assert isinstance(data, ast.Lambda), f"{where}: pass a lambda, not {ast.unparse(data)}"
    on_click = keywords.get("on_click")
    assert isinstance(on_click, ast.Constant) and on_click.value == "ignore", where
