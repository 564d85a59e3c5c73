"""Building PayPal requests and playing the payer on the hosted approval page."""

from __future__ import annotations

import httpx

from escrowd.providers.paypal import shapes
from escrowd.providers.paypal.amounts import money
from escrowd.providers.paypal.client import PayPalClient
from tests.paypal.conftest import CANCEL_URL, RETURN_URL


def order_request(
    intent: shapes.Intent = "AUTHORIZE",
    amount: int = 10000,
    currency: str = "usd",
    *,
    invoice_id: str | None = "esc_1",
) -> shapes.OrderRequest:
    return shapes.OrderRequest(
        intent=intent,
        purchase_units=[
            shapes.PurchaseUnitRequest(
                reference_id="esc_1", amount=money(amount, currency), invoice_id=invoice_id
            )
        ],
        payment_source=shapes.PaymentSource(
            paypal=shapes.PayPalWallet(
                experience_context=shapes.ExperienceContext(
                    return_url=RETURN_URL, cancel_url=CANCEL_URL, user_action="PAY_NOW"
                )
            )
        ),
    )


async def payer(
    raw: httpx.AsyncClient,
    order: shapes.Order,
    *,
    action: str = "approve",
    funding: str = "balance",
) -> httpx.Response:
    """Open the approval link and press a button, as the payer's browser would."""
    assert order.approval_url is not None
    url = httpx.URL(order.approval_url)
    shown = await raw.get(url.raw_path.decode().removeprefix("/sandbox/paypal"))
    assert shown.status_code == 200, shown.text
    assert order.id in shown.text
    return await raw.post(f"/checkoutnow/{order.id}", data={"action": action, "funding": funding})


async def approved_order(
    paypal: PayPalClient,
    raw: httpx.AsyncClient,
    req: shapes.OrderRequest | None = None,
    *,
    key: str,
    funding: str = "balance",
) -> shapes.Order:
    order = await paypal.create_order(req or order_request(), request_id=key)
    r = await payer(raw, order, funding=funding)
    assert r.status_code == 303, r.text
    return order


async def authorization(
    paypal: PayPalClient, raw: httpx.AsyncClient, *, key: str, amount: int = 10000
) -> shapes.Authorization:
    order = await approved_order(paypal, raw, order_request(amount=amount), key=key)
    done = await paypal.authorize_order(order.id, request_id=key + "-auth")
    payments = done.purchase_units[0].payments
    assert payments is not None
    return payments.authorizations[0]
