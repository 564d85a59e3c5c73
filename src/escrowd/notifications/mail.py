"""Sending one email: over SMTP (aiosmtplib), or into a folder as an .eml file (development).

``transport(settings)`` picks one from the settings, or None when email is off (production
without ``ESCROWD_SMTP_URL``). A failed send raises ``MailError``; the email job retries it.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from escrowd.config import Settings
from escrowd.logging import get_logger

log = get_logger(__name__)


class MailError(Exception):
    """The message was not handed over (server down, refused, timed out)."""


class Transport(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


@dataclass(frozen=True, slots=True)
class SmtpTransport:
    hostname: str
    port: int | None
    username: str | None
    password: str | None
    #: TLS from the first byte (smtps://).
    implicit_tls: bool
    #: ``auto`` (when offered), ``require`` or ``off``.
    starttls: str
    timeout: float

    @classmethod
    def from_url(cls, url: str, *, starttls: str, timeout: float) -> SmtpTransport:
        parts = urlsplit(url)
        assert parts.hostname  # Settings checked the URL
        return cls(
            hostname=parts.hostname,
            port=parts.port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            implicit_tls=parts.scheme == "smtps",
            starttls=starttls,
            timeout=timeout,
        )

    async def send(self, message: EmailMessage) -> None:
        start_tls = {"auto": None, "require": True, "off": False}[self.starttls]
        try:
            await aiosmtplib.send(
                message,
                hostname=self.hostname,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.implicit_tls,
                start_tls=False if self.implicit_tls else start_tls,
                timeout=self.timeout,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Never the password: the message names the server only.
            raise MailError(f"SMTP {self.hostname}:{self.port or 'default'}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class FolderTransport:
    folder: Path

    async def send(self, message: EmailMessage) -> None:
        name = str(message["X-Escrowd-Notification"] or message["Message-ID"]).strip("<>")
        path = self.folder / f"{name}.eml"
        try:
            await asyncio.to_thread(self._write, path, bytes(message))
        except OSError as exc:
            raise MailError(f"writing {path}: {exc}") from exc
        log.info("email.written", path=str(path), to=message["To"], subject=message["Subject"])

    def _write(self, path: Path, content: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a message, and a retry overwrites.
        partial = path.with_suffix(".eml.partial")
        partial.write_bytes(content)
        os.replace(partial, path)


def transport(settings: Settings) -> Transport | None:
    """Where emails go with these settings; None when email is off."""
    folder = settings.email_folder
    if folder is not None:
        return FolderTransport(folder)
    if settings.smtp_url:
        return SmtpTransport.from_url(
            settings.smtp_url,
            starttls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
    return None
