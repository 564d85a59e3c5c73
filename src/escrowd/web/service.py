"""The web app's own rules: who the browser is (the session cookie), CSRF tokens, and amounts
typed in forms. Everything about money is asked of the domain services; nothing here reads
their tables.

Sign-in: the session cookie holds the same access token ``POST /v1/auth/tokens`` issues
(``escrowd.users.tokens``), HttpOnly and SameSite=Lax, Secure whenever the site is served over
HTTPS. It is checked on every request exactly as a Bearer token is (``api.auth.resolve``):
expired, forged or a disabled user's token means signed out.

CSRF: double-submit. A random token lives in its own HttpOnly cookie and is repeated in a
hidden field of every form; a POST whose field does not match the cookie is refused (403),
and so is one whose ``Origin`` header names another site. A cross-site page can neither read
the cookie nor set it, so it cannot forge the field.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from decimal import Decimal, InvalidOperation
from typing import Final
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from escrowd.api.auth import SESSION_COOKIE, resolve
from escrowd.api.principal import Principal
from escrowd.bootstrap import Container
from escrowd.errors import AuthenticationError, InvalidRequestError
from escrowd.money import exponent

CSRF_COOKIE: Final = "escrowd_csrf"
#: The pages' forms are a few short fields; a bigger body is not one of them.
MAX_FORM_BYTES: Final = 16 * 1024
CSRF_FIELD: Final = "csrf_token"
ROLES: Final = ("client", "worker", "admin")


class SignInRequired(Exception):  # noqa: N818  (a signal to redirect, not an error)
    """The page needs a signed-in user: answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class PageForbidden(Exception):  # noqa: N818
    """Signed in, but not allowed here (a role's pages, or a failed CSRF check): a 403 page."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PageMissing(Exception):  # noqa: N818
    """No such object, or one this user may not see (the API's 404, as a page)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def secure_cookies(request: Request, container: Container) -> bool:
    """Secure cookies when the browser talks HTTPS to us (directly or per public_url)."""
    return request.url.scheme == "https" or container.settings.public_url.startswith("https:")


async def signed_in(request: Request, container: Container) -> Principal | None:
    """The user the session cookie names, or None (no cookie, or one no longer good)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        async with container.db.transaction() as session:
            principal = await resolve(session, container=container, authorization=f"Bearer {token}")
    except AuthenticationError:
        return None
    # Only a person signs in to the web app; an API key in a cookie is not a session.
    return principal if principal.is_user else None


def set_session(response: Response, *, token: str, max_age: int, secure: bool) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def csrf_token(request: Request) -> tuple[str, bool]:
    """The browser's CSRF token, and whether it is new (then the response must set it)."""
    current = request.cookies.get(CSRF_COOKIE)
    if current and 20 <= len(current) <= 100:
        return current, False
    return secrets.token_urlsafe(32), True


def set_csrf(response: Response, token: str, *, secure: bool) -> None:
    response.set_cookie(
        CSRF_COOKIE, token, path="/app", httponly=True, samesite="lax", secure=secure
    )


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None:
        return True  # older browsers and non-browser clients: the token alone decides
    parts = urlsplit(origin)
    return f"{parts.scheme}://{parts.netloc}" == f"{request.url.scheme}://{request.url.netloc}"


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a form post whose token does not match the cookie, or that came from elsewhere."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if (
        not cookie
        or not submitted
        or not hmac.compare_digest(cookie.encode(), submitted.encode())
        or not _same_origin(request)
    ):
        raise PageForbidden(
            "This form was not sent from an escrowd page (its security token is missing or "
            "does not match). Reload the page and try again."
        )


def return_token(container: Container, csrf: str, escrow_id: str) -> str:
    """What the hosted card form carries back for one escrow: derived from the browser's CSRF
    token, so a link made elsewhere cannot make a signed-in payer pay with someone's card,
    while the token itself never leaves the browser."""
    key = container.settings.secret_key.encode()
    return hmac.new(key, f"card-return:{csrf}:{escrow_id}".encode(), hashlib.sha256).hexdigest()


def check_return_token(container: Container, request: Request, escrow_id: str, got: str) -> None:
    csrf = request.cookies.get(CSRF_COOKIE)
    if not csrf or not hmac.compare_digest(return_token(container, csrf, escrow_id), got):
        raise PageForbidden(
            "This payment link was not made for this browser. Open the escrow and press Pay."
        )


def parse_amount(text: str, currency: str, *, field: str) -> int:
    """``"12.50"`` in ``usd`` → 1250 minor units; anything else is a 400 naming the field."""
    places = exponent(currency)
    cleaned = text.strip().replace(",", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise InvalidRequestError(
            f"Enter the {field} as a number like 12.50.", code="amount_invalid", param=field
        )
    minor = value.scaleb(places)
    if minor != minor.to_integral_value():
        raise InvalidRequestError(
            f"The {field} has more than {places} decimal places.",
            code="amount_invalid",
            param=field,
        )
    return int(minor)


async def form_fields(request: Request) -> dict[str, str]:
    """An urlencoded form body, the first value of each field (the pages post nothing else)."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    fields: dict[str, str] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(key, value)
    return fields


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a path of the web app only, never another site."""
    if path and path.startswith("/app") and not path.startswith("//") and "\\" not in path:
        return path
    return "/app"
