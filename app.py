"""VAE Latent Lab: the Streamlit entry point, ``streamlit run app.py``.

This file has two roles. Streamlit runs it as the Home page's script (``__name__`` is
``"__main__"`` then; the page is ``ui/home.py``). Before that, ``streamlit run`` reads it for an
``st.App`` and, finding ``app`` below, imports it as a module and serves that app: Streamlit with
every page as usual, plus the Latent sliders' decode route (``ui/decode_route.py``). Nothing
heavy is imported on the server branch, so the server is up at once.
"""

from __future__ import annotations

import streamlit as st

if __name__ == "__main__":
    from ui.home import render_home

    render_home()
else:
    from ui.decode_route import ROUTES

    app = st.App(__file__, routes=ROUTES)
