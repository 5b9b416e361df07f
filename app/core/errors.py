"""One application error type, one handler: services raise, routers never build errors."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.core.i18n import from_accept_language, supported, translate


class AppError(Exception):
    status_code = 400

    def __init__(
        self,
        detail: Any,
        *,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if status_code is not None:
            self.status_code = status_code
        self.headers = headers


class BadRequest(AppError):
    status_code = 400


class Unauthorized(AppError):
    status_code = 401

    def __init__(self, detail: Any = "Not authenticated") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class Unprocessable(AppError):
    status_code = 422


class TooManyRequests(AppError):
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "Too many requests, try again later",
            headers={"Retry-After": str(max(1, retry_after))},
        )


class StorageUnavailable(AppError):
    """The database cannot take writes now (the embedded store's folder is full or not
    writable): nothing was changed, and the same request can be sent again later."""

    status_code = 503
    # The client hears one sentence in its language; the operator's reason is `reason`.
    message_key = "errors.storage_unavailable"
    RETRY_AFTER_SECONDS = 30

    def __init__(self, reason: str) -> None:
        super().__init__(
            translate("en", self.message_key),
            headers={"Retry-After": str(self.RETRY_AFTER_SECONDS)},
        )
        self.reason = reason


async def _app_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    detail = exc.detail
    if isinstance(exc, StorageUnavailable):
        locale = supported(from_accept_language(request.headers.get("accept-language")))
        detail = translate(locale, exc.message_key)
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


async def _validation_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(err.get("loc", ())), "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


async def _unhandled_error_handler(_: Request, exc: Exception) -> JSONResponse:
    # Reached only by a bug; the client learns nothing about internals.
    return JSONResponse({"detail": "Internal server error"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_error_handler)
    app.add_exception_handler(Exception, _unhandled_error_handler)
