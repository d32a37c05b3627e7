"""Shared Streamlit UI pieces for the app's pages (kept out of ``pages/``, which Streamlit scans)."""
