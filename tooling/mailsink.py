"""An SMTP server that keeps every message it receives: for tests and local runs."""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from rich.console import Console

console = Console(stderr=True, highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class Received:
    """One message as the sink took it: the SMTP envelope (``MAIL FROM``, ``RCPT TO``, whether
    the client asked for SMTPUTF8) and the message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    smtputf8: bool
    message: EmailMessage


@dataclass
class Hold:
    """Keeps the next SMTP conversation to a matching recipient waiting at ``RCPT TO`` until
    ``release``; ``reached`` is set once one waits. For tests of a sender that dies mid-send."""

    matches: Callable[[str], bool]
    reached: threading.Event = field(default_factory=threading.Event)
    _released: threading.Event = field(default_factory=threading.Event)

    def release(self) -> None:
        """Let the held conversation go on; its client is told to try again later (451)."""
        self._released.set()


class MailSink:
    """Accepts all mail at ``host:port``; ``messages`` holds it parsed, oldest first, and
    ``received`` the same with each one's envelope.

    ``port=0`` picks a free port (read it back from ``.port`` after ``start()``).
    With ``maildir`` each message is also saved as an ``.eml`` file and announced on the console.
    ``smtputf8=False`` makes a server that does not offer SMTPUTF8 (RFC 6531).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1025,
        maildir: Path | None = None,
        *,
        smtputf8: bool = True,
    ):
        self.host = host
        self.port = port
        self.maildir = maildir
        self.smtputf8 = smtputf8
        self.messages: list[EmailMessage] = []
        self.received: list[Received] = []
        self._holds: list[Hold] = []
        self._arrived = threading.Condition()
        self._controller: Controller | None = None
        self._count = 0

    def start(self) -> MailSink:
        """Listen (in aiosmtpd's own thread) until :meth:`stop`; returns the sink.

        Raises:
          OSError: The port is taken (``port=0`` never is).
        """
        if self.port == 0:
            # aiosmtpd's readiness check connects to the configured port, so 0 cannot be passed on.
            with socket.socket() as probe:
                probe.bind((self.host, 0))
                self.port = probe.getsockname()[1]
        if self.maildir is not None:
            self.maildir.mkdir(parents=True, exist_ok=True)
        self._controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, enable_SMTPUTF8=self.smtputf8
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        """Stop listening; the messages received stay. Safe to call twice."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def clear(self) -> None:
        """Forget every message received so far (``messages`` and ``received``)."""
        with self._arrived:
            self.messages.clear()
            self.received.clear()

    def envelope_of(self, message: EmailMessage) -> Received:
        """The envelope ``message`` (one of ``messages``) came in."""
        with self._arrived:
            return next(r for r in self.received if r.message is message)

    def hold(self, matches: Callable[[str], bool]) -> Hold:
        """Hold the next conversation whose ``RCPT TO`` address ``matches`` (see ``Hold``)."""
        held = Hold(matches)
        with self._arrived:
            self._holds.append(held)
        return held

    def _take_hold(self, address: str) -> Hold | None:
        with self._arrived:
            for held in self._holds:
                if held.matches(address):
                    self._holds.remove(held)
                    return held
        return None

    def wait_for(
        self, predicate: Callable[[EmailMessage], bool], timeout: float = 10.0, count: int = 1
    ) -> list[EmailMessage]:
        """The messages matching ``predicate`` once at least ``count`` have arrived.

        Parameters:
          predicate(Callable[[EmailMessage], bool]): Which messages count.
          timeout(float): Seconds to wait at most.
          count(int): How many matching messages to wait for.

        Returns:
          list[EmailMessage]: Every matching message so far, oldest first (``count`` or more).

        Raises:
          TimeoutError: Fewer arrived within ``timeout``; the message lists what did arrive.
        """
        deadline = time.monotonic() + timeout
        with self._arrived:
            while True:
                found = [message for message in self.messages if predicate(message)]
                remaining = deadline - time.monotonic()
                if len(found) >= count or remaining <= 0:
                    break
                self._arrived.wait(remaining)
            seen = [(str(m["To"]), str(m["Subject"])) for m in self.messages]
        if len(found) < count:
            raise TimeoutError(
                f"{len(found)} of {count} expected message(s) within {timeout} s; received: {seen}"
            )
        return found

    async def wait_for_async(
        self, predicate: Callable[[EmailMessage], bool], timeout: float = 10.0, count: int = 1
    ) -> list[EmailMessage]:
        """``wait_for`` without blocking the caller's event loop."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout, count)

    def _receive(self, raw: bytes, envelope: Envelope) -> None:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        taken = Received(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            smtputf8=bool(envelope.smtp_utf8),
            message=message,
        )
        with self._arrived:
            self.messages.append(message)
            self.received.append(taken)
            self._count += 1
            number = self._count
            self._arrived.notify_all()
        if self.maildir is not None:
            path = self.maildir / f"{time.strftime('%Y%m%d-%H%M%S')}-{number:05d}.eml"
            path.write_bytes(raw)
            console.print(f"mail to {message['To']}: {message['Subject']}  ({path})")


class _Handler:
    def __init__(self, sink: MailSink):
        self.sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        """aiosmtpd's ``RCPT TO`` hook: accept the recipient (250), or hold it, then 451."""
        held = self.sink._take_hold(address)
        if held is not None:
            held.reached.set()
            while not held._released.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 held by the test, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """aiosmtpd's ``DATA`` hook: keep the message as sent and answer 250."""
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode()
        self.sink._receive(raw or b"", envelope)
        return "250 Message accepted for delivery"
