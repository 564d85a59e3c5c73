"""A tiny page layout for the hosted pages (escaped values only)."""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

#: A test form is a few short fields; anything bigger is not one of ours.
MAX_FORM_BYTES = 16 * 1024

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-size:1.3rem}.note{background:#fff7d6;border:1px solid #e6c200;padding:.5rem .75rem;
border-radius:6px;font-size:.9rem}label{display:block;margin:.75rem 0 .25rem}
input,select{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
button{padding:.6rem 1.2rem;font-size:1rem;margin:1rem .5rem 0 0;cursor:pointer}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem;
text-align:left;font-size:.9rem}.err{color:#b00020}code{font-size:.9rem}
"""


def page(title: str, body: str, *, status: int = 200) -> HTMLResponse:
    html = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<style>{_STYLE}</style></head><body><p class=note>escrowd sandbox — test mode, no "
        f"real money moves.</p><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def safe_url(url: str | None) -> str | None:
    """Accept a redirect target only if it is an http(s) URL or a path on this host."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return url
    if not parts.scheme and not parts.netloc and url.startswith("/") and not url.startswith("//"):
        return url
    return None


def redirect(url: str, **params: str) -> RedirectResponse:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    target = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
    return RedirectResponse(target, status_code=303)


async def form_fields(request: Request) -> dict[str, str]:
    """An urlencoded form body (the pages post nothing else), first value of each field."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return {}
    fields: dict[str, str] = {}
    for key, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(key, value)
    return fields


__all__ = ["escape", "form_fields", "page", "redirect", "safe_url"]
