"""Emails in the recipient's language and time zone: no word bypasses the catalogs (a
pseudo-locale run over every event and recipient), a Chinese subject survives RFC 2047 exactly,
and a Shanghai customer and a Berlin ISV read the same deadline each in their own zone."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage
from html.parser import HTMLParser

import pytest

from services.notifier.render import delivery_link, render
from services.notifier.rules import recipients
from services.notifier.sending import Notifier
from shared.config import Settings
from shared.domain.events import Event
from shared.domain.roles import Role
from shared.wording import reading, when
from tests.unit.notification_events import EVENTS
from tests.unit.pseudo_locale import PSEUDO, letters, unmarked

PUBLIC_URL = "https://dc.example.com/"
ADMIN_EMAIL = "admin@example.com"


class _Text(HTMLParser):
    """The text a reader sees in an HTML part (``<title>`` included)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _html_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


def _typed(event: Event) -> tuple[str, ...]:
    """What parties and the marketplace typed, and the machine values an email shows."""
    summary = event.delivery
    return (
        summary.delivery_id,
        summary.order_id,
        summary.product_id,
        summary.customer_name or "",
        summary.customer_email,
        summary.isv_email,
        ADMIN_EMAIL,
        delivery_link(PUBLIC_URL, summary.delivery_id),
        *(str(value) for value in event.data.values()),
        # CLDR's own words for a zone (Babel's locale data, not ours to translate).
        "UTC",
    )


@pytest.mark.parametrize(("label", "event"), EVENTS, ids=[label for label, _ in EVENTS])
def test_no_word_of_any_email_bypasses_the_catalogs(label, event):
    for recipient in recipients(event, ADMIN_EMAIL):
        with reading("en", "UTC", catalog=PSEUDO):
            rendered = render(event, recipient, public_url=PUBLIC_URL, now=event.occurred_at)
        typed = _typed(event)
        for part, text in (
            ("subject", rendered.subject),
            ("text", rendered.text),
            ("html", _html_text(rendered.html)),
        ):
            left = letters(unmarked(text, data=typed))
            # The plain part's signature line ("-- ") and the link lines hold no words.
            assert left == [], f"{label} to {recipient.role}, {part}: {left}\n{text}"


def _event(label: str) -> Event:
    return next(event for name, event in EVENTS if name == label)


def _reading_parties(event: Event) -> Event:
    summary = event.delivery.model_copy(
        update={
            "customer_locale": "zh-CN",
            "customer_time_zone": "Asia/Shanghai",
            "isv_locale": "en",
            "isv_time_zone": "Europe/Berlin",
        }
    )
    return event.model_copy(update={"delivery": summary})


def _notifier() -> Notifier:
    settings = Settings(public_url=PUBLIC_URL, admin_locale="zh-CN", admin_time_zone="UTC")
    return Notifier(None, None, settings, lambda: NOW)  # type: ignore[arg-type]


#: The ISV finished a basic delivery: the customer has 14 days to confirm.
FINISHED = _reading_parties(_event("basic:in_delivery:finish"))
NOW = FINISHED.occurred_at


def _sent(role: Role) -> EmailMessage:
    recipient = next(r for r in recipients(FINISHED, ADMIN_EMAIL) if r.role == role)
    message = _notifier().build(FINISHED, recipient)
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_a_deadline_reads_in_each_partys_own_zone_and_language():
    [window] = [d for d in FINISHED.delivery.deadlines if d.kind == "confirmation_window"]
    due = window.due_at
    assert due == datetime(2026, 1, 19, 11, 0, tzinfo=UTC)  # the ISV finished at 11:00 UTC
    customer, isv = _sent(Role.CUSTOMER), _sent(Role.ISV)
    chinese = customer.get_body(("plain",)).get_content()
    english = isv.get_body(("plain",)).get_content()
    # 11:00 UTC is 19:00 in Shanghai (UTC+8, no summer time) and 12:00 in Berlin in January.
    assert "2026年1月19日 19:00 (中国标准时间)" in chinese
    assert "Mon 19 Jan 2026, 12:00 Central European Standard Time" in english
    assert customer["Content-Language"] == "zh-CN" and isv["Content-Language"] == "en"
    assert 'lang="zh-CN"' in customer.get_body(("html",)).get_content()
    assert 'lang="en"' in isv.get_body(("html",)).get_content()
    # The facts that identify the delivery stay as they are, in either language.
    for body in (chinese, english):
        for fact in ("order-1", "prod-1", FINISHED.delivery_id):
            assert fact in body


def test_a_chinese_subject_is_encoded_per_rfc_2047_and_decodes_exactly():
    recipient = next(r for r in recipients(FINISHED, ADMIN_EMAIL) if r.role == Role.CUSTOMER)
    with reading("zh-CN", "Asia/Shanghai"):
        expected = render(FINISHED, recipient, public_url=PUBLIC_URL, now=NOW).subject
    assert not expected.isascii() and FINISHED.delivery_id in expected
    raw = _notifier().build(FINISHED, recipient).as_bytes()
    head = raw.split(b"\n\n", 1)[0]
    head.decode("ascii")  # every header 7-bit: the Chinese is in encoded words
    assert b"Subject: =?utf-8?b?" in head or b"Subject: =?utf-8?" in head
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == expected


def test_the_same_moment_in_each_language_and_zone():
    moment = datetime(2026, 12, 14, 4, 56, tzinfo=UTC)
    cases = {
        ("en", "UTC"): "Mon 14 Dec 2026, 04:56 UTC",
        ("en", "Europe/Berlin"): "Mon 14 Dec 2026, 05:56 Central European Standard Time",
        ("en", "America/New_York"): "Sun 13 Dec 2026, 23:56 EST",
        ("zh-CN", "Asia/Shanghai"): "2026年12月14日 12:56 (中国标准时间)",
        ("zh-CN", "UTC"): "2026年12月14日 04:56 (UTC)",
        ("zh-Hans-SG", "Europe/Berlin"): "2026年12月14日 05:56 (中欧标准时间)",
    }
    for (locale, zone), words in cases.items():
        with reading(locale, zone):
            assert when(moment) == words, (locale, zone)
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    with reading("en", "Europe/Berlin"):
        assert when(summer) == "Wed 1 Jul 2026, 14:00 Central European Summer Time"
