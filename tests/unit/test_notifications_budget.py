"""The notifier's time budget: the lease, the limits sized by it, and dramatiq's retries, kept
consistent; and an email another sender holds is waited out without spending a retry."""

from __future__ import annotations

import random
from datetime import timedelta

import dramatiq.common
import pytest
from dramatiq import Worker
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import compute_backoff
from dramatiq.middleware import AsyncIO, CurrentMessage, Middleware, Retries
from hypothesis import given
from hypothesis import strategies as st

from services.notifier.budget import CONSUMER_TIMEOUT, SendingBudget
from services.notifier.main import register
from services.notifier.sending import Notifier, email_key
from services.runtime import bootstrap
from services.runtime.bootstrap import utc_now
from shared.config import Settings
from shared.contracts.queues import NOTIFICATIONS_QUEUE
from tests.unit.test_notifications_sending import (
    ADMIN_EMAIL,
    CUSTOMER_EMAIL,
    FINISHED,
    ISV_EMAIL,
    FakeCollection,
    Server,
)

#: The longest lease the setting takes (DC_SMTP_SENDING_LEASE is at most 20 minutes).
LONGEST_LEASE = 20 * 60


def _ms(duration: timedelta) -> int:
    return int(duration.total_seconds() * 1000)


def test_the_default_budget_holds_together():
    budget = SendingBudget(Settings().smtp_sending_lease)
    assert budget.lease == timedelta(seconds=60)
    assert budget.problems() == []
    assert budget.smtp_limit < budget.hold_limit < budget.lease <= budget.time_limit
    # What the retries add (the 49–89 s): no longer related to the lease, because
    # waiting out a claim spends none of them.
    shortest, longest = budget.retry_span()
    assert timedelta(seconds=45) < shortest < longest < timedelta(seconds=95)


@given(st.integers(min_value=1, max_value=LONGEST_LEASE))
def test_every_lease_the_setting_takes_keeps_the_budget_consistent(seconds: int):
    budget = SendingBudget(timedelta(seconds=seconds))
    assert budget.problems() == []
    # Another's claim is looked at again every claim_poll (a live sender is soon done), and
    # once its lease has run out, after the margin the other's clock may need.
    for left in (budget.lease, timedelta(days=1), timedelta(seconds=seconds / 2)):
        assert budget.wait_for_claim(left) == min(
            min(left, budget.lease) + budget.wait_margin, budget.claim_poll
        )
    assert budget.wait_for_claim(-budget.lease) == min(budget.wait_margin, budget.claim_poll)
    assert timedelta(seconds=1) <= budget.claim_poll <= max(budget.lease, timedelta(seconds=1))
    assert budget.lease + budget.wait_margin < CONSUMER_TIMEOUT


def test_a_claim_is_looked_at_again_within_seconds_not_after_the_whole_lease():
    """The default lease is a minute; a duplicate of an event whose email is being sent right
    now learns within two seconds that it went out."""
    budget = SendingBudget(Settings().smtp_sending_lease)
    assert budget.wait_for_claim(budget.lease - timedelta(seconds=1)) == timedelta(seconds=2)
    assert budget.wait_for_claim(timedelta(milliseconds=300)) == timedelta(seconds=2)


def test_a_budget_out_of_its_relations_is_refused():
    assert SendingBudget(timedelta(minutes=40)).problems()  # past RabbitMQ's consumer timeout
    long_backoff = SendingBudget(timedelta(seconds=60), max_backoff=timedelta(hours=1))
    assert long_backoff.problems()
    with pytest.raises(ValueError, match="DC_SMTP_SENDING_LEASE"):
        register(
            StubBroker(middleware=[]),
            Settings().model_copy(update={"smtp_sending_lease": timedelta(minutes=40)}),
        )


def test_the_budget_is_what_the_broker_and_the_actor_apply():
    """One place: the actor's options are the budget's, and its retries are the broker's."""
    budget = SendingBudget(timedelta(seconds=60))
    assert budget.max_retries == bootstrap.MAX_RETRIES
    assert _ms(budget.min_backoff) == bootstrap.MIN_BACKOFF_MS
    assert _ms(budget.max_backoff) == bootstrap.MAX_BACKOFF_MS
    actor = register(StubBroker(middleware=[]), Settings())
    assert actor.options["time_limit"] == _ms(budget.time_limit)
    assert actor.options["max_retries"] == budget.max_retries
    assert actor.options["min_backoff"] == _ms(budget.min_backoff)
    assert actor.options["max_backoff"] == _ms(budget.max_backoff)


def test_the_retry_span_is_dramatiqs_backoff(monkeypatch):
    budget = SendingBudget(timedelta(seconds=60))
    shortest, longest = budget.retry_span()
    monkeypatch.setattr(dramatiq.common, "uniform", random.Random(7).uniform)
    totals = [
        sum(
            compute_backoff(
                attempt, factor=_ms(budget.min_backoff), max_backoff=_ms(budget.max_backoff)
            )[1]
            for attempt in range(budget.max_retries)
        )
        for _ in range(2000)
    ]
    # int() truncation in dramatiq loses up to 1 ms per retry.
    assert _ms(shortest) - budget.max_retries <= min(totals) <= max(totals) <= _ms(longest)


class RetriesSeen(Middleware):
    """Records each run's retry count and outcome."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, str | None]] = []

    def after_process_message(self, broker, message, *, result=None, exception=None):
        self.runs.append(
            (message.options.get("retries", 0), type(exception).__name__ if exception else None)
        )


def test_an_email_in_flight_is_waited_out_without_spending_a_retry():
    """The issue's crash: a sender claimed an email and died. The message comes back, finds
    the claim fresh, and waits for its lease to run out, without spending a retry; then the
    email is taken over and sent once. With no retries allowed at all it still goes out."""
    seen = RetriesSeen()
    broker = StubBroker(middleware=[CurrentMessage(), AsyncIO(), Retries(max_retries=0), seen])
    settings = Settings(admin_email=ADMIN_EMAIL, smtp_sending_lease=1)
    server, emails = Server(), FakeCollection()
    notifier = Notifier(emails, FakeCollection(), settings, utc_now, transport=server)  # type: ignore[arg-type]
    actor = register(broker, settings, notifier=lambda: notifier)
    actor.options["max_retries"] = 0  # a retry spent on waiting would dead-letter it
    key = email_key(FINISHED.event_id, CUSTOMER_EMAIL)
    # The dead sender's claim, just taken: its lease has a whole second to run.
    emails.docs[f"{key}#1"] = {"_id": f"{key}#1", "status": "sending", "claimed_at": utc_now()}
    worker = Worker(broker, worker_timeout=50)
    worker.start()
    try:
        actor.send(FINISHED.model_dump(mode="json"))
        broker.join(NOTIFICATIONS_QUEUE, timeout=30_000)
        worker.join()
    finally:
        worker.stop()
    assert broker.dead_letters == []
    assert [to for to, _ in server.delivered].count(CUSTOMER_EMAIL) == 1
    assert [to for to, _ in server.delivered].count(ISV_EMAIL) == 1
    assert f"{key}#2" in emails.docs  # taken over after the lease
    # Two runs: the first waited (ended well, put back), the second sent; no retry spent.
    assert seen.runs == [(0, None), (0, None)]
