"""Training: the trainer (epochs, binarization, validation, checkpoints after every epoch) and
the metadata a training run writes into its checkpoint."""
