"""Domain errors: each carries a stable code, a readable message and details.

Services raise these; the API maps them to `{"error", "message", "details"}` with a 4xx
status, and the CLI prints the message on one line and exits non-zero.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A rule was broken by the caller's input; never a bug of ours."""

    status = 400
    code = "bad_request"

    # HTTP headers the answer carries (Retry-After of a temporary refusal).
    headers: dict[str, str] | None = None

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "details": self.details}


class InvalidInput(DomainError):
    status = 422
    code = "invalid"


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class Unauthenticated(DomainError):
    status = 401
    code = "unauthenticated"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class TooLarge(DomainError):
    status = 413
    code = "too_large"


class Busy(DomainError):
    """The database could not take the work now (a lock held too long, a locked SQLite
    file): nothing was written; the same request may be sent again after Retry-After."""

    status = 503
    code = "busy"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None,
                 retry_after: int = 2) -> None:
        super().__init__(message, code=code, details=details)
        self.headers = {"Retry-After": str(retry_after)}


class RetryConflict(Busy):
    """Two transactions collided (a deadlock or a serialisation failure) and this one was
    rolled back: nothing was written; sending it again will most likely succeed."""

    status = 409
    code = "retry"
