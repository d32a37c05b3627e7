"""Latent-space tools: 2-D maps of the codes and their cache, the decoded manifold,
interpolation, posterior ellipses, corruption and inpainting by latent optimisation."""
