"""API settings: explicit values, validated, never read at import time."""

from __future__ import annotations

import os
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: str = Field("sqlite:///var/nonsite.db", description="SQLAlchemy URL (SQLite or PostgreSQL).")
    evidence_dir: Path = Field(Path("var/evidence"), description="The evidence locker's content-addressed store.")
    page_size_max: int = Field(200, ge=1, le=1000)
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Larger request bodies are refused with 413.")
    channel_stale_s: float = Field(
        30.0, gt=0, description="A channel with no health report for this long is shown offline (pipeline gone)."
    )
    alert_poll_s: float = Field(1.0, gt=0, le=30, description="How often the live alert stream looks for tickets.")
    trusted_keys_dir: Path = Field(
        Path("var/keys"),
        description="Folder of Ed25519 public keys (*.pub, PEM) whose manifest signatures are trusted; the pipeline "
        "writes its key's public half there (storage.signing_key's folder).",
    )
    timezone: ZoneInfo = Field(
        ZoneInfo("Asia/Shanghai"), description="The bureau's zone: where 'today' starts (IANA name)."
    )

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """``NONSITE_DATABASE_URL``, ``NONSITE_EVIDENCE_DIR`` and ``NONSITE_TRUSTED_KEYS_DIR`` fill what
        ``overrides`` leaves out."""
        values: dict[str, object] = {}
        if url := os.environ.get("NONSITE_DATABASE_URL"):
            values["database_url"] = url
        if folder := os.environ.get("NONSITE_EVIDENCE_DIR"):
            values["evidence_dir"] = Path(folder)
        if folder := os.environ.get("NONSITE_TRUSTED_KEYS_DIR"):
            values["trusted_keys_dir"] = Path(folder)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)
