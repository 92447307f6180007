"""Re-hashes a ticket's evidence in the store: an officer must not confirm what no longer matches its seal."""

from __future__ import annotations

from api.models import Ticket
from evidence.store import ContentStore, EvidenceIntegrityError


def evidence_problems(store: ContentStore, ticket: Ticket) -> list[str]:
    """One line per artifact that is missing from the store or whose bytes no longer match its SHA-256."""
    problems = []
    for artifact in ticket.artifacts:
        try:
            store.read_verified(artifact.sha256)
        except FileNotFoundError:
            problems.append(f"{artifact.kind} {artifact.sha256[:12]}… is missing from the evidence store")
        except EvidenceIntegrityError as exc:
            problems.append(f"{artifact.kind} {artifact.sha256[:12]}…: {exc}")
        except OSError as exc:  # unreadable (permissions, a failing disk): not verified, so not trusted
            problems.append(f"{artifact.kind} {artifact.sha256[:12]}… cannot be read: {exc.strerror or exc}")
    return problems
