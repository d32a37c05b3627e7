"""Links that keep state: the page's main settings in the address bar (``st.query_params``).

A teacher copies the address and a student opens the same model (``?model=<file stem>``) and,
on the Latent sliders, the same code (``&z=1.5,-0.5[&y=3]``); the Latent map keeps its method
(``&method=umap``) and Generate its class (``&class=7``, or the class name). One rule for every
parameter:

- **Read** a parameter only when the URL brings a value this session has not seen yet (the
  first run of a session, or the user edited the address / opened another link). Otherwise the
  session's own choice wins, so a stale parameter never undoes a pick made on the page.
- **Write** back what the page shows (``write``), and remember it as seen, so the address bar is
  always a shareable link of the current state and the next run does not read it as new.

Streamlit clears the query string when the user switches pages; an absent parameter is never
"new", and the page simply writes its current value back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

_SEEN = "vae_lab_url_seen"  # {parameter: the last value read from or written to the URL}
_NOTES = "vae_lab_url_notes"  # {parameter: message about a link value that was not used}


def _seen() -> dict[str, str]:
    return st.session_state.setdefault(_SEEN, {})


def fresh(name: str) -> str | None:
    """The URL's value of ``name`` if this session has not seen it yet, else None.

    Marks it as seen, so one link is applied once: after that the session's choices rule.
    """
    value = st.query_params.get(name)
    if value is None or _seen().get(name) == value:
        return None
    _seen()[name] = value
    note(name, None)  # a new value replaces the message about the last one
    return value


def write(name: str, value: str | None) -> None:
    """Put ``value`` in the address bar (None removes the parameter); not read back as new."""
    if value is None:
        if name in st.query_params:
            del st.query_params[name]
        _seen().pop(name, None)
        return
    if st.query_params.get(name) != value:
        st.query_params[name] = value
    _seen()[name] = value


def note(name: str, message: str | None) -> None:
    """Remember (or clear, with None) why the link's ``name`` was not used; see ``show_notes``."""
    notes = st.session_state.setdefault(_NOTES, {})
    if message is None:
        notes.pop(name, None)
    else:
        notes[name] = message


def show_notes(*names: str, where=st) -> None:
    """Show the messages about the named parameters until the user picks something else.

    Kept across reruns (the address bar already holds the defaults after the first run, so a
    one-run message would vanish on the first click before a student has read it).
    """
    notes = st.session_state.get(_NOTES, {})
    for name in names:
        if name in notes:
            where.warning(notes[name], icon="🔗")


def linked_choice(name: str, options: Mapping[str, Any], key: str, what: str) -> None:
    """Apply a new ``?name=`` to the widget whose session-state ``key`` holds one of ``options``
    (URL text -> widget value), before the widget is drawn; an unknown value leaves a message
    (``show_notes(name)``) and the widget as it was. ``what`` names the setting for that message.
    """
    text = fresh(name)
    if text is None:
        return
    if text not in options:
        valid = ", ".join(options)
        note(name, f"The link's {what} {text!r} is not one of {valid}; it was not used.")
        return
    st.session_state[key] = options[text]


def fresh_code(
    model: Any, current_label: int | None
) -> tuple[list[float] | None, int | None] | None:
    """A new ``?z=...`` and/or ``?y=...`` checked against ``model``: (z, label), or None.

    The checks are the decode route's (``ui.decode_route.parse_request``: count equal to the
    latent size, finite, within its bound; a class index for a CVAE), so a link opens exactly
    the codes that the server would decode. z is None when the link names only a class; a CVAE
    link without ``y`` keeps ``current_label``. A refused link leaves a message
    (``show_notes("z")``) and returns None: the page keeps its defaults.
    """
    from ui.decode_route import BadRequest, parse_request  # the route's checks, written once

    z_text, y_text = fresh("z"), fresh("y")
    if z_text is None and y_text is None:
        return None
    if y_text is None and model.config.conditional and current_label is not None:
        y_text = str(current_label)
    zero = ",".join(["0"] * model.config.latent_dim)  # stands in when the link has no z
    try:
        z, label = parse_request(
            {"z": zero if z_text is None else z_text, "y": y_text or ""}, model
        )
    except BadRequest as exc:
        note("z", f"The link's latent code was not used ({exc}); the sliders start as usual.")
        return None
    note("z", None)
    return (None if z_text is None else z), label


def code_text(z: list[float]) -> str:
    """``z`` as the link writes it: 4 decimals, as the sliders report it, no trailing zeros."""
    return ",".join(repr(round(float(v), 4) + 0.0) for v in z)  # + 0.0: no "-0.0"
