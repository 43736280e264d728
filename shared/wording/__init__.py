"""The words people read, in one place: the delivery pages, the emails and the CLI all say a
fact through this package, so the same instant, state or action reads the same everywhere.

Pure: no I/O, no clock (``now`` is always passed in). The words are data (tables and sentence
templates with named ``{placeholders}``), not f-strings spread over the services, so another
language is another set of these tables.

Three modules, by idea: this one names things (states, processes, roles, actions, tasks, the
facts of a delivery and the details of a command); :mod:`shared.wording.moments` says time
(durations, moments, sizes, deadlines; its rules are in its docstring);
:mod:`shared.wording.scores` says the delivery score (its parts, figures, shares, the trend).
Every name of them is imported from here: ``from shared.wording import when, STATE_LABELS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from shared.domain.roles import Role
from shared.domain.states import ProcessName, State
from shared.wording.moments import (  # noqa: F401  (re-exported: import them from here)
    AHEAD,
    AMOUNT,
    BEHIND,
    DAY_UNIT,
    DEADLINES,
    MOMENT,
    MOMENT_AND_DISTANCE,
    MONTHS,
    NOW,
    PAUSED_VALUE,
    SIZE_IN_BYTES,
    SIZE_IN_UNITS,
    SIZE_UNITS,
    UNITS,
    WEEKDAYS,
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
)
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
STATE_LABELS: Mapping[State, str] = {
    State.AWAITING_DEMAND: "Submit demand",
    State.AWAITING_CONTRACT: "Contract",
    State.IN_DELIVERY: "Delivery",
    State.FUNCTIONAL_DESIGN: "Functional design",
    State.CONFIRM_FUNCTIONAL_DESIGN: "Confirm functional design",
    State.UED: "User experience design",
    State.CONFIRM_UED: "Confirm UED",
    State.DEVELOPMENT_TESTING: "Development and testing",
    State.INSPECTION_ACCEPTANCE: "Inspection and acceptance",
    State.AWAITING_CONFIRMATION: "Confirm delivery",
    State.IN_WARRANTY: "Warranty",
    State.COMPLETED: "Completed",
    State.TERMINATED: "Terminated",
}
#: What is worked on or reviewed in each state, inside a sentence: the email's headline
#: ("The ISV finished {stage}", ``services.notifier.render.headline``). See :data:`STATE_LABELS`
#: for why both exist.
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
PROCESS_LABELS: Mapping[ProcessName, str] = {
    ProcessName.BASIC: "Basic delivery",
    ProcessName.DOUBLE_CHECK: "Delivery with double check (warranty)",
    ProcessName.CONTRACT: "Delivery with a signed contract",
    ProcessName.STEPWISE: "Step-by-step implementation and confirmation",
}
#: Each role inside a sentence; :func:`sentence_start` capitalises it at the start of one.
ROLE_NAMES: Mapping[Role, str] = {
    Role.CUSTOMER: "the customer",
    Role.ISV: "the ISV",
    Role.ADMIN: "an administrator",
    Role.MARKETPLACE: "the marketplace",
    Role.SYSTEM: "Delivery Center",
}


#: The reader, for what they did themselves ("you confirmed").
YOU = "you"


def sentence_start(words: str) -> str:
    """``words`` with its first letter upper case ("the ISV" -> "The ISV")."""
    return words[:1].upper() + words[1:]


def label(table: Mapping[str, str], value: str | None) -> str:
    """``value``'s words from ``table``, or ``value`` itself when the table has none (a name
    stored by an older version)."""
    return table.get(value or "", value or "")


#: A name and the value it names, for readers who also type the value (the page's "State"
#: fact, the CLI): "Confirm delivery (awaiting_confirmation)".
NAMED = "{label} ({value})"


def named(table: Mapping[str, str], value: object) -> str:
    """``value`` with its name from ``table`` before it (:data:`NAMED`); ``value`` alone as
    text when the table has no name for it (or it is no string)."""
    if not isinstance(value, str) or value not in table:
        return str(value)
    return NAMED.format(label=table[value], value=value)


# --- the facts of a delivery and the details of a command --------------------------------------

#: The name of each fact of a delivery, in a list of facts: the page's and the email's.
FACT_LABELS: Mapping[str, str] = {
    "customer_name": "Customer name",
    "phone": "Phone",
    "email": "Email",
    "order_id": "Order ID",
    "order_spec": "Order specification",
    "delivery_id": "Delivery ID",
    "product_id": "Product ID",
    "process": "Process",
    "state": "State",
    "customer_id": "Customer",
    "isv_id": "ISV",
    "version": "Version",
}
#: A fact a party has not given yet (the contact before the demands).
NOT_GIVEN = "not given yet"
#: The name of each detail a command records (a history entry's ``details``, an event's
#: ``data``): the email's details and the page's history alike.
DETAILS: Mapping[str, str] = {
    "reason": "Reason",
    "note": "Note",
    "description": "Description",
    "outcome": "Outcome",
}
#: Words for some values of those details (a dispute's outcome), on the page and in emails.
DETAIL_VALUES: Mapping[tuple[str, str], str] = {
    ("outcome", "continue"): "the delivery continues",
    ("outcome", "terminate"): "the delivery is terminated",
}
#: Each outcome of a review of a deliverable, before who gave it ("changes requested by you").
REVIEW_OUTCOMES: Mapping[str, str] = {
    "confirmed": "confirmed",
    "changes_requested": "changes requested",
    "auto_confirmed": "auto confirmed",
}


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
ACTIONS: Mapping[str, ActionWords] = {
    "submit_demand": ActionWords("Submit your demands", "Submit the demands"),
    "upload_contract": ActionWords("Upload the contract", "Upload the contract"),
    "finish": ActionWords("Finish this step", "Finish"),
    "confirm": ActionWords("Confirm", "Confirm"),
    "request_changes": ActionWords("Ask for changes", "Ask for changes"),
    "request_warranty_service": ActionWords("Ask for warranty service", "Ask for warranty service"),
    "confirm_warranty": ActionWords("Confirm the warranty", "Confirm the warranty"),
    "open_dispute": ActionWords("Open a dispute", "Open a dispute"),
    "resolve_dispute": ActionWords("Resolve the dispute", "Resolve the dispute"),
    "terminate": ActionWords("Terminate the delivery", "Terminate"),
}
#: What each command did, after who did it ("the customer confirmed").
DONE: Mapping[str, str] = {
    "open_delivery": "opened the delivery",
    "submit_demand": "submitted the demands",
    "upload_contract": "uploaded the contract",
    "finish": "finished the step",
    "confirm": "confirmed",
    "request_changes": "asked for changes",
    "request_warranty_service": "asked for warranty service",
    "confirm_warranty": "confirmed the warranty",
    "open_dispute": "opened a dispute",
    "resolve_dispute": "resolved the dispute",
    "terminate": "terminated the delivery",
    "expire_deadline": "let a deadline run out",
}
#: What whoever must act in a state is asked to do, addressed to them: the page's "Your turn:
#: ..." (``pages.words.turn_words``) and the email's "Please ..." (``notifier.rules``). Not
#: :data:`WAITING_FOR`: the actor reads a request ("upload the contract signed with the
#: customer"), everyone else a report of what they wait for, told of a third person.
TASKS: Mapping[State, str] = {
    State.AWAITING_DEMAND: "submit your demands and your contact details (name, phone and email)",
    State.AWAITING_CONTRACT: "upload the contract signed with the customer",
    State.IN_DELIVERY: "deliver the service, then press Finish",
    State.FUNCTIONAL_DESIGN: (
        "write the functional design (features, architecture) and submit it with Finish"
    ),
    State.CONFIRM_FUNCTIONAL_DESIGN: "review the functional design: confirm it, or ask for changes",
    State.UED: "submit the UED (user experience design) with Finish",
    State.CONFIRM_UED: "review the UED: confirm it, or ask for changes",
    State.DEVELOPMENT_TESTING: "develop and test the website, then press Finish",
    State.INSPECTION_ACCEPTANCE: "inspect the website: accept it, or ask for changes",
    State.AWAITING_CONFIRMATION: "confirm the delivery, or ask for changes",
    State.IN_WARRANTY: (
        "confirm the warranty if everything works as agreed, or ask for warranty service if "
        "something is wrong"
    ),
}
#: What the others wait for in a state, after who must act: the page's "Waiting for the
#: customer to confirm the delivery." (``pages.words.turn_words``); see :data:`TASKS`.
WAITING_FOR: Mapping[State, str] = {
    State.AWAITING_DEMAND: "to submit the demands",
    State.AWAITING_CONTRACT: "to upload the contract",
    State.IN_DELIVERY: "to deliver the service",
    State.FUNCTIONAL_DESIGN: "to submit the functional design",
    State.CONFIRM_FUNCTIONAL_DESIGN: "to confirm the functional design",
    State.UED: "to submit the user experience design",
    State.CONFIRM_UED: "to confirm the user experience design",
    State.DEVELOPMENT_TESTING: "to develop and test the website",
    State.INSPECTION_ACCEPTANCE: "to inspect and accept the website",
    State.AWAITING_CONFIRMATION: "to confirm the delivery",
    State.IN_WARRANTY: "to confirm the warranty",
}
#: Tasks that an event gives rather than a state.
RESOLVE_DISPUTE_TASK = (
    "review the dispute and resolve it (let the delivery continue, or terminate it)"
)
#: The ISV's task while the customer's warranty request awaits the service
#: (``shared.domain.actions.awaits_warranty_service``), and what the others wait for then.
WARRANTY_SERVICE_TASK = "provide the warranty service the customer describes below"
WAITING_FOR_WARRANTY_SERVICE = "to provide the warranty service"
#: A task as the email asks it, and as the page tells it to whoever must act.
PLEASE = "Please {task}."
YOUR_TURN = "Your turn: {task}."


#: What happens now, as the delivery page's banner says it.
COMPLETED_NOTE = "This delivery is completed. Nothing more is needed."
TERMINATED_NOTE = "This delivery was terminated by an administrator. Nothing more can be done."
DISPUTE_NOTE = "A dispute is open. " + YOUR_TURN.format(task=RESOLVE_DISPUTE_TASK)
#: What a dispute does, as the form that opens one warns and the banner of an open one says.
DISPUTE_RULE = (
    "an administrator will resolve it. Until then nobody else acts, and the deadlines are paused."
)
DISPUTE_WAIT_NOTE = "A dispute is open: " + DISPUTE_RULE
#: The contract upload's hint: ``{types}`` and ``{limit}`` in words
#: (``shared.domain.files.CONTRACT_TYPE_WORDS``, ``CONTRACT_MAX_WORDS``).
CONTRACT_HINT = "{types}, at most {limit}."
#: ``{who}``: the roles that must act, joined by ``OR``; ``{what}``: ``WAITING_FOR[state]``.
WAITING_NOTE = "Waiting for {who} {what}."
OR = " or "
#: An actor that was not recorded.
SOMEONE = "someone"


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
