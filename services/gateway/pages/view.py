"""The delivery page (GET /d/{delivery_id}) and its files' downloads, with what they show."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from babel.support import LazyProxy
from gridfs.errors import NoFile

from services.gateway.attachments import FILE_ANSWER, UNREADABLE, files_by_id, stream_file
from services.gateway.command_status import read_command, sent_by
from services.gateway.context import Gateway, gateway_of
from services.gateway.contracts import documented, parameter
from services.gateway.pages.csrf import csrf_token
from services.gateway.pages.errors import PageError, html_errors, render
from services.gateway.pages.guard import (
    DELIVERY_ID,
    LINK_REFUSALS,
    LINK_TOKEN,
    delivery_for,
    html_answer,
    link_of,
    optional_query,
)
from services.gateway.pages.languages import party_reader, reading_page
from services.gateway.pages.routing import routes
from services.gateway.pages.words import (
    DISPUTE_STATUSES,
    action_view,
    available_actions,
    deadline_words,
    steps_of,
    turn_words,
    who,
)
from services.runtime.collections import ATTACHMENTS
from services.runtime.links import Link, admin_path, file_path, page_path
from shared.domain.delivery import SHOWN_DEADLINE_STATUSES
from shared.domain.ids import is_command_id
from shared.wording import (
    ACTIONS,
    DONE,
    FACT_LABELS,
    NOT_GIVEN,
    PROCESS_LABELS,
    REVIEW_OUTCOMES,
    ROLE_NAMES,
    STATE_LABELS,
    detail,
    label,
    named,
    refusal_words,
    sentence_start,
    size_words,
    when,
)
from shared.wording.reader import _, lazy_gettext

#: A stored file whose type could not be told.
UNKNOWN_TYPE = lazy_gettext("unknown type")

#: How long the page keeps refreshing for a command's outcome before it says so.
PENDING_PATIENCE = timedelta(seconds=60)


@dataclass
class FormState:
    """A form sent back with what was typed and what was wrong."""

    action: str
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


async def outcome_of(
    gateway: Gateway, link: Link, delivery_id: str | None, command_id: str | None, now: datetime
) -> dict[str, Any] | None:
    """The outcome notice of ``command_id`` (sent from this link), or None; ``delivery_id``
    None (the admin list) takes the command's own delivery, named in the notice."""
    if not command_id or not is_command_id(command_id):
        return None
    command = await read_command(gateway.db, command_id)
    if command is None:
        return None
    if delivery_id is None:
        delivery_id = command.known.get("delivery_id")
    if delivery_id is None or command.known.get("delivery_id") != delivery_id:
        return None
    if not sent_by(link.actor, command.sender):
        return None
    known, record, outcome = command.known, command.record, command.outcome
    kind = known["type"]
    # Read when the page is rendered, in its reader's language (chosen after this is read).
    title = LazyProxy(lambda: ACTIONS.get(kind, (kind, ""))[0], enable_cache=False)
    if outcome is None:
        accepted_at = record.get("accepted_at") if record else None
        late = accepted_at is not None and now - accepted_at > PENDING_PATIENCE
        return {
            "status": "pending",
            "title": title,
            "late": late,
            "command_id": command_id,
            "delivery_id": delivery_id,
        }
    return {
        "status": outcome["status"],
        "title": title,
        "reason": outcome.get("reason"),
        "message": outcome.get("message"),
        "words": LazyProxy(
            lambda: refusal_words(outcome.get("reason"), outcome.get("message")),
            enable_cache=False,
        ),
        "command_id": command_id,
        "delivery_id": delivery_id,
    }


def _file_view(record: dict[str, Any] | None, attachment_id: str, delivery_id: str, token: str):
    if record is None:
        return {"name": attachment_id, "href": None, "size": "", "type": "", "by": None}
    return {
        "name": record["filename"],
        "href": file_path(delivery_id, attachment_id, token),
        "size": size_words(record["size"]),
        "type": record.get("detected_type") or UNKNOWN_TYPE,
        "by": label(ROLE_NAMES, (record.get("uploaded_by") or {}).get("role")),
    }


async def page_context(
    request: web.Request,
    link: Link,
    token: str,
    document: dict[str, Any],
    *,
    form: FormState | None = None,
    outcome: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What ``delivery.html`` shows: the delivery as its viewer reads it (the seed's left part
    of the page: facts, steps, deadlines, files, stages, dispute, history, refusals) and the
    actions the viewer may take now, each with its form.

    Parameters:
      request(web.Request): The page's request; ``?action=`` puts that action's form first.
      link(Link): The checked link (``guard.link_of``): the viewer's role and party.
      token(str): The link token, carried by every link and form of the page.
      document(dict): The stored delivery (``guard.delivery_for``).
      form(FormState | None): A form sent back with its values and errors, shown first.
      outcome(dict | None): A command's outcome notice (:func:`outcome_of`).

    Returns:
      dict: The template's context; times are words in UTC (``shared.wording.when``).
    """
    gateway = gateway_of(request)
    now = datetime.now(UTC)
    delivery_id = document["_id"]
    role = link.role
    stage_files = [a for s in document.get("stages", []) for a in s.get("attachments", [])]
    ids = list(dict.fromkeys(document.get("attachments", []) + stage_files))
    if document.get("contract"):
        ids.append(document["contract"])
    files = await files_by_id(gateway.db, ids)

    def file(attachment_id: str) -> dict[str, Any]:
        return _file_view(files.get(attachment_id), attachment_id, delivery_id, token)

    wanted = request.query.get("action")
    actions = available_actions(document, role)
    if form is not None:
        wanted = form.action
    # The action the link asked for comes first and is ready to use.
    if wanted in actions:
        actions = [wanted] + [a for a in actions if a != wanted]
    unavailable = None
    if wanted and wanted not in actions:
        asked = ACTIONS[wanted].title.lower() if wanted in ACTIONS else None
        unavailable = (
            _(
                "The link asked you to {action}, which is not possible now: the delivery is at "
                "“{state}”."
            ).format(action=asked, state=label(STATE_LABELS, document["state"]))
            if asked
            else _("The link asked for an action that does not exist.")
        )
    turn, my_turn = turn_words(document, role)
    contact = document.get("contact") or {}
    csrf = csrf_token(gateway.settings, token, delivery_id)
    deadlines = [
        {"kind": d["kind"], "text": deadline_words(d, role, now), "due_at": d.get("due_at")}
        for d in document.get("deadlines", [])
        if d.get("status") in SHOWN_DEADLINE_STATUSES
    ]
    history = [
        {
            "at": when(h["at"]),
            "iso": h["at"].isoformat(),
            "who": who(h.get("actor"), link),
            "did": DONE.get(h["command"], h["command"]),
            "command": h["command"],
            "from": label(STATE_LABELS, h.get("from_state")),
            "to": label(STATE_LABELS, h["to_state"]),
            "details": [detail(k, v) for k, v in (h.get("details") or {}).items()],
        }
        for h in document.get("history", [])
    ]
    refusals = [
        {
            "at": when(r["at"]),
            "who": who(r.get("actor"), link),
            "command": r["command"],
            "message": r["message"],
            "words": refusal_words(r["code"], r["message"]),
            "code": r["code"],
        }
        for r in document.get("refusals", [])
    ]
    stages = [
        {
            "label": label(STATE_LABELS, s["stage"]),
            "note": s.get("note"),
            "at": when(s["finished_at"]),
            "files": [file(a) for a in s.get("attachments", [])],
            "reviews": [
                {
                    "outcome": sentence_start(label(REVIEW_OUTCOMES, r["outcome"])),
                    "who": who(r.get("by"), link),
                    "at": when(r["at"]),
                    "reason": r.get("reason"),
                }
                for r in s.get("reviews", [])
            ],
        }
        for s in document.get("stages", [])
    ]
    dispute = document.get("dispute")
    return {
        "title": _("Delivery {order}").format(order=document["order_id"]),
        "delivery": document,
        "delivery_id": delivery_id,
        "viewer": {
            "role": role.value,
            "label": ROLE_NAMES[role],
            "party": link.party_id,
            "admin": link.is_admin,
        },
        "process_label": label(PROCESS_LABELS, document["process"]),
        "state_label": label(STATE_LABELS, document["state"]),
        # (key, name, value): the template finds a fact by its key, whatever its name reads.
        "facts": [
            (key, FACT_LABELS[key], value)
            for key, value in (
                ("customer_name", contact.get("name") or str(NOT_GIVEN)),
                ("phone", contact.get("phone") or str(NOT_GIVEN)),
                ("email", contact.get("email") or str(NOT_GIVEN)),
                ("order_id", document["order_id"]),
                ("order_spec", document["order_spec"]),
                ("delivery_id", delivery_id),
                ("product_id", document["product_id"]),
                ("process", label(PROCESS_LABELS, document["process"])),
                ("state", named(STATE_LABELS, document["state"])),
                ("customer_id", document["customer_id"]),
                ("isv_id", document["isv_id"]),
                ("version", str(document["version"])),
            )
        ],
        "steps": steps_of(document),
        "turn": turn,
        "my_turn": my_turn,
        "deadlines": deadlines,
        "demands": document.get("demands"),
        "attachments": [file(a) for a in document.get("attachments", [])],
        "contract": file(document["contract"]) if document.get("contract") else None,
        "stages": stages,
        "warranty_requests": [
            {"at": when(w["at"]), "description": w["description"]}
            for w in document.get("warranty_requests", [])
        ],
        "dispute": dispute
        and {
            "status": dispute["status"],
            "status_label": label(DISPUTE_STATUSES, dispute["status"]),
            "opened_by": who(dispute.get("opened_by"), link),
            "reason": dispute["reason"],
            "opened_at": when(dispute["opened_at"]),
            "outcome": dispute.get("outcome") and detail("outcome", dispute["outcome"])[1],
            "note": dispute.get("note"),
        },
        "history": history,
        "refusals": refusals,
        "actions": [action_view(a) for a in actions],
        "wanted": wanted if wanted in actions else None,
        "unavailable": unavailable,
        "form": form or FormState(action=""),
        "token": token,
        "csrf": csrf,
        "outcome": outcome,
        "refresh": outcome is not None and outcome["status"] == "pending" and not outcome["late"],
        "page_href": page_path(delivery_id, token),
        "admin_href": admin_path(token) if link.is_admin else None,
        "max_upload": size_words(gateway.settings.max_attachment_bytes),
    }


@routes.get("/d/{delivery_id}")
@documented(
    "A delivery's page, as the link's party; never changes anything",
    public=True,
    parameters=(
        DELIVERY_ID,
        LINK_TOKEN,
        optional_query("action", "the action whose form is made ready"),
        optional_query("command", "a command sent from the page: its outcome"),
    ),
    responses={200: html_answer("the page"), 404: html_answer("no such delivery"), **LINK_REFUSALS},
)
@html_errors
async def delivery_page(request: web.Request) -> web.Response:
    """GET /d/{delivery_id}?t=, the link's party (customer, ISV, admin): the delivery's page,
    with the outcome of ``?command=`` at its top if this link sent it; changes nothing.
    Refusals are pages: 403 for a bad link, 404 for no such delivery, 429 over the limit."""
    delivery_id = request.match_info["delivery_id"]
    token = request.query.get("t", "")
    link = link_of(request, token, delivery_id)
    gateway = gateway_of(request)
    # The outcome first: a delivery read after it is at least as new as the outcome it shows.
    outcome = await outcome_of(
        gateway, link, delivery_id, request.query.get("command"), datetime.now(UTC)
    )
    document = await delivery_for(gateway, link, delivery_id)
    with reading_page(*party_reader(request, gateway.settings, link.role.value, document)):
        context = await page_context(request, link, token, document, outcome=outcome)
        return render("delivery.html", **context)


@routes.get("/d/{delivery_id}/files/{attachment_id}")
@documented(
    "Download a file of the delivery with the link token",
    public=True,
    parameters=(DELIVERY_ID, parameter("attachment_id", "path", "the file"), LINK_TOKEN),
    responses={
        200: FILE_ANSWER,
        404: html_answer("no such file in this delivery"),
        500: html_answer(UNREADABLE),
        **LINK_REFUSALS,
    },
)
@html_errors
async def delivery_file(request: web.Request) -> web.StreamResponse:
    """GET /d/{delivery_id}/files/{attachment_id}?t=, the link's party: the file's bytes as the
    API sends them (``attachments.stream_file``), never cached; 404 page for a file that is
    not the delivery's or whose content is missing."""
    delivery_id = request.match_info["delivery_id"]
    attachment_id = request.match_info["attachment_id"]
    link = link_of(request, request.query.get("t", ""), delivery_id)
    gateway = gateway_of(request)
    await delivery_for(gateway, link, delivery_id)
    record = await gateway.db[ATTACHMENTS].find_one({"_id": attachment_id})
    if record is None or record.get("delivery_id") != delivery_id:
        raise PageError(404, _("No such file"), _("This delivery has no such file."))
    try:
        return await stream_file(
            request,
            gateway.db,
            record,
            **{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"},
        )
    except NoFile as error:
        raise PageError(404, _("No such file"), _("This file's content is missing.")) from error
