"""Device choice: CUDA when there is one, then Apple's MPS, then the CPU."""

from __future__ import annotations

import torch


def pick_device(preference: str = "auto") -> torch.device:
    """Resolve "auto" | "cuda" | "mps" | "cpu"; an unavailable explicit choice is an error."""
    if preference == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if preference == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was requested but no CUDA GPU is available")
    if preference == "mps" and not torch.backends.mps.is_available():
        raise ValueError("MPS was requested but this machine has no Apple GPU")
    if preference not in ("cuda", "mps", "cpu"):
        raise ValueError(f"device must be auto, cuda, mps or cpu, got {preference!r}")
    return torch.device(preference)


def device_label(device: torch.device | str, threads: int | None = None) -> str:
    """Short badge text: 'CUDA (NVIDIA H100)', 'MPS' or 'CPU (2 threads)'.

    ``threads``: the CPU threads the work will use, when that is not the current setting (a
    training that will set its own); default ``torch.get_num_threads()``.
    """
    device = torch.device(device)
    if device.type == "cuda":
        return f"CUDA ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "MPS"
    n = torch.get_num_threads() if threads is None else threads
    return f"CPU ({n} thread{'' if n == 1 else 's'})"
