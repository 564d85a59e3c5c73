"""Nobody locks the platform out: the last active admin can be neither disabled nor demoted,
by an admin's token or a platform API key, not even by two demotions racing each other.

Each test runs on a database of its own, where the admins it makes are the only ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select, text

from escrowd.bootstrap import Container
from escrowd.users.models import User
from tests.integration.conftest import Account, assert_error, make_api_key, make_user


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, fresh_db_url_factory: Callable[[str], str]) -> str:
    return fresh_db_url_factory(request.param)


async def _admins(container: Container) -> list[tuple[str, str, bool]]:
    async with container.db.transaction() as s:
        rows = await s.scalars(select(User).order_by(User.id))
        return [(u.id, u.role, u.disabled) for u in rows]


def assert_last_admin(r: httpx.Response) -> None:
    err = assert_error(r, 409, "invalid_request_error", "last_admin")
    assert "Promote another user to admin first" in err["message"], err


async def test_an_api_key_cannot_disable_or_demote_the_last_active_admin(
    client: httpx.AsyncClient, container: Container
) -> None:
    admin = await make_user(container, role="admin")
    _, secret = await make_api_key(container)
    key = {"Authorization": f"Bearer {secret}"}
    before = await _admins(container)
    for change in ({"disabled": True}, {"role": "client"}, {"role": "worker", "disabled": True}):
        r = await client.post(f"/v1/users/{admin.id}", json=change, headers=key)
        assert_last_admin(r)
    assert await _admins(container) == before
    me = await client.get("/v1/users/me", headers=admin.headers)
    assert (me.status_code, me.json()["role"]) == (200, "admin")
    # Other changes to the last admin are still fine.
    r = await client.post(f"/v1/users/{admin.id}", json={"name": "Ops"}, headers=key)
    assert (r.status_code, r.json()["name"]) == (200, "Ops")


async def test_with_another_admin_promoted_first_the_old_one_can_go(
    client: httpx.AsyncClient, container: Container
) -> None:
    old = await make_user(container, role="admin")
    newcomer = await make_user(container, role="client")
    _, secret = await make_api_key(container)
    key = {"Authorization": f"Bearer {secret}"}
    assert_last_admin(
        await client.post(f"/v1/users/{old.id}", json={"role": "client"}, headers=key)
    )
    r = await client.post(f"/v1/users/{newcomer.id}", json={"role": "admin"}, headers=key)
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/users/{old.id}", json={"role": "client"}, headers=key)
    assert (r.status_code, r.json()["role"]) == (200, "client")
    r = await client.post(f"/v1/users/{newcomer.id}", json={"disabled": True}, headers=key)
    assert_last_admin(r)


async def test_disabled_admins_do_not_count_and_may_be_demoted(
    client: httpx.AsyncClient, container: Container
) -> None:
    active = await make_user(container, role="admin")
    dormant = await make_user(container, role="admin")
    r = await client.post(
        f"/v1/users/{dormant.id}", json={"disabled": True}, headers=active.headers
    )
    assert r.status_code == 200, r.text
    # The only other admin is disabled: `active` is the last active one.
    _, secret = await make_api_key(container)
    key = {"Authorization": f"Bearer {secret}"}
    assert_last_admin(
        await client.post(f"/v1/users/{active.id}", json={"disabled": True}, headers=key)
    )
    r = await client.post(f"/v1/users/{dormant.id}", json={"role": "client"}, headers=key)
    assert (r.status_code, r.json()["role"]) == (200, "client")


async def test_of_two_admins_each_may_demote_the_other_only_once(
    client: httpx.AsyncClient, container: Container
) -> None:
    a = await make_user(container, role="admin")
    b = await make_user(container, role="admin")
    r = await client.post(f"/v1/users/{b.id}", json={"role": "client"}, headers=a.headers)
    assert r.status_code == 200, r.text
    # `b` is no admin now; `a` is the last one and cannot lock itself out either.
    r = await client.post(f"/v1/users/{a.id}", json={"role": "client"}, headers=a.headers)
    assert_error(r, 409, "invalid_request_error", "self_lockout", param="role")
    roles = {user_id: role for user_id, role, _ in await _admins(container)}
    assert (roles[a.id], roles[b.id]) == ("admin", "client")


@pytest.mark.postgres_only
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    client: httpx.AsyncClient, container: Container
) -> None:
    """Both requests start while a third transaction holds the admins' rows, so both have
    read the users before either writes: only the lock on the admin rows keeps one of them
    from succeeding on a stale count."""
    a = await make_user(container, role="admin")
    b = await make_user(container, role="admin")

    async def demote(actor: Account, target: Account) -> httpx.Response:
        return await client.post(
            f"/v1/users/{target.id}", json={"role": "client"}, headers=actor.headers
        )

    async with container.db.transaction() as holder:
        await holder.execute(select(User.id).where(User.role == "admin").with_for_update())
        racing = [asyncio.create_task(demote(a, b)), asyncio.create_task(demote(b, a))]
        await wait_for_lock_waiters(container, 2)
    first, second = await asyncio.gather(*racing)
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 409], (first.text, second.text)
    assert_last_admin(first if first.status_code == 409 else second)
    still_admins = [u for u, role, off in await _admins(container) if role == "admin" and not off]
    assert len(still_admins) == 1


async def wait_for_lock_waiters(container: Container, n: int) -> None:
    """Until ``n`` transactions wait on a row lock (each request has reached the users)."""
    for _ in range(500):
        async with container.db.engine.connect() as conn:
            waiting = (
                await conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                        " AND datname = current_database()"
                    )
                )
            ).scalar_one()
        if waiting >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {n} transactions ever waited for the admins' rows")
