"""The sandbox's wire as any PayPal client sees it: errors, auth, void's 204, the guard itself."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from pydantic import ValidationError

from escrowd.bootstrap import Container
from escrowd.providers.errors import ProviderError
from escrowd.providers.paypal import shapes
from escrowd.providers.paypal.client import PayPalClient
from tests.paypal.conftest import Exchange, body_of, check_exchange
from tests.paypal.helpers import approved_order, authorization, order_request


async def _bearer(paypal: PayPalClient) -> dict[str, str]:
    return {"Authorization": f"Bearer {await paypal.access_token()}"}


async def test_a_request_that_violates_the_schema_is_an_invalid_request(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    body = order_request().model_dump(exclude_none=True)
    del body["intent"]
    r = await raw.post("/v2/checkout/orders", json=body, headers=await _bearer(paypal))
    assert r.status_code == 400
    error = body_of(r)
    assert error.name == "INVALID_REQUEST"
    assert error.details[0].issue == "MISSING_REQUIRED_PARAMETER"
    assert error.details[0].field == "/intent"
    assert r.headers["paypal-debug-id"] == error.debug_id


async def test_too_many_decimals_for_the_currency_is_unprocessable(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    body = order_request(currency="jpy").model_dump(exclude_none=True)
    body["purchase_units"][0]["amount"]["value"] = "10.50"
    r = await raw.post("/v2/checkout/orders", json=body, headers=await _bearer(paypal))
    assert r.status_code == 422
    assert body_of(r).details[0].issue == "DECIMAL_PRECISION"


async def test_malformed_json_and_unknown_paths(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    headers = await _bearer(paypal)
    r = await raw.post("/v2/checkout/orders", content=b"{nope", headers=headers)
    assert r.status_code == 400
    assert body_of(r).details[0].issue == "MALFORMED_REQUEST_JSON"
    missing = await raw.get("/v2/checkout/nothing-here", headers=headers)
    assert missing.status_code == 404
    assert body_of(missing).name == "RESOURCE_NOT_FOUND"


async def test_a_refused_request_writes_nothing(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    auth = await authorization(paypal, raw, key="wire-nothing")
    headers = {**await _bearer(paypal), "PayPal-Request-Id": "wire-nothing-c1"}
    over = {"amount": {"currency_code": "USD", "value": "500.00"}}
    path = f"/v2/payments/authorizations/{auth.id}/capture"
    r = await raw.post(path, json=over, headers=headers)
    assert r.status_code == 422
    # The refusal was not stored under the request id: a corrected retry may reuse it.
    fixed = {"amount": {"currency_code": "USD", "value": "5.00"}}
    ok = await raw.post(path, json=fixed, headers=headers)
    assert ok.status_code == 201, ok.text
    assert (await paypal.get_authorization(auth.id)).status == "PARTIALLY_CAPTURED"


async def test_void_without_prefer_answers_204(
    paypal: PayPalClient, raw: httpx.AsyncClient
) -> None:
    auth = await authorization(paypal, raw, key="wire-void")
    r = await raw.post(
        f"/v2/payments/authorizations/{auth.id}/void",
        headers={**await _bearer(paypal), "PayPal-Request-Id": "wire-void-1"},
    )
    assert r.status_code == 204
    assert r.content == b""
    assert (await paypal.get_authorization(auth.id)).status == "VOIDED"


async def test_no_or_unknown_token_is_refused_with_oauth_errors(raw: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer A21AAnot-a-token"}):
        r = await raw.get("/v2/checkout/orders/0ABCDEFGHIJKLMNOP", headers=headers)
        assert r.status_code == 401
        assert shapes.OAuthError.model_validate(r.json()).error == "invalid_token"
    bad = await raw.post(
        "/v1/oauth2/token", data={"grant_type": "password"}, auth=("sandbox-paypal-client", "x")
    )
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client"


async def test_the_approval_page_for_an_unknown_order_is_404(raw: httpx.AsyncClient) -> None:
    r = await raw.get("/checkoutnow", params={"token": "0ABCDEFGHIJKLMNOP"})
    assert r.status_code == 404


def _exchange(path: str, response: object, *, status: int = 200, method: str = "GET") -> Exchange:
    return Exchange(
        method,
        path,
        httpx.Headers({"authorization": "Bearer t"}),
        b"",
        status,
        json.dumps(response).encode(),
    )


def test_the_wire_guard_fails_on_a_shape_paypal_does_not_publish() -> None:
    good = {"id": "X", "status": "COMPLETED", "amount": {"currency_code": "USD", "value": "1.00"}}
    check_exchange(_exchange("/v2/payments/captures/ABC", {**good, "final_capture": True}))
    with pytest.raises(ValidationError):  # final_capture missing
        check_exchange(_exchange("/v2/payments/captures/ABC", good))
    bad = {**good, "final_capture": True, "amount": {"currency_code": "USD", "value": 1.0}}
    with pytest.raises(ValidationError):  # a float amount
        check_exchange(_exchange("/v2/payments/captures/ABC", bad))
    with pytest.raises(ValidationError):  # an error without PayPal's debug_id
        check_exchange(
            _exchange("/v2/payments/captures/ABC", {"name": "X", "message": "m"}, status=422)
        )
    with pytest.raises(AssertionError):  # a money-moving call without PayPal-Request-Id
        check_exchange(_exchange("/v2/payments/captures/ABC/refund", {}, status=422, method="POST"))


async def test_a_dispute_read_and_settled_over_the_wire(
    paypal: PayPalClient, raw: httpx.AsyncClient, container: Container
) -> None:
    """``GET /v1/customer/disputes/{id}`` and the sandbox-only adjudication, in PayPal's
    shapes (the ``wire`` fixture checks every exchange); a missing dispute is PayPal's 404, a
    settled one cannot be settled again."""
    order = await approved_order(paypal, raw, order_request("CAPTURE", 4_200), key="wire-dp")
    done = await paypal.capture_order(order.id, request_id="wire-dp-capture")
    assert done.purchase_units[0].payments is not None
    capture = done.purchase_units[0].payments.captures[0]
    opened = await raw.post(f"/resolutioncenter/{capture.id}", data={"reason": "UNAUTHORISED"})
    assert opened.status_code == 201, opened.text
    found = re.search(r"<code id=dispute>([A-Z0-9-]+)</code>", opened.text)
    assert found is not None
    dispute = await paypal.get_dispute(found.group(1))
    assert (dispute.status, dispute.reason, dispute.dispute_amount.value) == (
        "UNDER_REVIEW",
        "UNAUTHORISED",
        "42.00",
    )
    assert dispute.seller_transaction_id == capture.id
    assert dispute.dispute_outcome is None
    assert shapes.link(dispute.links, "adjudicate") is not None
    again = await raw.post(f"/resolutioncenter/{capture.id}", data={"reason": "OTHER"})
    assert again.status_code == 422
    assert "already disputed" in again.text
    shown = await raw.get(f"/resolutioncenter/{capture.id}")  # now the dispute's own page
    assert dispute.dispute_id in shown.text
    assert "value=SELLER_FAVOR" in shown.text
    await paypal.adjudicate_dispute(
        dispute.dispute_id,
        shapes.AdjudicateRequest(adjudication_outcome="SELLER_FAVOR"),
        request_id="wire-dp-settle",
    )
    settled = await paypal.get_dispute(dispute.dispute_id)
    assert settled.status == "RESOLVED"
    assert settled.dispute_outcome is not None
    assert settled.dispute_outcome.outcome_code == "RESOLVED_SELLER_FAVOUR"
    assert [(m.affected_party, m.type) for m in settled.money_movements] == [
        ("SELLER", "DEBIT"),
        ("SELLER", "CREDIT"),
    ]
    with pytest.raises(ProviderError) as refused:
        await paypal.adjudicate_dispute(
            dispute.dispute_id,
            shapes.AdjudicateRequest(adjudication_outcome="BUYER_FAVOR"),
            request_id="wire-dp-settle-2",
        )
    assert refused.value.http_status == 422
    with pytest.raises(ProviderError) as missing:
        await paypal.get_dispute("PP-D-00000000")
    assert missing.value.missing
