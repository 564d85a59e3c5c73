"""Stripe objects as JSON documents in ``sandbox_stripe_objects``, one unit of work per request.

Reads go through an identity map; writes are collected and flushed in a few batched
statements when the unit ends, inside its single transaction. ``get(lock=True)`` takes a row
lock on PostgreSQL (SQLite already serializes writers at BEGIN IMMEDIATE).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from escrowd.sandbox.stripe.db import Row, Sql
from escrowd.sandbox.stripe.errors import no_such

#: One encoder for every document, body and event the sandbox writes: ``json.dumps`` with
#: arguments builds a new encoder on each call. Its output is ``json.dumps``'s, compact.
_ENCODER = json.JSONEncoder(separators=(",", ":"), check_circular=False)
#: The same, keys sorted: a canonical form (an idempotent request's fingerprint).
_CANONICAL = json.JSONEncoder(separators=(",", ":"), sort_keys=True, check_circular=False)


def dumps(value: Any) -> str:
    return _ENCODER.encode(value)


def canonical(value: Any) -> str:
    return _CANONICAL.encode(value)


@dataclass(slots=True, eq=False)
class Obj:
    id: str
    type: str
    account: str
    data: dict[str, Any]
    parent: str | None = None
    due_at: int | None = None
    private: dict[str, Any] = field(default_factory=dict)
    created: int = 0
    seq: int | None = None
    stored: bool = False


#: A ``created`` range's operators (``params.Range``) as SQL.
RANGE_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "="}
_COLS = "seq, id, type, account, parent, due_at, data, private, created"
_SELECT = f"SELECT {_COLS} FROM sandbox_stripe_objects"  # noqa: S608 - constant
_INSERT = (
    "INSERT INTO sandbox_stripe_objects (id, type, account, parent, created, due_at, data, "
    "private) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE = (
    "UPDATE sandbox_stripe_objects SET data = ?, private = ?, due_at = ?, parent = ?, type = ? "
    "WHERE id = ?"
)
_BALANCE = (
    "INSERT INTO sandbox_stripe_balance (id, account, currency, net, available_on) "
    "VALUES (?, ?, ?, ?, ?)"
)
_KEY = (
    "INSERT INTO sandbox_stripe_idempotency (scope, key, fingerprint, request_id, status, body, "
    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_EVENT = (
    "INSERT INTO sandbox_stripe_events (id, type, account, created, data, state, attempts, "
    "next_attempt_at, last_error) VALUES (?, ?, ?, ?, ?, 'pending', 0, 0, NULL)"
)


def _obj(r: Row) -> Obj:
    return Obj(
        id=r[1],
        type=r[2],
        account=r[3],
        parent=r[4],
        due_at=r[5],
        data=json.loads(r[6]),
        private=json.loads(r[7]) if r[7] else {},
        created=r[8],
        seq=r[0],
        stored=True,
    )


class Store:
    def __init__(self, sql: Sql) -> None:
        self.sql = sql
        self.postgres = sql.postgres
        self._cache: dict[str, Obj] = {}
        self._locked: set[str] = set()
        self._new: list[Obj] = []
        self._dirty: dict[str, Obj] = {}
        self._balance: list[tuple[Any, ...]] = []
        self._events: list[tuple[Any, ...]] = []
        self._keys: list[tuple[Any, ...]] = []

    # reading
    async def get(
        self,
        obj_id: str,
        *,
        type: str | None = None,
        account: str | None = None,
        lock: bool = False,
    ) -> Obj | None:
        obj = self._cache.get(obj_id)
        relock = lock and self.postgres and obj is not None and obj.stored
        if obj is None or (relock and obj_id not in self._locked):
            stmt = f"{_SELECT} WHERE id = ?"
            if lock and self.postgres:
                stmt += " FOR UPDATE"
                self._locked.add(obj_id)
            row = await self.sql.row(stmt, obj_id)
            if row is None:
                return None
            fresh = _obj(row)
            if obj is None:
                obj = fresh
                self._cache[obj_id] = obj
            elif obj_id not in self._dirty:
                obj.data, obj.private, obj.due_at, obj.parent = (
                    fresh.data,
                    fresh.private,
                    fresh.due_at,
                    fresh.parent,
                )
        if type is not None and obj.type != type:
            return None
        if account is not None and obj.account != account:
            return None
        return obj

    async def require(
        self,
        obj_id: Any,
        type: str,
        *,
        account: str | None = None,
        lock: bool = False,
        param: str | None = "id",
    ) -> Obj:
        obj = None
        if isinstance(obj_id, str):
            obj = await self.get(obj_id, type=type, account=account, lock=lock)
        if obj is None:
            raise no_such(type, str(obj_id), param=param)
        return obj

    def _cached(self, r: Row) -> Obj:
        known = self._cache.get(r[1])
        if known is not None:
            return known
        obj = _obj(r)
        self._cache[obj.id] = obj
        return obj

    async def page(
        self,
        type: str,
        *,
        account: str,
        parent: str | None = None,
        limit: int = 10,
        starting_after: str | None = None,
        ending_before: str | None = None,
        keep: Callable[[Obj], bool] | None = None,
        created: Mapping[str, int] | None = None,
    ) -> tuple[list[Obj], bool]:
        """One page, newest first, Stripe's cursor rules. ``keep`` filters in Python;
        ``created`` is a validated range (``{"gte": t, "lt": u}``) on the ``created`` column."""
        await self.flush()
        where = ["type = ?", "account = ?"]
        args: list[Any] = [type, account]
        if parent is not None:
            where.append("parent = ?")
            args.append(parent)
        for op, value in (created or {}).items():
            where.append(f"created {RANGE_OPS[op]} ?")
            args.append(value)
        cursor = starting_after or ending_before
        if cursor is not None:
            anchor = await self.get(cursor, type=type, account=account)
            if anchor is None:
                param = "starting_after" if starting_after else "ending_before"
                raise no_such(type, cursor, param=param)
            if anchor.seq is None:  # made earlier in this unit of work
                found = await self.sql.row(
                    "SELECT seq FROM sandbox_stripe_objects WHERE id = ?", anchor.id
                )
                anchor.seq = found[0] if found else 0
            where.append("seq < ?" if starting_after else "seq > ?")
            args.append(anchor.seq)
        backwards = starting_after is None and ending_before is not None
        stmt = f"{_SELECT} WHERE {' AND '.join(where)} ORDER BY seq "
        stmt += "ASC" if backwards else "DESC"
        if keep is None:
            stmt += " LIMIT ?"
            args.append(limit + 1)
            rows = [self._cached(r) for r in await self.sql.rows(stmt, *args)]
        else:
            rows = [o for o in map(self._cached, await self.sql.rows(stmt, *args)) if keep(o)]
        has_more = len(rows) > limit
        rows = rows[:limit]
        if backwards:
            rows.reverse()
        return rows, has_more

    async def due_ids(self, now: int, limit: int) -> list[str]:
        rows = await self.sql.rows(
            "SELECT id FROM sandbox_stripe_objects WHERE due_at IS NOT NULL AND due_at <= ? "
            "ORDER BY due_at, seq LIMIT ?",
            now,
            limit,
        )
        return [r[0] for r in rows]

    # writing
    def create(
        self,
        type: str,
        data: dict[str, Any],
        *,
        account: str,
        parent: str | None = None,
        due_at: int | None = None,
        private: dict[str, Any] | None = None,
    ) -> Obj:
        obj = Obj(
            id=data["id"],
            type=type,
            account=account,
            data=data,
            parent=parent,
            due_at=due_at,
            private=private or {},
            created=int(data.get("created") or 0),
        )
        self._cache[obj.id] = obj
        self._new.append(obj)
        return obj

    def save(self, obj: Obj) -> None:
        if obj.stored:  # new objects are written whole at flush
            self._dirty[obj.id] = obj

    def add_balance(
        self, txn_id: str, *, account: str, currency: str, net: int, available_on: int
    ) -> None:
        self._balance.append((txn_id, account, currency, net, available_on))

    def add_event(
        self,
        event_id: str,
        type: str,
        account: str | None,
        created: int,
        body: str,
    ) -> None:
        self._events.append((event_id, type, account, created, body))

    def remember(
        self,
        *,
        scope: str,
        key: str,
        fingerprint: str,
        request_id: str,
        status: int,
        body: str,
        created_at: int,
    ) -> None:
        """Store a response under its Idempotency-Key (written with the unit's other writes)."""
        self._keys.append((scope, key, fingerprint, request_id, status, body, created_at))

    async def balances(self, account: str, now: int) -> dict[str, tuple[int, int]]:
        """Per currency: (available, pending) from every balance entry of the account."""
        await self.flush()
        rows = await self.sql.rows(
            "SELECT currency, SUM(CASE WHEN available_on <= ? THEN net ELSE 0 END), "
            "SUM(CASE WHEN available_on > ? THEN net ELSE 0 END) FROM sandbox_stripe_balance "
            "WHERE account = ? GROUP BY currency",
            now,
            now,
            account,
        )
        return {r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in rows}

    async def flush(self, *, final: bool = False) -> None:
        """Write what the unit changed. ``final``: the unit's last statement (it ends then),
        which on PostgreSQL may run without a transaction of its own (``PgSql.last``)."""
        if not (self._new or self._dirty or self._balance or self._events or self._keys):
            return
        new, self._new = self._new, []
        dirty, self._dirty = list(self._dirty.values()), {}
        balance, self._balance = self._balance, []
        events, self._events = self._events, []
        keys, self._keys = self._keys, []
        inserts = [
            (
                o.id,
                o.type,
                o.account,
                o.parent,
                o.created,
                o.due_at,
                dumps(o.data),
                dumps(o.private) if o.private else None,
            )
            for o in new
        ]
        updates = [
            (
                dumps(o.data),
                dumps(o.private) if o.private else None,
                o.due_at,
                o.parent,
                o.type,
                o.id,
            )
            for o in dirty
        ]
        if self.postgres:
            # One statement, one round trip, for every write of the unit (data-modifying
            # CTEs); only the parts with rows, its text cached by that shape.
            parts: tuple[list[tuple[Any, ...]], ...] = (inserts, updates, balance, events, keys)
            if sum(map(len, parts)) <= _MAX_VALUES_ROWS:
                # A request's few rows as VALUES lists, their parameters as plain scalars
                # (arrays cost the driver a type check per element); one text per count.
                stmt = _pg_flush_values(tuple(map(len, parts)))
                args = [value for rows in parts for row in rows for value in row]
            else:
                stmt = _pg_flush(tuple(bool(rows) for rows in parts))
                args = [
                    col
                    for rows, width in zip(parts, _WIDTHS, strict=True)
                    if rows
                    for col in _columns(rows, width)
                ]
            if final:
                await self.sql.last(stmt, *args)
            else:
                await self.sql.run(stmt, *args)
        else:
            if inserts:
                await self.sql.many(_INSERT, inserts)
            if updates:
                await self.sql.many(_UPDATE, updates)
            if balance:
                await self.sql.many(_BALANCE, balance)
            if events:
                await self.sql.many(_EVENT, events)
            if keys:
                await self.sql.many(_KEY, keys)
        for o in new:
            o.stored = True


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows → one list per column (``unnest`` takes columns)."""
    return [[row[i] for row in rows] for i in range(width)]


#: The parts of the flush (objects inserted and updated, balance entries, events, keys):
#: each takes its rows as one array per column.
_WIDTHS = (8, 6, 5, 5, 7)
_PG_PARTS = (
    """INSERT INTO sandbox_stripe_objects (id, type, account, parent, created, due_at, data,
                                    private)
SELECT * FROM unnest(${}::text[], ${}::text[], ${}::text[], ${}::text[], ${}::bigint[],
                     ${}::bigint[], ${}::text[], ${}::text[])""",
    """UPDATE sandbox_stripe_objects AS o
SET data = v.data, private = v.private, due_at = v.due_at, parent = v.parent, type = v.type
FROM unnest(${}::text[], ${}::text[], ${}::bigint[], ${}::text[], ${}::text[], ${}::text[])
    AS v (data, private, due_at, parent, type, id)
WHERE o.id = v.id""",
    """INSERT INTO sandbox_stripe_balance (id, account, currency, net, available_on)
SELECT * FROM unnest(${}::text[], ${}::text[], ${}::text[], ${}::bigint[], ${}::bigint[])""",
    """INSERT INTO sandbox_stripe_events (id, type, account, created, data, state, attempts,
                                   next_attempt_at, last_error)
SELECT e.*, 'pending', 0, 0, NULL
FROM unnest(${}::text[], ${}::text[], ${}::text[], ${}::bigint[], ${}::text[])
    AS e (id, type, account, created, data)""",
    """INSERT INTO sandbox_stripe_idempotency (scope, key, fingerprint, request_id, status, body,
                                        created_at)
SELECT * FROM unnest(${}::text[], ${}::text[], ${}::text[], ${}::text[], ${}::int[],
                     ${}::text[], ${}::bigint[])""",
)
_PG_FLUSHES: dict[tuple[bool, ...], str] = {}


def _pg_flush(shape: tuple[bool, ...]) -> str:
    """The flush statement for the parts that have rows: the last one the main statement,
    the others data-modifying CTEs before it (all in one snapshot; none reads another's rows,
    as objects made in the unit are inserted, never updated)."""
    found = _PG_FLUSHES.get(shape)
    if found is None:
        numbers = iter(range(1, 1 + sum(_WIDTHS)))
        parts = [
            part.replace("${}", "{}").format(*(f"${next(numbers)}" for _ in range(width)))
            for part, width, present in zip(_PG_PARTS, _WIDTHS, shape, strict=True)
            if present
        ]
        ctes = [f"w{i} AS (\n{part}\n)" for i, part in enumerate(parts[:-1])]
        found = ("WITH " + ",\n".join(ctes) + "\n" if ctes else "") + parts[-1]
        _PG_FLUSHES[shape] = found
    return found


#: Above this many rows a flush sends arrays (``_pg_flush``), below it VALUES lists: the
#: statement's text then depends on the row counts, and each count is a prepared statement.
_MAX_VALUES_ROWS = 12
_PG_VALUES = (
    "INSERT INTO sandbox_stripe_objects (id, type, account, parent, created, due_at, data, "
    "private) VALUES {}",
    "UPDATE sandbox_stripe_objects AS o SET data = v.data, private = v.private, "
    "due_at = v.due_at, parent = v.parent, type = v.type FROM (VALUES {}) "
    "AS v (data, private, due_at, parent, type, id) WHERE o.id = v.id",
    "INSERT INTO sandbox_stripe_balance (id, account, currency, net, available_on) VALUES {}",
    "INSERT INTO sandbox_stripe_events (id, type, account, created, data, state, attempts, "
    "next_attempt_at, last_error) VALUES {}",
    "INSERT INTO sandbox_stripe_idempotency (scope, key, fingerprint, request_id, status, "
    "body, created_at) VALUES {}",
)
#: One row of each part: a ``{}`` per parameter (the UPDATE's typed: VALUES outside an
#: INSERT has no target columns to take types from).
_PG_ROWS = (
    "({},{},{},{},{},{},{},{})",
    "({}::text,{}::text,{}::bigint,{}::text,{}::text,{}::text)",
    "({},{},{},{},{})",
    "({},{},{},{},{},'pending',0,0,NULL)",
    "({},{},{},{},{},{},{})",
)
_PG_VALUES_FLUSHES: dict[tuple[int, ...], str] = {}


def _pg_flush_values(counts: tuple[int, ...]) -> str:
    """The flush statement for ``counts`` rows of each part, as VALUES lists: the last part
    with rows the main statement, the others data-modifying CTEs before it."""
    found = _PG_VALUES_FLUSHES.get(counts)
    if found is None:
        numbers = iter(range(1, 1 + sum(c * w for c, w in zip(counts, _WIDTHS, strict=True))))
        parts = []
        for stmt, row, width, count in zip(_PG_VALUES, _PG_ROWS, _WIDTHS, counts, strict=True):
            if count:
                rows = [
                    row.format(*(f"${next(numbers)}" for _ in range(width))) for _ in range(count)
                ]
                parts.append(stmt.format(", ".join(rows)))
        ctes = [f"w{i} AS ({part})" for i, part in enumerate(parts[:-1])]
        found = ("WITH " + ", ".join(ctes) + " " if ctes else "") + parts[-1]
        _PG_VALUES_FLUSHES[counts] = found
    return found
