"""The per-violation manifest: canonical JSON (RFC 8785) naming every artifact and its hash."""

from __future__ import annotations

from typing import Any

import rfc8785

from evidence.types import EvidenceRecord, ViolationEvent

MANIFEST_VERSION = 2  # 2: a provenance block (config bytes, every model, parameters, software) replaces model/config


def build_manifest(event: ViolationEvent, artifacts: tuple[EvidenceRecord, ...]) -> dict[str, Any]:
    violation = event.to_dict()
    violation.pop("evidence")
    return {
        "manifest_version": MANIFEST_VERSION,
        "violation": violation,
        "capture": {"captured_at": event.captured_at, "time_source": event.time_source.value},
        "provenance": event.provenance.to_dict(),
        "rule_parameters": event.rule_parameters,
        "artifacts": [a.to_dict() for a in artifacts],
    }


def canonical_bytes(document: dict[str, Any]) -> bytes:
    """RFC 8785 canonical JSON, so the same manifest always hashes the same."""
    return rfc8785.dumps(_json_safe(document))


def _json_safe(value: Any) -> Any:
    # RFC 8785 forbids non-finite floats and needs plain containers.
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float):
        return round(value, 6) if value == value and abs(value) != float("inf") else None
    return value
