"""The one error root. Every Vigil error says what failed, where, and what to do."""

from __future__ import annotations

import errno


class VigilError(Exception):
    """Root of all errors Vigil raises on purpose."""


class ConfigError(VigilError):
    """A setting or command-line option is wrong."""


class InputError(VigilError):
    """An input file or stream cannot be read at all (missing, unreadable)."""


class CheckpointError(VigilError):
    """A checkpoint cannot be loaded or does not match the run it is resumed with."""


#: what a run that stopped on a full disk keeps, and how to go on (``vigil run``)
RESUME_AFTER_FULL_DISK = (
    "the outputs and the last checkpoint are intact",
    "Free space and run the same command again to resume from the checkpoint",
)


def write_failure(exc: OSError, place: str, kept: str, then: str) -> str:
    """One line for a write that failed: a full disk said as such, with what is intact and
    what to do (``place``: "in '/data/ckpt' while writing a checkpoint")."""
    if exc.errno == errno.ENOSPC:
        return f"disk full {place}: {kept}. {then}"
    return f"cannot write {place}: {exc.strerror or exc}; {kept}"


# --- errors of the service layer (cases, security): each knows its HTTP status ------------
#
# The API turns any ``ServiceError`` into a response with ``http_status`` and a body of
# ``{"error": code, "detail": str(exc)}``; the service layer never imports the web framework.


class ServiceError(VigilError):
    """A request to the case or security service was refused; ``http_status`` says how."""

    http_status: int = 400
    code: str = "bad_request"


class RequestError(ServiceError):
    """The request itself is invalid (unknown role or scope, empty note, bad filter)."""

    http_status = 422
    code = "invalid_request"


class UnauthorizedError(ServiceError):
    """No valid credentials: unknown or revoked API key, wrong password, expired session."""

    http_status = 401
    code = "unauthorized"


class ForbiddenError(ServiceError):
    """The caller is known but the permission matrix does not allow this action."""

    http_status = 403
    code = "forbidden"


class SelfApprovalError(ForbiddenError):
    """Four eyes: the author of a change cannot approve it; another lead or admin must."""

    code = "self_approval"


class NotFoundError(ServiceError):
    """The case, user, key or change request does not exist."""

    http_status = 404
    code = "not_found"


class ConflictError(ServiceError):
    """The request conflicts with the current state (already decided, already exists)."""

    http_status = 409
    code = "conflict"


class IllegalTransitionError(ConflictError):
    """A case cannot move from its status to the one asked for (docs/cases.md's table)."""

    code = "illegal_transition"

    def __init__(self, case_id: int, from_status: str, to_status: str, allowed: str) -> None:
        super().__init__(
            f"case {case_id}: cannot move from {from_status!r} to {to_status!r}; "
            f"from {from_status!r} it can go to: {allowed}"
        )
        self.case_id = case_id
        self.from_status = from_status
        self.to_status = to_status
