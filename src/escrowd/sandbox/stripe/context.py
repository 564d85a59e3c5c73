"""What a handler works with: the unit of work, the sandbox time, the acting account, events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from escrowd.config import SANDBOX_PREFIX
from escrowd.sandbox.stripe.host import Host
from escrowd.sandbox.stripe.ids import API_VERSION, PLATFORM, new_id
from escrowd.sandbox.stripe.store import Obj, Store, dumps


@dataclass(slots=True, eq=False)
class Ctx:
    container: Host
    store: Store
    now: int
    account: str = PLATFORM
    request_id: str | None = None
    idempotency_key: str | None = None

    @property
    def base_url(self) -> str:
        """Where a browser reaches the sandbox's hosted pages."""
        return self.container.settings.public_url.rstrip("/") + SANDBOX_PREFIX

    @property
    def on_platform(self) -> bool:
        return self.account == PLATFORM

    def emit(
        self,
        type: str,
        obj: Obj | dict[str, Any],
        *,
        previous: dict[str, Any] | None = None,
        account: str | None = None,
    ) -> str:
        """Record an event with a snapshot of the object as it is now."""
        data = obj.data if isinstance(obj, Obj) else obj
        if account is None and isinstance(obj, Obj) and obj.account != PLATFORM:
            account = obj.account
        event_id = new_id("evt")
        body: dict[str, Any] = {
            "id": event_id,
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now,
            "data": {"object": data},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": self.request_id, "idempotency_key": self.idempotency_key},
            "type": type,
        }
        if previous:
            body["data"]["previous_attributes"] = previous
        if account is not None:
            body["account"] = account
        self.store.add_event(event_id, type, account, self.now, dumps(body))
        return event_id
