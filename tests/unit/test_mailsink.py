"""The SMTP sink that tests and `delivery-center up` use, over a real socket."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest

from tooling.mailsink import MailSink


def _send(port: int, to: str, subject: str) -> None:
    message = EmailMessage()
    message["From"] = "dc@localhost"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("plain ✓")
    message.add_alternative("<p>html ✓</p>", subtype="html")
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
        client.send_message(message)


def test_sink_keeps_parsed_messages_and_writes_eml(tmp_path: Path) -> None:
    with MailSink("127.0.0.1", 0, maildir=tmp_path) as sink:
        _send(sink.port, "customer@example.com", "Delivery d-1: awaiting confirmation")
        _send(sink.port, "isv@example.com", "Delivery d-1: confirmed")
        [message] = sink.wait_for(lambda m: m["To"] == "isv@example.com", timeout=5)
    assert message["Subject"] == "Delivery d-1: confirmed"
    assert message.get_body(("html",)).get_content().strip() == "<p>html ✓</p>"
    assert message.get_body(("plain",)).get_content().strip() == "plain ✓"
    assert len(sink.messages) == 2
    assert len(list(tmp_path.glob("*.eml"))) == 2


def test_wait_for_times_out_with_what_arrived() -> None:
    with MailSink("127.0.0.1", 0) as sink:
        _send(sink.port, "a@example.com", "first")
        with pytest.raises(TimeoutError, match="first"):
            sink.wait_for(lambda m: m["To"] == "b@example.com", timeout=0.3)
