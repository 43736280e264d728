"""Who is emailed for each event, and what each of them is asked to do: the notification table.

Two tables, read together:

- ``RULES``, keyed by event type: who is emailed (``to``), the subject and the headline
  (what happened), and the tasks the event itself gives (``asks``: the admin of a new
  dispute).
- ``STATE_REQUESTS``, keyed by (role, state): what the party who must act in that state is
  asked to do, derived from the process tables (the human roles of the rows leaving the
  state, ``processes.next_actors``) and the state's task (``shared.wording.TASKS``). Who must
  act when an event arrives is read from the domain (``actions.whose_turn`` of
  ``Situation.after_event``), as each party's list and the delivery page read it: after a
  warranty request, the ISV, asked for the warranty service
  (``shared.wording.task_words``), while the customer waits. Everyone else emailed is
  informed.

Every event type has a rule and every state someone acts in has a request; a unit test
walks every row of every process, the global commands and the deadline kinds to keep it so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.domain.actions import Situation, whose_turn
from shared.domain.events import Event
from shared.domain.processes import PROCESSES, Process, next_actors
from shared.domain.reminders import moot_reminder
from shared.domain.roles import Role
from shared.domain.states import TERMINAL_STATES, State
from shared.wording import RESOLVE_DISPUTE_TASK, TASKS, please, task_words
from shared.wording.reader import N_

CUSTOMER, ISV, ADMIN = Role.CUSTOMER, Role.ISV, Role.ADMIN

#: The customer and the ISV.
PARTIES = (CUSTOMER, ISV)
#: The parties and the marketplace's administrators (``DC_ADMIN_EMAIL``).
EVERYONE = (CUSTOMER, ISV, ADMIN)


@dataclass(frozen=True)
class Rule:
    """One event type's row of :data:`RULES`: who is emailed and what they read (the brief:
    every transition emails the party who must act next and informs the other)."""

    #: Who is emailed.
    to: tuple[Role, ...]
    #: The subject line's words (the delivery ID is added), short; a msgid, as ``headline``.
    subject: str
    #: What happened, one sentence. ``{actor}`` is who did it ("You" to that very party),
    #: ``{stage}`` what it was done to (named after the state the delivery left).
    headline: str
    #: Tasks this event gives, whatever the state (a task, as ``shared.wording.TASKS`` words
    #: it); they replace the state's task (None: only informed, although the state has a task
    #: for that role).
    asks: Mapping[Role, str | None] = field(default_factory=dict)
    #: Whether whoever must act in the new state is asked to. False when the event leaves
    #: only an administrator able to act (an open dispute).
    state_tasks: bool = True


RULES: Mapping[str, Rule] = {
    "delivery_opened": Rule(PARTIES, N_("New delivery"), N_("{actor} opened a new delivery")),
    "demand_submitted": Rule(PARTIES, N_("Demands submitted"), N_("{actor} submitted the demands")),
    "contract_uploaded": Rule(
        PARTIES, N_("Contract uploaded"), N_("{actor} uploaded the contract")
    ),
    "stage_finished": Rule(PARTIES, N_("Step finished"), N_("{actor} finished {stage}")),
    "stage_confirmed": Rule(PARTIES, N_("Step confirmed"), N_("{actor} confirmed {stage}")),
    "changes_requested": Rule(
        PARTIES, N_("Changes requested"), N_("{actor} asked for changes to {stage}")
    ),
    # The ISV must act and the customer who just asked waits for them: the domain says so
    # (actions.whose_turn), for this email as for their lists.
    "warranty_service_requested": Rule(
        PARTIES, N_("Warranty service requested"), N_("{actor} asked for warranty service")
    ),
    "warranty_confirmed": Rule(
        PARTIES,
        N_("Warranty confirmed"),
        N_("{actor} confirmed the warranty: the delivery is completed"),
    ),
    "dispute_opened": Rule(
        EVERYONE,
        N_("Dispute opened"),
        N_("{actor} opened a dispute: deadlines are paused until an administrator resolves it"),
        asks={ADMIN: RESOLVE_DISPUTE_TASK},
        state_tasks=False,
    ),
    "dispute_resolved": Rule(EVERYONE, N_("Dispute resolved"), N_("{actor} resolved the dispute")),
    "delivery_terminated": Rule(
        EVERYONE, N_("Delivery terminated"), N_("{actor} terminated the delivery")
    ),
    "auto_confirmed": Rule(
        PARTIES,
        N_("Confirmed automatically"),
        N_("The confirmation window ran out, so {stage} was confirmed automatically"),
    ),
    "confirmation_reminder": Rule(
        (CUSTOMER,),
        N_("Automatic confirmation soon"),
        N_("Reminder: {stage} will soon be confirmed automatically"),
    ),
    "warranty_expired": Rule(
        PARTIES,
        N_("Warranty ended"),
        N_("The warranty period has ended: the delivery is completed"),
    ),
}

#: What the party who must act in a state is asked to do: the state's task (``TASKS``, which
#: the delivery page shows as "Your turn: ..."), for every (role, state) of every process
#: where that role has a row leaving that state. (Not ``shared.wording.ACTIONS``: those are
#: the titles of the page's forms.)
STATE_REQUESTS: Mapping[tuple[Role, State], str] = {
    (role, state): please(TASKS[state])
    for process in PROCESSES.values()
    for state in process.states - TERMINAL_STATES
    for role in next_actors(process, state)
}


@dataclass(frozen=True)
class Recipient:
    """One address to email for an event: as which role, and what it is asked to do."""

    email: str
    role: Role
    #: What they are asked to do; None when they are only informed.
    action: str | None = None

    @property
    def must_act(self) -> bool:
        """Whether the email asks them to act (its subject says "Action needed")."""
        return self.action is not None


def audience(event_type: str, process: Process, state: State) -> list[tuple[Role, str | None]]:
    """Who is emailed for an event that left a delivery of ``process`` in ``state``: each role
    with its task, or None if it is only informed."""
    rule = RULES[event_type]
    situation = Situation.after_event(event_type, process.name, state)
    acting = whose_turn(situation) if rule.state_tasks else frozenset()
    service = situation.warranty_service_requested
    chosen = []
    for role in rule.to:
        if role in rule.asks:
            task = rule.asks[role]
            action = None if task is None else please(task)
        else:
            action = please(task_words(state, warranty_service=service)) if role in acting else None
        chosen.append((role, action))
    return chosen


def recipients(event: Event, admin_email: str) -> list[Recipient]:
    """The addresses to email for ``event``, once each (an address with two roles gets the
    email of the one asked to act)."""
    summary = event.delivery
    address = {CUSTOMER: summary.customer_email, ISV: summary.isv_email, ADMIN: admin_email}
    chosen: dict[str, Recipient] = {}
    for role, action in audience(event.type, PROCESSES[summary.process], event.to_state):
        email = address[role].strip()
        if email not in chosen or (action is not None and not chosen[email].must_act):
            chosen[email] = Recipient(email, role, action)
    return list(chosen.values())


def action_words(event: Event, role: Role) -> str | None:
    """What ``role`` is asked to do by ``event`` (as :func:`recipients` decides), worded for
    the current reader (``shared.wording.reading``): the email says it in the recipient's
    language, while :attr:`Recipient.action` was worded when the recipients were chosen."""
    summary = event.delivery
    asked = dict(audience(event.type, PROCESSES[summary.process], event.to_state))
    return asked.get(role)


def why_not_emailed(event: Event, now: datetime, reminder_lead: timedelta) -> str | None:
    """Why ``event`` is not worth emailing at ``now`` (in words), or None if it is: only a
    reminder can be, when its automatic confirmation is too close (``shared.domain.reminders``,
    ``reminder_lead`` being ``DC_REMINDER_LEAD``)."""
    if event.type != "confirmation_reminder":
        return None
    return moot_reminder(event.delivery.deadlines, now, reminder_lead)
