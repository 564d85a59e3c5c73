"""Payees' pages: the balance (with the earnings chart), payout requests and their history,
and payout settings (the Stripe connected account and its onboarding, the PayPal email
PayPal payouts go to). docs/webapp.md describes them."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from escrowd.accounts import refresh_links
from escrowd.accounts import service as accounts
from escrowd.accounts.schemas import Account
from escrowd.api import idempotency
from escrowd.api.deps import ContainerDep
from escrowd.api.principal import Principal
from escrowd.balances import service as balances
from escrowd.balances.domain import Figure
from escrowd.errors import EscrowdError, InvalidRequestError
from escrowd.payouts import service as payouts
from escrowd.payouts.models import Payout
from escrowd.payouts.schemas import PayoutObject
from escrowd.providers.base import Capability
from escrowd.users.domain import normalize_email
from escrowd.web.figures import earnings_charts
from escrowd.web.routes import (
    SHOWN,
    FormDep,
    Viewer,
    _base,
    _money,
    _role,
    form_key,
    render,
    router,
    see_other,
)
from escrowd.web.service import parse_amount

#: What each account status means to the payee, in the page's words.
STATUS_WORDS = {
    None: "not connected",
    "pending_verification": "pending",
    "verified": "verified",
    "restricted": "restricted",
}


def requirement_words(name: str) -> str:
    """``individual.verification.document`` → ``individual › verification › document``."""
    return " › ".join(part.replace("_", " ") for part in name.split("."))


async def _settings_page(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
    email: str | None = None,
) -> Response:
    assert viewer.user_id is not None
    provider = accounts.provider_of(container, Capability.connected_accounts).name
    async with container.db.transaction() as session:
        row = await accounts.account_for(session, party_id=viewer.user_id, provider=provider)
        account = Account.of(row) if row is not None else None
        _, destination = await payouts.destination_of(session, actor=viewer, party=None)
        balance = await balances.balance(session, party=viewer.user_id)
    currencies = [c for c, _ in balance.figures.get(Figure.available, [])] or ["usd"]
    figures = [
        (currency, {f.value: dict(balance.figures.get(f, [])).get(currency, 0) for f in Figure})
        for currency in currencies
    ]
    saved = destination.paypal_email if destination is not None else None
    context: dict[str, Any] = {
        "account": account,
        "account_status": STATUS_WORDS[account.status if account else None],
        "requirement_words": requirement_words,
        "paypal_email": saved,
        "email": saved if email is None else email,
        "figures": figures,
    }
    return render(
        request,
        container,
        "payout_settings.html",
        viewer,
        status=status,
        error=error,
        notice=notice,
        **context,
    )


@router.get("/payout-settings")
async def payout_settings(
    request: Request,
    container: ContainerDep,
    viewer: Viewer,
    back: str | None = None,
    saved: str | None = None,
) -> Response:
    """``?back=onboarding`` is where the provider's hosted onboarding returns: the account's
    status is read from the provider then, not left to its (later) webhook."""
    _role(viewer, "worker")
    assert viewer.user_id is not None
    if back != "onboarding":
        notice = "PayPal email saved." if saved == "paypal" else None
        return await _settings_page(request, container, viewer, notice=notice)
    provider = accounts.provider_of(container, Capability.connected_accounts).name
    async with container.db.transaction() as session:
        row = await accounts.account_for(session, party_id=viewer.user_id, provider=provider)
        account_id = row.id if row is not None else None
    if account_id is None:
        return await _settings_page(request, container, viewer)
    try:
        fresh = await accounts.refresh_account(container, account_id=account_id, actor=viewer)
    except EscrowdError as exc:
        return await _settings_page(
            request, container, viewer, error=f"Could not read your account: {exc.message}"
        )
    notice = {
        "verified": "Back from Stripe: your account is verified, payouts can be paid to it.",
        "restricted": "Back from Stripe: your account is restricted; see what is still needed.",
    }.get(fresh.status, "Back from Stripe: onboarding is not finished yet.")
    return await _settings_page(request, container, viewer, notice=notice)


@router.post("/payout-settings/connect")
async def connect(
    request: Request, container: ContainerDep, _form: FormDep, viewer: Viewer
) -> Response:
    """Create the payee's connected account if needed, then send them to the provider's
    hosted onboarding, which returns to the settings page."""
    _role(viewer, "worker")
    assert viewer.user_id is not None
    provider = accounts.provider_of(container, Capability.connected_accounts).name
    try:
        async with container.db.transaction() as session:
            row = await accounts.account_for(session, party_id=viewer.user_id, provider=provider)
            account_id = row.id if row is not None and row.provider_account_id else None
        if account_id is None:
            # Also finishes an earlier attempt that stopped half way (same idempotency key).
            account_id = (await accounts.create_account(container, actor=viewer)).id
        link = await refresh_links.create_link(
            container,
            account_id=account_id,
            actor=viewer,
            return_url=f"{_base(request)}/app/payout-settings?back=onboarding",
            refresh=None,
        )
    except EscrowdError as exc:
        return await _settings_page(
            request, container, viewer, error=exc.message, status=exc.http_status
        )
    return see_other(link.url)


@router.post("/payout-settings/paypal")
async def set_paypal(
    request: Request, container: ContainerDep, form: FormDep, viewer: Viewer
) -> Response:
    """Save the PayPal email (an empty field removes it), as POST /v1/payout_destination."""
    _role(viewer, "worker")
    typed = form.get("paypal_email", "")[:320].strip()
    try:
        try:
            email = normalize_email(typed) if typed else None
        except InvalidRequestError as exc:
            raise InvalidRequestError(exc.message, code=exc.code, param="paypal_email") from None
        async with container.db.transaction() as session:
            await payouts.set_destination(
                session, clock=container.clock, actor=viewer, party=None, paypal_email=email
            )
    except EscrowdError as exc:
        return await _settings_page(
            request, container, viewer, error=exc.message, status=exc.http_status, email=typed
        )
    return see_other("/app/payout-settings?saved=paypal")


# --- payees: balance and payouts ---------------------------------------------------------------


async def _balance_page(
    request: Request,
    container: ContainerDep,
    viewer: Principal,
    *,
    error: str | None = None,
    notice: str | None = None,
    status: int = 200,
    amount: str = "",
    requested: str | None = None,
) -> Response:
    assert viewer.user_id is not None
    async with container.db.transaction() as session:
        balance = await balances.balance(session, party=viewer.user_id)
        stmt = await payouts.visible(session, actor=viewer)
        rows = (await session.scalars(stmt.order_by(Payout.id.desc()).limit(SHOWN))).all()
        history = [PayoutObject.of(row) for row in rows]
        charts = await earnings_charts(session, party=viewer.user_id, now=container.clock.now())
    just = next((p for p in history if p.id == requested), None)
    if just is not None:
        notice = f"Payout of {_money(just.amount, just.currency)} requested: an admin reviews it."
    currencies = [c for c, _ in balance.figures.get(Figure.available, [])] or ["usd"]
    figures = [
        (currency, {f.value: dict(balance.figures.get(f, [])).get(currency, 0) for f in Figure})
        for currency in currencies
    ]
    return render(
        request,
        container,
        "balance.html",
        viewer,
        status=status,
        figures=figures,
        currencies=currencies,
        history=history,
        charts=charts,
        error=error,
        notice=notice,
        amount=amount,
    )


@router.get("/balance")
async def balance_page(
    request: Request, container: ContainerDep, viewer: Viewer, requested: str | None = None
) -> Response:
    _role(viewer, "worker")
    return await _balance_page(request, container, viewer, requested=requested)


async def _request_once(
    container: ContainerDep,
    viewer: Principal,
    key: str | None,
    fingerprint: str,
    amount: int,
    currency: str,
    provider: str,
) -> str:
    """Request the payout, once per form key: the form's hidden ``idempotency_key`` (made
    when the page was rendered) is kept as the API keeps an Idempotency-Key, in the same
    transaction as the payout, so the form sent twice requests one payout and both answers
    name it."""
    async with container.db.transaction() as session:
        claimed: idempotency.IdempotencyKey | None = None
        if key is not None:
            found = await idempotency.claim_in(
                session,
                container=container,
                scope=viewer.id,
                key=key,
                path="/app/payouts",
                fingerprint=fingerprint,
            )
            if isinstance(found, bytes):
                return found.decode()
            claimed = found
        row = await payouts.request(
            session,
            clock=container.clock,
            actor=viewer,
            amount=amount,
            currency=currency,
            party=None,
            provider=provider,
        )
        if claimed is not None:
            idempotency.finish_in(claimed, body=row.id.encode())
        return row.id


@router.post("/payouts")
async def request_payout(
    request: Request,
    container: ContainerDep,
    form: FormDep,
    viewer: Viewer,
) -> Response:
    amount = form.get("amount", "")[:40]
    currency = form.get("currency", "usd")[:3]
    provider = form.get("provider", "stripe")[:10]
    _role(viewer, "worker")
    try:
        if provider not in ("stripe", "paypal"):
            raise InvalidRequestError("Choose your bank (Stripe) or PayPal.", param="provider")
        minor = parse_amount(amount, currency, field="amount")
        if minor <= 0:
            raise InvalidRequestError("Enter an amount above zero.", param="amount")
        key = form_key(form)
        fingerprint = idempotency.request_fingerprint(
            "POST", "/app/payouts", b"", f"{minor}:{currency}:{provider}".encode()
        )
        try:
            payout_id = await _request_once(
                container, viewer, key, fingerprint, minor, currency, provider
            )
        except IntegrityError:
            # The same form, sent twice at once: the other one stored the key first.
            payout_id = await _request_once(
                container, viewer, key, fingerprint, minor, currency, provider
            )
    except EscrowdError as exc:
        return await _balance_page(
            request, container, viewer, error=exc.message, status=exc.http_status, amount=amount
        )
    # Redirect, so that reloading the page shows it again rather than asking for another.
    return see_other(f"/app/balance?requested={quote(payout_id)}")
