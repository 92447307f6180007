"""Validation errors answered as 422 even when the bad input itself cannot be written as JSON (NaN, inf)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

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
