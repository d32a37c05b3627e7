"""Evaluation: the scoring protocol (which test inputs, ELBO, IWAE NLL, active units) and the
lab's measurements built on it: out-of-distribution scores, pPCA, denoising quality, CVAE
faithfulness, the aggregate posterior and rate-distortion."""
