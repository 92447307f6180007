"""Accounts, for admins: list, add, disable and enable (``nonsite users`` does the same from a shell)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from api import accounts
from api.deps import AUTH_RESPONSES, Admin, SessionDep
from api.models import User
from api.schemas import UserCreate, UserPublic

router = APIRouter(prefix="/api/v1/users", tags=["users"], responses=AUTH_RESPONSES)


@router.get("", response_model=list[UserPublic])
def list_users(session: SessionDep, _: Admin) -> list[UserPublic]:
    return [UserPublic.model_validate(u) for u in accounts.list_users(session)]


@router.post(
    "",
    response_model=UserPublic,
    status_code=status.HTTP_201_CREATED,
    responses={
        400: {"description": "The body is not JSON"},
        409: {"description": "The user name is taken"},
        413: {"description": "The body is larger than the API accepts"},
        422: {"description": "Not a valid account"},
    },
)
def add_user(body: UserCreate, session: SessionDep, admin: Admin) -> UserPublic:
    try:
        user = accounts.add_user(
            session,
            username=body.username,
            password=body.password,
            role=body.role,
            cameras=body.cameras,
            by=admin,
        )
    except accounts.AccountError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return UserPublic.model_validate(user)


def _set_disabled(session: SessionDep, username: str, disabled: bool, admin: User) -> UserPublic:
    try:
        return UserPublic.model_validate(accounts.set_disabled(session, username, disabled, by=admin))
    except accounts.AccountError as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc


@router.post("/{username}/disable", response_model=UserPublic, responses={404: {"description": "No such user"}})
def disable(username: str, session: SessionDep, admin: Admin) -> UserPublic:
    """The user's tokens stop working at once; their decisions keep their name."""
    if username == admin.username:
        raise HTTPException(status.HTTP_409_CONFLICT, "an admin cannot disable their own account")
    return _set_disabled(session, username, True, admin)


@router.post("/{username}/enable", response_model=UserPublic, responses={404: {"description": "No such user"}})
def enable(username: str, session: SessionDep, admin: Admin) -> UserPublic:
    return _set_disabled(session, username, False, admin)
