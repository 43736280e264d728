"""Every class of refusal, each with its stable reason code; a refused command changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.domain.commands import ExpireDeadline, Finish, SubmitDemand, UploadContract
from shared.domain.engine import Applied, Reason, Refused, decide, open_delivery, refusal_entry
from shared.domain.files import CONTRACT_MAX_BYTES, FileFacts
from shared.domain.roles import Actor, Role
from shared.domain.states import DeadlineKind, ProcessName, State

from .support import (
    ADMIN,
    BOGUS_DEADLINE_ID,
    CONTACT,
    CONTRACT_ID,
    CUSTOMER,
    DELIVERABLE_ID,
    ISV,
    MARKETPLACE,
    OTHER_CUSTOMER,
    OTHER_ISV,
    POLICY,
    SPEC_ID,
    SYSTEM,
    T0,
    Walker,
    active_deadline,
    open_for,
    sample_command,
)

UNKNOWN_ID = "f" * 32


def test_wrong_role() -> None:
    walker = Walker.at("basic", State.IN_DELIVERY)
    refused = walker.refuse(Finish(), CUSTOMER)
    assert refused.code == Reason.ROLE_NOT_ALLOWED
    assert "isv" in refused.message
    # A role that never sends this command, in a state where nobody may send it, still hears "role".
    assert (
        walker.refuse(sample_command("confirm", walker.delivery), ISV).code
        == Reason.ROLE_NOT_ALLOWED
    )


def test_not_a_party() -> None:
    walker = Walker.at("basic", State.AWAITING_CONFIRMATION)
    refused = walker.refuse(sample_command("confirm", walker.delivery), OTHER_CUSTOMER)
    assert refused.code == Reason.NOT_A_PARTY
    assert OTHER_CUSTOMER.id in refused.message
    assert (
        walker.refuse(sample_command("open_dispute", walker.delivery), OTHER_ISV).code
        == Reason.NOT_A_PARTY
    )
    # The customer's id in the ISV's role is not the ISV.
    impostor = Actor(id=CUSTOMER.id, role=Role.ISV)
    assert (
        walker.refuse(sample_command("open_dispute", walker.delivery), impostor).code
        == Reason.NOT_A_PARTY
    )


def test_wrong_state() -> None:
    walker = Walker("basic")
    refused = walker.refuse(sample_command("confirm", walker.delivery), CUSTOMER)
    assert refused.code == Reason.WRONG_STATE
    assert "awaiting_demand" in refused.message


def test_not_in_process() -> None:
    walker = Walker.at("basic", State.IN_DELIVERY)
    refused = walker.refuse(UploadContract(attachment=CONTRACT_ID), ISV)
    assert refused.code == Reason.NOT_IN_PROCESS
    assert "basic" in refused.message
    for process in ("basic", "contract", "stepwise"):
        walker = Walker(process)
        refused = walker.refuse(sample_command("confirm_warranty", walker.delivery), CUSTOMER)
        assert refused.code == Reason.NOT_IN_PROCESS


def test_no_open_dispute() -> None:
    walker = Walker.at("contract", State.AWAITING_CONTRACT)
    assert (
        walker.refuse(sample_command("resolve_dispute", walker.delivery), ADMIN).code
        == Reason.NO_OPEN_DISPUTE
    )
    walker.apply(sample_command("open_dispute", walker.delivery), CUSTOMER)
    walker.apply(sample_command("resolve_dispute", walker.delivery), ADMIN)
    refused = walker.refuse(sample_command("resolve_dispute", walker.delivery), ADMIN)
    assert refused.code == Reason.NO_OPEN_DISPUTE
    # A resolved dispute does not stop a new one.
    walker.apply(sample_command("open_dispute", walker.delivery), ISV)
    assert walker.delivery.dispute is not None and walker.delivery.dispute.opened_by == ISV


def test_deadline_not_active() -> None:
    walker = Walker.at("basic", State.AWAITING_CONFIRMATION)
    assert (
        walker.refuse(ExpireDeadline(deadline_id=BOGUS_DEADLINE_ID), SYSTEM).code
        == Reason.DEADLINE_NOT_ACTIVE
    )
    reminder = active_deadline(walker.delivery, DeadlineKind.REMINDER)
    assert reminder is not None
    walker.apply(ExpireDeadline(deadline_id=reminder.deadline_id), SYSTEM)
    refused = walker.refuse(ExpireDeadline(deadline_id=reminder.deadline_id), SYSTEM)
    assert refused.code == Reason.DEADLINE_NOT_ACTIVE, "a deadline fires once"
    assert reminder.deadline_id in refused.message
    # No deadline at all in this state.
    early = Walker("basic")
    assert (
        early.refuse(ExpireDeadline(deadline_id=reminder.deadline_id), SYSTEM).code
        == Reason.DEADLINE_NOT_ACTIVE
    )


@pytest.mark.parametrize("actor", [CUSTOMER, ISV, ADMIN, MARKETPLACE])
@pytest.mark.parametrize("state", [State.AWAITING_DEMAND, State.AWAITING_CONFIRMATION])
def test_only_the_clock_expires_deadlines_whatever_the_id(actor: Actor, state: State) -> None:
    """The role is judged before the deadline: the code does not depend on the id being valid."""
    walker = Walker.at("basic", state)
    ids = [BOGUS_DEADLINE_ID, *(d.deadline_id for d in walker.delivery.deadlines)]
    for deadline_id in ids:
        refused = walker.refuse(ExpireDeadline(deadline_id=deadline_id), actor)
        assert refused.code == Reason.ROLE_NOT_ALLOWED, (deadline_id, refused)


def test_unknown_attachment() -> None:
    walker = Walker("basic")
    demand = SubmitDemand(contact=CONTACT, demands="x", attachments=[SPEC_ID, UNKNOWN_ID])
    refused = walker.refuse(demand, CUSTOMER)
    assert refused.code == Reason.UNKNOWN_ATTACHMENT and UNKNOWN_ID in refused.message
    # Uploaded, but to another delivery.
    elsewhere = open_for("basic", order_id="order-2")
    walker.files[UNKNOWN_ID] = FileFacts(UNKNOWN_ID, elsewhere.delivery_id, "a.pdf", 10, "pdf")
    assert walker.refuse(demand, CUSTOMER).code == Reason.UNKNOWN_ATTACHMENT
    walker.apply(demand.model_copy(update={"attachments": [SPEC_ID]}), CUSTOMER)
    assert walker.delivery.attachments == [SPEC_ID]
    assert walker.refuse(Finish(attachments=[UNKNOWN_ID]), ISV).code == Reason.UNKNOWN_ATTACHMENT
    # Without the files map at all.
    decision = decide(
        walker.delivery,
        Finish(attachments=[SPEC_ID]),
        ISV,
        command_id="x",
        now=walker.now,
        policy=POLICY,
    )
    assert isinstance(decision, Refused) and decision.code == Reason.UNKNOWN_ATTACHMENT

    contract = Walker.at("contract", State.AWAITING_CONTRACT)
    refused = contract.refuse(UploadContract(attachment=UNKNOWN_ID), ISV)
    assert refused.code == Reason.UNKNOWN_ATTACHMENT


@pytest.mark.parametrize(
    ("filename", "size", "detected", "words"),
    [
        ("contract.pdf", CONTRACT_MAX_BYTES + 1, "pdf", "5 MB"),
        ("contract.xls", 1000, "xls", "DOC, DOCX, XLSX, PPT, PPTX, PDF, PNG, ZIP or 7z"),
        ("contract.txt", 1000, None, "of no known type"),
        ("contract.docx", 1000, "pdf", "name and content must agree"),
    ],
)
def test_invalid_contract_file(filename: str, size: int, detected: str | None, words: str) -> None:
    walker = Walker.at("contract", State.AWAITING_CONTRACT)
    walker.files[CONTRACT_ID] = FileFacts(
        CONTRACT_ID, walker.delivery.delivery_id, filename, size, detected
    )
    refused = walker.refuse(UploadContract(attachment=CONTRACT_ID), ISV)
    assert refused.code == Reason.INVALID_CONTRACT_FILE
    assert words in refused.message


@pytest.mark.parametrize(
    "detected", ["doc", "docx", "xlsx", "ppt", "pptx", "pdf", "png", "zip", "7z"]
)
def test_valid_contract_file_is_kept(detected: str) -> None:
    walker = Walker.at("contract", State.AWAITING_CONTRACT)
    walker.files[CONTRACT_ID] = FileFacts(
        CONTRACT_ID,
        walker.delivery.delivery_id,
        f"contract.{detected}",
        CONTRACT_MAX_BYTES,
        detected,
    )
    applied = walker.apply(UploadContract(attachment=CONTRACT_ID), ISV)
    assert applied.delivery.contract == CONTRACT_ID
    assert applied.delivery.state == State.IN_DELIVERY


def test_opening_a_delivery() -> None:
    from shared.domain.commands import OpenDelivery

    fields = dict(
        order_id="o-7",
        order_spec="spec",
        product_id="p",
        isv_id=ISV.id,
        customer_id=CUSTOMER.id,
        customer_email="A@Example.com",
        isv_email="isv@example.com",
        process=ProcessName.DOUBLE_CHECK,
    )
    no_warranty = OpenDelivery(**fields)
    refused = open_delivery(no_warranty, MARKETPLACE, command_id="c1", now=T0)
    assert isinstance(refused, Refused) and refused.code == Reason.WARRANTY_PERIOD_REQUIRED
    with_warranty = OpenDelivery(**fields, warranty_period="P30D")
    for actor in (CUSTOMER, ISV, SYSTEM, OTHER_CUSTOMER):
        refused = open_delivery(with_warranty, actor, command_id="c1", now=T0)
        assert isinstance(refused, Refused) and refused.code == Reason.ROLE_NOT_ALLOWED
    for actor in (MARKETPLACE, ADMIN):
        applied = open_delivery(with_warranty, actor, command_id="c1", now=T0)
        assert isinstance(applied, Applied)
        delivery = applied.delivery
        assert delivery.state == State.AWAITING_DEMAND and delivery.version == 1
        assert delivery.warranty_period_seconds == 30 * 24 * 3600
        assert delivery.customer_email == "a@example.com"
        (entry,) = delivery.history
        assert (entry.from_state, entry.to_state, entry.actor) == (
            None,
            State.AWAITING_DEMAND,
            actor,
        )
        (event,) = applied.events
        assert event.type == "delivery_opened" and event.from_state is None
    again = open_delivery(with_warranty, MARKETPLACE, command_id="c2", now=T0 + timedelta(days=1))
    assert isinstance(again, Applied) and again.delivery.delivery_id == delivery.delivery_id
    refused = decide(delivery, with_warranty, MARKETPLACE, command_id="c3", now=T0, policy=POLICY)
    assert isinstance(refused, Refused) and refused.code == Reason.ALREADY_OPEN


def test_refusal_entry_records_why() -> None:
    walker = Walker("basic")
    command = sample_command("finish", walker.delivery)
    refused = walker.refuse(command, ISV)
    entry = refusal_entry(walker.delivery, command, ISV, refused, command_id="r-1", now=walker.now)
    assert (entry.command_id, entry.command, entry.actor) == ("r-1", "finish", ISV)
    assert (entry.state, entry.code, entry.message) == (
        State.AWAITING_DEMAND,
        "wrong_state",
        refused.message,
    )


def test_attachments_are_listed_once() -> None:
    walker = Walker("basic")
    walker.apply(
        SubmitDemand(contact=CONTACT, demands="x", attachments=[SPEC_ID, SPEC_ID]), CUSTOMER
    )
    assert walker.delivery.attachments == [SPEC_ID]
    walker.apply(Finish(attachments=[DELIVERABLE_ID, SPEC_ID, DELIVERABLE_ID]), ISV)
    assert walker.delivery.attachments == [SPEC_ID, DELIVERABLE_ID]
