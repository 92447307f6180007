"""Where model files live: ``$NONSITE_MODELS_DIR``, else a checkout's ``models/cache``."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS_ENV = "NONSITE_MODELS_DIR"


def models_dir() -> Path:
    """The folder ``models/fetch_models.py`` fills. An installed (non-editable) package has no checkout beside
    it, so it must be told: ``NONSITE_MODELS_DIR`` (the error for a missing model says so)."""
    configured = os.environ.get(MODELS_ENV)
    if configured:
        return Path(configured)
    return REPO_ROOT / "models" / "cache"


def default_model_path(filename: str) -> Path:
    return models_dir() / filename
