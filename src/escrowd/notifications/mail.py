"""Sending one email: over SMTP (aiosmtplib), or into a folder as an .eml file (development).

``transport(settings)`` picks one from the settings, or None when email is off (production
without ``ESCROWD_SMTP_URL``). A failed send raises ``MailError``; the email job retries it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import Message
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
    async def send(self, message: Message) -> None: ...

    async def send_many(self, messages: Sequence[Message]) -> list[MailError | None]:
        """Each message handed over or not: one outcome per message, in order."""
        ...


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

    async def send(self, message: Message) -> None:
        [error] = await self.send_many([message])
        if error is not None:
            raise error

    async def send_many(self, messages: Sequence[Message]) -> list[MailError | None]:
        """The messages over one connection. A message the server refuses fails alone; once
        the connection is lost, the messages not yet sent fail with it (their jobs retry)."""
        if not messages:
            return []
        start_tls = {"auto": None, "require": True, "off": False}[self.starttls]
        client = aiosmtplib.SMTP(
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.implicit_tls,
            start_tls=False if self.implicit_tls else start_tls,
            timeout=self.timeout,
        )
        outcomes: list[MailError | None] = []
        try:
            async with client:
                for message in messages:
                    try:
                        await client.send_message(message)
                    except (aiosmtplib.SMTPServerDisconnected, OSError):
                        raise
                    except aiosmtplib.SMTPException as exc:
                        outcomes.append(self._error(exc))
                    else:
                        outcomes.append(None)
        except (aiosmtplib.SMTPException, OSError) as exc:
            error = self._error(exc)
            if len(outcomes) == len(messages):
                # Lost while closing: every message was accepted already.
                return outcomes
            outcomes.extend([error] * (len(messages) - len(outcomes)))
        return outcomes

    def _error(self, exc: BaseException) -> MailError:
        # Never the password: the message names the server only.
        error = MailError(f"SMTP {self.hostname}:{self.port or 'default'}: {exc}")
        error.__cause__ = exc
        return error


@dataclass(frozen=True, slots=True)
class FolderTransport:
    folder: Path

    async def send(self, message: Message) -> None:
        [error] = await self.send_many([message])
        if error is not None:
            raise error

    async def send_many(self, messages: Sequence[Message]) -> list[MailError | None]:
        """The messages written in one pass of a worker thread; each write succeeds or fails
        alone."""
        if not messages:
            return []
        files = [(self._path(m), bytes(m)) for m in messages]
        outcomes = await asyncio.to_thread(self._write_all, files)
        for message, (path, _), error in zip(messages, files, outcomes, strict=True):
            if error is None:
                log.info(
                    "email.written", path=str(path), to=message["To"], subject=message["Subject"]
                )
        return outcomes

    def _path(self, message: Message) -> Path:
        name = str(message["X-Escrowd-Notification"] or message["Message-ID"]).strip("<>")
        return self.folder / f"{name}.eml"

    def _write_all(self, files: Sequence[tuple[Path, bytes]]) -> list[MailError | None]:
        outcomes: list[MailError | None] = []
        for path, content in files:
            try:
                self._write(path, content)
            except OSError as exc:
                error = MailError(f"writing {path}: {exc}")
                error.__cause__ = exc
                outcomes.append(error)
            else:
                outcomes.append(None)
        return outcomes

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
