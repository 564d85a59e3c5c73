"""Which events notify whom, and what the notification says (pure: no database, no I/O).

A rule is keyed by an event type *string*, not an ``EventType`` member, so that rules for
events other parts of escrowd have not written yet can exist before their types do: until
such an event is recorded, its rule never fires. ``PENDING_EVENT_TYPES`` lists them (none
now; docs/notifications.md).

A rule reads the event's ``data`` (the object's API representation when it happened) and
``previous_attributes`` and returns drafts: a notification type, the *parties* concerned
(``usr_…`` or ``org_…``; the sweep turns an organization into its admins), a title and a
one-line body.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final

from escrowd.events.domain import EventType
from escrowd.money import exponent


class NotificationType(StrEnum):
    payment_required = "payment_required"
    payment_received = "payment_received"
    payment_failed = "payment_failed"
    payment_released = "payment_released"
    payout_paid = "payout_paid"
    payout_failed = "payout_failed"
    payment_window_expiring = "payment_window_expiring"
    payment_window_expired = "payment_window_expired"
    dispute_opened = "dispute_opened"
    dispute_resolved = "dispute_resolved"
    account_needs_information = "account_needs_information"
    capability_restricted = "capability_restricted"


#: One line per type, for the API's description of preferences and for docs.
DESCRIPTIONS: Final[Mapping[NotificationType, str]] = MappingProxyType(
    {
        NotificationType.payment_required: "An escrow waits for your payment (or an "
        "authentication step).",
        NotificationType.payment_received: "A payment arrived and is held in escrow.",
        NotificationType.payment_failed: "A payment attempt failed.",
        NotificationType.payment_released: "Money held in escrow was released.",
        NotificationType.payout_paid: "A payout reached the bank.",
        NotificationType.payout_failed: "A payout failed; the money is available again.",
        NotificationType.payment_window_expiring: "An escrow's payment window ends soon.",
        NotificationType.payment_window_expired: "An escrow expired before it was paid.",
        NotificationType.dispute_opened: "A dispute was opened on an escrow.",
        NotificationType.dispute_resolved: "A dispute was resolved.",
        NotificationType.account_needs_information: "Your payout account needs more information.",
        NotificationType.capability_restricted: "Your payout account was restricted.",
    }
)

#: Longest title and body stored (the columns' sizes).
MAX_TITLE: Final = 200
MAX_BODY: Final = 1000


@dataclass(frozen=True, slots=True)
class Draft:
    """A notification to create for every user behind each of ``parties``."""

    type: NotificationType
    parties: tuple[str, ...]
    title: str
    body: str


Data = Mapping[str, Any]
Rule = Callable[[Data, Data | None], list[Draft]]


def amount_text(amount: int, currency: str) -> str:
    """``2000, "usd"`` → ``20.00 USD`` (display only; the stored amounts stay integers)."""
    digits = exponent(currency)
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), 10**digits)
    shown = f"{whole}.{part:0{digits}d}" if digits else str(whole)
    return f"{sign}{shown} {currency.upper()}"


def _payees(escrow: Data) -> tuple[str, ...]:
    return tuple(a["payee"] for a in escrow.get("allocations") or () if a.get("payee"))


def _payer(escrow: Data) -> tuple[str, ...]:
    payer = escrow.get("payer")
    return (payer,) if payer else ()


def _money(obj: Data, key: str = "amount") -> str:
    return amount_text(int(obj.get(key) or 0), str(obj.get("currency") or "usd"))


def _escrow_label(escrow: Data) -> str:
    described = escrow.get("description")
    return f"“{described}” ({escrow['id']})" if described else str(escrow["id"])


# ---- the rules, one per event type ---------------------------------------------------------


def _escrow_created(e: Data, _: Data | None) -> list[Draft]:
    return [
        Draft(
            NotificationType.payment_required,
            _payer(e),
            f"Payment of {_money(e)} required",
            f"Escrow {_escrow_label(e)} waits for your payment of {_money(e)}.",
        )
    ]


def _escrow_requires_action(e: Data, _: Data | None) -> list[Draft]:
    return [
        Draft(
            NotificationType.payment_required,
            _payer(e),
            "Your payment needs your confirmation",
            f"Complete the authentication step to pay {_money(e)} into escrow {_escrow_label(e)}.",
        )
    ]


def _escrow_funded(e: Data, _: Data | None) -> list[Draft]:
    label, money = _escrow_label(e), _money(e)
    return [
        Draft(
            NotificationType.payment_received,
            _payer(e),
            f"Your payment of {money} is held in escrow",
            f"Escrow {label}: your payment of {money} arrived and is held until it is released.",
        ),
        Draft(
            NotificationType.payment_received,
            _payees(e),
            f"{money} is held in escrow for you",
            f"Escrow {label} is paid: the money is held and will be released to you.",
        ),
    ]


def _payment_failed(e: Data, _: Data | None) -> list[Draft]:
    error = e.get("last_payment_error") or {}
    why = error.get("message") if isinstance(error, dict) else None
    return [
        Draft(
            NotificationType.payment_failed,
            _payer(e),
            f"Your payment of {_money(e)} failed",
            f"Escrow {_escrow_label(e)}: the payment failed"
            + (f" ({why})." if why else ".")
            + " Try again with another payment method.",
        )
    ]


def _allocation_released(a: Data, _: Data | None) -> list[Draft]:
    payee = a.get("payee")
    released = amount_text(int(a.get("net_released") or 0), str(a.get("currency") or "usd"))
    return [
        Draft(
            NotificationType.payment_released,
            (payee,) if payee else (),
            f"{released} was released to you",
            f"Escrow {a.get('escrow')}: {released} was released to your balance.",
        )
    ]


def _escrow_released(e: Data, _: Data | None) -> list[Draft]:
    return [
        Draft(
            NotificationType.payment_released,
            _payer(e),
            "Your escrow was released",
            f"Escrow {_escrow_label(e)}: everything held was released to the payees.",
        )
    ]


def _payout(paid: bool) -> Rule:
    def rule(p: Data, _: Data | None) -> list[Draft]:
        money = _money(p)
        if paid:
            return [
                Draft(
                    NotificationType.payout_paid,
                    (p["party"],),
                    f"Your payout of {money} was paid",
                    f"Payout {p['id']} of {money} was sent to your bank.",
                )
            ]
        why = p.get("failure_message") or p.get("failure_code")
        return [
            Draft(
                NotificationType.payout_failed,
                (p["party"],),
                f"Your payout of {money} failed",
                f"Payout {p['id']} failed"
                + (f" ({why})" if why else "")
                + "; the money is available in your balance again.",
            )
        ]

    return rule


def _window_expiring(e: Data, _: Data | None) -> list[Draft]:
    return [
        Draft(
            NotificationType.payment_window_expiring,
            _payer(e),
            "Your escrow's payment window ends soon",
            f"Pay {_money(e)} into escrow {_escrow_label(e)} before it expires.",
        )
    ]


def _escrow_expired(e: Data, _: Data | None) -> list[Draft]:
    text = f"Escrow {_escrow_label(e)} expired before its payment of {_money(e)} was held."
    return [
        Draft(NotificationType.payment_window_expired, _payer(e), "Your escrow expired", text),
        Draft(NotificationType.payment_window_expired, _payees(e), "An escrow expired", text),
    ]


def _dispute_parties(obj: Data) -> tuple[str, ...]:
    """The parties of a dispute event's object: an escrow's, or a dispute's own fields."""
    parties = [*_payer(obj), *_payees(obj)]
    for key in ("payer", "payee", "opened_by"):
        value = obj.get(key)
        if isinstance(value, str) and value not in parties:
            parties.append(value)
    for value in obj.get("payees") or ():
        if isinstance(value, str) and value not in parties:
            parties.append(value)
    return tuple(p for p in parties if p.startswith(("usr_", "org_")))


def _ref(obj: Data) -> str:
    escrow = obj.get("escrow")
    return f"escrow {escrow}" if isinstance(escrow, str) else f"escrow {_escrow_label(obj)}"


def _dispute_opened(obj: Data, _: Data | None) -> list[Draft]:
    return [
        Draft(
            NotificationType.dispute_opened,
            _dispute_parties(obj),
            "A dispute was opened",
            f"A dispute was opened on {_ref(obj)}; its money is frozen until it is resolved.",
        )
    ]


def _disputed_escrow(e: Data, previous: Data | None) -> list[Draft]:
    # Once the disputes module writes its own dispute.opened, that event notifies and this
    # one must not: otherwise every dispute would notify twice.
    if OPENED in _KNOWN_TYPES:
        return []
    return _dispute_opened(e, previous)


def _dispute_resolved(obj: Data, _: Data | None) -> list[Draft]:
    outcome = obj.get("outcome") or obj.get("resolution") or obj.get("status")
    return [
        Draft(
            NotificationType.dispute_resolved,
            _dispute_parties(obj),
            "A dispute was resolved",
            f"The dispute on {_ref(obj)} was resolved"
            + (f" ({outcome})." if isinstance(outcome, str) else "."),
        )
    ]


def _due(requirements: Any) -> set[str]:
    if not isinstance(requirements, Mapping):
        return set()
    return {*(requirements.get("currently_due") or ()), *(requirements.get("past_due") or ())}


def _account_updated(acct: Data, previous: Data | None) -> list[Draft]:
    previous = previous or {}
    owner = (acct["owner_id"],)
    drafts: list[Draft] = []
    if "requirements" in previous:
        new = sorted(_due(acct.get("requirements")) - _due(previous["requirements"]))
        if new:
            shown = ", ".join(new[:5]) + (" …" if len(new) > 5 else "")
            drafts.append(
                Draft(
                    NotificationType.account_needs_information,
                    owner,
                    "Your payout account needs information",
                    f"Account {acct['id']} needs: {shown}. Update your details to keep "
                    "receiving payouts.",
                )
            )
    was = previous.get("capabilities")
    lost = (
        sorted(
            name
            for name, status in (acct.get("capabilities") or {}).items()
            if status != "active" and was.get(name) == "active"
        )
        if isinstance(was, Mapping)
        else []
    )
    now_restricted = previous.get("status") not in (None, "restricted") and (
        acct.get("status") == "restricted"
    )
    if lost or now_restricted:
        what = f"{', '.join(lost)} no longer active" if lost else "restricted"
        drafts.append(
            Draft(
                NotificationType.capability_restricted,
                owner,
                "Your payout account was restricted",
                f"Account {acct['id']}: {what}. Update your details to lift the restriction.",
            )
        )
    return drafts


#: Events written elsewhere, not (yet) in escrowd's catalog, whose rules wait for them.
OPENED: Final = "dispute.opened"
PENDING_EVENT_TYPES: Final[Mapping[str, str]] = MappingProxyType({})
_KNOWN_TYPES: Final = frozenset(t.value for t in EventType)

RULES: Final[Mapping[str, Rule]] = MappingProxyType(
    {
        "escrow.created": _escrow_created,
        "escrow.requires_action": _escrow_requires_action,
        "escrow.funded": _escrow_funded,
        "payment.failed": _payment_failed,
        "allocation.released": _allocation_released,
        "escrow.released": _escrow_released,
        "payout.paid": _payout(paid=True),
        "payout.failed": _payout(paid=False),
        "escrow.payment_window_expiring": _window_expiring,
        "escrow.expired": _escrow_expired,
        "escrow.disputed": _disputed_escrow,
        OPENED: _dispute_opened,
        "dispute.resolved": _dispute_resolved,
        "account.updated": _account_updated,
    }
)


def drafts_for(event_type: str, data: Data, previous: Data | None) -> list[Draft]:
    """The notifications an event asks for (none for a type without a rule), with titles and
    bodies cut to what the columns hold and parties that name nobody dropped."""
    rule = RULES.get(event_type)
    if rule is None:
        return []
    return [
        Draft(d.type, d.parties, d.title[:MAX_TITLE], d.body[:MAX_BODY])
        for d in rule(data, previous)
        if d.parties
    ]
