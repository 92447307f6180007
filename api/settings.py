"""API settings: explicit values, validated, never read at import time."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

MIN_SECRET = 32
# Read from NONSITE_<NAME> (e.g. NONSITE_DISK_RESERVE_MB) by Settings.from_env.
TUNABLE_FROM_ENV = (
    "fixity_interval_s",
    "disk_low_mb",
    "disk_reserve_mb",
    "quarantine_retention_days",
    "read_concurrency",
)


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
    audit_dir: Path = Field(
        Path("var/audit"),
        description="Outside the database: the audit log's leaf mirror, its signed checkpoints and their key "
        "(checkpoint.key, made on first start with mode 0600). Keep it on another disk or back it up apart.",
    )
    audit_checkpoint_s: float = Field(
        30.0, gt=0, le=86_400, description="How often the API signs a checkpoint of the audit log when it grew."
    )
    fixity_interval_s: float = Field(
        86_400.0,
        ge=0,
        description="How often every stored evidence object is re-hashed (0: never on a schedule; run "
        "`nonsite fixity` from cron instead). The next run is one interval after the last, across restarts.",
    )
    disk_low_mb: int = Field(
        2048,
        ge=0,
        description="Below this much free space (evidence, database or audit disk) health is degraded "
        "and non-evidence (the quarantine, oldest first) is pruned.",
    )
    disk_reserve_mb: int = Field(
        512,
        ge=0,
        description="Below this much free space after pruning, new non-evidence writes (channel "
        "snapshots) are refused with 507; what is left is kept for evidence and the audit log.",
    )
    quarantine_retention_days: int = Field(
        90, ge=1, description="Files the start-up check moved to quarantine are deleted after this many days."
    )
    timezone: ZoneInfo = Field(
        ZoneInfo("Asia/Shanghai"), description="The bureau's zone: where 'today' starts (IANA name)."
    )
    jwt_secret: SecretStr | None = Field(
        None, description=f"Signs access tokens; at least {MIN_SECRET} random characters (NONSITE_JWT_SECRET)."
    )
    development: bool = Field(
        False, description="Development mode only: a missing jwt_secret is replaced by a random one per start."
    )
    read_concurrency: int = Field(
        1,
        ge=1,
        le=64,
        description="Ticket reads (list and detail) each worker runs at once; the others wait their turn. They are"
        " Python work under one interpreter lock: run one after another they go faster than side by side"
        " (NONSITE_READ_CONCURRENCY).",
    )
    token_ttl_s: int = Field(900, ge=60, le=86_400, description="How long an access token is valid.")
    login_attempts_per_minute: int = Field(
        5,
        ge=1,
        le=1000,
        description="Failed sign-ins allowed per user name and client address in a moving minute, counted"
        " from the audit log (the same for every worker).",
    )

    @model_validator(mode="before")
    @classmethod
    def _secret(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        secret = values.get("jwt_secret")
        text = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
        if text is None and values.get("development"):
            return {**values, "jwt_secret": secrets.token_urlsafe(MIN_SECRET)}
        if text is None:
            raise ValueError(
                f"jwt_secret is missing: set NONSITE_JWT_SECRET to at least {MIN_SECRET} random characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`), "
                "or run in development mode (NONSITE_DEVELOPMENT=1, `nonsite serve --development`)"
            )
        if not isinstance(text, str) or len(text) < MIN_SECRET or len(set(text)) < 8:
            raise ValueError(f"jwt_secret must be at least {MIN_SECRET} random characters")
        return values

    @property
    def secret(self) -> str:
        assert self.jwt_secret is not None  # the validator fills or refuses it
        return self.jwt_secret.get_secret_value()

    def to_file(self, path: Path) -> None:
        """These settings, secret included, in a file only this account can read (for :meth:`from_file`)."""
        values = self.model_dump(mode="json") | {"jwt_secret": self.secret}
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(json.dumps(values))

    @classmethod
    def from_file(cls, path: Path) -> Settings:
        return cls.model_validate(json.loads(path.read_text()))

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """``NONSITE_DATABASE_URL``, ``NONSITE_EVIDENCE_DIR``, ``NONSITE_TRUSTED_KEYS_DIR``, ``NONSITE_AUDIT_DIR``,
        ``NONSITE_JWT_SECRET``, ``NONSITE_DEVELOPMENT`` (1 / true) and ``NONSITE_<NAME>`` of ``TUNABLE_FROM_ENV``
        fill what ``overrides`` leaves out."""
        values: dict[str, object] = {}
        if url := os.environ.get("NONSITE_DATABASE_URL"):
            values["database_url"] = url
        if folder := os.environ.get("NONSITE_EVIDENCE_DIR"):
            values["evidence_dir"] = Path(folder)
        if folder := os.environ.get("NONSITE_TRUSTED_KEYS_DIR"):
            values["trusted_keys_dir"] = Path(folder)
        if folder := os.environ.get("NONSITE_AUDIT_DIR"):
            values["audit_dir"] = Path(folder)
        if secret := os.environ.get("NONSITE_JWT_SECRET"):
            values["jwt_secret"] = secret
        if os.environ.get("NONSITE_DEVELOPMENT", "").lower() in ("1", "true", "yes"):
            values["development"] = True
        for name in TUNABLE_FROM_ENV:
            if (text := os.environ.get(f"NONSITE_{name.upper()}")) is not None:
                values[name] = text  # validated (and refused with its name) like any other value
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls.model_validate(values)
