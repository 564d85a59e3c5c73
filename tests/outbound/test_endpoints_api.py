"""Managing endpoints: who may, and bad input answered with the envelope, writing nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from escrowd.bootstrap import Container
from escrowd.errors import InvalidRequestError
from escrowd.outbound import domain
from tests.integration.conftest import assert_error, count_rows, make_user
from tests.outbound.conftest import Receiver, create_endpoint

GOOD = {"url": "https://market.test/hooks", "enabled_events": ["*"]}


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({**GOOD, "url": "ftp://market.test/hooks"}, "url", "url_invalid"),
        ({**GOOD, "url": "market.test/hooks"}, "url", "url_invalid"),
        ({**GOOD, "url": "https://"}, "url", "url_invalid"),
        ({**GOOD, "url": "https://user:pw@market.test/"}, "url", "url_invalid"),
        ({**GOOD, "url": "https://market.test/a b"}, "url", "url_invalid"),
        ({**GOOD, "url": "https://market.test:99999/"}, "url", "url_invalid"),
        ({**GOOD, "url": "https://market.test/#frag"}, "url", "url_invalid"),
        ({**GOOD, "url": "https://market.test/" + "a" * 2100}, "url", None),
        ({**GOOD, "enabled_events": ["escrow.nonsense"]}, "enabled_events", "event_type_unknown"),
        ({**GOOD, "enabled_events": []}, "enabled_events", None),
        ({**GOOD, "enabled_events": "*"}, "enabled_events", None),
        ({"url": "https://market.test/hooks"}, "enabled_events", None),
        ({**GOOD, "secret": "whsec_mine"}, "secret", None),
    ],
)
async def test_bad_input_is_refused_and_writes_nothing(
    client: httpx.AsyncClient,
    container: Container,
    admin_headers: dict[str, str],
    body: dict[str, Any],
    param: str,
    code: str | None,
) -> None:
    before = await count_rows(container, "webhook_endpoints")
    r = await client.post("/v1/webhook_endpoints", json=body, headers=admin_headers)
    assert_error(r, 400, "invalid_request_error", code, param=param)
    assert await count_rows(container, "webhook_endpoints") == before


async def test_a_bad_update_changes_nothing(
    client: httpx.AsyncClient, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    endpoint = await create_endpoint(client, admin_headers, receiver.url, ["escrow.*"])
    path = f"/v1/webhook_endpoints/{endpoint['id']}"
    r = await client.post(
        path, json={"url": "gopher://x", "enabled_events": ["*"]}, headers=admin_headers
    )
    assert_error(r, 400, "invalid_request_error", "url_invalid", param="url")
    shown = (await client.get(path, headers=admin_headers)).json()
    assert shown["url"] == receiver.url
    assert shown["enabled_events"] == ["escrow.*"]

    r = await client.post(
        path, json={"enabled_events": ["payout.*", "escrow.funded"]}, headers=admin_headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["enabled_events"] == ["payout.*", "escrow.funded"]


async def test_unknown_ids_are_404(
    client: httpx.AsyncClient, admin_headers: dict[str, str], receiver: Receiver
) -> None:
    missing = "we_01JF4X0000000000000000000A"
    r = await client.get(f"/v1/webhook_endpoints/{missing}", headers=admin_headers)
    assert_error(r, 404, "invalid_request_error", "resource_missing")
    endpoint = await create_endpoint(client, admin_headers, receiver.url)
    r = await client.post(
        f"/v1/webhook_endpoints/{endpoint['id']}/deliveries/dlv_01JF4X0000000000000000000A/retry",
        headers=admin_headers,
    )
    assert_error(r, 404, "invalid_request_error", "resource_missing", param="delivery_id")


async def test_only_admins_and_api_keys_manage_endpoints(
    client: httpx.AsyncClient, container: Container, admin_headers: dict[str, str]
) -> None:
    admin = await make_user(container, role="admin")
    r = await client.post("/v1/webhook_endpoints", json=GOOD, headers=admin.headers)
    assert r.status_code == 200, r.text
    made = r.json()

    before = await count_rows(container, "webhook_endpoints")
    for role in ("client", "worker"):
        user = await make_user(container, role=role)
        r = await client.post("/v1/webhook_endpoints", json=GOOD, headers=user.headers)
        assert_error(r, 403, "permission_error", "admin_required")
        r = await client.get(f"/v1/webhook_endpoints/{made['id']}", headers=user.headers)
        assert_error(r, 403, "permission_error", "admin_required")
        r = await client.post(
            f"/v1/webhook_endpoints/{made['id']}/rotate_secret", headers=user.headers
        )
        assert_error(r, 403, "permission_error", "admin_required")
    assert await count_rows(container, "webhook_endpoints") == before
    shown = (await client.get(f"/v1/webhook_endpoints/{made['id']}", headers=admin_headers)).json()
    assert shown["updated"] == made["updated"]


def test_production_requires_https() -> None:
    with pytest.raises(InvalidRequestError) as refused:
        domain.check_url("http://market.test/hooks", require_https=True, allow_private=False)
    assert refused.value.code == "url_invalid"
    assert domain.check_url("https://market.test/h", require_https=True, allow_private=False)


def test_the_signature_is_the_spec_example() -> None:
    """The example of the Standard Webhooks specification, signed by escrowd's code."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = domain.sign(
        secret, msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330, body=body
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
