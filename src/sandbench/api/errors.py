"""Errors as Runloop's clients expect them: JSON, the right status, no retry when pointless.

Clients retry 408, 409, 429 and 5xx (Harbor a hundred times), so a permanent problem is a
4xx, and any 409 or 5xx carries ``x-should-retry: false``.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbench.engine.errors import (
    EngineError,
    HostCannotEnforce,
    ImageMissing,
    MissingRequirements,
)
from sandbench.errors import Conflict, InvalidInput, NotFound, SandbenchError
from sandbench.model.documents import DocumentError

log = logging.getLogger("sandbench.api")
NO_RETRY = {"x-should-retry": "false"}


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, retry: bool | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry = retry


def error_response(status: int, message: str, *, retry: bool | None = None) -> JSONResponse:
    headers = {}
    if retry is not None:
        headers["x-should-retry"] = "true" if retry else "false"
    elif status == 409 or status >= 500:
        headers.update(NO_RETRY)
    return JSONResponse(
        {"error": {"status": status, "message": message}, "message": message},
        status_code=status,
        headers=headers,
    )


def field_errors(error: ValidationError | RequestValidationError, prefix: str = "") -> str:
    """``field.path: reason`` for each problem, the way the CLI reports them."""
    parts = []
    for item in error.errors():
        location = [str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path")]
        path = ".".join([prefix, *location] if prefix else location) or "body"
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{path}: {message}")
    return "; ".join(parts)


def status_for(error: SandbenchError) -> int:
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, Conflict):
        return 409
    if isinstance(error, InvalidInput | HostCannotEnforce | ImageMissing | MissingRequirements):
        return 400
    if isinstance(error, EngineError):
        return 500
    return 400


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.message, retry=error.retry)

    @app.exception_handler(SandbenchError)
    async def _core(_: Request, error: SandbenchError) -> JSONResponse:
        status = status_for(error)
        if status >= 500:
            log.warning("engine error: %s", error)
        return error_response(status, str(error))

    @app.exception_handler(DocumentError)
    async def _document(_: Request, error: DocumentError) -> JSONResponse:
        return error_response(400, str(error))

    @app.exception_handler(RequestValidationError)
    async def _request(_: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(400, field_errors(error))

    @app.exception_handler(ValidationError)
    async def _validation(_: Request, error: ValidationError) -> JSONResponse:
        return error_response(400, field_errors(error))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return error_response(error.status_code, str(error.detail))
