"""The ``notifications.email`` job: one notification's email, rendered and sent.

The sweep enqueues one job per new notification whose user wants email for its type
(dedupe key ``notification:<id>:email``). The job reads the notification, its user and the
preference again (an opt-out after the enqueue still counts), renders ``<type>.txt.j2`` and
``<type>.html.j2`` and sends outside any transaction. A failed send raises: the worker retries
with backoff (``jobs/backoff.py``) and opens an incident when the attempts are spent. The
Message-ID is the notification's, so a resend after a crash is recognisably the same email.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from functools import cache
from typing import Any

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
    )


@dataclass(frozen=True, slots=True)
class Email:
    to: str
    name: str
    notification: Notification


def render(email: Email, *, sender: str, public_url: str) -> EmailMessage:
    """The message for one notification: a plain-text part and an HTML alternative."""
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
    message = EmailMessage()
    message["From"] = sender
    message["To"] = email.to
    message["Subject"] = n.title
    message["Date"] = formatdate(unix(n.created_at), usegmt=True)
    message["Message-ID"] = f"<{n.id}@escrowd>"
    message["X-Escrowd-Notification"] = n.id
    message.set_content(env.get_template(f"{n.type}.txt.j2").render(values))
    message.add_alternative(env.get_template(f"{n.type}.html.j2").render(values), subtype="html")
    return message


async def email_job(ctx: JobContext, payload: Payload) -> None:
    notification_id = payload.get("notification")
    if not isinstance(notification_id, str):
        raise PermanentJobError(f"payload has no notification id: {payload!r}")
    transport = mail.transport(ctx.container.settings)
    if transport is None:
        return  # email was switched off after the job was enqueued
    async with ctx.container.db.transaction() as session:
        row = (
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
                .where(Notification.id == notification_id)
            )
        ).one_or_none()
    if row is None:
        return  # the user (and so the notification) was deleted
    notification, address, name, disabled, wants = row
    if disabled or wants is False or notification.type not in _TYPES:
        return
    message = render(
        Email(address, name, notification),
        sender=ctx.container.settings.email_from,
        public_url=ctx.container.settings.public_url,
    )
    await transport.send(message)


def register(jobs: Registry) -> None:
    # A resend after a crash carries the same Message-ID; that is the price of recording the
    # sends of a busy moment in one transaction instead of one each.
    jobs.add_handler(KIND, email_job, complete_in_batches=True)
