"""Stepwise: changes go back to their stage; stages keep each deliverable and its reviews."""

from __future__ import annotations

import pytest

from shared.domain.commands import Confirm, Finish, RequestChanges
from shared.domain.processes import PROCESSES
from shared.domain.states import State

from .support import CUSTOMER, DELIVERABLE_ID, ISV, Walker

S = State
BACK_TO = {
    S.CONFIRM_FUNCTIONAL_DESIGN: S.FUNCTIONAL_DESIGN,
    S.CONFIRM_UED: S.UED,
    S.INSPECTION_ACCEPTANCE: S.DEVELOPMENT_TESTING,
    S.AWAITING_CONFIRMATION: S.DEVELOPMENT_TESTING,
}
#: Where request_changes in each process's final confirmation goes: the ISV's last step.
LAST_STEP = {
    "basic": S.IN_DELIVERY,
    "double_check": S.IN_DELIVERY,
    "contract": S.IN_DELIVERY,
    "stepwise": S.DEVELOPMENT_TESTING,
}


@pytest.mark.parametrize("state", list(BACK_TO), ids=str)
def test_request_changes_sends_it_back_to_its_stage(state: State) -> None:
    walker = Walker.at("stepwise", state)
    stages = len(walker.delivery.stages)
    applied = walker.apply(RequestChanges(reason="  more contrast please  "), CUSTOMER)
    assert walker.delivery.state == BACK_TO[state]
    assert len(walker.delivery.stages) == stages, "a request for changes adds no deliverable"
    review = walker.delivery.stages[-1].reviews[-1]
    assert (review.outcome, review.by, review.reason) == (
        "changes_requested",
        CUSTOMER,
        "more contrast please",
    )
    assert applied.events[0].type == "changes_requested"
    assert applied.events[0].data == {"reason": "more contrast please"}
    assert walker.delivery.history[-1].details == {"reason": "more contrast please"}
    # The ISV delivers again and the customer is asked again.
    walker.apply(Finish(note="second try"), ISV)
    expected_again = state if state != S.AWAITING_CONFIRMATION else S.INSPECTION_ACCEPTANCE
    assert walker.delivery.state == expected_again
    assert walker.delivery.stages[-1].note == "second try"
    assert walker.delivery.stages[-1].reviews == []


@pytest.mark.parametrize("process", sorted(LAST_STEP))
def test_changes_at_the_final_confirmation_return_to_the_isvs_last_step(process: str) -> None:
    walker = Walker.at(process, S.AWAITING_CONFIRMATION)
    walker.apply(RequestChanges(reason="not yet"), CUSTOMER)
    assert walker.delivery.state == LAST_STEP[process]
    assert PROCESSES[process].rows_from(walker.delivery.state)[0].command == "finish"


def test_every_stage_records_its_deliverable_and_reviews() -> None:
    walker = Walker("stepwise")
    walker.run("submit_demand")
    plan = [
        ("finish", S.FUNCTIONAL_DESIGN),
        ("request_changes", None),
        ("finish", S.FUNCTIONAL_DESIGN),
        ("confirm", None),
        ("finish", S.UED),
        ("confirm", None),
        ("finish", S.DEVELOPMENT_TESTING),
        ("request_changes", None),
        ("finish", S.DEVELOPMENT_TESTING),
        ("confirm", None),
        ("request_changes", None),  # at awaiting_confirmation
        ("finish", S.DEVELOPMENT_TESTING),
        ("confirm", None),  # inspection_acceptance
        ("confirm", None),  # awaiting_confirmation
    ]
    finished_at = []
    for kind, stage in plan:
        if kind == "finish":
            assert walker.delivery.state == stage
            walker.apply(
                Finish(note=f"{stage} v{len(finished_at) + 1}", attachments=[DELIVERABLE_ID]), ISV
            )
            finished_at.append(walker.now)
        elif kind == "confirm":
            walker.apply(Confirm(), CUSTOMER)
        else:
            walker.apply(RequestChanges(reason="again"), CUSTOMER)
    assert walker.delivery.state == S.COMPLETED
    stages = walker.delivery.stages
    assert [s.stage for s in stages] == [stage for kind, stage in plan if kind == "finish"]
    assert [s.finished_at for s in stages] == finished_at
    assert all(s.attachments == [DELIVERABLE_ID] for s in stages)
    assert walker.delivery.attachments.count(DELIVERABLE_ID) == 1
    outcomes = [[r.outcome for r in s.reviews] for s in stages]
    assert outcomes == [
        ["changes_requested"],
        ["confirmed"],
        ["confirmed"],
        ["changes_requested"],
        ["confirmed", "changes_requested"],
        ["confirmed", "confirmed"],
    ]
    visited = [h.to_state for h in walker.delivery.history]
    mandatory = iter(visited)
    assert all(state in mandatory for state in PROCESSES["stepwise"].mandatory)


def test_finish_records_the_note_in_history() -> None:
    walker = Walker.at("stepwise", S.FUNCTIONAL_DESIGN)
    applied = walker.apply(Finish(note="design.pdf attached"), ISV)
    assert walker.delivery.history[-1].details == {"note": "design.pdf attached"}
    assert applied.events[0].type == "stage_finished"
    walker.apply(Confirm(), CUSTOMER)
    walker.apply(Finish(), ISV)
    assert walker.delivery.history[-1].details == {}
    assert walker.delivery.stages[-1].note is None
