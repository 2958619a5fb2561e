"""HTTP errors of the API.

The error root is ``vigil.errors.ServiceError``: each subclass knows its ``http_status`` and
a stable ``code``, and the app answers every one of them with
``{"error": code, "detail": str(exc)}`` (``schemas.ErrorBody``). The case and security
services raise the same classes (401, 403, 404, 409, 422); the few the API adds are here.
"""

from __future__ import annotations

from vigil.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    ServiceError,
    UnauthorizedError,
    VigilError,
)

__all__ = [
    "BadRequestError",
    "ConflictError",
    "ForbiddenError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ServiceError",
    "UnauthorizedError",
    "UnavailableError",
    "UnsupportedMediaTypeError",
    "status_of",
]


class BadRequestError(ServiceError):
    """The body cannot be read at all (not JSON, not JSON Lines, empty)."""

    http_status = 400
    code = "bad_request"


class PayloadTooLargeError(ServiceError):
    http_status = 413
    code = "payload_too_large"


class UnsupportedMediaTypeError(ServiceError):
    http_status = 415
    code = "unsupported_media_type"


class UnavailableError(ServiceError):
    """The server cannot do it now (the input log cannot be written)."""

    http_status = 503
    code = "unavailable"


def status_of(exc: VigilError) -> tuple[int, str]:
    """The HTTP status and error code of any Vigil error (plain ``VigilError``: 400)."""
    if isinstance(exc, ServiceError):
        return exc.http_status, exc.code
    return 400, "bad_request"
