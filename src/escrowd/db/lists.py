"""Lists of values fixed in the code, for ``IN``: each value bound as a parameter of its own.

``column.in_(("pending", "unknown"))`` binds one "expanding" parameter. SQLAlchemy caches the
statement, but renders the list into its SQL again on every execution (on PostgreSQL with a
cast per value): for a list of 20 values that cost 100 to 170 µs of CPU per execution on the
benchmark machine, about as much as the rest of a small cached ``SELECT``. With
``column.in_(fixed(("pending", "unknown")))`` each value is a parameter of its own, and the SQL
is rendered once, when the statement is compiled.

Only for lists whose length does not vary from call to call (statuses, kinds, event types): a
list of ids of any length keeps the expanding parameter, or each length would be a statement
of its own in the cache. Each value's SQL type comes from the Python value (``literal``), not
from the column: right for the plain strings it is used with, not for a column whose type
converts its values (an enum type, a ``TypeDecorator``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import BindParameter, literal


def fixed(values: Iterable[Any]) -> list[BindParameter[Any]]:
    """``values`` (in order) as separate bound parameters, for ``column.in_(…)``."""
    return [literal(value) for value in values]
