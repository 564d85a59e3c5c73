"""Bad input to the notification endpoints: the error envelope, and nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from ulid import ULID

from tests.escrows.conftest import Ctx, payer
from tests.integration.conftest import assert_error, count_all
from tests.notifications.conftest import SmtpServer

TABLES = ("notifications", "notification_preferences")


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        (
            {"email": {"payment_recieved": False}},
            "notification_type_unknown",
            "email[payment_recieved]",
        ),
        ({"email": {"payment_received": "no"}}, "parameter_invalid", None),
        ({"email": {"payment_received": 0}}, "parameter_invalid", None),
        ({"email": []}, "parameter_invalid", None),
        ({"emails": {"payment_received": False}}, None, None),
        ({}, None, None),
    ],
)
async def test_bad_preferences_are_refused_and_change_nothing(
    ctx: Ctx, smtp: SmtpServer, body: dict[str, Any], code: str | None, param: str | None
) -> None:
    alice = await payer(ctx)
    before = await count_all(ctx.container, *TABLES)
    r = await ctx.client.post("/v1/notification_preferences", json=body, headers=alice.headers)
    err = assert_error(r, 400, "invalid_request_error", code)
    if param is not None:
        assert err["param"] == param
    assert await count_all(ctx.container, *TABLES) == before
    prefs = await ctx.client.get("/v1/notification_preferences", headers=alice.headers)
    assert all(prefs.json()["email"].values())


async def test_a_known_and_an_unknown_type_together_write_neither(
    ctx: Ctx, smtp: SmtpServer
) -> None:
    alice = await payer(ctx)
    r = await ctx.client.post(
        "/v1/notification_preferences",
        json={"email": {"payment_received": False, "nope": False}},
        headers=alice.headers,
    )
    assert_error(r, 400, "invalid_request_error", "notification_type_unknown", param="email[nope]")
    prefs = await ctx.client.get("/v1/notification_preferences", headers=alice.headers)
    assert prefs.json()["email"]["payment_received"] is True


@pytest.mark.parametrize(
    "params",
    [{"unread": "maybe"}, {"limit": "0"}, {"limit": "101"}, {"starting_after": "x" * 200}],
)
async def test_bad_list_parameters(ctx: Ctx, smtp: SmtpServer, params: dict[str, str]) -> None:
    alice = await payer(ctx)
    r = await ctx.client.get("/v1/notifications", params=params, headers=alice.headers)
    assert_error(r, 400, "invalid_request_error")


async def test_marking_a_notification_that_does_not_exist(ctx: Ctx, smtp: SmtpServer) -> None:
    alice = await payer(ctx)
    for missing in (f"ntf_{ULID()}", "not-an-id"):
        r = await ctx.client.post(f"/v1/notifications/{missing}/read", headers=alice.headers)
        assert_error(r, 404, "invalid_request_error", "resource_missing", param="id")
    r = await ctx.client.post(f"/v1/notifications/{'x' * 65}/read", headers=alice.headers)
    assert_error(r, 400, "invalid_request_error")
