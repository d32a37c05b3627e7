"""Where the app finds shipped checkpoints and keeps models trained or uploaded by users."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_DIR = ROOT / "checkpoints"


def user_models_dir() -> Path:
    """Models trained in the app; ``VAE_LAB_RUNS`` moves it (tests point it at a temp dir)."""
    return Path(os.environ.get("VAE_LAB_RUNS", ROOT / "runs"))


def uploads_dir() -> Path:
    return user_models_dir() / "uploads"
