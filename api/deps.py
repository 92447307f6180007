"""Dependencies behind ``Annotated`` aliases, so routes read as plain parameters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import Depends, HTTPException, Path, Request, status
from sqlalchemy.orm import Session

from api import crud
from api.models import Ticket
from api.settings import Settings
from evidence import signing
from evidence.store import ContentStore
from evidence.wire import MAX_SAFE_INT


def _session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _store(request: Request) -> ContentStore:
    store: ContentStore = request.app.state.store
    return store


def _trusted_keys(request: Request) -> dict[str, Ed25519PublicKey]:
    """Read on each request: the pipeline may write its key after the API has started."""
    try:
        return signing.trusted_keys(_settings(request).trusted_keys_dir)
    except signing.SigningKeyError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"the trusted keys cannot be read: {exc}") from exc


SessionDep = Annotated[Session, Depends(_session)]
TrustedKeysDep = Annotated[dict[str, Ed25519PublicKey], Depends(_trusted_keys)]
SettingsDep = Annotated[Settings, Depends(_settings)]
StoreDep = Annotated[ContentStore, Depends(_store)]


TicketId = Annotated[int, Path(ge=1, le=MAX_SAFE_INT, description="Ticket number.")]


def _ticket(ticket_id: TicketId, session: SessionDep) -> Ticket:
    ticket = crud.get_ticket(session, ticket_id=ticket_id)
    if ticket is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"ticket {ticket_id} not found")
    return ticket


TicketDep = Annotated[Ticket, Depends(_ticket)]
