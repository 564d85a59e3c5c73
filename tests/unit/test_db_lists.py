"""``escrowd.db.lists.fixed``: a fixed list bound value by value, its SQL rendered once."""

from __future__ import annotations

import pytest
from sqlalchemy import String, column, create_engine, select, table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect

from escrowd.db.lists import fixed

T = table("t", column("status", String))


@pytest.mark.parametrize(
    "dialect",
    [postgresql.asyncpg.dialect(), sqlite.dialect()],  # type: ignore[no-untyped-call]
)
def test_each_value_is_a_parameter_of_its_own_not_a_list_rendered_per_execution(
    dialect: Dialect,
) -> None:
    plain = select(T).where(T.c.status.in_(("pending", "unknown"))).compile(dialect=dialect)
    assert "POSTCOMPILE" in str(plain)  # what fixed() avoids: the list rendered at execution

    compiled = (
        select(T).where(T.c.status.in_(fixed(("pending", "unknown")))).compile(dialect=dialect)
    )
    assert "POSTCOMPILE" not in str(compiled)
    assert sorted(compiled.params.values()) == ["pending", "unknown"]


def test_in_and_not_in_select_the_same_rows_as_the_plain_list() -> None:
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (status VARCHAR)")
        conn.exec_driver_sql("INSERT INTO t VALUES ('pending'), ('unknown'), ('done'), (NULL)")
        wanted = ("pending", "unknown")
        for op in ("in_", "not_in"):
            plain = conn.scalars(select(T.c.status).where(getattr(T.c.status, op)(wanted)))
            bound = conn.scalars(select(T.c.status).where(getattr(T.c.status, op)(fixed(wanted))))
            assert sorted(plain, key=str) == sorted(bound, key=str)
    engine.dispose()
