"""The app's pages: their files in order, and each page's label and one-line summary.

The summary is the first paragraph of the page's docstring, read from the page file itself so
Home never drifts from what each page does. Lives in a module (imported once per process)
because a cache defined in ``app.py`` is recreated on every rerun, and Home would
then parse every page file on every visit.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from ui.cache_keys import file_key
from ui.paths import ROOT

PAGES_DIR = ROOT / "pages"


def page_files() -> list[Path]:
    """``pages/*.py`` in navigation order: by their number prefix (``10_`` after ``9_``)."""
    return sorted(PAGES_DIR.glob("*.py"), key=lambda p: (int(p.stem.split("_")[0]), p.stem))


@functools.lru_cache(maxsize=64)
def _summary(path: Path, version: str) -> tuple[str, str]:
    label = re.sub(r"^\d+_", "", path.stem).replace("_", " ")
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    text = " ".join(doc.split("\n\n")[0].split())
    head, sep, rest = text.partition(": ")
    if sep and len(head.split()) <= 3:  # "Denoising: ..." -> "..."
        text = rest
    return label, text[:1].upper() + text[1:]


def page_summary(path: Path) -> tuple[str, str]:
    """(label, one-line summary) of a page file; re-read when the file changes."""
    return _summary(path, file_key(path))
