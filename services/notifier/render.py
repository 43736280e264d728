"""Render an event for one recipient: subject, plain text and HTML, from template files.

The words come from ``rules`` (subject, headline, what to do) and from ``shared.wording``
(how states, processes, roles, deadlines and moments are said, exactly as the delivery page
says them). The templates only lay them out; the HTML one is autoescaped, so nothing a party
typed can become markup.
"""

from __future__ import annotations

import re
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.notifier.rules import RULES, Recipient, action_words
from shared.domain.delivery import PARTY_DEADLINE_KINDS, SHOWN_DEADLINE_STATUSES, Deadline
from shared.domain.events import Event
from shared.domain.roles import Role
from shared.domain.states import TERMINAL_STATES
from shared.wording import (
    DEADLINES,  # noqa: F401  (the notification table's checks read it here)
    FACT_LABELS,
    PROCESS_LABELS,
    ROLE_NAMES,
    STAGES,
    STATE_LABELS,
    YOU,
    DeadlineWords,
    deadline_words,
    detail,
    sentence_start,
    when,
)
from shared.wording.lists import ADMIN_LIST_LINK_WORDS, LIST_LINK_WORDS
from shared.wording.reader import _, lazy_gettext, ngettext, reading
from shared.wording.reader import reader as current_reader

#: The subject: the delivery, then the rule's words, after ``ACTION_NEEDED`` for whoever must act.
SUBJECT = lazy_gettext("[Delivery {delivery_id}] {words}")
ACTION_NEEDED = lazy_gettext("Action needed: {words}")
#: The greeting, with the customer's name when they gave one, and without.
GREETING = lazy_gettext("Hello {name},")
GREETING_WITHOUT_NAME = lazy_gettext("Hello,")
#: The headline as the email's first sentence: ``{headline}`` from :func:`headline`.
SENTENCE = lazy_gettext("{headline}.")

#: The deadlines an email lists: those a party is told of as a delivery's "by when" (the
#: reminder is left out: it is the notifier's own timer, and its email is the reminder itself).
LISTED_DEADLINES = PARTY_DEADLINE_KINDS

_env = Environment(
    loader=PackageLoader("services.notifier", "templates"),
    extensions=["jinja2.ext.i18n"],
    # Only the HTML template is escaped: escaping the plain-text part would garble it.
    autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
# Newstyle: ``_("... %(name)s", name=value)`` formats after translating, and escapes the
# values in the HTML part.
_env.install_gettext_callables(gettext=_, ngettext=ngettext, newstyle=True)  # type: ignore[attr-defined]

#: Every character that ends a line somewhere: the C0 controls (CR, LF, tab...), DEL, the C1
#: controls (NEL among them) and the Unicode line and paragraph separators, which
#: ``str.splitlines`` and so the email package's header checks count as line ends.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


@dataclass(frozen=True)
class RenderedEmail:
    """One recipient's email: ``subject`` (one line), a plain-text and an HTML body."""

    subject: str
    text: str
    html: str


def one_line(value: str) -> str:
    """``value`` with every control character or line separator (CR, LF, tab, NEL, U+2028...)
    turned into a space, and no space at either end."""
    return _CONTROL.sub(" ", value).strip()


def deadline_view(deadline: Deadline, now: datetime, reader: Role) -> DeadlineWords | None:
    """How ``deadline`` reads in an email to ``reader`` (``shared.wording``, as on the page);
    None if emails do not list it (the reminder, or one no longer running)."""
    if deadline.kind not in LISTED_DEADLINES or deadline.status not in SHOWN_DEADLINE_STATUSES:
        return None
    return deadline_words(deadline.model_dump(), reader, now)


def headline(event: Event, recipient: Recipient) -> str:
    """What happened, one sentence: the rule's headline with ``{actor}`` the role's name
    (``shared.wording.ROLE_NAMES``; "You" to that very party) and ``{stage}`` what it was
    done to."""
    actor = ROLE_NAMES[event.actor.role]
    if event.actor.role == recipient.role and recipient.role in (Role.CUSTOMER, Role.ISV):
        actor = YOU
    stage = STAGES[event.from_state or event.to_state]
    return sentence_start(_(RULES[event.type].headline).format(actor=actor, stage=stage))


def subject(event: Event, recipient: Recipient) -> str:
    """One line: "[Delivery <id>] Action needed: Step finished"."""
    words = _(RULES[event.type].subject)
    if recipient.must_act:
        words = ACTION_NEEDED.format(words=words)
    return one_line(SUBJECT.format(delivery_id=event.delivery.delivery_id, words=words))


def delivery_link(public_url: str, delivery_id: str) -> str:
    """The API's URL of the delivery (``public_url``/v1/deliveries/{id}), for a recipient who
    has no page link."""
    return f"{public_url.rstrip('/')}/v1/deliveries/{quote(delivery_id, safe='')}"


def render(
    event: Event,
    recipient: Recipient,
    *,
    public_url: str,
    now: datetime,
    link: str | None = None,
    list_link: str | None = None,
    locale: str | None = None,
    time_zone: str | None = None,
) -> RenderedEmail:
    """``link`` is the recipient's own signed link to the delivery's page, when there is one;
    ``list_link`` their signed link to their own list of deliveries (``/me``; an
    administrator's: ``/admin``), shown after it when there is one. Every word is in
    ``locale`` and every time in ``time_zone`` (``shared.wording.reading``; both None: the
    current reader's, English and UTC unless one was set); the HTML part's ``lang`` says the
    locale.

    Raises ValueError for a locale or zone ``shared.domain.locales`` does not accept."""
    if locale is None and time_zone is None:
        chosen = nullcontext(current_reader())
    else:
        chosen = reading(locale, time_zone)
    with chosen as reader:
        return _render(event, recipient, public_url, now, link, list_link, reader.html_lang)


def _render(
    event: Event,
    recipient: Recipient,
    public_url: str,
    now: datetime,
    link: str | None,
    list_link: str | None,
    lang: str,
) -> RenderedEmail:
    summary = event.delivery
    deadlines = [
        view
        for view in (deadline_view(d, now, recipient.role) for d in summary.deadlines)
        if view is not None
    ]
    details = [detail(key, value) for key, value in event.data.items()]
    facts = [
        (FACT_LABELS["delivery_id"], summary.delivery_id),
        (FACT_LABELS["order_id"], summary.order_id),
        (FACT_LABELS["product_id"], summary.product_id),
        (FACT_LABELS["process"], PROCESS_LABELS[summary.process]),
        (FACT_LABELS["state"], STATE_LABELS[summary.state]),
        *((d.label, d.value) for d in deadlines),
    ]
    name = summary.customer_name if recipient.role == Role.CUSTOMER else None
    context = {
        "greeting": (
            GREETING.format(name=one_line(name))
            if name and one_line(name)
            else str(GREETING_WITHOUT_NAME)
        ),
        "headline": headline(event, recipient),
        "headline_sentence": SENTENCE.format(headline=headline(event, recipient)),
        "action": action_words(event, recipient.role) if recipient.must_act else None,
        "closed": summary.state in TERMINAL_STATES,
        "deadlines": deadlines,
        "facts": facts,
        "details": details,
        "link": link or delivery_link(public_url, summary.delivery_id),
        "list_link": list_link,
        "list_words": str(
            ADMIN_LIST_LINK_WORDS if recipient.role == Role.ADMIN else LIST_LINK_WORDS
        ),
        "lang": lang,
        "occurred_at": when(event.occurred_at),
    }
    return RenderedEmail(
        subject=subject(event, recipient),
        text=_env.get_template("email.txt.j2").render(context),
        html=_env.get_template("email.html.j2").render(context),
    )
