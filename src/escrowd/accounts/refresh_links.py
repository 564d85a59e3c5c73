"""escrowd's own ``refresh_url`` for onboarding links: a page that makes a fresh link.

Account links work once and for minutes. Opening one again — a reload, a second tab, a mail
client's link preview — sends the payee to the link's ``refresh_url`` and leaves the account
pending. Stripe expects the platform to answer there with a new link. A caller that has no such
page of its own leaves ``refresh_url`` out and gets escrowd's:
``{ESCROWD_PUBLIC_URL}/accounts/{id}/onboarding/refresh?token=…``. The token, signed with
ESCROWD_SECRET_KEY, names the account, the caller who asked for the first link (whose access is
checked again) and the ``return_url``; it lasts a day. The page makes a new link and offers it
with a button (a button, not a redirect: a preview that follows redirects would use it up).
"""

from __future__ import annotations

from datetime import timedelta
from html import escape
from typing import Annotated, Any
from urllib.parse import quote

import jwt
from fastapi import Path, Query
from fastapi.responses import HTMLResponse

from escrowd.accounts import service
from escrowd.api.deps import ContainerDep
from escrowd.api.principal import Principal
from escrowd.api.strict_json import APIRouter
from escrowd.bootstrap import Container
from escrowd.clock import unix
from escrowd.errors import EscrowdError
from escrowd.providers.types import Link
from escrowd.users.api_keys.models import ApiKey
from escrowd.users.models import User

#: How long the refresh page keeps making links for the payee it was given to.
TOKEN_TTL = timedelta(days=1)
_AUDIENCE = "escrowd-onboarding-refresh"
_ALGORITHM = "HS256"

router = APIRouter(include_in_schema=False)


class RefreshError(Exception):
    """The refresh link cannot make a new onboarding link; the message says what to do."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def refresh_url(container: Container, *, account_id: str, actor: Principal, return_url: str) -> str:
    """escrowd's refresh page for a link to ``account_id`` made by ``actor``."""
    now = container.clock.now()
    claims = {
        "aud": _AUDIENCE,
        "sub": account_id,
        "act": [actor.kind, actor.id],
        "ret": return_url,
        "exp": unix(now + TOKEN_TTL),
    }
    token = jwt.encode(claims, container.settings.secret_key, algorithm=_ALGORITHM)
    base = container.settings.public_url.rstrip("/")
    return f"{base}/accounts/{quote(account_id)}/onboarding/refresh?token={token}"


async def create_link(
    container: Container,
    *,
    account_id: str,
    actor: Principal,
    return_url: str,
    refresh: str | None,
) -> Link:
    """An onboarding link; with no ``refresh`` URL of the caller's, escrowd's own page."""
    return await service.create_onboarding_link(
        container,
        account_id=account_id,
        actor=actor,
        refresh_url=refresh
        or refresh_url(container, account_id=account_id, actor=actor, return_url=return_url),
        return_url=return_url,
    )


async def renew(container: Container, *, account_id: str, token: str) -> Link:
    """A new onboarding link for the refresh page, or RefreshError."""
    expired = RefreshError(
        "This page can no longer make onboarding links. Go back to the marketplace and start "
        "setting up payouts again.",
        410,
    )
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            container.settings.secret_key,
            algorithms=[_ALGORITHM],
            audience=_AUDIENCE,
            options={"require": ["sub", "act", "ret", "exp"], "verify_exp": False},
        )
    except jwt.PyJWTError:
        raise RefreshError("This link is not one escrowd made.", 404) from None
    if claims["sub"] != account_id:
        raise RefreshError("This link is not one escrowd made.", 404)
    if claims["exp"] <= unix(container.clock.now()):
        raise expired
    actor = await _actor(container, claims["act"])
    if actor is None:
        raise expired
    try:
        return await create_link(
            container, account_id=account_id, actor=actor, return_url=claims["ret"], refresh=None
        )
    except EscrowdError as exc:
        raise RefreshError(exc.message, exc.http_status) from exc


async def _actor(container: Container, act: list[str]) -> Principal | None:
    """The caller who asked for the first link, if they still may ask."""
    kind, actor_id = act
    async with container.db.transaction() as s:
        if kind == "user":
            user = await s.get(User, actor_id)
            return None if user is None or user.disabled else Principal.of_user(user)
        key = await s.get(ApiKey, actor_id)
        return None if key is None or key.revoked_at else Principal.of_api_key(key.id)


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;"
    "color:#222;line-height:1.45}h1{font-size:1.3rem}a.button{display:inline-block;"
    "padding:.6rem 1.2rem;background:#1a5fd0;color:#fff;border-radius:6px;text-decoration:none}"
)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    # The page holds a fresh single-use link: never from a cache, never indexed.
    headers = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
    return HTMLResponse(html, status_code=status, headers=headers)


@router.get("/accounts/{account_id}/onboarding/refresh", response_class=HTMLResponse)
async def refresh_page(
    account_id: Annotated[str, Path(max_length=64)],
    container: ContainerDep,
    token: Annotated[str, Query(max_length=4096)] = "",
) -> HTMLResponse:
    try:
        link = await renew(container, account_id=account_id, token=token)
    except RefreshError as refused:
        return _page("Onboarding link", f"<p>{escape(refused.message)}</p>", refused.status)
    return _page(
        "Continue setting up payouts",
        "<p>The onboarding link you opened had already been used or had expired: each link "
        "works once, for a few minutes. Here is a new one.</p>"
        f"<p><a class=button href='{escape(link.url)}'>Continue onboarding</a></p>",
    )
