"""Short-lived access tokens: JWTs (PyJWT) signed with HS256 and the server's secret.

A token names the user; its role and cameras are read from the database on every request, so disabling a
user or changing a role applies at once, whatever tokens are still out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"
ISSUER = "nonsite"


class TokenError(ValueError):
    """The token is missing, malformed, expired, or not signed by this server."""


def issue(username: str, secret: str, ttl_s: int, now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    claims = {"sub": username, "iss": ISSUER, "iat": moment, "exp": moment + timedelta(seconds=ttl_s)}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def subject(token: str, secret: str) -> str:
    """The user name a valid token was issued to."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], issuer=ISSUER, options={"require": ["sub", "iat", "exp", "iss"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("the token has expired: sign in again") from exc
    except jwt.InvalidTokenError as exc:  # alg none or another algorithm, wrong key, edited claims, garbage
        raise TokenError(f"the token is not valid: {exc}") from exc
    name = claims["sub"]
    if not isinstance(name, str):
        raise TokenError("the token is not valid: its subject is not a user name")
    return name
