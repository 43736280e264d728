"""The words people read, in one place: the delivery pages, the emails and the CLI all say a
fact through this package, so the same instant, state or action reads the same everywhere.

Pure: no I/O but reading the catalogs once, no clock (``now`` is always passed in). The words
are data (tables and sentence templates with named ``{placeholders}``), each an English
gettext msgid read in the current reader's language and time zone
(:mod:`shared.wording.reader`: ``reading``, the catalogs, the marks).

By idea: this module names things (states, processes, roles, actions, tasks, the facts of a
delivery and the details of a command); :mod:`shared.wording.moments` says time (durations,
moments, sizes, deadlines; its rules are in its docstring); :mod:`shared.wording.scores` says
the delivery score (its parts, figures, shares, the trend); :mod:`shared.wording.refusals`
says what a refusal's code means; :mod:`shared.wording.lists` words a party's own list. Every
name but the lists' is imported from here: ``from shared.wording import when, STATE_LABELS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from babel.lists import format_list

from shared.domain.files import CONTRACT_MAX_WORDS, CONTRACT_TYPE_NAMES
from shared.domain.roles import Role
from shared.domain.states import ProcessName, State
from shared.wording.moments import (  # noqa: F401  (re-exported: import them from here)
    AHEAD,
    BEHIND,
    DAY_UNIT,
    DEADLINES,
    MOMENT,
    MOMENT_AND_DISTANCE,
    MOMENT_PATTERN,
    NOW,
    PAUSED_VALUE,
    SIZE_IN_BYTES,
    SIZE_IN_UNITS,
    SIZE_UNITS,
    UNITS,
    DeadlineWording,
    DeadlineWords,
    Unit,
    counted,
    days_words,
    deadline_words,
    duration,
    relative,
    size_words,
    when,
    when_relative,
    zone_words,
)
from shared.wording.reader import (  # noqa: F401  (reading, reader: import them from here)
    N_,
    Reader,
    Words,
    lazy_gettext,
    reader,
    reading,
)
from shared.wording.refusals import REFUSALS, refusal_words  # noqa: F401  (re-exported)
from shared.wording.scores import (  # noqa: F401  (re-exported: import them from here)
    COMPONENT_LABELS,
    FIGURE_LABELS,
    NO_DATA,
    NO_SCORE,
    NOT_APPLICABLE,
    TrendWords,
    day_words,
    period_and_length_words,
    period_words,
    points_words,
    ratio_words,
    score_words,
    share_words,
    trend_words,
)

# --- names -----------------------------------------------------------------------------------

#: Each state's name, as a title: the steps and the "State" fact of the page, the state in
#: emails, the admin list, the CLI. Not :data:`STAGES`: a name ("Confirm functional design")
#: stands alone, a stage sits inside a sentence, and two states share one ("the functional
#: design" is written in one and confirmed in the next).
STATE_LABELS: Mapping[State, str] = Words(
    {
        State.AWAITING_DEMAND: N_("Submit demand"),
        State.AWAITING_CONTRACT: N_("Contract"),
        State.IN_DELIVERY: N_("Delivery"),
        State.FUNCTIONAL_DESIGN: N_("Functional design"),
        State.CONFIRM_FUNCTIONAL_DESIGN: N_("Confirm functional design"),
        State.UED: N_("User experience design"),
        State.CONFIRM_UED: N_("Confirm UED"),
        State.DEVELOPMENT_TESTING: N_("Development and testing"),
        State.INSPECTION_ACCEPTANCE: N_("Inspection and acceptance"),
        State.AWAITING_CONFIRMATION: N_("Confirm delivery"),
        State.IN_WARRANTY: N_("Warranty"),
        State.COMPLETED: N_("Completed"),
        State.TERMINATED: N_("Terminated"),
    }
)
#: What is worked on or reviewed in each state, inside a sentence: the email's headline
#: ("The ISV finished {stage}", ``services.notifier.render.headline``). See :data:`STATE_LABELS`
#: for why both exist.
STAGES: Mapping[State, str] = Words(
    {
        State.AWAITING_DEMAND: N_("the demands"),
        State.AWAITING_CONTRACT: N_("the contract"),
        State.IN_DELIVERY: N_("the delivery"),
        State.FUNCTIONAL_DESIGN: N_("the functional design"),
        State.CONFIRM_FUNCTIONAL_DESIGN: N_("the functional design"),
        State.UED: N_("the UED (user experience design)"),
        State.CONFIRM_UED: N_("the UED (user experience design)"),
        State.DEVELOPMENT_TESTING: N_("development and testing"),
        State.INSPECTION_ACCEPTANCE: N_("the result of development and testing"),
        State.AWAITING_CONFIRMATION: N_("the delivery"),
        State.IN_WARRANTY: N_("the warranty"),
        State.COMPLETED: N_("the delivery"),
        State.TERMINATED: N_("the delivery"),
    }
)
PROCESS_LABELS: Mapping[ProcessName, str] = Words(
    {
        ProcessName.BASIC: N_("Basic delivery"),
        ProcessName.DOUBLE_CHECK: N_("Delivery with double check (warranty)"),
        ProcessName.CONTRACT: N_("Delivery with a signed contract"),
        ProcessName.STEPWISE: N_("Step-by-step implementation and confirmation"),
    }
)
#: Each role inside a sentence; :func:`sentence_start` capitalises it at the start of one.
ROLE_NAMES: Mapping[Role, str] = Words(
    {
        Role.CUSTOMER: N_("the customer"),
        Role.ISV: N_("the ISV"),
        Role.ADMIN: N_("an administrator"),
        Role.MARKETPLACE: N_("the marketplace"),
        Role.SYSTEM: N_("Delivery Center"),
    }
)


#: The reader, for what they did themselves ("you confirmed").
YOU = lazy_gettext("you")


def sentence_start(words: str) -> str:
    """``words`` with its first letter upper case ("the ISV" -> "The ISV")."""
    return words[:1].upper() + words[1:]


def label(table: Mapping[str, str], value: str | None) -> str:
    """``value``'s words from ``table``, or ``value`` itself when the table has none (a name
    stored by an older version)."""
    return table.get(value or "", value or "")


#: A name and the value it names, for readers who also type the value (the page's "State"
#: fact, the CLI): "Confirm delivery (awaiting_confirmation)".
NAMED = lazy_gettext("{label} ({value})")


def named(table: Mapping[str, str], value: object) -> str:
    """``value`` with its name from ``table`` before it (:data:`NAMED`); ``value`` alone as
    text when the table has no name for it (or it is no string)."""
    if not isinstance(value, str) or value not in table:
        return str(value)
    return NAMED.format(label=table[value], value=value)


# --- the facts of a delivery and the details of a command --------------------------------------

#: The name of each fact of a delivery, in a list of facts: the page's and the email's.
FACT_LABELS: Mapping[str, str] = Words(
    {
        "customer_name": N_("Customer name"),
        "phone": N_("Phone"),
        "email": N_("Email"),
        "order_id": N_("Order ID"),
        "order_spec": N_("Order specification"),
        "delivery_id": N_("Delivery ID"),
        "product_id": N_("Product ID"),
        "process": N_("Process"),
        "state": N_("State"),
        "customer_id": N_("Customer"),
        "isv_id": N_("ISV"),
        "version": N_("Version"),
    }
)
#: A fact a party has not given yet (the contact before the demands).
NOT_GIVEN = lazy_gettext("not given yet")
#: The name of each detail a command records (a history entry's ``details``, an event's
#: ``data``): the email's details and the page's history alike.
DETAILS: Mapping[str, str] = Words(
    {
        "reason": N_("Reason"),
        "note": N_("Note"),
        "description": N_("Description"),
        "outcome": N_("Outcome"),
    }
)
#: Words for some values of those details (a dispute's outcome), on the page and in emails.
DETAIL_VALUES: Mapping[tuple[str, str], str] = Words(
    {
        ("outcome", "continue"): N_("the delivery continues"),
        ("outcome", "terminate"): N_("the delivery is terminated"),
    }
)
#: Each outcome of a review of a deliverable, before who gave it ("changes requested by you").
REVIEW_OUTCOMES: Mapping[str, str] = Words(
    {
        "confirmed": N_("confirmed"),
        "changes_requested": N_("changes requested"),
        "auto_confirmed": N_("auto confirmed"),
    }
)


def detail(key: str, value: str) -> tuple[str, str]:
    """A command's detail as (its name, its value) in words (:data:`DETAILS`,
    :data:`DETAIL_VALUES`); a key without a name is its words capitalised ("due_date" ->
    "Due date"), a value without words is itself."""
    name = DETAILS.get(key, key.replace("_", " ").capitalize())
    return name, DETAIL_VALUES.get((key, value), value)


# --- actions and tasks -----------------------------------------------------------------------


class ActionWords(NamedTuple):
    """How a page offers one command (:data:`ACTIONS`)."""

    #: The heading of its form.
    title: str
    #: The label of its button.
    button: str


#: Each command a page offers: its form's title and button.
ACTIONS: Mapping[str, ActionWords] = Words(
    {
        "submit_demand": ActionWords(N_("Submit your demands"), N_("Submit the demands")),
        "upload_contract": ActionWords(N_("Upload the contract"), N_("Upload the contract")),
        "finish": ActionWords(N_("Finish this step"), N_("Finish")),
        "confirm": ActionWords(N_("Confirm"), N_("Confirm")),
        "request_changes": ActionWords(N_("Ask for changes"), N_("Ask for changes")),
        "request_warranty_service": ActionWords(
            N_("Ask for warranty service"), N_("Ask for warranty service")
        ),
        "confirm_warranty": ActionWords(N_("Confirm the warranty"), N_("Confirm the warranty")),
        "open_dispute": ActionWords(N_("Open a dispute"), N_("Open a dispute")),
        "resolve_dispute": ActionWords(N_("Resolve the dispute"), N_("Resolve the dispute")),
        "terminate": ActionWords(N_("Terminate the delivery"), N_("Terminate")),
    }
)
#: What each command did, after who did it ("the customer confirmed").
DONE: Mapping[str, str] = Words(
    {
        "open_delivery": N_("opened the delivery"),
        "submit_demand": N_("submitted the demands"),
        "upload_contract": N_("uploaded the contract"),
        "finish": N_("finished the step"),
        "confirm": N_("confirmed"),
        "request_changes": N_("asked for changes"),
        "request_warranty_service": N_("asked for warranty service"),
        "confirm_warranty": N_("confirmed the warranty"),
        "open_dispute": N_("opened a dispute"),
        "resolve_dispute": N_("resolved the dispute"),
        "terminate": N_("terminated the delivery"),
        "expire_deadline": N_("let a deadline run out"),
    }
)
#: What whoever must act in a state is asked to do, addressed to them: the page's "Your turn:
#: ..." (``pages.words.turn_words``) and the email's "Please ..." (``notifier.rules``). Not
#: :data:`WAITING_FOR`: the actor reads a request ("upload the contract signed with the
#: customer"), everyone else a report of what they wait for, told of a third person.
TASKS: Mapping[State, str] = Words(
    {
        State.AWAITING_DEMAND: N_(
            "submit your demands and your contact details (name, phone and email)"
        ),
        State.AWAITING_CONTRACT: N_("upload the contract signed with the customer"),
        State.IN_DELIVERY: N_("deliver the service, then press Finish"),
        State.FUNCTIONAL_DESIGN: N_(
            "write the functional design (features, architecture) and submit it with Finish"
        ),
        State.CONFIRM_FUNCTIONAL_DESIGN: N_(
            "review the functional design: confirm it, or ask for changes"
        ),
        State.UED: N_("submit the UED (user experience design) with Finish"),
        State.CONFIRM_UED: N_("review the UED: confirm it, or ask for changes"),
        State.DEVELOPMENT_TESTING: N_("develop and test the website, then press Finish"),
        State.INSPECTION_ACCEPTANCE: N_("inspect the website: accept it, or ask for changes"),
        State.AWAITING_CONFIRMATION: N_("confirm the delivery, or ask for changes"),
        State.IN_WARRANTY: N_(
            "confirm the warranty if everything works as agreed, or ask for warranty service if "
            "something is wrong"
        ),
    }
)
#: What the others wait for in a state, after who must act: the page's "Waiting for the
#: customer to confirm the delivery." (``pages.words.turn_words``); see :data:`TASKS`.
WAITING_FOR: Mapping[State, str] = Words(
    {
        State.AWAITING_DEMAND: N_("to submit the demands"),
        State.AWAITING_CONTRACT: N_("to upload the contract"),
        State.IN_DELIVERY: N_("to deliver the service"),
        State.FUNCTIONAL_DESIGN: N_("to submit the functional design"),
        State.CONFIRM_FUNCTIONAL_DESIGN: N_("to confirm the functional design"),
        State.UED: N_("to submit the user experience design"),
        State.CONFIRM_UED: N_("to confirm the user experience design"),
        State.DEVELOPMENT_TESTING: N_("to develop and test the website"),
        State.INSPECTION_ACCEPTANCE: N_("to inspect and accept the website"),
        State.AWAITING_CONFIRMATION: N_("to confirm the delivery"),
        State.IN_WARRANTY: N_("to confirm the warranty"),
    }
)
#: Tasks that an event gives rather than a state.
RESOLVE_DISPUTE_TASK = lazy_gettext(
    "review the dispute and resolve it (let the delivery continue, or terminate it)"
)
#: The ISV's task while the customer's warranty request awaits the service
#: (``shared.domain.actions.awaits_warranty_service``), and what the others wait for then.
WARRANTY_SERVICE_TASK = lazy_gettext("provide the warranty service the customer describes below")
WAITING_FOR_WARRANTY_SERVICE = lazy_gettext("to provide the warranty service")
#: A task as the email asks it, and as the page tells it to whoever must act.
PLEASE = lazy_gettext("Please {task}.")
YOUR_TURN = lazy_gettext("Your turn: {task}.")


#: What happens now, as the delivery page's banner says it.
COMPLETED_NOTE = lazy_gettext("This delivery is completed. Nothing more is needed.")
TERMINATED_NOTE = lazy_gettext(
    "This delivery was terminated by an administrator. Nothing more can be done."
)
#: ``{task}`` is :data:`RESOLVE_DISPUTE_TASK`.
DISPUTE_NOTE = lazy_gettext("A dispute is open. Your turn: {task}.")
#: What a dispute does, as the form that opens one warns and the banner of an open one says.
DISPUTE_RULE = lazy_gettext(
    "an administrator will resolve it. Until then nobody else acts, and the deadlines are paused."
)
#: ``{rule}`` is :data:`DISPUTE_RULE`.
DISPUTE_WAIT_NOTE = lazy_gettext("A dispute is open: {rule}")
#: The contract upload's hint: ``{types}`` and ``{limit}`` in words (:func:`contract_hint`).
CONTRACT_HINT = lazy_gettext("{types}, at most {limit}.")
#: ``{who}``: the roles that must act, joined by ``OR``; ``{what}``: ``WAITING_FOR[state]``.
WAITING_NOTE = lazy_gettext("Waiting for {who} {what}.")
OR = lazy_gettext(" or ")
#: An actor that was not recorded.
SOMEONE = lazy_gettext("someone")


def contract_hint() -> str:
    """What the contract's upload takes, in the reader's language: the types as a list joined
    by the language's "or" (CLDR's list patterns: "DOC, …, ZIP, or 7z", "DOC、…、ZIP或7z") and
    the largest size (:data:`CONTRACT_HINT`)."""
    types = format_list(list(CONTRACT_TYPE_NAMES), style="or", locale=reader().babel)
    return CONTRACT_HINT.format(types=types, limit=CONTRACT_MAX_WORDS)


def please(task: str) -> str:
    """A task as an email asks it: "Please confirm the delivery, or ask for changes."."""
    return PLEASE.format(task=task)


def your_turn(task: str) -> str:
    """A task as the page tells it: "Your turn: confirm the delivery, or ask for changes."."""
    return YOUR_TURN.format(task=task)


def task_words(state: State, *, warranty_service: bool = False) -> str:
    """What whoever must act is asked to do (the email's "Please …", the page's "Your turn:
    …"): :data:`WARRANTY_SERVICE_TASK` while the customer's warranty request awaits the ISV
    (``Situation.warranty_service_requested``), else the state's task (:data:`TASKS`).

    Raises ``KeyError`` for a state nobody acts in."""
    return WARRANTY_SERVICE_TASK if warranty_service else TASKS[state]


def awaited_words(state: State, *, warranty_service: bool = False) -> str:
    """What the others wait for, after who must act ("to confirm the delivery"): as
    :func:`task_words`, from :data:`WAITING_FOR` or :data:`WAITING_FOR_WARRANTY_SERVICE`.

    Raises ``KeyError`` for a state nobody acts in."""
    return WAITING_FOR_WARRANTY_SERVICE if warranty_service else WAITING_FOR[state]
