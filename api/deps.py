"""Dependencies behind ``Annotated`` aliases, so routes read as plain parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import crud, tokens
from api.accounts import Role, sees
from api.audit_writer import AuditWriter
from api.models import Ticket, User
from api.settings import Settings
from evidence import signing
from evidence.audit_log import AuditMirror
from evidence.store import ContentStore
from evidence.wire import MAX_SAFE_INT


def _session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _audit_mirror(request: Request) -> AuditMirror:
    mirror: AuditMirror = request.app.state.audit_mirror
    return mirror


async def _audit_writer(request: Request) -> AuditWriter:
    writer: AuditWriter = request.app.state.audit_writer
    return writer


async def _store(request: Request) -> ContentStore:
    store: ContentStore = request.app.state.store
    return store


def _trusted_keys(request: Request) -> dict[str, Ed25519PublicKey]:
    """Read on each request: the pipeline may write its key after the API has started."""
    try:
        return signing.trusted_keys(request.app.state.settings.trusted_keys_dir)
    except signing.SigningKeyError as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"the trusted keys cannot be read: {exc}") from exc


def _room_for_non_evidence(request: Request) -> None:
    """Below the disk reserve, writes of non-evidence (channel snapshots) are refused: 507."""
    disk = request.app.state.disk.state()
    if disk.full:
        raise HTTPException(status.HTTP_507_INSUFFICIENT_STORAGE, f"{disk.problem}; retry when space is freed")


async def _read_turn(request: Request) -> AsyncIterator[None]:
    """Waits for one of the worker's ``read_concurrency`` turns, held until the route has returned."""
    async with request.app.state.read_turns.here():
        yield


SessionDep = Annotated[Session, Depends(_session)]
# First in a route's parameters, so the user's lookup and the session wait for the turn as well.
ReadTurn = Annotated[None, Depends(_read_turn, scope="function")]
AuditWriterDep = Annotated[AuditWriter, Depends(_audit_writer)]
RoomForNonEvidence = Annotated[None, Depends(_room_for_non_evidence)]
TrustedKeysDep = Annotated[dict[str, Ed25519PublicKey], Depends(_trusted_keys)]
SettingsDep = Annotated[Settings, Depends(_settings)]
StoreDep = Annotated[ContentStore, Depends(_store)]
AuditMirrorDep = Annotated[AuditMirror, Depends(_audit_mirror)]


_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)
TOKEN_COOKIE = "nonsite_token"  # set at sign-in for the pages' images, clips and alert stream (GET only)


def _unauthorised(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


def _current_user(
    request: Request, session: SessionDep, settings: SettingsDep, token: Annotated[str | None, Depends(_bearer)]
) -> User:
    """The signed-in user: a valid token of an existing, enabled account (role and cameras as stored now).
    The sign-in cookie stands in for the header on GET requests only (so no other site can make a browser
    confirm or reject anything)."""
    if token is None and request.method in ("GET", "HEAD"):
        token = request.cookies.get(TOKEN_COOKIE)
    if token is None:
        raise _unauthorised("sign in first: POST /api/v1/auth/token, then send 'Authorization: Bearer TOKEN'")
    try:
        name = tokens.subject(token, settings.secret)
    except tokens.TokenError as exc:
        raise _unauthorised(str(exc)) from exc
    user = session.scalar(select(User).where(User.username == name))
    if user is None or user.disabled:
        raise _unauthorised("this account is disabled or no longer exists")
    return user


CurrentUser = Annotated[User, Depends(_current_user)]

AUTH_RESPONSES: dict[int | str, dict[str, str]] = {
    401: {"description": "Not signed in, or the token is expired, invalid or of a disabled account"},
    403: {"description": "The user's role may not do this"},
}


def allow(*roles: Role) -> Any:
    """A dependency that admits only users with one of ``roles`` (403 names the user's role)."""
    names = {role.value for role in roles}

    async def check(user: CurrentUser) -> User:
        if user.role not in names:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"the {user.role} role may not do this (needs {', '.join(sorted(names))})"
            )
        return user

    return Depends(check)


# Who may do what, by route group (the role × route matrix test reads these through the OpenAPI document).
CASE_READERS = (Role.OFFICER, Role.LEGAL_REVIEWER, Role.AUDITOR)
DECIDERS = (Role.OFFICER,)
WATCHERS = (Role.OPERATOR, Role.OFFICER, Role.LEGAL_REVIEWER, Role.AUDITOR)
REPORTERS = (Role.PIPELINE,)
ADMINS = (Role.ADMIN,)
AUDIT_READERS = (Role.LEGAL_REVIEWER, Role.AUDITOR)

CaseReader = Annotated[User, allow(*CASE_READERS)]
Decider = Annotated[User, allow(*DECIDERS)]
Watcher = Annotated[User, allow(*WATCHERS)]
Reporter = Annotated[User, allow(*REPORTERS)]
Admin = Annotated[User, allow(*ADMINS)]
AuditReader = Annotated[User, allow(*AUDIT_READERS)]
EvidenceDeleter = Annotated[User, allow(Role.LEGAL_REVIEWER)]


TicketId = Annotated[int, Path(ge=1, le=MAX_SAFE_INT, description="Ticket number.")]


def _ticket(ticket_id: TicketId, session: SessionDep, user: CurrentUser) -> Ticket:
    """The ticket, if it exists and is on a camera this user may see (else 404: not even its existence shows)."""
    ticket = crud.get_ticket(session, ticket_id=ticket_id)
    if ticket is None or not sees(user, ticket.camera):
        raise ticket_not_found(ticket_id)
    return ticket


def ticket_not_found(ticket_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"ticket {ticket_id} not found")


TicketDep = Annotated[Ticket, Depends(_ticket)]
