"""The catalog: every type described, carrying a known object, and documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from escrowd.events.domain import ALL_TYPES, CATALOG, EventType, ObjectType, matching
from escrowd.events.service import changes

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"

ISSUE_TYPES = {
    "escrow.created",
    "escrow.funded",
    "escrow.requires_action",
    "escrow.authorized",
    "escrow.captured",
    "allocation.released",
    "escrow.released",
    "escrow.partially_released",
    "escrow.refunded",
    "escrow.partially_refunded",
    "escrow.expired",
    "escrow.cancelled",
    "escrow.disputed",
    "payment.failed",
    "allocation.payee_assigned",
    "account.updated",
}


def test_every_type_the_issue_names_is_in_the_catalog() -> None:
    assert set(ALL_TYPES) >= ISSUE_TYPES


def test_every_type_has_a_spec_with_a_one_line_description_and_an_object_type() -> None:
    assert set(CATALOG) == set(EventType)
    for event_type, spec in CATALOG.items():
        assert spec.type is event_type
        assert isinstance(spec.object_type, ObjectType)
        assert spec.description.endswith(".")
        assert "\n" not in spec.description
        assert spec.written_by
        assert event_type.description == spec.description
        assert event_type.object_type is spec.object_type


def test_type_names_are_lowercase_object_dot_action() -> None:
    for value in ALL_TYPES:
        assert re.fullmatch(r"[a-z]+\.[a-z_]+", value), value


def test_escrow_types_carry_escrows_and_allocation_types_carry_allocations() -> None:
    for event_type in EventType:
        prefix = event_type.value.split(".")[0]
        if prefix in ("escrow", "allocation", "account"):
            assert event_type.object_type.value == prefix


def test_docs_list_every_type_with_its_description() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for spec in CATALOG.values():
        assert f"`{spec.type.value}`" in text, spec.type
        assert spec.description in text, spec.type


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("escrow.funded", {"escrow.funded"}),
        (
            "allocation.*",
            {
                "allocation.released",
                "allocation.reversed",
                "allocation.payee_assigned",
                "allocation.release_failed",
                "allocation.clawed_back",
            },
        ),
        ("escrow.partially_*", {"escrow.partially_released", "escrow.partially_refunded"}),
        ("*", set(ALL_TYPES)),
        ("escrow.fundd", set()),
        ("nothing.*", set()),
    ],
)
def test_a_filter_names_an_exact_type_or_every_type_with_a_prefix(
    pattern: str, expected: set[str]
) -> None:
    assert {t.value for t in matching(pattern)} == expected


def test_previous_attributes_are_the_old_values_of_what_changed() -> None:
    before = {"id": "esc_1", "status": "held", "amount": 100, "gone": 1}
    after = {"id": "esc_1", "status": "released", "amount": 100, "new": 2}
    assert changes(before, after) == {"status": "held", "new": None, "gone": 1}
    assert changes(after, after) is None
