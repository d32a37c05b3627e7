"""VAE Latent Lab's library: models, objectives, data, training and checkpoints.

Plain PyTorch, no Streamlit: usable from a notebook, the CLI (``python -m vae_core``) and the app.
"""
