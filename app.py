"""VAE Latent Lab: the Streamlit entry point, ``streamlit run app.py``.

This file has two roles. Before anything runs, ``streamlit run`` reads it for an ``st.App`` and,
finding ``app`` below, imports it as a module and serves that app: Streamlit as usual, plus the
Latent sliders' decode route (``ui/decode_route.py``). Nothing heavy is imported on that branch,
so the server is up at once; ``ui.preload`` loads the rest in a background thread.

Then Streamlit runs it (``__name__`` is ``"__main__"``) on every rerun of every page, as the
router: ``st.navigation`` lists the pages. It is used instead of the ``pages/`` folder
discovery only so that the first page is called "Home" in the navigation (the folder
discovery would name it after this file, "app"); the pages keep their files, titles and URLs.
"""

from __future__ import annotations

import streamlit as st

if __name__ == "__main__":
    from ui import preload
    from ui.home import render_home
    from ui.page_index import PAGES_DIR, page_files

    st.set_page_config(page_icon="🧪", layout="wide")
    home = st.Page(render_home, title="Home", default=True)
    pages = [st.Page(f"{PAGES_DIR.name}/{path.name}") for path in page_files()]
    page = st.navigation([home, *pages])
    if page.title != home.title:
        preload.wait()  # its first imports happen in one thread, not in ten sessions at once
    page.run()
else:
    from ui import preload
    from ui.decode_route import ROUTES

    preload.start()  # the Home page's session-free work, off the request path
    app = st.App(__file__, routes=ROUTES)
