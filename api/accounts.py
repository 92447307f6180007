"""Accounts: roles, argon2 password hashes, and which cameras a user may see.

Roles say what a user may do; ``cameras`` (glob patterns of camera ids, ``*`` for all) say on which cameras'
cases and channels. Users are disabled, never deleted: decisions and (later) audit entries name them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from enum import StrEnum
from fnmatch import fnmatchcase

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from api import audit
from api.models import User


class Role(StrEnum):
    OPERATOR = "operator"  # cameras, zones, rules; watches channels
    OFFICER = "officer"  # reviews and decides the cases of their cameras
    LEGAL_REVIEWER = "legal_reviewer"  # reads cases and decisions; never decides
    AUDITOR = "auditor"  # reads and verifies everything; never decides
    ADMIN = "admin"  # users; never evidence
    PIPELINE = "pipeline"  # the service account the pipeline pushes tickets and channel health with


USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CAMERA_PATTERN = re.compile(r"^[A-Za-z0-9*?._-]{1,128}$")
MIN_PASSWORD = 10

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so an unknown name costs as long as a wrong password."""
    return _hasher.hash("not a password of anyone")


class AccountError(ValueError):
    """A user cannot be created or changed; the message says why."""


def check_username(username: str) -> str:
    if not USERNAME.match(username):
        raise AccountError(
            f"user name {username!r}: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return username


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password must have at least {MIN_PASSWORD} characters")
    return password


def check_cameras(patterns: Sequence[str]) -> list[str]:
    if not patterns:
        raise AccountError("a user needs at least one camera pattern ('*' for every camera)")
    for pattern in patterns:
        if not CAMERA_PATTERN.match(pattern):
            raise AccountError(f"camera pattern {pattern!r}: camera-id characters with * and ? only")
    return list(patterns)


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The enabled user with this name and password, else None (the same cost either way)."""
    user = session.scalar(select(User).where(User.username == username))
    try:
        _hasher.verify(user.password_hash if user is not None else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
        session.commit()
    return user


def add_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    cameras: Sequence[str] = ("*",),
    by: audit.Actor | User,
) -> User:
    """``by``: who adds the user (an admin, or someone at the server's shell), for the audit log."""
    check_username(username)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise AccountError(f"user {username!r} exists already")
    user = User(
        username=username, password_hash=hash_password(password), role=role.value, cameras=check_cameras(cameras)
    )
    session.add(user)
    audit.record(
        session, by, audit.Action.USER_ADDED, f"user/{username}", detail={"role": role.value, "cameras": user.cameras}
    )
    session.commit()
    return user


def set_disabled(session: Session, username: str, disabled: bool, *, by: audit.Actor | User) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise AccountError(f"no user {username!r}")
    user.disabled = disabled
    action = audit.Action.USER_DISABLED if disabled else audit.Action.USER_ENABLED
    audit.record(session, by, action, f"user/{username}", detail={"role": user.role})
    session.commit()
    return user


def list_users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.username)))


def _like(pattern: str) -> str:
    """A camera glob as a SQL LIKE pattern (with ``\\`` as the escape)."""
    escaped = pattern.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped.replace("*", "%").replace("?", "_")


def camera_clause(column: InstrumentedAttribute[str], patterns: Sequence[str]) -> ColumnElement[bool]:
    """SQL that keeps the rows whose camera the patterns allow."""
    if "*" in patterns:
        return true()
    return or_(*(column.like(_like(p), escape="\\") for p in patterns))


def sees(user: User, camera_id: str) -> bool:
    """Whether the user may see this camera (the same rule as :func:`camera_clause`)."""
    return any(fnmatchcase(camera_id, pattern) for pattern in user.cameras)
