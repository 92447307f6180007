"""Signing in (OAuth2 password flow → a short-lived JWT), who am I, signing out.

The token comes back in the body (for ``Authorization: Bearer``) and as an HttpOnly, SameSite=Strict cookie,
which the browser sends with the page's images, clips and alert stream. The cookie is accepted on GET requests
only: anything that changes a record needs the header, which another site cannot make a browser send.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from api import accounts, audit, tokens
from api.deps import TOKEN_COOKIE, CurrentUser, SessionDep, SettingsDep
from api.schemas import TokenPublic, UserPublic

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


def new_limiter() -> MovingWindowRateLimiter:
    """Failed sign-ins per user name and client address, in a moving minute (one per app, in its memory)."""
    return MovingWindowRateLimiter(MemoryStorage())


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
    limiter: MovingWindowRateLimiter = request.app.state.login_limiter
    rate = RateLimitItemPerMinute(settings.login_attempts_per_minute)
    who = (request.client.host if request.client else "unknown", form.username[:64])
    if not limiter.test(rate, *who):
        reset = limiter.get_window_stats(rate, *who).reset_time
        wait_s = max(1, int(reset - time.time()) + 1)
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed sign-ins for {form.username!r}: try again in {wait_s} s",
            headers={"Retry-After": str(wait_s)},
        )
    user = accounts.authenticate(session, form.username, form.password)
    if user is None:
        limiter.hit(rate, *who)
        audit.record_now(
            session,
            audit.Actor(form.username[:64], "unknown"),
            audit.Action.SIGN_IN_FAILED,
            f"user/{form.username[:64]}",
            outcome=audit.Outcome.REFUSED,
            detail={"client": who[0]},
        )
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "wrong user name or password, or the account is disabled",
            headers={"WWW-Authenticate": "Bearer"},
        )
    token = tokens.issue(user.username, settings.secret, settings.token_ttl_s)
    audit.record_now(session, user, audit.Action.SIGNED_IN, f"user/{user.username}", detail={"client": who[0]})
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
