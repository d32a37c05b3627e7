"""The one-line reason a faster path (torch.compile, a CUDA graph) gave way to eager steps."""

from __future__ import annotations


def fallback_reason(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 300 characters): inductor and CUDA errors run
    to pages, and the reason goes into a result field and one line of the CLI's output."""
    return f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
