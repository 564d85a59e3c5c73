"""``Idempotency-Key`` on POST requests, as Stripe defines it.

- The first request with a key runs; its response is stored for 24 hours (setting
  ``ESCROWD_IDEMPOTENCY_TTL_SECONDS``) and replayed, byte for byte, to every retry with the same
  key and the same parameters, marked ``Idempotent-Replayed: true``.
- The same key with other parameters (method, path, query or body) → 422 ``idempotency_error``.
- The same key while the first request still runs → 409 ``idempotency_key_in_use``.
- Keys are scoped per caller (user, API key, or anonymous), so two callers never collide.

What is stored: successful responses (2xx), declines (402) and server errors (5xx), whose
outcome a blind retry must not change. Refusals that did nothing — invalid parameters, missing
auth, permission, state conflicts, rate limits — are not stored, so a corrected retry with the
same key goes through (Stripe does the same). Nor is a response that says
``Escrowd-Should-Retry: true``: a route that did part of its work (a release that paid some
allocations) sends it so that a retry with the same key runs again and finishes the rest.
A request that dies mid-flight keeps its key locked for ``LOCK_SECONDS``; after that a retry
takes the key over.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import Integer, LargeBinary, String, Text, delete, select, update
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from escrowd.api import strict_json
from escrowd.api.errors import error_response
from escrowd.bootstrap import Container
from escrowd.db.base import Base, UTCDateTime
from escrowd.db.driver import autocommit_driver, placeholders
from escrowd.errors import EscrowdError, IdempotencyError, InvalidRequestError
from escrowd.logging import get_logger

log = get_logger(__name__)

HEADER = b"idempotency-key"
REPLAYED = b"idempotent-replayed"
#: A response with this header set to ``true`` is not stored: the same key may run again.
SHOULD_RETRY_HEADER = "Escrowd-Should-Retry"
LOCK_SECONDS = 300
MAX_KEY_LENGTH = 255
_NOT_REPLAYED_HEADERS = {b"request-id", b"content-length", REPLAYED}

# The claim and the stored answer on PostgreSQL, sent straight to asyncpg (db/driver.py): every
# POST runs both, and through an ORM session the claim took 1.5 ms of CPU, 0.3 ms this way
# (bench/statement_paths.py).
_CLAIM_COLUMNS = (
    "request_hash",
    "method",
    "path",
    "state",
    "response_status",
    "response_headers",
    "response_body",
    "created_at",
    "locked_until",
    "expires_at",
)
_CLAIM_SQL = (
    f"INSERT INTO idempotency_keys (scope, key, {', '.join(_CLAIM_COLUMNS)}) "  # noqa: S608 (constants)
    f"VALUES ({placeholders(len(_CLAIM_COLUMNS) + 2)}) "
    "ON CONFLICT (scope, key) DO NOTHING RETURNING id"
)
# Each acts only on a key still held by the request that claimed it ($2: the lock it set).
_STORE_SQL = (
    "UPDATE idempotency_keys SET state = 'done', response_status = $3, response_headers = $4, "
    "response_body = $5 WHERE id = $1 AND state = 'in_flight' AND locked_until = $2"
)
_FORGET_SQL = (
    "DELETE FROM idempotency_keys WHERE id = $1 AND state = 'in_flight' AND locked_until = $2"
)

#: Maps the Authorization header (or None) to a stable caller scope such as ``usr_…``.
ScopeResolver = Callable[[str | None], Awaitable[str]]


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(128))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(512))
    state: Mapped[str] = mapped_column(String(16))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_headers: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


def should_store(status: int, headers: Sequence[tuple[bytes, bytes]] = ()) -> bool:
    retry = SHOULD_RETRY_HEADER.lower().encode()
    if any(k.lower() == retry and v.lower() == b"true" for k, v in headers):
        return False
    return 200 <= status < 300 or status == 402 or status >= 500


def request_fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    try:
        # Read as the route reads it (``605.0`` is the integer 605), so a retry that spells a
        # number differently is the same request, not a reused key.
        value = strict_json.loads(body)
        canonical = json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    except ValueError:  # not JSON, or a key named twice (the route refuses it): the bytes
        canonical = body
    h = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, canonical):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


async def _anonymous_scope(authorization: str | None) -> str:
    if not authorization:
        return "anonymous"
    return "auth:" + hashlib.sha256(authorization.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class StoredResponse:
    status: int
    headers: str
    body: bytes


@dataclass(frozen=True)
class _Claim:
    """A key this request holds: its row, and the lock it set (a takeover sets a later one)."""

    row_id: int
    locked_until: datetime


class _Replay(Exception):  # noqa: N818 (control flow, not an error)
    def __init__(self, stored: StoredResponse) -> None:
        self.stored = stored


class IdempotencyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        container: Container,
        resolve_scope: ScopeResolver | None = None,
        exclude_prefixes: tuple[str, ...] = ("/sandbox/",),
    ) -> None:
        self.app = app
        # The sandbox emulates Stripe, whose own Idempotency-Key handling it implements.
        self.exclude_prefixes = exclude_prefixes
        self.container = container
        self.resolve_scope = resolve_scope or _anonymous_scope

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"].startswith(self.exclude_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        raw_key = headers.get(HEADER)
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        try:
            key = self._check_key(raw_key)
            body = await _read_body(receive)
            auth = headers.get(b"authorization")
            caller = await self.resolve_scope(auth.decode("latin-1") if auth else None)
            fingerprint = request_fingerprint(
                scope["method"], scope["path"], scope.get("query_string", b""), body
            )
            claim = await self._claim(caller, key, fingerprint, scope)
        except _Replay as replay:
            await _send_replay(replay.stored, send)
            return
        except EscrowdError as exc:
            await error_response(exc)(scope, receive, send)
            return

        status, start, chunks = await _capture(self.app, scope, _replayer(body), send)
        await self._finish(claim, status, start, b"".join(chunks))
        await send(start)
        await send({"type": "http.response.body", "body": b"".join(chunks)})

    @staticmethod
    def _check_key(raw: bytes) -> str:
        key = raw.decode("latin-1").strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise InvalidRequestError(
                f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters; "
                "a UUID is a good choice.",
                code="idempotency_key_invalid",
                param="Idempotency-Key",
            )
        return key

    async def _claim(self, caller: str, key: str, fingerprint: str, scope: Scope) -> _Claim:
        now = self.container.clock.now()
        ttl = timedelta(seconds=self.container.settings.idempotency_ttl_seconds)
        db = self.container.db
        fresh: dict[str, Any] = {
            "request_hash": fingerprint,
            "method": scope["method"],
            "path": scope["path"][:512],
            "state": "in_flight",
            "response_status": None,
            "response_headers": None,
            "response_body": None,
            "created_at": now,
            "locked_until": now + timedelta(seconds=LOCK_SECONDS),
            "expires_at": now + ttl,
        }
        # A new key, the common case, in one statement that commits on its own: the insert
        # claims it, and a key that exists already (a retry, a twin) inserts nothing.
        if db.dialect == "postgresql":
            try:
                async with autocommit_driver(db) as driver:
                    row_id = await driver.fetchval(
                        _CLAIM_SQL, caller, key, *(fresh[c] for c in _CLAIM_COLUMNS)
                    )
                if row_id is not None:
                    return _Claim(int(row_id), fresh["locked_until"])
            except asyncpg.UniqueViolationError:
                pass  # a concurrent first request inserted it; look at it below
        claim = (
            _insert(db.dialect)
            .values(scope=caller, key=key, **fresh)
            .on_conflict_do_nothing(index_elements=["scope", "key"])
            .returning(IdempotencyKey.id)
        )
        if db.dialect != "postgresql":
            try:
                async with db.autocommit() as s:
                    row_id = await s.scalar(claim)
                if row_id is not None:
                    return _Claim(int(row_id), fresh["locked_until"])
            except IntegrityError:
                pass  # a concurrent first request inserted it; look at it below
        for _ in range(3):
            try:
                async with db.transaction() as s:
                    # Again inside a transaction (the row may have been deleted meanwhile), and
                    # the row found is locked while it is judged: on PostgreSQL the FOR UPDATE
                    # below waits for a twin's uncommitted takeover to end.
                    row_id = await s.scalar(claim)
                    if row_id is not None:
                        return _Claim(int(row_id), fresh["locked_until"])
                    q = select(IdempotencyKey).where(
                        IdempotencyKey.scope == caller, IdempotencyKey.key == key
                    )
                    if db.dialect == "postgresql":
                        q = q.with_for_update()
                    row = (await s.scalars(q)).one_or_none()
                    if row is None:
                        continue  # deleted (finished as a refusal, or purged) meanwhile
                    if row.expires_at <= now:
                        # Past its lifetime: the key is free again, for this request.
                        for name, value in fresh.items():
                            setattr(row, name, value)
                        return _Claim(row.id, fresh["locked_until"])
                    if row.request_hash != fingerprint:
                        raise IdempotencyError(
                            "Keys for idempotent requests can only be used with the same "
                            "parameters they were first used with. Use a new Idempotency-Key "
                            "for a different request.",
                            code="idempotency_key_reused",
                            param="Idempotency-Key",
                        )
                    if row.state == "done":
                        # Copied out: raising rolls the transaction back and expires the row.
                        raise _Replay(
                            StoredResponse(
                                row.response_status or 200,
                                row.response_headers or "[]",
                                row.response_body or b"",
                            )
                        )
                    if row.locked_until > now:
                        raise IdempotencyError(
                            "A request with this Idempotency-Key is still being processed. "
                            "Retry after it completes.",
                            status=409,
                            code="idempotency_key_in_use",
                            param="Idempotency-Key",
                            headers={"Retry-After": "1"},
                        )
                    # The first request died without finishing: this retry takes over. Its
                    # lock is later than the first's, so the first can no longer finish.
                    row.locked_until = fresh["locked_until"]
                    return _Claim(row.id, row.locked_until)
            except IntegrityError:
                continue  # a concurrent first request inserted it; look again
        raise IdempotencyError(
            "A request with this Idempotency-Key is still being processed.",
            status=409,
            code="idempotency_key_in_use",
            param="Idempotency-Key",
        )

    async def _finish(self, claim: _Claim, status: int, start: Message, body: bytes) -> None:
        """Store the answer, or free the key for a refusal: one statement by primary key, which
        needs no transaction around it. It acts only while the key is still this request's
        (in flight, with the lock it set): a request that outlived its lock and was taken over
        by a retry must not overwrite the retry's answer or free its key."""
        db = self.container.db
        store = should_store(status, start.get("headers", []))
        kept = [
            [k.decode("latin-1"), v.decode("latin-1")]
            for k, v in start.get("headers", [])
            if k.lower() not in _NOT_REPLAYED_HEADERS
        ]
        if db.dialect == "postgresql":
            async with autocommit_driver(db) as driver:
                if store:
                    done = await driver.execute(
                        _STORE_SQL, claim.row_id, claim.locked_until, status, json.dumps(kept), body
                    )
                else:
                    done = await driver.execute(_FORGET_SQL, claim.row_id, claim.locked_until)
            held = done.split()[-1] != "0"  # the command tag: "UPDATE 1", "DELETE 0"
        else:
            mine = (
                IdempotencyKey.id == claim.row_id,
                IdempotencyKey.state == "in_flight",
                IdempotencyKey.locked_until == claim.locked_until,
            )
            async with db.autocommit() as s:
                if store:
                    result = await s.execute(
                        update(IdempotencyKey)
                        .where(*mine)
                        .values(
                            state="done",
                            response_status=status,
                            response_headers=json.dumps(kept),
                            response_body=body,
                        )
                    )
                else:
                    result = await s.execute(delete(IdempotencyKey).where(*mine))
            held = bool(getattr(result, "rowcount", 0))
        if not held:
            log.warning(
                "idempotency_key_taken_over",
                row_id=claim.row_id,
                status=status,
                reason="the key is no longer this request's (a retry took it over after its "
                "lock ran out, or it expired and was claimed again); its answer is kept",
            )


async def claim_in(
    session: AsyncSession,
    *,
    container: Container,
    scope: str,
    key: str,
    path: str,
    fingerprint: str,
) -> IdempotencyKey | bytes:
    """The same rule for a web page's form, inside the caller's own transaction: the body
    stored when (``scope``, ``key``) was used already with the same ``fingerprint`` (the answer
    to give again), else a new row that ``finish_in`` completes in the same transaction —
    so the key is stored only if the work commits, and a refused attempt leaves it free, as
    the middleware leaves a refusal unstored. A twin request racing this one waits on the
    row's unique index (PostgreSQL) or the write lock (SQLite) and then fails with an
    ``IntegrityError`` or finds the row: it should run ``claim_in`` again in a new
    transaction, and gets the stored body. Another fingerprint is ``idempotency_key_reused``."""
    now = container.clock.now()
    row = (
        await session.scalars(
            select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        )
    ).one_or_none()
    if row is not None and row.expires_at <= now:
        await session.delete(row)
        await session.flush()
        row = None
    if row is not None:
        if row.request_hash != fingerprint or row.state != "done":
            raise IdempotencyError(
                "This form was sent already with other values. Reload the page and send it again.",
                code="idempotency_key_reused",
                param="idempotency_key",
            )
        return row.response_body or b""
    row = IdempotencyKey(
        scope=scope,
        key=key,
        request_hash=fingerprint,
        method="POST",
        path=path[:512],
        state="in_flight",
        created_at=now,
        locked_until=now + timedelta(seconds=LOCK_SECONDS),
        expires_at=now + timedelta(seconds=container.settings.idempotency_ttl_seconds),
    )
    session.add(row)
    await session.flush()
    return row


def finish_in(row: IdempotencyKey, *, body: bytes) -> None:
    """The work ``claim_in`` let through is done: ``body`` is the answer a resend gets."""
    row.state = "done"
    row.response_status = 200
    row.response_headers = "[]"
    row.response_body = body


async def purge_expired(container: Container) -> int:
    """Delete keys past their lifetime; returns how many went."""
    async with container.db.transaction() as s:
        result = await s.execute(
            delete(IdempotencyKey).where(IdempotencyKey.expires_at <= container.clock.now())
        )
        return int(getattr(result, "rowcount", 0) or 0)


def _insert(dialect: str) -> PgInsert | SqliteInsert:
    """The dialect's INSERT, which has ``ON CONFLICT … DO NOTHING`` (both speak it)."""
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(IdempotencyKey)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replayer(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _capture(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> tuple[int, Message, list[bytes]]:
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def capture(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
        else:  # pragma: no cover - not produced by our routes
            await send(message)

    await app(scope, receive, capture)
    return int(start.get("status", 500)), start, chunks


async def _send_replay(stored: StoredResponse, send: Send) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in json.loads(stored.headers)]
    headers += [(b"content-length", str(len(stored.body)).encode()), (REPLAYED, b"true")]
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body})
