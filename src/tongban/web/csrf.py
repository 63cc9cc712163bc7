"""CSRF protection of the pages: every form and htmx request carries the session's token.

The tokens are identity's (`tongban.identity.csrf`): an HMAC bound to the session cookie,
or before sign-in to the `tongban_csrf` pre-session cookie, which a page sets when the
visitor has none. Each page puts its token in a hidden `csrf_token` input of every POST
form (`{{ csrf_input() }}`) and in `hx-headers` on `<body>`, so htmx requests send it as
`X-CSRF-Token`. `WebRoute` checks every POST/PUT/PATCH/DELETE before the route runs (no
session is opened, nothing is read or written); a second, cheap layer refuses a request
whose Origin (or, without one, Referer) names another host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request, Response
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from tongban.identity import csrf
from tongban.identity.deps import SESSION_COOKIE


def _presession(request: Request) -> str:
    """The visitor's pre-session value: from the cookie, or new for this response."""
    value = request.cookies.get(csrf.PRESESSION_COOKIE)
    if value:
        return value
    fresh: str | None = getattr(request.state, "csrf_presession", None)
    if fresh is None:
        fresh = request.state.csrf_presession = csrf.new_presession()
    return fresh


def token_for(request: Request) -> str:
    """The token of the page being rendered for this request."""
    return csrf.issue(settings=request.app.state.settings,
                      session=request.cookies.get(SESSION_COOKIE),
                      presession=_presession(request))


def remember(request: Request, response: Response) -> None:
    """Set the pre-session cookie a page's token was bound to, if the visitor had none."""
    fresh: str | None = getattr(request.state, "csrf_presession", None)
    if fresh is not None and not request.cookies.get(csrf.PRESESSION_COOKIE):
        settings = request.app.state.settings
        response.set_cookie(csrf.PRESESSION_COOKIE, fresh, httponly=True, samesite="lax",
                            max_age=settings.session_days * 24 * 3600,
                            secure=request.url.scheme == "https")


@pass_context
def csrf_input(context: Context) -> Markup:
    """Jinja global: the hidden input every POST form carries."""
    token = context.get("csrf_token")
    if not token:
        raise RuntimeError("csrf_input() needs the page's context: render through page(), "
                           "and import macros that use it `with context`")
    return Markup('<input type="hidden" name="{}" value="{}">').format(csrf.FIELD, token)


def _same_origin(request: Request) -> bool:
    """False when Origin (or Referer) names a host that is neither this request's Host nor
    the node's public address; a request that sends neither is left to the token."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return True
    if source == "null":  # an opaque origin (sandboxed frame, data: URL): never ours
        return False
    allowed = {request.headers.get("host", "").lower(),
               urlsplit(request.app.state.settings.public_url).netloc.lower()}
    return urlsplit(source).netloc.lower() in allowed - {""}


async def passes(request: Request) -> bool:
    """Whether a state-changing page request comes from one of our own pages."""
    if not _same_origin(request):
        return False
    settings = request.app.state.settings
    cookies = {"session": request.cookies.get(SESSION_COOKIE),
               "presession": request.cookies.get(csrf.PRESESSION_COOKIE)}
    if csrf.valid(settings=settings, token=request.headers.get(csrf.HEADER), **cookies):
        return True
    posted = (await request.form()).get(csrf.FIELD)
    return isinstance(posted, str) and csrf.valid(settings=settings, token=posted, **cookies)
