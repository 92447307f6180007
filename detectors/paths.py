"""Where model files live: ``$NONSITE_MODELS_DIR`` or the repository's ``models/cache``."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def models_dir() -> Path:
    return Path(os.environ.get("NONSITE_MODELS_DIR", REPO_ROOT / "models" / "cache"))


def default_model_path(filename: str) -> Path:
    return models_dir() / filename
