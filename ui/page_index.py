"""The Home page's list of pages: each page's label and the first paragraph of its docstring.

Read from the page files themselves so Home never drifts from what each page does. Lives in a
module (imported once per process) because a cache defined in ``app.py`` is recreated on every
rerun: Home used to parse all twelve page files on every visit.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path


@functools.lru_cache(maxsize=64)
def _summary(path: Path, mtime_ns: int) -> tuple[str, str]:
    label = re.sub(r"^\d+_", "", path.stem).replace("_", " ")
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    text = " ".join(doc.split("\n\n")[0].split())
    head, sep, rest = text.partition(": ")
    if sep and len(head.split()) <= 3:  # "Denoising: ..." -> "..."
        text = rest
    return label, text[:1].upper() + text[1:]


def page_summary(path: Path) -> tuple[str, str]:
    """(label, one-line summary) of a page file; re-read when the file changes."""
    return _summary(path, path.stat().st_mtime_ns)
