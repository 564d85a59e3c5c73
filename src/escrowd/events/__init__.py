"""Typed events: every state change writes one, in the same transaction (docs/events.md).

- :mod:`~escrowd.events.domain`: ``EventType`` and ``ObjectType``, each type's description
  and object (pure, so ``domain.py`` files may import it; this package imports nothing else).
- :mod:`~escrowd.events.service`: ``record`` (in the caller's unit of work), ``on_recorded``
  callbacks, ``get`` and ``list_query`` with visibility.
- :mod:`~escrowd.events.models`: the ``events`` and ``event_audience`` tables (migration 0006).
- :mod:`~escrowd.events.routes`: ``router`` for ``GET /v1/events`` and ``GET /v1/events/{id}``.
"""

from escrowd.events.domain import CATALOG, EventSpec, EventType, ObjectType

__all__ = ["CATALOG", "EventSpec", "EventType", "ObjectType"]
