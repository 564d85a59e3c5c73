"""Development without SMTP: emails are written to a folder (and logged), and where email goes
for each combination of settings."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from escrowd.bootstrap import build
from escrowd.clock import FrozenClock
from escrowd.config import ConfigError, Environment, Settings
from escrowd.notifications import emails, mail
from escrowd.notifications.models import Notification
from tests.escrows.conftest import Ctx, create_escrow, payer, person, verified_payee
from tests.notifications.conftest import SmtpServer, about, notifications_of, notify, send_emails

SECRET = "test-secret-key-that-is-long-enough-0123456789"


async def test_without_smtp_emails_are_written_to_the_folder_and_logged(
    ctx: Ctx, smtp: SmtpServer, tmp_path: Path
) -> None:
    alice = await payer(ctx)
    bob = person(ctx, await verified_payee(ctx))
    escrow = await create_escrow(ctx, alice, [(bob.id, 900)])
    await notify(ctx.container)
    [ntf] = about(await notifications_of(ctx, alice), escrow["id"])

    folder = tmp_path / "mail"
    dev = Settings(
        env=Environment.development,
        database_url=ctx.container.settings.database_url,
        secret_key=SECRET,
        data_dir=tmp_path,
    )
    assert dev.email_folder == folder
    clock = ctx.container.clock
    assert isinstance(clock, FrozenClock)
    container = build(dev, clock=clock)
    try:
        with capture_logs() as logs:
            await send_emails(container)
    finally:
        await container.close()

    path = folder / f"{ntf['id']}.eml"
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["To"] == alice.email
    assert message["Subject"] == "Payment of 9.00 USD required"
    assert message["From"] == dev.email_from
    assert message.get_body(("plain",)) is not None
    assert message.get_body(("html",)) is not None
    assert smtp.to(alice.email) == []  # written, not sent
    written = [e for e in logs if e["event"] == "email.written" and e["to"] == alice.email]
    assert [e["path"] for e in written] == [str(path)]
    assert not list(folder.glob("*.partial"))


def _settings(**values: object) -> Settings:
    return Settings(secret_key=SECRET, **values)


def test_where_email_goes(tmp_path: Path) -> None:
    dev = _settings(data_dir=tmp_path)
    assert isinstance(mail.transport(dev), mail.FolderTransport)
    assert dev.email_folder == tmp_path / "mail"

    smtp = _settings(smtp_url="smtp://user%40x:p%3Ass@mail.test:2525", smtp_starttls="require")
    sender = mail.transport(smtp)
    assert isinstance(sender, mail.SmtpTransport)
    assert (sender.hostname, sender.port, sender.username, sender.password) == (
        "mail.test",
        2525,
        "user@x",
        "p:ss",
    )
    assert (sender.implicit_tls, sender.starttls) == (False, "require")
    assert mail.transport(_settings(smtp_url="smtps://mail.test")).implicit_tls is True  # type: ignore[union-attr]

    chosen = _settings(smtp_url="smtp://mail.test", email_dir=tmp_path / "out")
    assert mail.transport(chosen) == mail.FolderTransport(tmp_path / "out")


def test_production_without_smtp_sends_no_email() -> None:
    prod = Settings(
        env=Environment.production,
        secret_key=SECRET,
        database_url="postgresql+asyncpg://u@db/escrowd",
        provider="stripe",
        stripe_secret_key="sk_test_x",
    )
    assert prod.email_folder is None
    assert prod.email_enabled is False
    assert mail.transport(prod) is None


@pytest.mark.parametrize(
    "url", ["http://mail.test", "smtp://", "smtp://mail.test:notaport", "mail.test:25"]
)
def test_an_unusable_smtp_url_stops_the_start(url: str) -> None:
    with pytest.raises(ConfigError, match="ESCROWD_SMTP_URL"):
        _settings(smtp_url=url)


def test_the_start_error_for_an_smtp_url_does_not_show_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        _settings(smtp_url="smtp://mailer:hunter2@mail.test:notaport")
    message = str(caught.value)
    assert "ESCROWD_SMTP_URL is 'smtp://mailer:***@mail.test:notaport'" in message
    assert "hunter2" not in message


def test_non_ascii_headers_are_encoded_and_a_line_break_cannot_start_a_header() -> None:
    title = "Zahlung für „Logo-Entwurf“ freigegeben, ein Betreff, der länger ist als eine Zeile"
    n = Notification(
        id="ntf_01TEST",
        user_id="usr_1",
        type="payment_released",
        title=f"{title}\nBcc: someone@else.test",
        body="Ünïcode body",
        object_type="escrow",
        object_id="esc_1",
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    rendered = emails.render(
        emails.Email("zoe@example.test", "Zoë", n),
        sender="Märkte <notify@market.test>",
        public_url="https://market.test/",
    )
    raw = bytes(rendered)
    assert raw.isascii()  # every header encoded, both parts quoted-printable
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == f"{title} Bcc: someone@else.test"
    assert message["Bcc"] is None
    assert message["From"] == "Märkte <notify@market.test>"
    assert message["To"] == "zoe@example.test"
    assert message["Message-ID"] == "<ntf_01TEST@escrowd>"
    assert parsedate_to_datetime(str(message["Date"])) == n.created_at
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "Hello Zoë," in text.get_content()
    assert "Ünïcode body" in text.get_content()
    assert "Hello Zoë," in html.get_content()
