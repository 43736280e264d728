"""Every event renders, for each recipient, a short subject and both parts with the key facts;
headers stay headers and nothing a party typed becomes one (or becomes markup); a subject of any
length or script reads back exactly as it was written."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from html.parser import HTMLParser

import pytest
from aiosmtplib.email import flatten_message
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.notifier.headers import message_id, subject_header, thread_id
from services.notifier.render import delivery_link, one_line, render, subject
from services.notifier.rules import RULES, Recipient, recipients
from services.notifier.sending import Notifier
from shared.config import Settings
from shared.domain.commands import ExpireDeadline
from shared.domain.events import EVENT_TYPES, Event
from shared.domain.roles import Role
from shared.domain.states import DeadlineKind, State
from shared.wording import PROCESS_LABELS, STATE_LABELS, when, when_relative
from tests.unit.notification_events import EVENTS
from tests.unit.support import SYSTEM, Walker, active_deadline

PUBLIC_URL = "https://dc.example.com/"
ADMIN_EMAIL = "admin@example.com"


def _renders() -> list[tuple[str, Event, Recipient]]:
    return [
        (f"{label}->{recipient.role}", event, recipient)
        for label, event in EVENTS
        for recipient in recipients(event, ADMIN_EMAIL)
    ]


RENDERS = _renders()


def _event(label: str) -> Event:
    return next(event for name, event in EVENTS if name == label)


def _for(event: Event, role: Role) -> Recipient:
    return next(r for r in recipients(event, ADMIN_EMAIL) if r.role == role)


def test_every_event_type_and_each_of_its_recipients_is_rendered():
    rendered = {(event.type, recipient.role) for _, event, recipient in RENDERS}
    assert rendered == {(t, role) for t in EVENT_TYPES for role in RULES[t].to}


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.links: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "a":
            self.links.append(dict(attrs)["href"])

    def handle_data(self, data):
        self.text.append(data)


@pytest.mark.parametrize(("label", "event", "recipient"), RENDERS, ids=[r[0] for r in RENDERS])
def test_each_event_renders_both_parts_for_each_recipient(label, event, recipient):
    now = event.occurred_at
    email_ = render(event, recipient, public_url=PUBLIC_URL, now=now)
    summary = event.delivery
    link = f"https://dc.example.com/v1/deliveries/{summary.delivery_id}"

    assert summary.delivery_id in email_.subject
    assert len(email_.subject) <= 90 and "\n" not in email_.subject and "\r" not in email_.subject
    assert email_.subject.startswith(f"[Delivery {summary.delivery_id}] ")

    html = _Html()
    html.feed(email_.html)
    html_text = " ".join(" ".join(html.text).split())
    assert link in html.links
    for part in (email_.text, html_text):
        for fact in (summary.delivery_id, summary.order_id, summary.product_id):
            assert fact in part
        assert f"State {STATE_LABELS[summary.state]}" in part.replace(":", "")
        assert f"Process {PROCESS_LABELS[summary.process]}" in part.replace(":", "")
        assert link in part
        if recipient.action:
            assert f"What to do next: {recipient.action}" in part
        for value in event.data.values():
            assert value in part or value in ("continue", "terminate")
        for deadline in summary.deadlines:
            if deadline.kind == DeadlineKind.REMINDER:
                continue
            if deadline.due_at is not None:
                assert when_relative(deadline.due_at, now) in part
            else:
                assert "paused while the dispute is open" in part
    assert "{" not in email_.text and "{" not in html_text  # no placeholder left unfilled
    assert "&amp;" not in email_.text and "&lt;" not in email_.text


def test_whoever_must_act_is_told_what_and_by_when():
    finished = _event("basic:in_delivery:finish")
    customer = _for(finished, Role.CUSTOMER)
    text = render(finished, customer, public_url=PUBLIC_URL, now=finished.occurred_at).text
    assert "What to do next: Please confirm the delivery, or ask for changes." in text
    window = next(d for d in finished.delivery.deadlines if d.kind == "confirmation_window")
    assert window.due_at is not None
    assert (
        f"Confirmed automatically on {when(window.due_at)} (in 14 days), unless you confirm or "
        "ask for changes first." in text
    )
    assert when(window.due_at).endswith(" UTC")
    isv = render(
        finished, _for(finished, Role.ISV), public_url=PUBLIC_URL, now=finished.occurred_at
    )
    assert "What to do next" not in isv.text and "No action is needed from you now." in isv.text
    assert (
        "Action needed"
        in render(finished, customer, public_url=PUBLIC_URL, now=finished.occurred_at).subject
    )
    assert "Action needed" not in isv.subject


def test_the_reminder_says_when_the_delivery_will_be_confirmed_automatically():
    walker = Walker.at("basic", State.AWAITING_CONFIRMATION)
    due = active_deadline(walker.delivery, DeadlineKind.REMINDER)
    assert due is not None and due.due_at is not None
    fired = walker.apply(
        ExpireDeadline(deadline_id=due.deadline_id), SYSTEM, advance=due.due_at - walker.now
    )
    [reminder] = fired.events
    assert reminder.type == "confirmation_reminder"
    [customer] = recipients(reminder, ADMIN_EMAIL)
    assert customer.role == Role.CUSTOMER and customer.must_act
    window = active_deadline(walker.delivery, DeadlineKind.CONFIRMATION_WINDOW)
    assert window is not None and window.due_at is not None
    rendered = render(reminder, customer, public_url=PUBLIC_URL, now=reminder.occurred_at)
    sentence = f"Confirmed automatically on {when(window.due_at)} (in 3 days), unless you confirm"
    assert sentence in rendered.text
    assert sentence in rendered.html
    assert "Reminder" in rendered.text and "Please confirm the delivery" in rendered.text


def test_paused_deadlines_say_so_and_the_admin_is_asked_to_resolve():
    opened = _event("basic:awaiting_confirmation:open_dispute")
    admin = _for(opened, Role.ADMIN)
    assert admin.must_act and not _for(opened, Role.CUSTOMER).must_act
    text = render(opened, admin, public_url=PUBLIC_URL, now=opened.occurred_at).text
    assert "What to do next: Please review the dispute and resolve it" in text
    # Paused with 13 days 23 hours left (the window ran an hour): "14 days", as the page says.
    assert (
        "The automatic confirmation is paused while the dispute is open; 14 days will be left "
        "when it resumes." in text
    )
    assert "Automatic confirmation: paused, 14 days left" in text
    assert "Reason: we disagree on scope" in text
    assert "The customer opened a dispute" in text


def test_a_party_reads_you_for_what_they_did_themselves():
    finished = _event("basic:in_delivery:finish")
    isv = render(
        finished, _for(finished, Role.ISV), public_url=PUBLIC_URL, now=finished.occurred_at
    )
    assert "You finished the delivery." in isv.text
    customer = render(
        finished, _for(finished, Role.CUSTOMER), public_url=PUBLIC_URL, now=finished.occurred_at
    )
    assert "The ISV finished the delivery." in customer.text
    stepwise = _event("stepwise:functional_design:finish")
    text = render(
        stepwise, _for(stepwise, Role.CUSTOMER), public_url=PUBLIC_URL, now=stepwise.occurred_at
    ).text
    assert "The ISV finished the functional design." in text
    assert "Please review the functional design: confirm it, or ask for changes." in text


def test_the_api_link_escapes_the_delivery_id():
    assert delivery_link("http://h:1/", "a b") == "http://h:1/v1/deliveries/a%20b"


def _with(event: Event, **summary: object) -> Event:
    return event.model_copy(update={"delivery": event.delivery.model_copy(update=summary)})


def test_what_a_party_typed_is_escaped_in_html_and_plain_in_text():
    finished = _event("basic:in_delivery:finish")
    event = _with(finished, customer_name="<script>alert(1)</script>").model_copy(
        update={"data": {"note": 'Tom & Jerry <b>"bold"</b>'}}
    )
    rendered = render(
        event, _for(event, Role.CUSTOMER), public_url=PUBLIC_URL, now=event.occurred_at
    )
    assert "<script>" not in rendered.html and "<b>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "Tom &amp; Jerry &lt;b&gt;" in rendered.html
    assert 'Tom & Jerry <b>"bold"</b>' in rendered.text
    assert "Hello <script>alert(1)</script>," in rendered.text


def _notifier(**settings: str) -> Notifier:
    return Notifier(None, None, Settings(public_url=PUBLIC_URL, **settings), lambda: T_NOW)  # type: ignore[arg-type]


T_NOW = _event("basic:in_delivery:finish").occurred_at


def _headers(message: EmailMessage) -> tuple[bytes, EmailMessage]:
    raw = message.as_bytes()
    head = raw.split(b"\n\n", 1)[0]
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return head, parsed


def test_an_injected_header_never_becomes_one():
    injection = "Eve\r\nBcc: spy@evil.example\r\nX-Evil: 1"
    finished = _event("basic:in_delivery:finish")
    event = _with(finished, customer_name=injection, delivery_id=f"d-1{injection}").model_copy(
        update={"data": {"note": injection}, "delivery_id": f"d-1{injection}"}
    )
    for recipient in recipients(event, ADMIN_EMAIL):
        head, parsed = _headers(_notifier().build(event, recipient))
        assert parsed["Bcc"] is None and parsed["X-Evil"] is None
        assert b"\nBcc:" not in head and b"\nX-Evil:" not in head
        assert parsed["To"] == recipient.email
        assert "\n" not in str(parsed["Subject"]) and "Bcc: spy@evil.example" in parsed["Subject"]
        assert parsed.get_body(("plain",)) is not None and parsed.get_body(("html",)) is not None


def test_an_address_with_a_line_break_cannot_be_written():
    finished = _event("basic:in_delivery:finish")
    event = _with(finished, customer_email="ada@example.com\r\nBcc: spy@evil.example")
    customer = _for(event, Role.CUSTOMER)
    with pytest.raises(ValueError):
        _notifier().build(event, customer)


def test_non_ascii_names_and_subjects_are_encoded():
    finished = _event("basic:in_delivery:finish")
    event = _with(finished, customer_name="Zoë Ünal").model_copy(
        update={"data": {"note": "Größe angepasst ✓"}}
    )
    message = _notifier(mail_from="Zoë's Délivery Céntér <dc@example.com>").build(
        event, _for(event, Role.CUSTOMER)
    )
    head, parsed = _headers(message)
    head.decode("ascii")  # every header is 7-bit: non-ASCII is RFC 2047 encoded
    assert b"=?utf-8?" in head
    assert parsed["From"].addresses[0].display_name == "Zoë's Délivery Céntér"
    assert parsed["From"].addresses[0].addr_spec == "dc@example.com"
    text = parsed.get_body(("plain",)).get_content()
    assert "Hello Zoë Ünal," in text and "Größe angepasst ✓" in text
    assert "Zoë Ünal" in parsed.get_body(("html",)).get_content()


def test_message_ids_are_stable_per_event_and_recipient_and_thread_per_delivery():
    finished = _event("basic:in_delivery:finish")
    customer, isv = _for(finished, Role.CUSTOMER), _for(finished, Role.ISV)
    first, again = _notifier().build(finished, customer), _notifier().build(finished, customer)
    other = _notifier().build(finished, isv)
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert first["Message-ID"] == message_id(finished.event_id, customer.email)
    assert first["References"] == other["References"] == thread_id(finished.delivery_id)
    assert first["X-Delivery-Id"] == finished.delivery_id
    assert first["X-Event-Type"] == "stage_finished"
    assert first["Date"] is not None and first["Auto-Submitted"] == "auto-generated"
    assert message_id("a\r\nb>", "x@y").startswith("<ab.")
    # Each fits on its header line, so it reads back exactly as written.
    _, parsed = _headers(first)
    assert parsed["Message-ID"] == first["Message-ID"]
    assert parsed["References"] == first["References"]


# --- the subject reads back exactly ------------------------------------------------------------

#: Words of every kind a subject may hold: ASCII, accented Latin, Chinese, punctuation that
#: RFC 2047 treats specially, and long unbroken runs (a first word of 66 to 77 characters once
#: left "Subject:" alone on its line, which decoded with a leading space).
_SUBJECT_CHARS = st.sampled_from(
    list("abcXYZ019-_.:[]()=?\"',;<>@/") + list("éüßçñÀ") + list("交付确认自动即将到来")
)
_WORDS = st.lists(st.text(_SUBJECT_CHARS, min_size=1, max_size=90), min_size=1, max_size=12)
SUBJECTS = _WORDS.map(" ".join)


def _sent_and_read(message: EmailMessage, *, utf8: bool) -> tuple[bytes, EmailMessage]:
    """The bytes aiosmtplib puts on the wire (SMTPUTF8 or not), read back as a mail reader does."""
    raw = flatten_message(message, utf8=utf8)
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return raw, parsed


def _subject_lines(raw: bytes) -> list[bytes]:
    """The Subject header's lines as written: its first, then its continuation lines."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    start = next(i for i, line in enumerate(head) if line.startswith(b"Subject:"))
    lines = [head[start]]
    for line in head[start + 1 :]:
        if line[:1] not in (b" ", b"\t"):
            break
        lines.append(line)
    return lines


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=SUBJECTS, utf8=st.booleans())
@example(text="x" * 70 + " tail", utf8=False)  # the first word too long for line one
# The space between two encoded words on either side of a fold was lost.
@example(text="付 ü??ç?自将]/(a1a即确动ç([认即 付 认自", utf8=False)
@example(text="[Delivery =?utf-8?q?x?=] looks encoded", utf8=False)
@example(text="交付" * 40, utf8=True)
def test_any_subject_reads_back_exactly_as_written(text: str, utf8: bool):
    message = EmailMessage()
    message["Subject"] = subject_header(text)
    message.set_content("x")
    raw, parsed = _sent_and_read(message, utf8=utf8)
    assert parsed["Subject"] == text
    for line in _subject_lines(raw):
        assert len(line) <= 998  # RFC 5322 §2.1.1: a MUST
        if not utf8:
            assert len(line) <= 78, line  # ... and the SHOULD, where every line is ASCII


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    delivery_id=st.one_of(SUBJECTS, st.text(min_size=1, max_size=120)),
    label=st.sampled_from([label for label, _ in EVENTS]),
    utf8=st.booleans(),
)
@example(delivery_id="f" * 66, label="basic:in_delivery:finish", utf8=False)
@example(delivery_id="交付编号" * 20, label="basic:in_delivery:finish", utf8=True)
@example(delivery_id="numéro-très-long-" * 5, label="basic:open_delivery", utf8=False)
def test_every_email_subject_reads_back_exactly(delivery_id: str, label: str, utf8: bool):
    event = _with(_event(label), delivery_id=delivery_id)
    for recipient in recipients(event, ADMIN_EMAIL):
        written = subject(event, recipient)
        assert written == one_line(written) and written.startswith("[Delivery ")
        _, parsed = _sent_and_read(_notifier().build(event, recipient), utf8=utf8)
        assert parsed["Subject"] == written


def test_a_subject_with_a_line_break_cannot_be_written():
    for separator in ("\r\n", "\n", "\u2028", "\x85", "\x0b"):
        with pytest.raises(ValueError):
            subject_header(f"one{separator}two")
        assert one_line(f"one{separator}two") == "one two"
