"""Re-hashes a ticket's evidence in the store and checks its manifest signatures: an officer must not confirm
what no longer matches its seal."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from api.models import Artifact, Ticket
from evidence import signing
from evidence.store import ContentStore, EvidenceIntegrityError
from evidence.types import ArtifactKind


def evidence_problems(store: ContentStore, ticket: Ticket, trusted: dict[str, Ed25519PublicKey]) -> list[str]:
    """One line per artifact that is missing from the store or whose bytes no longer match its SHA-256, and per
    manifest signature that does not hold under a trusted key."""
    problems = []
    by_sha = {a.sha256: a for a in ticket.artifacts}
    for artifact in ticket.artifacts:
        try:
            data = store.read_verified(artifact.sha256)
            if artifact.kind == ArtifactKind.MANIFEST_SIGNATURE.value:
                problems.extend(_signature_problem(store, artifact, by_sha, data, trusted))
        except FileNotFoundError:
            problems.append(f"{artifact.kind} {artifact.sha256[:12]}… is missing from the evidence store")
        except EvidenceIntegrityError as exc:
            problems.append(f"{artifact.kind} {artifact.sha256[:12]}…: {exc}")
        except OSError as exc:  # unreadable (permissions, a failing disk): not verified, so not trusted
            problems.append(f"{artifact.kind} {artifact.sha256[:12]}… cannot be read: {exc.strerror or exc}")
    return problems


def _signature_problem(
    store: ContentStore,
    signature: Artifact,
    by_sha: dict[str, Artifact],
    data: bytes,
    trusted: dict[str, Ed25519PublicKey],
) -> list[str]:
    manifest = by_sha.get(signature.parent_sha256 or "")
    if manifest is None or manifest.kind != ArtifactKind.MANIFEST.value:
        return [f"manifest signature {signature.sha256[:12]}… does not name a manifest of this ticket"]
    try:
        signing.verify(store.read_verified(manifest.sha256), data, trusted)
    except signing.SignatureError as exc:
        return [f"manifest {manifest.sha256[:12]}…: {exc}"]
    except (OSError, EvidenceIntegrityError):
        return []  # the manifest's own entry reports it
    return []
