"""OAuth client credentials: one token while it lives, a new one before it dies or when refused."""

from __future__ import annotations

from datetime import timedelta

import pytest

from escrowd.bootstrap import Container
from escrowd.clock import FrozenClock
from escrowd.providers.errors import ProviderError, ProviderErrorKind
from escrowd.providers.paypal.client import PayPalClient
from tests.paypal.conftest import Wire, make_client, shift
from tests.paypal.helpers import order_request


async def test_one_token_serves_many_calls(paypal: PayPalClient, wire: Wire) -> None:
    order = await paypal.create_order(order_request(), request_id="tok-1")
    for _ in range(3):
        await paypal.get_order(order.id)
    assert len(wire.to("/v1/oauth2/token")) == 1
    tokens = {e.headers["authorization"] for e in wire.seen if "oauth2" not in e.path}
    assert len(tokens) == 1


async def test_the_token_is_refreshed_before_it_expires_by_the_injected_clock(
    paypal: PayPalClient, wire: Wire, clock: FrozenClock
) -> None:
    order = await paypal.create_order(order_request(), request_id="tok-2")
    # PayPal's tokens live 9 hours; the client renews 5 minutes early.
    clock.advance(timedelta(hours=8, minutes=54))
    await paypal.get_order(order.id)
    assert len(wire.to("/v1/oauth2/token")) == 1
    clock.advance(timedelta(minutes=2))
    await paypal.get_order(order.id)
    assert len(wire.to("/v1/oauth2/token")) == 2
    first, second = (e.headers["authorization"] for e in wire.seen if "/orders/" in e.path)
    assert first != second


async def test_a_refused_cached_token_is_replaced_once(
    paypal: PayPalClient, wire: Wire, container: Container
) -> None:
    order = await paypal.create_order(order_request(), request_id="tok-3")
    # PayPal's clock (the sandbox's) runs ahead of escrowd's: the cached token died early.
    await shift(container, days=1)
    again = await paypal.get_order(order.id)
    assert again.id == order.id
    assert [e.status for e in wire.seen] == [200, 200, 401, 200, 200]
    assert len(wire.to("/v1/oauth2/token")) == 2


async def test_wrong_credentials_are_an_authentication_error(
    wire: Wire, container: Container
) -> None:
    client = make_client(wire, container, secret="not-the-secret")
    with pytest.raises(ProviderError) as info:
        await client.create_order(order_request(), request_id="tok-4")
    await client.aclose()
    err = info.value
    assert err.kind is ProviderErrorKind.authentication
    assert err.raw_code == "invalid_client"
    assert not err.retryable
    assert err.to_api_error().code == "payment_system_error"
    assert "not-the-secret" not in err.message
    # Nothing but the token request went out.
    assert [e.path for e in wire.seen] == ["/v1/oauth2/token"]
