"""Render an event for one recipient: subject, plain text and HTML, from template files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from services.notifier.rules import Recipient
from shared.domain.events import Event
from shared.domain.roles import Role

#: What happened, in words, per event type.
HEADLINES: dict[str, str] = {
    "delivery_opened": "A new delivery has been opened",
    "demand_submitted": "The customer has submitted the demands",
    "contract_uploaded": "The ISV has uploaded the contract",
    "stage_finished": "The ISV has finished a step",
    "stage_confirmed": "The customer has confirmed a step",
    "changes_requested": "The customer has asked for changes",
    "warranty_service_requested": "The customer has asked for warranty service",
    "warranty_confirmed": "The customer has confirmed the warranty",
    "dispute_opened": "A dispute has been opened",
    "dispute_resolved": "The dispute has been resolved",
    "delivery_terminated": "The delivery has been terminated",
    "auto_confirmed": "The delivery was confirmed automatically",
    "confirmation_reminder": "Reminder: the delivery will be confirmed automatically",
    "warranty_expired": "The warranty period has ended",
}

#: What the acting party is asked to do, per (role, state they must act in).
ACTIONS: dict[tuple[Role, str], str] = {
    (Role.CUSTOMER, "awaiting_demand"): "Please submit your demands and contact details.",
    (Role.ISV, "awaiting_contract"): "Please upload the contract.",
    (Role.ISV, "in_delivery"): "Please deliver the service and press Finish.",
    (Role.ISV, "functional_design"): "Please submit the functional design.",
    (
        Role.CUSTOMER,
        "confirm_functional_design",
    ): "Please confirm the functional design or ask for changes.",
    (Role.ISV, "ued"): "Please submit the UED (user experience design).",
    (Role.CUSTOMER, "confirm_ued"): "Please confirm the UED or ask for changes.",
    (Role.ISV, "development_testing"): "Please finish development and testing.",
    (
        Role.CUSTOMER,
        "inspection_acceptance",
    ): "Please inspect the result and accept it or ask for changes.",
    (Role.CUSTOMER, "awaiting_confirmation"): "Please confirm the delivery or ask for changes.",
    (
        Role.CUSTOMER,
        "in_warranty",
    ): "The service is under warranty; confirm when you are satisfied.",
    (Role.ADMIN, "dispute"): "Please review the dispute and resolve it.",
}

_env = Environment(
    loader=PackageLoader("services.notifier", "templates"),
    autoescape=select_autoescape(["html", "j2"], default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def _action(event: Event, recipient: Recipient) -> str | None:
    if not recipient.must_act:
        return None
    state = "dispute" if recipient.role == Role.ADMIN else event.to_state.value
    return ACTIONS.get((recipient.role, state))


def render(event: Event, recipient: Recipient, *, public_url: str, now: datetime) -> RenderedEmail:
    summary = event.delivery
    deadlines = [
        {
            "kind": d.kind.value.replace("_", " "),
            "due_at": d.due_at.strftime("%d %b %Y %H:%M UTC"),
            "in_days": max(0, (d.due_at - now).days),
        }
        for d in summary.deadlines
        if d.due_at is not None
    ]
    context = {
        "event": event,
        "summary": summary,
        "headline": HEADLINES[event.type],
        "action": _action(event, recipient),
        "deadlines": deadlines,
        "link": f"{public_url.rstrip('/')}/v1/deliveries/{summary.delivery_id}",
        "recipient": recipient,
    }
    subject = f"[Delivery {summary.delivery_id[:8]}] {HEADLINES[event.type]}"
    text = _env.get_template("email.txt.j2").render(context)
    html = _env.get_template("email.html.j2").render(context)
    return RenderedEmail(subject=subject, text=text, html=html)
