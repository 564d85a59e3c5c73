"""A money-moving form sent once: its hidden ``idempotency_key`` (made when the page was
rendered) is kept as the API keeps an ``Idempotency-Key``, for services that run their own
transactions and call the provider (publishing a job, cancelling one, opening a dispute).

The key is claimed and committed (in flight) before the work starts, so a twin of the form
sent at once is refused while the first runs; the work's answer is stored with it, so the
form sent again afterwards does nothing more; a refusal lets the key go, so the corrected
form goes through with it. docs/webapp.md."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from escrowd.api import idempotency
from escrowd.api.principal import Principal
from escrowd.bootstrap import Container
from escrowd.errors import EscrowdError, IdempotencyError

BEING_SENT = "This form is being sent already: reload the page in a moment."


def _being_sent() -> IdempotencyError:
    return IdempotencyError(
        BEING_SENT, status=409, code="idempotency_key_in_use", param="idempotency_key"
    )


async def in_flight(container: Container, scope: str, key: str, fingerprint: str) -> bool:
    """Whether the same form (same values) is being sent right now by a twin request."""
    async with container.db.transaction() as session:
        row = (
            await session.scalars(
                select(idempotency.IdempotencyKey).where(
                    idempotency.IdempotencyKey.scope == scope, idempotency.IdempotencyKey.key == key
                )
            )
        ).one_or_none()
    return row is not None and row.state == "in_flight" and row.request_hash == fingerprint


async def let_go(container: Container, scope: str, key: str) -> None:
    async with container.db.transaction() as session:
        await session.execute(
            delete(idempotency.IdempotencyKey).where(
                idempotency.IdempotencyKey.scope == scope, idempotency.IdempotencyKey.key == key
            )
        )


async def _finish(container: Container, scope: str, key: str, answer: str) -> None:
    async with container.db.transaction() as session:
        row = (
            await session.scalars(
                select(idempotency.IdempotencyKey).where(
                    idempotency.IdempotencyKey.scope == scope, idempotency.IdempotencyKey.key == key
                )
            )
        ).one()
        idempotency.finish_in(row, body=answer.encode())


async def once(
    container: Container,
    viewer: Principal,
    key: str | None,
    *,
    path: str,
    values: str,
    run: Callable[[], Awaitable[str]],
) -> str:
    """``run``'s answer, run at most once per (viewer, ``key``) with these ``values``: the
    stored answer when the form was sent already, a 409 while its twin runs, 400
    ``idempotency_key_reused`` for the same key with other values. Without a key (a form
    made elsewhere), ``run`` runs as the API runs a request without one. An unexpected error
    (the provider's answer unknown) keeps the key in flight: the form cannot be resent
    blindly; a reloaded page has a new key."""
    if key is None:
        return await run()
    fingerprint = idempotency.request_fingerprint("POST", path, b"", values.encode())
    try:
        async with container.db.transaction() as session:
            found = await idempotency.claim_in(
                session, container=container, scope=viewer.id, key=key, path=path,
                fingerprint=fingerprint,
            )  # fmt: skip
            if isinstance(found, bytes):
                return found.decode()
    except IntegrityError:
        raise _being_sent() from None
    except EscrowdError:
        if await in_flight(container, viewer.id, key, fingerprint):
            raise _being_sent() from None
        raise
    try:
        answer = await run()
    except EscrowdError:
        await let_go(container, viewer.id, key)
        raise
    await _finish(container, viewer.id, key, answer)
    return answer
