"""Errors answered with a status that says what happened: validation errors as 422 even when the bad input
itself cannot be written as JSON (NaN, inf); a full disk as 507 and an unavailable or busy database as 503,
never a 500 (nothing was stored, so the sender keeps its copy and retries)."""

from __future__ import annotations

import errno
import json
import logging
import math
import re
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError

log = logging.getLogger(__name__)
NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
SQLITE_FULL = 13
PG_DISK_FULL = "53100"

MAX_ECHO_CHARS = 200  # a 1 MB bad field is not sent back whole
# user:password@ of any URL in a wrong field (a camera URL sent where it does not belong) is never echoed.
CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s]*@")


def _safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return CREDENTIALS.sub(r"\1***@", value)
    if isinstance(value, dict):
        return {str(k): _safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_safe(v) for v in value]
    return value


def _echo(value: Any) -> Any:
    safe = _safe(value)
    text = json.dumps(jsonable_encoder(safe), ensure_ascii=False, default=str)
    return safe if len(text) <= MAX_ECHO_CHARS else f"{text[:MAX_ECHO_CHARS]}… ({len(text)} characters)"


async def validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        cleaned = {k: v for k, v in error.items() if k not in ("input", "ctx", "url")}
        if "input" in error:
            cleaned["input"] = _echo(error["input"])
        errors.append(cleaned)
    return JSONResponse(status_code=422, content=jsonable_encoder({"detail": errors}))


def is_no_space(exc: BaseException) -> bool:
    """A write that failed because the disk (or a file-size limit) is full, from SQLite, PostgreSQL or the OS."""
    if isinstance(exc, OSError):
        return exc.errno in NO_SPACE
    cause = getattr(exc, "orig", None) or exc
    if getattr(cause, "sqlite_errorcode", None) == SQLITE_FULL or getattr(cause, "sqlstate", None) == PG_DISK_FULL:
        return True
    text = str(cause).lower()
    return "database or disk is full" in text or "no space left on device" in text


def insufficient_storage(what: str = "the server's disk is full") -> JSONResponse:
    return JSONResponse(
        status_code=507,
        content={"detail": f"{what}: nothing was stored; keep your copy and retry later"},
        headers={"Retry-After": "60"},
    )


async def database_error(request: Request, exc: Exception) -> JSONResponse:
    if is_no_space(exc):
        log.error("%s %s: the disk is full: %s", request.method, request.url.path, getattr(exc, "orig", exc))
        return insufficient_storage()
    log.error("%s %s: the database failed: %s", request.method, request.url.path, getattr(exc, "orig", exc))
    return JSONResponse(
        status_code=503,
        content={"detail": "the database is unavailable or busy: nothing was stored; retry shortly"},
        headers={"Retry-After": "5"},
    )


async def os_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OSError)
    if is_no_space(exc):
        log.error("%s %s: the disk is full: %s", request.method, request.url.path, exc)
        return insufficient_storage()
    log.error("%s %s: a file could not be used: %s", request.method, request.url.path, exc)
    return JSONResponse(status_code=500, content={"detail": f"a server file could not be used ({exc.strerror})"})


HANDLERS = {OperationalError: database_error, OSError: os_error}
