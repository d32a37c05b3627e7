"""Datasets: IDX files, where they live, downloading them, and the offline sample."""
