"""A TestClient that posts forms as a browser does: with the CSRF token of the page it has
open, i.e. the token the last HTML page it loaded carried (the check is never disabled)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tongban.identity.csrf import FIELD, UNSAFE_METHODS

TOKEN = re.compile(r'<meta name="csrf-token" content="([^"]*)">')


def page_token(html: str) -> str:
    """The CSRF token a rendered page carries (every page has it in its <head>)."""
    found = TOKEN.search(html)
    assert found, "the page carries a CSRF token"
    return found.group(1)


class BrowserClient(TestClient):
    """Each POST/PUT/PATCH/DELETE to a page (not /api) gets the `csrf_token` form field of
    the last page loaded, unless the caller sends one itself; `send_csrf = False` sends
    none (to show what a forged request gets)."""

    page_token: str | None = None
    send_csrf: bool = True

    def request(self, method: str, url: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        path = str(url)
        if (method.upper() in UNSAFE_METHODS and "/api/" not in path and self.send_csrf
                and self.page_token is not None and kwargs.get("json") is None
                and kwargs.get("content") is None):
            data = dict(kwargs.get("data") or {})
            data.setdefault(FIELD, self.page_token)
            kwargs["data"] = data
        response = super().request(method, url, **kwargs)
        if "text/html" in response.headers.get("content-type", ""):
            found = TOKEN.search(response.text)
            if found:
                self.page_token = found.group(1)
        return response
