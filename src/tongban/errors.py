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
