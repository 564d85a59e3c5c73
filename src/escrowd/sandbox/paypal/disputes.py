"""Disputes v1 in the sandbox: a buyer's dispute of a capture, and PayPal settling it.

PayPal's sandbox has no API to open a dispute (a buyer opens one in the Resolution Center), so
this sandbox has a page for it: ``/resolutioncenter/<capture id>`` opens a dispute of the
capture (all of it, or an amount), and the dispute's own page settles it either way. What the
pages do is also reachable as functions (:func:`open_dispute`, :func:`adjudicate`) for tests.

- A new dispute is a claim PayPal is reviewing: status ``UNDER_REVIEW``, stage
  ``CHARGEBACK``, channel ``INTERNAL``. PayPal holds the disputed amount from the seller's
  balance: one ``money_movements`` entry, SELLER DEBIT ``DISPUTE_SETTLEMENT``.
  ``CUSTOMER.DISPUTE.CREATED`` is sent.
- ``POST /v1/customer/disputes/{id}/adjudicate`` (PayPal's sandbox-only call, also behind the
  page's buttons) settles an ``UNDER_REVIEW`` dispute: ``SELLER_FAVOR`` →
  ``RESOLVED_SELLER_FAVOUR``, the hold released (SELLER CREDIT); ``BUYER_FAVOR`` →
  ``RESOLVED_BUYER_FAVOUR`` with ``amount_refunded`` the disputed amount (BUYER CREDIT).
  ``CUSTOMER.DISPUTE.RESOLVED`` is sent. Any other status answers 422 with
  ``details[0].issue`` ``INVALID_DISPUTE_STATUS``.
- No dispute fee is charged, and the capture itself is not changed (PayPal marks a capture
  lost to a chargeback ``REVERSED`` and sends ``PAYMENT.CAPTURE.REVERSED``; here that is a
  separate sandbox call, ``orders.reverse_capture``: docs/sandbox.md).
"""

from __future__ import annotations

import secrets
from typing import Any

from escrowd.providers.paypal import shapes
from escrowd.sandbox.paypal import webhooks
from escrowd.sandbox.paypal.faults import PayPalError, not_found, unprocessable
from escrowd.sandbox.paypal.orders import DAY, Reply, _money, load_capture, minor
from escrowd.sandbox.paypal.store import Obj, Unit, stamp

#: What a buyer may pick on the page (PayPal's dispute reasons).
REASONS = (
    "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
    "MERCHANDISE_OR_SERVICE_NOT_AS_DESCRIBED",
    "UNAUTHORISED",
    "INCORRECT_AMOUNT",
    "DUPLICATE_TRANSACTION",
    "OTHER",
)
SELLER_RESPONSE_DAYS = 10


def dispute_id() -> str:
    """PayPal's shape: ``PP-D-27803``."""
    return f"PP-D-{secrets.randbelow(10**8):08d}"


def _links(u: Unit, data: dict[str, Any]) -> list[dict[str, str]]:
    path = f"/v1/customer/disputes/{data['dispute_id']}"
    links = [u.link(path, "self")]
    if data["status"] == "UNDER_REVIEW":
        links.append(u.link(f"{path}/adjudicate", "adjudicate", "POST"))
    return links


async def open_dispute(
    u: Unit,
    capture_id: str,
    *,
    amount: int | None = None,
    reason: str = "MERCHANDISE_OR_SERVICE_NOT_RECEIVED",
) -> Obj:
    """The buyer disputes ``amount`` of the capture (all of it when None)."""
    capture = await load_capture(u, capture_id)
    total, currency = int(capture.private["amount"]), str(capture.private["currency"])
    disputed = total if amount is None else amount
    if not 0 < disputed <= total:
        raise unprocessable(
            "INVALID_DISPUTE_AMOUNT",
            "The disputed amount must be above zero and at most the transaction's amount.",
            "/dispute_amount/value",
        )
    if reason not in REASONS:
        raise unprocessable("INVALID_DISPUTE_REASON", "Unknown dispute reason.", "/reason")
    if capture.private.get("dispute") is not None:
        raise unprocessable(
            "DISPUTE_ALREADY_EXISTS", "The transaction is already disputed.", "/capture_id"
        )
    related = capture.data.get("supplementary_data", {}).get("related_ids", {})
    transaction: dict[str, Any] = {
        "buyer_transaction_id": f"{capture_id[:8]}BUYER{capture_id[8:12]}",
        "seller_transaction_id": capture_id,
        "create_time": capture.data["create_time"],
        "transaction_status": "COMPLETED",
        "gross_amount": _money(total, currency),
    }
    if capture.data.get("invoice_id"):
        transaction["invoice_number"] = capture.data["invoice_id"]
    if capture.data.get("custom_id"):
        transaction["custom"] = capture.data["custom_id"]
    data: dict[str, Any] = {
        "dispute_id": dispute_id(),
        "create_time": stamp(u.now),
        "update_time": stamp(u.now),
        "disputed_transactions": [transaction],
        "reason": reason,
        "status": "UNDER_REVIEW",
        "dispute_amount": _money(disputed, currency),
        "dispute_life_cycle_stage": "CHARGEBACK",
        "dispute_channel": "INTERNAL",
        "seller_response_due_date": stamp(u.now + SELLER_RESPONSE_DAYS * DAY),
        "money_movements": [
            {
                "affected_party": "SELLER",
                "amount": _money(disputed, currency),
                "initiated_time": stamp(u.now),
                "type": "DEBIT",
                "reason": "DISPUTE_SETTLEMENT",
            }
        ],
    }
    data["links"] = _links(u, data)
    dispute = u.create(
        "dispute",
        data["dispute_id"],
        data,
        capture=capture_id,
        order=related.get("order_id"),
        amount=disputed,
        currency=currency,
    )
    await u.save(dispute, parent=capture_id)
    capture.private["dispute"] = dispute.id
    await u.save(capture)
    await webhooks.emit(
        u,
        "CUSTOMER.DISPUTE.CREATED",
        "dispute",
        data,
        f"A new dispute opened with Case # {dispute.id}",
    )
    return dispute


async def load_dispute(u: Unit, dispute_id: str) -> Obj:
    dispute = await u.get(dispute_id, "dispute")
    if dispute is None:
        raise not_found("dispute", "dispute_id")
    return dispute


async def get_dispute(u: Unit, dispute_id: str) -> Reply:
    return 200, (await load_dispute(u, dispute_id)).data


async def adjudicate(u: Unit, dispute_id: str, req: shapes.AdjudicateRequest) -> Reply:
    dispute = await load_dispute(u, dispute_id)
    d = dispute.data
    if d["status"] != "UNDER_REVIEW":
        raise PayPalError(
            422,
            "INVALID_DISPUTE_STATUS",
            f"The dispute is {d['status']}: only a dispute UNDER_REVIEW can be settled.",
        )
    amount, currency = int(dispute.private["amount"]), str(dispute.private["currency"])
    seller = req.adjudication_outcome == "SELLER_FAVOR"
    outcome: dict[str, Any] = {
        "outcome_code": "RESOLVED_SELLER_FAVOUR" if seller else "RESOLVED_BUYER_FAVOUR"
    }
    if not seller:
        outcome["amount_refunded"] = _money(amount, currency)
    d["status"] = "RESOLVED"
    d["dispute_outcome"] = outcome
    d["update_time"] = stamp(u.now)
    d["money_movements"] = [
        *d["money_movements"],
        {
            "affected_party": "SELLER" if seller else "BUYER",
            "amount": _money(amount, currency),
            "initiated_time": stamp(u.now),
            "type": "CREDIT",
            "reason": "DISPUTE_SETTLEMENT",
        },
    ]
    d["links"] = _links(u, d)
    await u.save(dispute)
    await webhooks.emit(
        u,
        "CUSTOMER.DISPUTE.RESOLVED",
        "dispute",
        d,
        f"A dispute was resolved with case # {dispute.id}",
    )
    path = f"/v1/customer/disputes/{dispute.id}"
    return 200, {"links": [u.link(path, "self")]}


def amount_of(value: str, currency: str) -> int:
    """A page's amount field (major units, as PayPal writes them) in minor units."""
    return minor(shapes.Money(currency_code=currency.upper(), value=value), "/dispute_amount")[0]
