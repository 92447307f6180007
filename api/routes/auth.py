"""Signing in (OAuth2 password flow → a short-lived JWT), who am I, signing out.

The token comes back in the body (for ``Authorization: Bearer``) and as an HttpOnly, SameSite=Strict cookie,
which the browser sends with the page's images, clips and alert stream. The cookie is accepted on GET requests
only: anything that changes a record needs the header, which another site cannot make a browser send.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from api import accounts, audit, sign_in_limit, tokens
from api.deps import TOKEN_COOKIE, CurrentUser, SessionDep, SettingsDep
from api.models import utcnow
from api.schemas import TokenPublic, UserPublic

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@router.post(
    "/token",
    response_model=TokenPublic,
    responses={
        401: {"description": "Wrong user name or password, or the account is disabled"},
        429: {"description": "Too many failed sign-ins for this user name from this address: wait (Retry-After)"},
    },
)
def sign_in(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
) -> TokenPublic:
    client = request.client.host if request.client else "unknown"
    turns: sign_in_limit.Turns = request.app.state.sign_in_turns
    allowed = settings.login_attempts_per_minute
    with turns.turn(form.username, client):  # checked, tried and counted before the next of this name and address
        refused = sign_in_limit.check(session, form.username, client, allowed, utcnow())
        if refused is not None:
            raise HTTPException(
                status.HTTP_429_TOO_MANY_REQUESTS,
                f"too many failed sign-ins for {form.username!r} from this address (more than {allowed} a minute):"
                f" try again in {refused.retry_after_s} s",
                headers={"Retry-After": str(refused.retry_after_s)},
            )
        user = accounts.authenticate(session, form.username, form.password)
        if user is None:
            audit.record_now(  # what the limit counts, in every worker
                session,
                audit.Actor(form.username[:64], "unknown"),
                audit.Action.SIGN_IN_FAILED,
                sign_in_limit.subject(form.username),
                outcome=audit.Outcome.REFUSED,
                detail={"client": client},
            )
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "wrong user name or password, or the account is disabled",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token = tokens.issue(user.username, settings.secret, settings.token_ttl_s)
    audit.record_now(session, user, audit.Action.SIGNED_IN, f"user/{user.username}", detail={"client": client})
    response.set_cookie(
        TOKEN_COOKIE, token, max_age=settings.token_ttl_s, httponly=True, samesite="strict", path="/api/"
    )
    return TokenPublic(
        access_token=token, token_type="bearer", expires_in=settings.token_ttl_s, user=UserPublic.model_validate(user)
    )


@router.get("/me", response_model=UserPublic, responses={401: {"description": "Not signed in"}})
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def sign_out() -> Response:
    """Forgets the browser's cookie (a token already copied stays valid until it expires: they are short)."""
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(TOKEN_COOKIE, path="/api/", httponly=True, samesite="strict")
    return response
