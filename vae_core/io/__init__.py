"""Files: the checkpoint format (its torch-free header half in ``header``), atomic writes,
pictures written, images uploaded, and the decoder exported to the browser.

Imports nothing: ``vae_core.io.header`` must load without PyTorch (the Home page's first run).
"""
