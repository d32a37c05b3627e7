"""The models: encoder and decoder networks, the decoder's p(x|z), the latent-variable model
(VAE, CVAE, β-VAE, AE), its objectives (ELBO, KL, the IWAE bound) and drawing codes from the
prior at a temperature."""
