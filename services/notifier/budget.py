"""The notifier's time budget, in one place: the sending lease and everything sized by it.

An email's sender claims it (``sending``), and holds the claim for at most ``hold_limit``;
past the ``lease`` a claim with no outcome is presumed dead and taken over. So:

- everything a sender does under its claim (the SMTP conversation, then recording that the
  server accepted the email) runs under one deadline, ``hold_limit``, shorter than the lease:
  a live sender is never taken for dead, and nobody sends its email a second time;
- the SMTP conversation has its own, shorter limit, ``smtp_limit``, so that a slow server
  leaves time to record the outcome;
- dramatiq's time limit for the actor is the lease, longer than any hold;
- a claim held by another sender (``EmailInFlight``) is waited out, not retried: the message
  is put back on the queue, delayed until the lease has run out or for ``claim_poll`` if
  that is sooner (``wait_for_claim``), and keeps its retry count. The retries
  (``max_retries``, doubling backoff) are spent only on failures: SMTP or database errors,
  4xx answers.

Every duration derives from the lease (``DC_SMTP_SENDING_LEASE``, 60 s by default): a
change of one moves the others with it. ``SendingBudget.problems`` names any relation that
does not hold, and a unit test checks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from services.runtime.bootstrap import MAX_BACKOFF_MS, MAX_RETRIES, MIN_BACKOFF_MS

#: RabbitMQ's ``consumer_timeout`` (30 minutes by default): dramatiq holds a delayed message
#: unacknowledged until it is due, so no wait may come near it.
CONSUMER_TIMEOUT = timedelta(minutes=30)
#: Shares of the lease.
HOLD_SHARE = 3 / 4
SMTP_SHARE = 2 / 5
#: Added to the time left on another's lease before looking again: the senders' clocks
#: differ a little.
WAIT_MARGIN_SHARE = 1 / 10
SHORTEST_WAIT_MARGIN = timedelta(seconds=1)
#: Share of the lease after which a claim held by another is looked at again.
CLAIM_POLL_SHARE = 1 / 30
SHORTEST_CLAIM_POLL = timedelta(seconds=1)


@dataclass(frozen=True)
class SendingBudget:
    """The lease and what derives from it; retries and backoff as dramatiq applies them.

    ``lease``: how long a claim protects its sender. ``max_retries``, ``min_backoff``,
    ``max_backoff``: dramatiq's ``Retries`` for failures (not for waiting out a claim).
    """

    lease: timedelta
    max_retries: int = MAX_RETRIES
    min_backoff: timedelta = timedelta(milliseconds=MIN_BACKOFF_MS)
    max_backoff: timedelta = timedelta(milliseconds=MAX_BACKOFF_MS)

    @property
    def hold_limit(self) -> timedelta:
        """The longest a sender holds a claim: from taking it to its outcome recorded."""
        return self.lease * HOLD_SHARE

    @property
    def smtp_limit(self) -> timedelta:
        """The longest one SMTP conversation may take, connecting included."""
        return self.lease * SMTP_SHARE

    @property
    def time_limit(self) -> timedelta:
        """dramatiq's time limit for one run of the actor."""
        return self.lease

    @property
    def wait_margin(self) -> timedelta:
        """Added to the time left on another sender's lease: a tenth of the lease, at least 1 s
        (the senders' clocks differ a little)."""
        return max(SHORTEST_WAIT_MARGIN, self.lease * WAIT_MARGIN_SHARE)

    @property
    def claim_poll(self) -> timedelta:
        """How often a claim held by another sender is looked at again: a live sender usually
        records its outcome within moments, and then the email is seen as sent."""
        return max(SHORTEST_CLAIM_POLL, self.lease * CLAIM_POLL_SHARE)

    def wait_for_claim(self, left: timedelta) -> timedelta:
        """How long to delay a message whose email another sender claimed, ``left`` being the
        time left on that claim's lease by our clock: until the lease has run out (plus a
        margin, the other's clock may run ahead), or ``claim_poll`` if that comes sooner."""
        return min(min(max(left, timedelta(0)), self.lease) + self.wait_margin, self.claim_poll)

    def retry_span(self) -> tuple[timedelta, timedelta]:
        """The shortest and longest time from a first failure to the last retry: the sum of
        dramatiq's jittered backoffs (``dramatiq.common.compute_backoff``: ``min * 2**n``
        times 1 to 2, or 1/2 to 1 times ``max`` above it)."""
        shortest = longest = timedelta(0)
        for attempt in range(self.max_retries):
            base = self.min_backoff * 2**attempt
            if base * 2 <= self.max_backoff:
                shortest, longest = shortest + base, longest + base * 2
            else:
                shortest += min(base, self.max_backoff / 2)
                longest += self.max_backoff
        return shortest, longest

    def problems(self) -> list[str]:
        """Each relation between the durations that does not hold, in words (none: [])."""
        found = []
        if not self.smtp_limit < self.hold_limit < self.lease:
            found.append("the SMTP limit must be shorter than the hold, the hold than the lease")
        if self.hold_limit - self.smtp_limit < self.lease / 4:
            found.append("after the SMTP conversation, a quarter lease must be left to record it")
        if self.time_limit < self.hold_limit:
            found.append("dramatiq's time limit must not cut a sender short within its hold")
        if self.lease + self.wait_margin >= CONSUMER_TIMEOUT:
            found.append("waiting out a lease must end well within RabbitMQ's consumer timeout")
        if self.max_backoff * 2 > CONSUMER_TIMEOUT:
            found.append("a retry's backoff must end well within RabbitMQ's consumer timeout")
        return found
