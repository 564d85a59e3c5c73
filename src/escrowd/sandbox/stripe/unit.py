"""A unit of work outside an API request (hosted pages, the clock): one transaction, one Ctx.

``run(container, fn)`` calls ``fn(ctx)`` in its own transaction; with ``conn`` it joins that
SQLAlchemy connection's open transaction instead (the admin clock route runs inside the
request's transaction: on SQLite a second writer would wait on it).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncConnection

from escrowd.clock import unix
from escrowd.sandbox.stripe.clock import offset_of
from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.db import Sql, run_unit
from escrowd.sandbox.stripe.host import Host
from escrowd.sandbox.stripe.ids import PLATFORM
from escrowd.sandbox.stripe.store import Store

T = TypeVar("T")


async def run(
    container: Host,
    fn: Callable[[Ctx], Coroutine[Any, Any, T]],
    *,
    conn: AsyncConnection | None = None,
    account: str = PLATFORM,
    read_only: bool = False,
) -> T:
    real = unix(container.clock.now())

    async def work(sql: Sql) -> T:
        ctx = Ctx(
            container=container, store=Store(sql), now=real + await offset_of(sql), account=account
        )
        result = await fn(ctx)
        await ctx.store.flush(final=True)
        return result

    return await run_unit(container, work, conn=conn, read_only=read_only)
