"""The ``notifications.email`` job: one notification's email, rendered and sent.

The sweep enqueues one job per new notification whose user wants email for its type
(dedupe key ``notification:<id>:email``). The job reads the notification, its user and the
preference again (an opt-out after the enqueue still counts), renders ``<type>.txt.j2`` and
``<type>.html.j2`` and sends outside any transaction. The jobs one claim takes are run
together (``email_jobs``): one query reads their notifications, and their emails go over one
SMTP connection (or in one pass over the folder), each job keeping its own outcome. A failed
send fails its job: the worker retries it with backoff (``jobs/backoff.py``) and opens an
incident when the attempts are spent. The Message-ID is the notification's, so a resend
after a crash is recognisably the same email.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import formataddr, formatdate, parseaddr
from functools import cache
from typing import Any, cast

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import select

from escrowd.clock import unix
from escrowd.jobs.registry import JobContext, Payload, PermanentJobError, Registry
from escrowd.notifications import mail
from escrowd.notifications.domain import NotificationType
from escrowd.notifications.models import Notification, NotificationPreference
from escrowd.users.models import User

KIND = "notifications.email"
_TYPES = frozenset(t.value for t in NotificationType)
#: With the default backoff the attempts span about half an hour on average: enough for an
#: SMTP server's restart, not so long that the email arrives after it matters.
MAX_ATTEMPTS = 12


def dedupe_key(notification_id: str) -> str:
    return f"notification:{notification_id}:email"


@cache
def templates() -> Environment:
    return Environment(
        loader=PackageLoader("escrowd.notifications", "templates"),
        # The HTML part escapes every value (titles quote descriptions payers wrote); the
        # plain-text part must not.
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        # The templates ship with the package: no need to look at their files before each use.
        auto_reload=False,
    )


@dataclass(frozen=True, slots=True)
class Email:
    to: str
    name: str
    notification: Notification


def render(email: Email, *, sender: str, public_url: str) -> Message:
    """The message for one notification: a plain-text part and an HTML alternative.

    Built with the ``email.mime`` classes (the compat32 policy) rather than ``EmailMessage``:
    the same MIME structure and headers for a third of the CPU, as the default policy parses
    every header it is given. Non-ASCII header text is encoded (RFC 2047) here, and bodies go
    as quoted-printable UTF-8 (readable, and safe for lines of any length)."""
    n = email.notification
    values: dict[str, Any] = {
        "name": email.name,
        "title": n.title,
        "body": n.body,
        "type": n.type,
        "object_type": n.object_type,
        "object_id": n.object_id,
        "url": public_url.rstrip("/"),
    }
    env = templates()
    message = MIMEMultipart("alternative")
    message["From"] = _address(sender)
    message["To"] = _address(email.to)
    message["Subject"] = _text(n.title)
    message["Date"] = formatdate(unix(n.created_at), usegmt=True)
    message["Message-ID"] = f"<{n.id}@escrowd>"
    message["X-Escrowd-Notification"] = n.id
    message.attach(_part("plain", env.get_template(f"{n.type}.txt.j2").render(values)))
    message.attach(_part("html", env.get_template(f"{n.type}.html.j2").render(values)))
    return message


def _part(subtype: str, text: str) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(text, _UTF8)
    return part


_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP


def _text(value: str) -> str:
    """Header text on one line (a line break would start a header of its own), encoded
    when not ASCII."""
    value = " ".join(value.splitlines())
    # A Header is what compat32 folds and encodes itself (typeshed types the value as str).
    return value if value.isascii() else cast(str, Header(value, "utf-8"))


def _address(value: str) -> str:
    name, address = parseaddr(value)
    if not address or not address.isascii():
        # Not an address formataddr can write (SMTPUTF8 mailboxes): encoded as text, as the
        # default policy did.
        return _text(value)
    return formataddr((" ".join(name.splitlines()), address), charset="utf-8")


async def email_job(ctx: JobContext, payload: Payload) -> None:
    [outcome] = await email_jobs([ctx], [payload])
    if outcome is not None:
        raise outcome


async def email_jobs(
    ctxs: Sequence[JobContext], payloads: Sequence[Payload]
) -> list[BaseException | None]:
    """The email jobs claimed together: their notifications read in one query, each email
    rendered, then all sent (over one SMTP connection, or in one pass over the folder).
    One outcome per job: a failed send is that job's alone (it is retried)."""
    outcomes: list[BaseException | None] = [None] * len(payloads)
    if not ctxs:
        return outcomes
    container = ctxs[0].container
    transport = mail.transport(container.settings)
    if transport is None:
        return outcomes  # email was switched off after the jobs were enqueued
    wanted: dict[int, str] = {}
    for i, payload in enumerate(payloads):
        notification_id = payload.get("notification")
        if isinstance(notification_id, str):
            wanted[i] = notification_id
        else:
            outcomes[i] = PermanentJobError(f"payload has no notification id: {payload!r}")
    if not wanted:
        return outcomes
    async with container.db.transaction() as session:
        rows = (
            await session.execute(
                select(
                    Notification, User.email, User.name, User.disabled, NotificationPreference.email
                )
                .join(User, User.id == Notification.user_id)
                .outerjoin(
                    NotificationPreference,
                    (NotificationPreference.user_id == Notification.user_id)
                    & (NotificationPreference.type == Notification.type),
                )
                .where(Notification.id.in_(sorted(set(wanted.values()))))
            )
        ).all()
    found = {row[0].id: row for row in rows}
    sending: list[int] = []
    messages: list[Message] = []
    settings = container.settings
    for i, notification_id in wanted.items():
        row = found.get(notification_id)
        if row is None:
            continue  # the user (and so the notification) was deleted
        notification, address, name, disabled, wants = row
        if disabled or wants is False or notification.type not in _TYPES:
            continue
        sending.append(i)
        messages.append(
            render(
                Email(address, name, notification),
                sender=settings.email_from,
                public_url=settings.public_url,
            )
        )
    for i, error in zip(sending, await transport.send_many(messages), strict=True):
        outcomes[i] = error
    return outcomes


def register(jobs: Registry) -> None:
    # A resend after a crash carries the same Message-ID; that is the price of recording the
    # sends of a busy moment in one transaction instead of one each.
    jobs.add_handler(KIND, email_job, complete_in_batches=True, batch=email_jobs)
