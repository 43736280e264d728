"""Render an event for one recipient: subject, plain text and HTML, from template files.

The words come from ``rules`` (subject, headline, what to do) and from the small tables
below (how stages, deadlines and event details are named). The templates only lay them out;
the HTML one is autoescaped, so nothing a party typed can become markup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.notifier.rules import RULES, Recipient
from shared.domain.delivery import Deadline
from shared.domain.events import Event
from shared.domain.roles import Role
from shared.domain.states import TERMINAL_STATES, DeadlineKind, State

#: Who did it, as a headline's ``{actor}``.
ACTORS: Mapping[Role, str] = {
    Role.MARKETPLACE: "The marketplace",
    Role.CUSTOMER: "The customer",
    Role.ISV: "The ISV",
    Role.ADMIN: "An administrator",
    Role.SYSTEM: "Delivery Center",
}

#: What is worked on or reviewed in each state, as a headline's ``{stage}``.
STAGES: Mapping[State, str] = {
    State.AWAITING_DEMAND: "the demands",
    State.AWAITING_CONTRACT: "the contract",
    State.IN_DELIVERY: "the delivery",
    State.FUNCTIONAL_DESIGN: "the functional design",
    State.CONFIRM_FUNCTIONAL_DESIGN: "the functional design",
    State.UED: "the UED (user experience design)",
    State.CONFIRM_UED: "the UED (user experience design)",
    State.DEVELOPMENT_TESTING: "development and testing",
    State.INSPECTION_ACCEPTANCE: "the result of development and testing",
    State.AWAITING_CONFIRMATION: "the delivery",
    State.IN_WARRANTY: "the warranty",
    State.COMPLETED: "the delivery",
    State.TERMINATED: "the delivery",
}


@dataclass(frozen=True)
class DeadlineWording:
    #: Its name in the list of facts.
    label: str
    #: The sentence while it runs; ``{at}`` is the date and time, ``{in_}`` "in 3 days".
    due: str
    #: The sentence while a dispute pauses it; ``{left}`` is the time left, "3 days".
    paused: str


#: How each deadline kind is shown; None: not shown (the reminder is the notifier's own timer).
DEADLINES: Mapping[DeadlineKind, DeadlineWording | None] = {
    DeadlineKind.CONFIRMATION_WINDOW: DeadlineWording(
        "Automatic confirmation",
        "The delivery will be confirmed automatically on {at} ({in_}) unless it is confirmed "
        "or sent back for changes before then.",
        "The automatic confirmation is paused while the dispute is open ({left} left).",
    ),
    DeadlineKind.WARRANTY: DeadlineWording(
        "Warranty ends",
        "The warranty period ends on {at} ({in_}); the delivery is then completed.",
        "The warranty period is paused while the dispute is open ({left} left).",
    ),
    DeadlineKind.REMINDER: None,
}

#: Names of an event's details (``Event.data``), and words for some of their values.
DETAILS: Mapping[str, str] = {
    "reason": "Reason",
    "note": "Note",
    "description": "Description",
    "outcome": "Outcome",
}
DETAIL_VALUES: Mapping[tuple[str, str], str] = {
    ("outcome", "continue"): "the delivery continues",
    ("outcome", "terminate"): "the delivery is terminated",
}

_env = Environment(
    loader=PackageLoader("services.notifier", "templates"),
    # Only the HTML template is escaped: escaping the plain-text part would garble it.
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def one_line(value: str) -> str:
    """``value`` with every control character (CR, LF, tab...) turned into a space."""
    return _CONTROL.sub(" ", value).strip()


def duration_words(delta: timedelta) -> str:
    """ "3 days", "5 hours", "1 minute", "8 seconds": the largest unit, rounded."""
    seconds = max(0.0, delta.total_seconds())
    unit, count = "second", max(1, round(seconds))
    for name, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            unit, count = name, round(seconds / size)
            break
    return f"{count} {unit}{'' if count == 1 else 's'}"


def in_words(due_at: datetime, now: datetime) -> str:
    """ "in 14 days" (or "now" once it is due)."""
    if due_at <= now:
        return "now"
    return f"in {duration_words(due_at - now)}"


def when(moment: datetime) -> str:
    """A date and time in UTC, spelled for people: "Mon 19 Jan 2026, 09:00 UTC"."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%a %d %b %Y, %H:%M UTC")


@dataclass(frozen=True)
class DeadlineView:
    label: str
    #: For the list of facts: "Mon 19 Jan 2026, 09:00 UTC (in 14 days)" or "paused, 3 days left".
    value: str
    #: The sentence that says what happens then.
    sentence: str


def deadline_view(deadline: Deadline, now: datetime) -> DeadlineView | None:
    wording = DEADLINES[deadline.kind]
    if wording is None or deadline.status not in ("active", "paused"):
        return None
    if deadline.due_at is None:
        left = duration_words(timedelta(seconds=deadline.remaining_seconds or 0))
        return DeadlineView(wording.label, f"paused, {left} left", wording.paused.format(left=left))
    at, in_ = when(deadline.due_at), in_words(deadline.due_at, now)
    return DeadlineView(wording.label, f"{at} ({in_})", wording.due.format(at=at, in_=in_))


def headline(event: Event, recipient: Recipient) -> str:
    actor = ACTORS[event.actor.role]
    if event.actor.role == recipient.role and recipient.role in (Role.CUSTOMER, Role.ISV):
        actor = "You"
    stage = STAGES[event.from_state or event.to_state]
    return RULES[event.type].headline.format(actor=actor, stage=stage)


def subject(event: Event, recipient: Recipient) -> str:
    words = RULES[event.type].subject
    if recipient.must_act:
        words = f"Action needed: {words}"
    return one_line(f"[Delivery {event.delivery.delivery_id}] {words}")


def delivery_link(public_url: str, delivery_id: str) -> str:
    return f"{public_url.rstrip('/')}/v1/deliveries/{quote(delivery_id, safe='')}"


def render(
    event: Event,
    recipient: Recipient,
    *,
    public_url: str,
    now: datetime,
    link: str | None = None,
) -> RenderedEmail:
    """``link`` is the recipient's own signed link to the delivery's page, when there is one."""
    summary = event.delivery
    deadlines = [
        view for view in (deadline_view(d, now) for d in summary.deadlines) if view is not None
    ]
    details = [
        (DETAILS.get(key, key.replace("_", " ").capitalize()), DETAIL_VALUES.get((key, v), v))
        for key, v in event.data.items()
    ]
    facts = [
        ("Delivery ID", summary.delivery_id),
        ("Order ID", summary.order_id),
        ("Product", summary.product_id),
        ("Process", summary.process.value),
        ("State", summary.state.value),
        *((d.label, d.value) for d in deadlines),
    ]
    name = summary.customer_name if recipient.role == Role.CUSTOMER else None
    context = {
        "greeting": f"Hello {one_line(name)}," if name and one_line(name) else "Hello,",
        "headline": headline(event, recipient),
        "action": recipient.action,
        "closed": summary.state in TERMINAL_STATES,
        "deadlines": deadlines,
        "facts": facts,
        "details": details,
        "link": link or delivery_link(public_url, summary.delivery_id),
        "occurred_at": when(event.occurred_at),
    }
    return RenderedEmail(
        subject=subject(event, recipient),
        text=_env.get_template("email.txt.j2").render(context),
        html=_env.get_template("email.html.j2").render(context),
    )
