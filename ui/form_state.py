"""Widget values that survive a visit to another page (the Train form's settings).

Streamlit deletes a widget's state at the end of any run that does not draw the widget, e.g.
when the user opens another page while a training runs; the form would come back with its
defaults. The remedy Streamlit documents is to copy each value into a plain session-state key
(not a widget key, so it is never deleted) whenever it changes, and to seed the widget from
that copy before the widget is drawn again. The same holds for a widget that the form itself
hides for a while (the β field while the model is not a β-VAE).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

_COPY = "_kept_"  # prefix of the plain keys that hold the copies


def _copy(key: str) -> None:
    st.session_state[_COPY + key] = st.session_state[key]


def kept(key: str, default: Any) -> dict[str, Any]:
    """Keyword arguments (``key``, ``on_change``) for a widget whose value survives page visits.

    Pass no ``value``/``index`` to the widget: its value comes from session state, seeded here
    with the last value the user chose (or ``default`` on a first visit).
    """
    if key not in st.session_state:  # first visit, or the widget was not drawn for a while
        st.session_state[key] = st.session_state.get(_COPY + key, default)
    return {"key": key, "on_change": _copy, "args": (key,)}
