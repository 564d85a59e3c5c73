"""Demo data for a fresh development install: logins printed by ``escrowd serve``.

Created only when the database has no users at all and never in production, so a real
installation never gets a known password. Later issues add a funded demo escrow.
"""

from __future__ import annotations

from escrowd.bootstrap import build
from escrowd.config import Settings
from escrowd.users import passwords, service
from escrowd.users.domain import Role

#: (email, password, name, role). Development only: printed on the console at start.
DEMO_USERS: tuple[tuple[str, str, str, Role], ...] = (
    ("admin@demo.escrowd.dev", "demo-admin-password", "Ada Admin", "admin"),
    ("client@demo.escrowd.dev", "demo-client-password", "Carla Client", "client"),
    ("worker1@demo.escrowd.dev", "demo-worker-password", "Wendy Worker", "worker"),
    ("worker2@demo.escrowd.dev", "demo-worker-password", "Walt Worker", "worker"),
)


async def seed_demo_logins(settings: Settings) -> list[tuple[str, str, str]]:
    """Create the demo users in an empty database; returns (email, password, role) made."""
    if not settings.is_dev:
        return []
    container = build(settings)
    try:
        async with container.db.transaction() as session:
            if await service.count(session) > 0:
                return []
            hasher = passwords.for_settings(settings)
            for email, password, name, role in DEMO_USERS:
                await service.create(
                    session,
                    clock=container.clock,
                    passwords=hasher,
                    email=email,
                    password=password,
                    name=name,
                    role=role,
                    granted_by_admin=True,
                )
        return [(email, password, role) for email, password, _, role in DEMO_USERS]
    finally:
        await container.close()
