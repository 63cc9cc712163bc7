"""CSRF tokens for requests a browser authenticates with a cookie (OWASP's HMAC token).

A state-changing request (POST/PUT/PATCH/DELETE) that the session cookie authenticates must
carry a token the node derived from that same cookie: HMAC-SHA256 under the node's CSRF
key (tongban.node.keyring; a retired key still verifies), compared in constant time.
Another site can make the browser send the cookie, but can neither read the token from
our pages nor compute it; and a token is worth nothing with another session.

Before sign-in (the login form: login CSRF) there is no session to bind to, so the token
is bound to a random pre-session cookie instead. A token carries both parts,
`<session part>.<pre-session part>`: a request with a session cookie is checked against
the session part only; one without (never signed in, or the browser dropped an expired
session while a form was open) against the pre-session part. Nothing is stored server-side.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from tongban.config import Settings
from tongban.errors import Forbidden
from tongban.node.keyring import keyring

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FIELD = "csrf_token"  # the hidden input of every form
HEADER = "X-CSRF-Token"  # the header of htmx and API callers
PRESESSION_COOKIE = "tongban_csrf"
MESSAGE = ("请求已过期或来源无效，请刷新页面后重试 / the request has expired or did not come "
           "from this site; please reload the page and try again")


def refusal() -> Forbidden:
    """The error of a request without a valid token (403, code `csrf`)."""
    return Forbidden(MESSAGE, code="csrf")


def new_presession() -> str:
    """A fresh random value for the pre-session cookie."""
    return secrets.token_urlsafe(32)


def _mac(key: bytes, kind: str, value: str) -> str:
    digest = hmac.new(key, f"{kind}\x00{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def issue(*, settings: Settings, session: str | None, presession: str | None) -> str:
    """The token for a page seen with these cookies (either part empty when absent)."""
    key = keyring(settings).csrf[0]
    return ".".join((_mac(key, "session", session) if session else "",
                     _mac(key, "presession", presession) if presession else ""))


def valid(*, settings: Settings, token: str | None, session: str | None,
          presession: str | None) -> bool:
    """Whether `token` belongs to a request with these cookies: to its session if it has
    one, else to its pre-session cookie."""
    if not token or token.count(".") != 1:
        return False
    session_part, presession_part = token.split(".")
    if session:
        kind, value, given = "session", session, session_part
    elif presession:
        kind, value, given = "presession", presession, presession_part
    else:
        return False
    # The key in use, then retired ones: a page served before a rotation still posts.
    return any(hmac.compare_digest(_mac(key, kind, value).encode(), given.encode())
               for key in keyring(settings).csrf)
