"""The pipeline signs in to the API (OAuth2 password flow) and sends its token with every push.

An ``httpx.Auth``: the first request signs in, a 401 (the token expired, the server restarted with a new
secret) signs in again once and repeats the request. A refused sign-in is logged once per change, and the
request goes without a token: the API answers 401 and the outbox keeps the event for later.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator

import httpx

logger = logging.getLogger(__name__)

TOKEN_PATH = "/api/v1/auth/token"


class PasswordLogin(httpx.Auth):
    requires_response_body = True  # the sign-in's token is in its body

    def __init__(self, username: str, password: str) -> None:
        self.username, self._password = username, password
        self._token: str | None = None
        self._refused: int | None = None  # the status of the last refused sign-in (logged once)
        self._lock = threading.Lock()  # one client per loop, but the outbox and health loops share this

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        with self._lock:
            token = self._token
        if token is None:
            token = self._take((yield self._sign_in(request)))
        self._authorise(request, token)
        response = yield request
        if response.status_code == httpx.codes.UNAUTHORIZED and token is not None:
            self._authorise(request, self._take((yield self._sign_in(request))))
            yield request

    def _sign_in(self, request: httpx.Request) -> httpx.Request:
        return httpx.Request(
            "POST", request.url.join(TOKEN_PATH), data={"username": self.username, "password": self._password}
        )

    def _take(self, response: httpx.Response) -> str | None:
        token = None
        if response.status_code == httpx.codes.OK:
            value = response.json().get("access_token")
            token = value if isinstance(value, str) else None
        with self._lock:
            self._token = token
            if token is None and self._refused != response.status_code:
                logger.warning(
                    "the API refused the pipeline's sign-in as %r (%s): %s",
                    self.username,
                    response.status_code,
                    response.text[:200],
                )
            self._refused = None if token is not None else response.status_code
        return token

    @staticmethod
    def _authorise(request: httpx.Request, token: str | None) -> None:
        if token is not None:
            request.headers["Authorization"] = f"Bearer {token}"
        else:
            request.headers.pop("Authorization", None)
