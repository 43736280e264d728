"""The workflow's command series: each recorded outcome is counted by status and timed from
the command's ``issued_at`` (the gateway's 202), for the dashboard's "applied and refused
per second" and "202 to decided" panels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import REGISTRY

from services.workflow.apply import CommandApplier
from shared.contracts.messages import CommandEnvelope
from shared.domain.commands import Confirm
from tests.unit.support import CUSTOMER, POLICY

ISSUED = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class _Outcomes:
    async def record_outcome(self, command_id: str, **fields: Any) -> None:
        self.last = (command_id, fields["status"])


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def test_each_outcome_is_counted_by_status_and_timed_from_issued_at():
    store = _Outcomes()
    applier = CommandApplier(
        store,
        relay=None,
        attachments=None,
        policy=POLICY,  # type: ignore[arg-type]
        clock=lambda: ISSUED + timedelta(seconds=0.3),
    )
    envelope = CommandEnvelope(
        command_id="cmd-1",
        delivery_id="d" * 32,
        actor=CUSTOMER,
        issued_at=ISSUED,
        command=Confirm(),
    )
    before = {
        status: _sample("dc_commands_decided_total", {"status": status})
        for status in ("applied", "rejected")
    }
    within = _sample("dc_command_decided_seconds_bucket", {"le": "0.5"})
    below = _sample("dc_command_decided_seconds_bucket", {"le": "0.25"})
    count = _sample("dc_command_decided_seconds_count")

    outcomes = iter([("rejected", "not_allowed", "no"), ("applied", None, None)])

    async def decided(_: CommandEnvelope) -> tuple[str, str | None, str | None]:
        return next(outcomes)

    applier._decide_and_write = decided  # type: ignore[method-assign]
    assert await applier.apply(envelope) == "rejected"
    assert await applier.apply(envelope) == "applied"

    for status in ("applied", "rejected"):
        assert _sample("dc_commands_decided_total", {"status": status}) == before[status] + 1
    assert _sample("dc_command_decided_seconds_count") == count + 2
    assert _sample("dc_command_decided_seconds_bucket", {"le": "0.5"}) == within + 2
    assert _sample("dc_command_decided_seconds_bucket", {"le": "0.25"}) == below
