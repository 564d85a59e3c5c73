"""PayPal's 29-day authorization drives escrowd's deadline sweep.

These tests move escrowd's clock by weeks and run the authorization sweep, which looks at
every authorized escrow in the database: they use databases of their own, where no other
test's authorizations fall due with theirs (the timers tests' own-database fixtures).
"""

from __future__ import annotations

from datetime import timedelta

from escrowd.clock import FrozenClock
from escrowd.escrows import sweeps
from escrowd.escrows.ledgering import escrow_account
from tests.escrows.conftest import (  # noqa: F401  (fixtures)
    Ctx,
    _ledger_verified_after_module,
    _stripe_spec,
    browser,
    client,
    container,
    get,
    ledger_balance,
    payer,
    run_jobs,
    sweep,
)
from tests.escrows.conftest import ctx as ctx
from tests.escrows.test_timers import db_url, own_db_urls  # noqa: F401  (fixtures)
from tests.paypal.test_paypal_events import confirmed, paypal_of, worker


async def test_the_29_day_authorization_feeds_the_deadline_sweep(
    ctx: Ctx, clock: FrozenClock
) -> None:
    """PayPal's authorization is valid 29 days (its expiration_time); escrowd's sweep acts a
    day before that, not after Stripe's 7 days, and captures it in time."""
    who, payee = await payer(ctx), await worker(ctx)
    authorized = await confirmed(ctx, who, payee, 2_500, capture_mode="authorize")
    escrow_id = authorized["id"]
    order = await paypal_of(ctx).client.get_order(authorized["payment"]["id"])
    assert order.purchase_units[0].payments is not None
    auth = order.purchase_units[0].payments.authorizations[0]
    assert auth.expiration_time is not None
    authorized_at = clock.now()
    capture_before = authorized["payment"]["capture_before"]
    assert capture_before == int((authorized_at + timedelta(days=29)).timestamp())
    # Past Stripe's 7 days nothing is due yet.
    clock.advance(timedelta(days=8))
    assert await sweep(ctx.container, sweeps.authorizations) == 0
    # Within a day of the 29 days: the deadline job captures it, and PayPal accepts.
    clock.advance(timedelta(days=20, hours=1))
    assert await sweep(ctx.container, sweeps.authorizations) == 1
    await run_jobs(ctx.container)
    held = await get(ctx, who, escrow_id)
    assert (held["status"], held["amount_held"]) == ("held", 2_500), held
    assert await ledger_balance(ctx, escrow_account(escrow_id)) == 2_500


async def test_an_authorization_past_its_29_days_expires_the_escrow_by_the_sweep(
    ctx: Ctx, clock: FrozenClock
) -> None:
    who, payee = await payer(ctx), await worker(ctx)
    authorized = await confirmed(
        ctx, who, payee, 2_600, capture_mode="authorize", on_authorization_deadline="notify"
    )
    escrow_id = authorized["id"]
    clock.advance(timedelta(days=29, minutes=1))
    order = await paypal_of(ctx).client.get_order(authorized["payment"]["id"])
    assert order.purchase_units[0].payments is not None
    auth_id = order.purchase_units[0].payments.authorizations[0].id
    assert (await paypal_of(ctx).client.get_authorization(auth_id)).status == "EXPIRED"
    await sweep(ctx.container, sweeps.authorizations)
    await run_jobs(ctx.container)
    expired = await get(ctx, who, escrow_id)
    assert expired["status"] == "expired", expired
