"""One API request: key check, parameters, idempotency, one transaction, Stripe's response.

Idempotency as Stripe does it: a POST with an ``Idempotency-Key`` stores its response (2xx and
card declines, whose state changes are kept) for 24 hours under the key and the calling
account; the same key and parameters replay it with ``Idempotent-Replayed: true``; other
parameters → 400 ``idempotency_error``; while the first is still running → 409
``idempotency_key_in_use``. Requests refused before they did anything are not stored, so a
corrected retry may reuse the key. The key row is written in the request's own transaction:
two processes racing on one key cannot both commit, the loser replays the winner.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

from escrowd.clock import unix
from escrowd.config import SANDBOX_SECRET_KEY
from escrowd.logging import get_logger
from escrowd.sandbox.stripe.context import Ctx
from escrowd.sandbox.stripe.db import Sql, is_unique_violation, run_unit
from escrowd.sandbox.stripe.errors import (
    ApiError,
    AuthError,
    IdempotencyError,
    InvalidRequestError,
    NotFoundError,
    StripeError,
)
from escrowd.sandbox.stripe.host import Host
from escrowd.sandbox.stripe.ids import PLATFORM, token
from escrowd.sandbox.stripe.params import validate
from escrowd.sandbox.stripe.render import expand, render
from escrowd.sandbox.stripe.routes import Route, match
from escrowd.sandbox.stripe.speccheck import SpecHook
from escrowd.sandbox.stripe.store import Store, canonical, dumps
from escrowd.sandbox.stripe.wire import decode

log = get_logger(__name__)

IDEMPOTENCY_TTL = 86400
MAX_KEY = 255
_DOCS = "https://stripe.com/docs"


@dataclass(slots=True)
class Reply:
    status: int
    body: str
    headers: dict[str, str]


@dataclass(slots=True)
class Incoming:
    method: str
    path: str  # the Stripe path: /v1/...
    query: str
    body: bytes
    authorization: str | None
    account: str | None
    idempotency_key: str | None
    request_id: str | None = None


class Dispatcher:
    def __init__(self, container: Host) -> None:
        self.container = container
        self.spec = SpecHook()
        #: Keys being processed by this process: a second request with one gets a 409 at once.
        self.in_flight: set[tuple[str, str]] = set()

    async def handle(self, req: Incoming) -> Reply:
        rid = req.request_id or "req_" + token(14)
        headers = {"Request-Id": rid}
        if req.idempotency_key is not None:
            headers["Idempotency-Key"] = req.idempotency_key
        try:
            status, body = await self._handle(req, rid, headers)
        except StripeError as exc:
            status, body = exc.http_status, dumps(exc.body())
            headers.update(exc.headers)
        except Exception:  # an emulator bug must still answer like Stripe: a 500 api_error
            log.exception("sandbox_stripe_request_failed", method=req.method, path=req.path)
            err = ApiError("An unexpected error occurred in escrowd's Stripe sandbox.")
            status, body = err.http_status, dumps(err.body())
        if self.spec.checker is not None:
            self.spec.response(req.method, req.path, status, json.loads(body))
        return Reply(status, body, headers)

    async def _handle(self, req: Incoming, rid: str, headers: dict[str, str]) -> tuple[int, str]:
        _check_key(req.authorization)
        found = match(req.method, req.path)
        if found is None:
            raise NotFoundError(
                f"Unrecognized request URL ({req.method}: {req.path}). Please see {_DOCS} or we "
                "can help at https://support.stripe.com/.",
                param=None,
            )
        route, args = found
        raw = decode(req.query if req.method != "POST" else req.body.decode("utf-8", "replace"))
        if self.spec.checker is not None:
            self.spec.request(req.method, req.path, raw)
        params = validate(route.schema, raw)
        account = req.account or PLATFORM
        key = req.idempotency_key if req.method == "POST" else None
        if key is None:
            return await self._run(route, args, params, account, rid, None, "")
        if len(key) > MAX_KEY:
            raise InvalidRequestError(
                f"Idempotency-Key must be at most {MAX_KEY} characters long.",
                param="Idempotency-Key",
            )
        fingerprint = _fingerprint(req.method, req.path, raw)
        slot = (account, key)
        if slot in self.in_flight:
            raise StripeError(
                "There is currently another in-progress request using this Idempotent Key "
                "(that probably means you submitted twice, and the other request is still going "
                "through). Please try again later.",
                code="idempotency_key_in_use",
                status=409,
            )
        self.in_flight.add(slot)
        try:
            try:
                return await self._run(route, args, params, account, rid, key, fingerprint, headers)
            except Exception as exc:
                if not is_unique_violation(exc):
                    raise
                # Another process committed this key first: answer with its response.
                return await self._run(route, args, params, account, rid, key, fingerprint, headers)
        finally:
            self.in_flight.discard(slot)

    async def _run(
        self,
        route: Route,
        args: dict[str, str],
        params: dict[str, Any],
        account: str,
        rid: str,
        key: str | None,
        fingerprint: str,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str]:
        container = self.container
        real_now = unix(container.clock.now())

        async def work(sql: Sql) -> tuple[int, str]:
            # One read gives the clock and, for a keyed POST, the stored response if any.
            row = await sql.row(_LOOKUP, account, key or "")
            offset = int(row[0]) if row else 0
            if key is not None and row is not None and row[1] is not None:
                replay = await _replay(sql, row, account, key, fingerprint, real_now)
                if replay is not None:
                    assert headers is not None
                    headers["Idempotent-Replayed"] = "true"
                    headers["Original-Request"] = replay[2]
                    return replay[0], replay[1]
            store = Store(sql)
            ctx = Ctx(
                container=container,
                store=store,
                now=real_now + offset,
                account=account,
                request_id=rid,
                idempotency_key=key,
            )
            if account != PLATFORM:
                await _check_account(store, account)
            try:
                result = await route.handler(ctx, params, args)
                body = render(ctx, result) if not isinstance(result, dict) else result
                if params.get("expand"):
                    body = await expand(ctx, body, params["expand"])
                status, text = 200, dumps(body)
            except StripeError as exc:
                if not exc.commit:
                    raise
                status, text = exc.http_status, dumps(exc.body())
            if key is not None:
                store.remember(
                    scope=account,
                    key=key,
                    fingerprint=fingerprint,
                    request_id=rid,
                    status=status,
                    body=text,
                    created_at=real_now,
                )
            await store.flush(final=True)
            return status, text

        return await run_unit(container, work, read_only=route.read_only)


_LOOKUP = (
    "SELECT c.offset_seconds, i.fingerprint, i.status, i.body, i.request_id, i.created_at "
    "FROM sandbox_stripe_clock c LEFT JOIN sandbox_stripe_idempotency i "
    "ON i.scope = ? AND i.key = ? WHERE c.id = 1"
)


async def _replay(
    sql: Sql, row: Any, account: str, key: str, fingerprint: str, real_now: int
) -> tuple[int, str, str] | None:
    if row[5] < real_now - IDEMPOTENCY_TTL:
        await sql.run(
            "DELETE FROM sandbox_stripe_idempotency WHERE scope = ? AND key = ?", account, key
        )
        return None
    if row[1] != fingerprint:
        raise IdempotencyError(
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{key}' if you meant to execute a "
            "different request."
        )
    return int(row[2]), str(row[3]), str(row[4])


async def _check_account(store: Store, account: str) -> None:
    if await store.get(account, type="account") is None:
        raise StripeError(
            f"The provided key does not have access to account '{account}' (or that account "
            "does not exist). Application access may have been revoked.",
            code="account_invalid",
            status=403,
        )


def _check_key(authorization: str | None) -> None:
    if not authorization:
        raise AuthError(
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
            f"YOUR_SECRET_KEY'). See {_DOCS}/api#authentication for details, or we can help at "
            "https://support.stripe.com/."
        )
    scheme, _, value = authorization.strip().partition(" ")
    secret = value.strip()
    if scheme.lower() == "basic":
        try:
            secret = base64.b64decode(secret).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            secret = ""
    elif scheme.lower() != "bearer":
        secret = ""
    if not hmac.compare_digest(secret.encode(), SANDBOX_SECRET_KEY.encode()):
        # Stripe's own words and its masking: the key's kind and last four characters.
        raise AuthError(f"Invalid API Key provided: {_masked(secret)}")


_KEY_KIND = re.compile(r"^(?:sk|rk|pk)_(?:test|live)_")


def _masked(secret: str) -> str:
    kind = _KEY_KIND.match(secret)
    prefix = kind.group(0) if kind else ""
    rest = secret[len(prefix) :]
    if len(rest) <= 8:
        return prefix + "*" * max(len(rest), 4)
    return prefix + "*" * (len(rest) - 4) + rest[-4:]


def _fingerprint(method: str, path: str, raw: dict[str, Any]) -> str:
    canon = canonical([method, path, raw])
    return hashlib.sha256(canon.encode()).hexdigest()
