"""FastAPI dependencies shared by every router (``Annotated`` aliases keep routes short)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from escrowd.bootstrap import Container


async def get_container(request: Request) -> Container:
    # Async: FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per
    # request for an attribute read.
    container: Container = request.app.state.container
    return container


ContainerDep = Annotated[Container, Depends(get_container)]


async def get_session(container: ContainerDep) -> AsyncIterator[AsyncSession]:
    """One unit of work per request: committed if the route returns, rolled back if it raises.

    Scoped to the route function, so the commit happens *before* the response is sent: a
    client never hears 200 for a write that then fails to commit, and a request sent right
    after sees it.
    """
    async with container.db.transaction() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
