"""The delivery page and the admin list: server-rendered HTML opened by signed links.

Every page is opened with a link token (``?t=``, see ``links.py``). A GET only shows; every
press is a POST with the link token and a CSRF token derived from it, and goes through the same
command path as the JSON API: the command is validated with its pydantic model and handed to
``publishing.accept`` with the link's party as actor; the browser is then sent (303) to the page,
which shows the command as pending until its outcome is recorded, then applied or refused.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import hdrs, web
from gridfs.errors import NoFile
from jinja2 import Environment, PackageLoader, StrictUndefined
from pydantic import ValidationError

from services.gateway.attachments import store_file as keep_attachment
from services.gateway.attachments import stream_file
from services.gateway.context import Gateway, gateway_of, is_party
from services.gateway.errors import HttpError, handle_or_abort, reason_of
from services.gateway.filenames import DispositionError, form_data_field
from services.gateway.form_files import form_files
from services.gateway.publishing import accept, command_id_for
from services.gateway.requests import MALFORMED_FORM, fingerprint, form_expect, read_form
from services.runtime.bootstrap import is_transient_db_error
from services.runtime.collections import (
    ATTACHMENTS,
    COMMAND_OUTCOMES,
    COMMANDS,
    DELIVERIES,
    DELIVERY_DAYS,
)
from services.runtime.delivery_days import newest_first, without_day_fields
from services.runtime.links import (
    Link,
    LinkError,
    csrf_ok,
    csrf_token,
    page_path,
    read_link,
)
from shared import wording
from shared.contracts.messages import CommandEnvelope
from shared.domain.addresses import AddressPolicy
from shared.domain.commands import COMMAND_MODELS, address_context
from shared.domain.processes import GLOBAL_COMMANDS, PROCESSES, next_actors
from shared.domain.roles import Role
from shared.domain.states import TERMINAL_STATES, ProcessName, State
from shared.wording import (
    ACTIONS,
    DONE,
    PROCESS_LABELS,
    ROLE_NAMES,
    STATE_LABELS,
    TASKS,
    WAITING_FOR,
    duration,
    relative,
    size_words,
    when,
    when_relative,
    your_turn,
)

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

_templates = Environment(
    loader=PackageLoader("services.gateway", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

#: Sent with every page: nothing from elsewhere, no scripts, no framing, no referrer (the
#: link token is in the URL).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
#: Files one form may carry.
MAX_FILES_PER_FORM = 10
#: Deliveries the admin list shows at most.
ADMIN_LIST_LIMIT = 500
#: How long a press waits for its command's outcome before showing it as pending.
OUTCOME_WAIT = timedelta(seconds=1.5)
#: How long the page keeps refreshing for a command's outcome before it says so.
PENDING_PATIENCE = timedelta(seconds=60)
_HEX32 = re.compile(r"^[a-f0-9]{32}$")
_COMMAND_ID = re.compile(r"^[A-Za-z0-9._:@-]{1,200}$")

# --- words (their tables and rules are in shared/wording.py, shared with the emails) ------

#: Form field -> the place in the command its value goes.
FORM_FIELDS: dict[str, tuple[str, ...]] = {
    "contact_name": ("contact", "name"),
    "contact_phone": ("contact", "phone"),
    "contact_email": ("contact", "email"),
    "demands": ("demands",),
    "note": ("note",),
    "reason": ("reason",),
    "description": ("description",),
    "outcome": ("outcome",),
}
_FIELD_OF_LOCATION = {loc: name for name, loc in FORM_FIELDS.items()}
#: Messages in words for the checks whose pydantic wording is technical.
_FIELD_HINTS = {
    "contact_phone": "write a phone number: digits, spaces and + ( ) . / - only, 3 to 40 of them",
    "outcome": "choose whether the delivery continues or is terminated",
}


def deadline_words(deadline: dict[str, Any], role: str, now: datetime) -> str:
    """A deadline document (``kind``, ``status``, ``due_at`` or ``remaining_seconds``) as
    ``role`` reads it: what happens, when, and who can prevent it (``shared.wording``)."""
    paused = deadline.get("status") == "paused" or deadline.get("due_at") is None
    return wording.deadline_words(
        deadline["kind"],
        Role(role),
        now,
        due_at=None if paused else deadline["due_at"],
        remaining=timedelta(seconds=deadline.get("remaining_seconds") or 0),
    ).sentence


def steps_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The process as a row of steps: its mandatory states, then ``completed`` (or
    ``terminated`` where it stopped), each ``done``, ``current`` or ``todo``."""
    process = PROCESSES[ProcessName(document["process"])]
    state = document["state"]
    names = [s.value for s in process.mandatory] + [State.COMPLETED.value]
    reached = {entry.get("to_state") for entry in document.get("history", [])}
    if state == State.TERMINATED:
        steps = [
            {"state": s, "label": STATE_LABELS[s], "status": "done" if s in reached else "todo"}
            for s in names[:-1]
        ]
        return [*steps, {"state": state, "label": STATE_LABELS[state], "status": "current"}]
    current = names.index(state) if state in names else -1
    return [
        {
            "state": s,
            "label": STATE_LABELS[s],
            "status": "current" if i == current else "done" if i < current else "todo",
        }
        for i, s in enumerate(names)
    ]


def dispute_open(document: dict[str, Any]) -> bool:
    dispute = document.get("dispute")
    return bool(dispute and dispute.get("status") == "open")


def available_actions(document: dict[str, Any], role: Role) -> list[str]:
    """What ``role`` may do now, read from the process table (and the global commands)."""
    state = State(document["state"])
    if state in TERMINAL_STATES:
        return []
    if role == Role.ADMIN:
        return (["resolve_dispute"] if dispute_open(document) else []) + ["terminate"]
    if dispute_open(document):
        return []
    process = PROCESSES[ProcessName(document["process"])]
    actions = list(
        dict.fromkeys(row.command for row in process.rows_from(state) if row.role == role)
    )
    if role in GLOBAL_COMMANDS["open_dispute"]:
        actions.append("open_dispute")
    return actions


def action_view(kind: str) -> dict[str, str]:
    """An action's form: its words, and a fresh nonce that makes a form sent twice one
    command."""
    title, button = ACTIONS[kind]
    return {"type": kind, "title": title, "button": button, "nonce": uuid.uuid4().hex}


def sendable(role: Role) -> frozenset[str]:
    """Every command ``role`` could ever send from a page; anything else is refused at once."""
    if role == Role.ADMIN:
        return frozenset({"terminate", "resolve_dispute"})
    from_tables = {
        row.command for process in PROCESSES.values() for row in process.rows if row.role == role
    }
    globals_ = {kind for kind, roles in GLOBAL_COMMANDS.items() if role in roles}
    return frozenset(from_tables | globals_)


def turn_words(document: dict[str, Any], role: Role) -> tuple[str, bool]:
    """What happens now, for this viewer; True when it is the viewer's turn."""
    state = document["state"]
    if state == State.COMPLETED:
        return wording.COMPLETED_NOTE, False
    if state == State.TERMINATED:
        return wording.TERMINATED_NOTE, False
    if dispute_open(document):
        if role == Role.ADMIN:
            return wording.DISPUTE_NOTE, True
        return wording.DISPUTE_WAIT_NOTE, False
    actors = next_actors(PROCESSES[ProcessName(document["process"])], State(state))
    if role in actors:
        return your_turn(TASKS[state]), True
    waiting = wording.OR.join(sorted(ROLE_NAMES[a] for a in actors)) or ROLE_NAMES[Role.SYSTEM]
    return wording.WAITING_NOTE.format(who=waiting, what=WAITING_FOR[state]), False


def who(actor: dict[str, Any] | None, viewer: Link) -> str:
    if not actor:
        return wording.SOMEONE
    if actor.get("role") == viewer.role and actor.get("id") == viewer.party_id:
        return wording.YOU
    role = actor.get("role", "")
    label = ROLE_NAMES.get(role, role)
    return label if role in ("system", "admin") else f"{label} ({actor.get('id')})"


# --- errors as pages -------------------------------------------------------------------------


class PageError(Exception):
    def __init__(self, status: int, title: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.title, self.message, self.extra = status, title, message, extra


def render(template: str, status: int = 200, headers: dict[str, str] | None = None, **context):
    text = _templates.get_template(template).render(**context)
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={**PAGE_HEADERS, **(headers or {})},
    )


def error_page(error: PageError) -> web.Response:
    headers = {}
    if "retry_after" in error.extra:
        headers["Retry-After"] = str(error.extra["retry_after"])
    return render(
        "error.html",
        status=error.status,
        headers=headers,
        title=error.title,
        message=error.message,
        hint=error.extra.get("hint"),
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def html_errors(handler: Handler) -> Handler:
    """Answer a refusal with an HTML page, not the API's JSON."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            # A failure once a file's answer started closes the connection: no page follows.
            return await handle_or_abort(handler, request)
        except PageError as error:
            return error_page(error)
        except HttpError as error:
            extra = (
                {"retry_after": error.extra["retry_after"]} if "retry_after" in error.extra else {}
            )
            return error_page(PageError(error.status, "Not done", error.message, **extra))
        except web.HTTPRequestEntityTooLarge:
            limit = gateway_of(request).settings.max_attachment_bytes
            message = f"What was sent is too large: a file may have at most {size_words(limit)}."
            return error_page(PageError(413, "Too large", message))
        except web.HTTPException:
            raise
        except Exception as error:
            if not is_transient_db_error(error):
                raise
            log.warning("database unreachable for %s %s: %s", request.method, request.path, error)
            return error_page(
                PageError(
                    503,
                    "Try again in a moment",
                    "The database is unreachable right now; nothing was done.",
                    retry_after=5,
                )
            )

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


_NEW_LINK_HINT = (
    "Open the most recent email about this delivery and follow its link: every email carries "
    "a fresh one."
)


def link_of(request: web.Request, token: str, delivery_id: str | None) -> Link:
    """The link behind ``token``, valid for ``delivery_id`` (None: the admin pages); else 403."""
    settings = gateway_of(request).settings
    try:
        link = read_link(settings, token)
    except LinkError as error:
        if error.kind == "expired":
            since = f" on {when(error.expired_at)}" if error.expired_at else ""
            valid = duration(settings.link_ttl)
            message = f"This link expired{since}. Links are valid for {valid}."
            raise PageError(403, "This link has expired", message, hint=_NEW_LINK_HINT) from error
        raise PageError(
            403,
            "This link is not valid",
            "This link is not valid: it was changed or cut short (for example when it was "
            "copied), or it was not made by Delivery Center.",
            hint=_NEW_LINK_HINT,
        ) from error
    if delivery_id is None:
        if not link.is_admin:
            raise PageError(403, "Not for this link", "Only an administrator's link opens this.")
    elif not link.opens(delivery_id):
        raise PageError(
            403,
            "This link is for another delivery",
            "This link opens another delivery's page, not this one.",
            hint=_NEW_LINK_HINT,
        )
    wait = gateway_of(request).limiter.take((link.role.value, link.party_id))
    if wait:
        raise PageError(
            429,
            "Too many requests",
            f"Too many requests from this link; wait {wait} seconds and try again.",
            retry_after=wait,
        )
    return link


async def delivery_for(gateway: Gateway, link: Link, delivery_id: str) -> dict[str, Any]:
    document = await gateway.db[DELIVERIES].find_one({"_id": delivery_id}, {"outbox": 0})
    if document is None:
        raise PageError(
            404,
            "No such delivery",
            f"There is no delivery {delivery_id} (yet): if it was opened just now, "
            "reload this page in a moment.",
        )
    if not is_party(link.actor, document):
        raise PageError(
            403,
            "This link is not for this delivery",
            f"This link was made for {ROLE_NAMES[link.role]} {link.party_id}, who is not "
            "a party of this delivery.",
            hint=_NEW_LINK_HINT,
        )
    return document


# --- the delivery page -----------------------------------------------------------------------


@dataclass
class FormState:
    """A form sent back with what was typed and what was wrong."""

    action: str
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def file_href(delivery_id: str, attachment_id: str, token: str) -> str:
    return f"/d/{delivery_id}/files/{attachment_id}?{urlencode({'t': token})}"


async def outcome_of(
    gateway: Gateway, link: Link, delivery_id: str, command_id: str | None, now: datetime
) -> dict[str, Any] | None:
    """The outcome notice of ``command_id`` (sent from this link), or None."""
    if not command_id or not _COMMAND_ID.fullmatch(command_id):
        return None
    db = gateway.db
    record = await db[COMMANDS].find_one({"_id": command_id}, {"body_hash": 0})
    outcome = await db[COMMAND_OUTCOMES].find_one({"_id": command_id})
    known = record or outcome
    if known is None or known.get("delivery_id") != delivery_id:
        return None
    sender = known.get("actor") or {}
    if not link.is_admin and (sender.get("id"), sender.get("role")) != (
        link.party_id,
        link.role.value,
    ):
        return None
    title = ACTIONS.get(known["type"], (known["type"], ""))[0]
    if outcome is None:
        accepted_at = record.get("accepted_at") if record else None
        if accepted_at is not None and accepted_at.tzinfo is None:
            accepted_at = accepted_at.replace(tzinfo=UTC)
        late = accepted_at is not None and now - accepted_at > PENDING_PATIENCE
        return {
            "status": "pending",
            "title": title,
            "late": late,
            "command_id": command_id,
        }
    return {
        "status": outcome["status"],
        "title": title,
        "reason": outcome.get("reason"),
        "message": outcome.get("message"),
        "command_id": command_id,
    }


async def _files(gateway: Gateway, ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    cursor = gateway.db[ATTACHMENTS].find({"_id": {"$in": ids}})
    return {record["_id"]: record async for record in cursor}


def _file_view(record: dict[str, Any] | None, attachment_id: str, delivery_id: str, token: str):
    if record is None:
        return {"name": attachment_id, "href": None, "size": "", "type": ""}
    return {
        "name": record["filename"],
        "href": file_href(delivery_id, attachment_id, token),
        "size": size_words(record["size"]),
        "type": record.get("detected_type") or "unknown type",
        "by": (record.get("uploaded_by") or {}).get("role"),
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
    gateway = gateway_of(request)
    now = datetime.now(UTC)
    delivery_id = document["_id"]
    role = link.role
    stage_files = [a for s in document.get("stages", []) for a in s.get("attachments", [])]
    ids = list(dict.fromkeys(document.get("attachments", []) + stage_files))
    if document.get("contract"):
        ids.append(document["contract"])
    files = await _files(gateway, ids)

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
        label = ACTIONS.get(wanted, (wanted, ""))[0].lower() if wanted in ACTIONS else None
        unavailable = (
            f"The link asked you to {label}, which is not possible now: the delivery is at "
            f"“{STATE_LABELS.get(document['state'], document['state'])}”."
            if label
            else "The link asked for an action that does not exist."
        )
    turn, my_turn = turn_words(document, role)
    contact = document.get("contact") or {}
    csrf = csrf_token(gateway.settings, token, delivery_id)
    deadlines = [
        {"kind": d["kind"], "text": deadline_words(d, role, now), "due_at": d.get("due_at")}
        for d in document.get("deadlines", [])
        if d.get("status") in ("active", "paused")
    ]
    history = [
        {
            "at": when(h["at"]),
            "iso": h["at"].isoformat(),
            "who": who(h.get("actor"), link),
            "did": DONE.get(h["command"], h["command"]),
            "command": h["command"],
            "from": STATE_LABELS.get(h.get("from_state") or "", h.get("from_state") or ""),
            "to": STATE_LABELS.get(h["to_state"], h["to_state"]),
            "details": h.get("details") or {},
        }
        for h in document.get("history", [])
    ]
    refusals = [
        {
            "at": when(r["at"]),
            "who": who(r.get("actor"), link),
            "command": r["command"],
            "message": r["message"],
            "code": r["code"],
        }
        for r in document.get("refusals", [])
    ]
    stages = [
        {
            "label": STATE_LABELS.get(s["stage"], s["stage"]),
            "note": s.get("note"),
            "at": when(s["finished_at"]),
            "files": [file(a) for a in s.get("attachments", [])],
            "reviews": [
                {
                    "outcome": r["outcome"].replace("_", " "),
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
        "title": f"Delivery {document['order_id']}",
        "delivery": document,
        "delivery_id": delivery_id,
        "viewer": {
            "role": role.value,
            "label": ROLE_NAMES[role],
            "party": link.party_id,
            "admin": link.is_admin,
        },
        "process_label": PROCESS_LABELS.get(document["process"], document["process"]),
        "state_label": STATE_LABELS.get(document["state"], document["state"]),
        "facts": [
            ("Customer name", contact.get("name") or "not given yet"),
            ("Phone", contact.get("phone") or "not given yet"),
            ("Email", contact.get("email") or "not given yet"),
            ("Order ID", document["order_id"]),
            ("Order specification", document["order_spec"]),
            ("Delivery ID", delivery_id),
            ("Product ID", document["product_id"]),
            ("Process", PROCESS_LABELS.get(document["process"], document["process"])),
            (
                "State",
                f"{STATE_LABELS.get(document['state'], document['state'])} ({document['state']})",
            ),
            ("Customer", document["customer_id"]),
            ("ISV", document["isv_id"]),
            ("Version", str(document["version"])),
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
            "opened_by": who(dispute.get("opened_by"), link),
            "reason": dispute["reason"],
            "opened_at": when(dispute["opened_at"]),
            "outcome": dispute.get("outcome"),
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
        "admin_href": f"/admin?{urlencode({'t': token})}" if link.is_admin else None,
        "contract_types": ".doc,.docx,.xlsx,.ppt,.pptx,.pdf,.png,.zip,.7z",
        "max_upload": size_words(gateway.settings.max_attachment_bytes),
    }


@routes.get("/d/{delivery_id}")
@html_errors
async def delivery_page(request: web.Request) -> web.Response:
    delivery_id = request.match_info["delivery_id"]
    token = request.query.get("t", "")
    link = link_of(request, token, delivery_id)
    gateway = gateway_of(request)
    # The outcome first: a delivery read after it is at least as new as the outcome it shows.
    outcome = await outcome_of(
        gateway, link, delivery_id, request.query.get("command"), datetime.now(UTC)
    )
    document = await delivery_for(gateway, link, delivery_id)
    context = await page_context(request, link, token, document, outcome=outcome)
    return render("delivery.html", **context)


@routes.get("/d/{delivery_id}/files/{attachment_id}")
@html_errors
async def delivery_file(request: web.Request) -> web.StreamResponse:
    delivery_id = request.match_info["delivery_id"]
    attachment_id = request.match_info["attachment_id"]
    link = link_of(request, request.query.get("t", ""), delivery_id)
    gateway = gateway_of(request)
    await delivery_for(gateway, link, delivery_id)
    record = await gateway.db[ATTACHMENTS].find_one({"_id": attachment_id})
    if record is None or record.get("delivery_id") != delivery_id:
        raise PageError(404, "No such file", "This delivery has no such file.")
    try:
        return await stream_file(
            request,
            gateway.db,
            record,
            **{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"},
        )
    except NoFile as error:
        raise PageError(404, "No such file", "This file's content is missing.") from error


# --- presses ---------------------------------------------------------------------------------


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _uploads(form: Any) -> list[web.FileField]:
    return form_files(form)  # a file whose name cannot be read refuses the form (400)


def command_body(kind: str, form: Any) -> dict[str, Any]:
    """The command a form describes (its files come later, once stored)."""
    body: dict[str, Any] = {"type": kind}
    if kind == "submit_demand":
        body["contact"] = {
            "name": _text(form, "contact_name"),
            "phone": _text(form, "contact_phone"),
            "email": _text(form, "contact_email"),
        }
        body["demands"] = _text(form, "demands")
    elif kind in ("finish", "resolve_dispute"):
        if _text(form, "note"):
            body["note"] = _text(form, "note")
        if kind == "resolve_dispute":
            body["outcome"] = _text(form, "outcome")
    elif kind in ("request_changes", "open_dispute", "terminate"):
        body["reason"] = _text(form, "reason")
    elif kind == "request_warranty_service":
        body["description"] = _text(form, "description")
    return body


def field_errors(error: ValidationError, typed: dict[str, str] | None = None) -> dict[str, str]:
    """pydantic's complaints, by form field, in words; a field left empty (in ``typed``, what
    the form held) is simply required."""
    typed = typed or {}
    found: dict[str, str] = {}
    for item in error.errors(include_url=False):
        loc = tuple(str(part) for part in item["loc"])
        name = _FIELD_OF_LOCATION.get(loc)
        if name is None:
            name = "file" if loc and loc[0] in ("attachments", "attachment") else "form"
        kind = item["type"]
        if (
            kind == "missing"
            or (name in typed and not typed[name])
            or (kind == "string_too_short" and item.get("ctx", {}).get("min_length") == 1)
        ):
            message = "required: please fill this in"
        elif kind == "string_too_long":
            message = f"too long: at most {item['ctx']['max_length']} characters"
        elif name in _FIELD_HINTS:
            message = _FIELD_HINTS[name]
        elif kind == "value_error" and "email" in name:
            message = "write a valid email address" + (
                f" ({str(item['msg']).split(': ', 1)[-1]})" if ": " in item["msg"] else ""
            )
        else:
            message = str(item["msg"])
        found.setdefault(name, message[0].upper() + message[1:])
    return found


def _validate(
    kind: str, body: dict[str, Any], form: Any, addresses: AddressPolicy
) -> tuple[Any, dict[str, str]]:
    try:
        return COMMAND_MODELS[kind].model_validate(body, context=address_context(addresses)), {}
    except ValidationError as error:
        return None, field_errors(error, {name: _text(form, name) for name in FORM_FIELDS})


async def store_file(
    gateway: Gateway, delivery_id: str, link: Link, part: web.FileField
) -> tuple[str | None, str | None]:
    """Keep an uploaded file in GridFS as the API does; its id, or what is wrong with it."""
    limit = gateway.settings.max_attachment_bytes
    data = part.file.read(limit + 1)
    name = uploaded_name(part)
    if len(data) > limit:
        return None, f"The file {name} is too large: at most {size_words(limit)} each"
    if not data:
        return None, f"The file {name} is empty"
    record = await keep_attachment(gateway.db, delivery_id, name, data, link.actor)
    return record["_id"], None


def uploaded_name(part: web.FileField) -> str:
    """The file name the browser meant, read from the part's own Content-Disposition by the
    same rules as the API's uploads (``filenames.form_data_field``); aiohttp's ``filename``
    when the header cannot be read, which ``form_files`` refuses before anything is stored."""
    try:
        _, name = form_data_field(part.headers.getall(hdrs.CONTENT_DISPOSITION, []))
    except DispositionError:
        return part.filename
    return name or part.filename


def _upload_problems(uploads: list[web.FileField], limit: int) -> dict[str, str]:
    """Every file's size checked before any is kept, so a refused form leaves nothing behind
    (names that cannot be read whole were refused before, by ``form_files``)."""
    for part in uploads:
        size = part.file.seek(0, 2)
        part.file.seek(0)
        name = uploaded_name(part)
        if size > limit:
            return {"file": f"The file {name} is too large: at most {size_words(limit)} each"}
        if size == 0:
            return {"file": f"The file {name} is empty"}
    return {}


async def _briefly_wait_for_outcome(gateway: Gateway, command_id: str) -> None:
    """Most commands are applied within moments: waiting a little here shows the person the
    outcome at once instead of a page that refreshes. A slower one is shown as pending."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + OUTCOME_WAIT.total_seconds()
    while loop.time() < give_up:
        if await gateway.db[COMMAND_OUTCOMES].find_one({"_id": command_id}, {"_id": 1}):
            return
        await asyncio.sleep(0.05)


def _after(delivery_id: str, token: str, command_id: str, back: str) -> str:
    """Where a press leads: the page with the command's outcome at its top. No fragment: the
    page refreshes itself while the command is pending, and a refresh to a URL with a fragment
    would only scroll."""
    if back == "admin":
        return f"/admin?{urlencode({'t': token, 'command': command_id})}"
    return page_path(delivery_id, token, command=command_id)


@routes.post("/d/{delivery_id}/commands", expect_handler=form_expect)
@html_errors
async def press(request: web.Request) -> web.StreamResponse:
    """A button on the page: validate, store files, accept the command, go to its outcome."""
    delivery_id = request.match_info["delivery_id"]
    gateway = gateway_of(request)
    try:
        if isinstance(form := await read_form(request), web.StreamResponse):
            return form  # refused before a byte was read: too large
    except (*MALFORMED_FORM, web.RequestPayloadError) as error:
        # The client's doing (a bad charset, encoding, framing or gzip): json_errors ends it.
        log.warning("unreadable form in %s %s: %s", request.method, request.path, reason_of(error))
        raise PageError(
            400, "This form could not be read", "The browser sent a form we cannot read."
        ) from error
    token = _text(form, "t")
    link = link_of(request, token, delivery_id)
    if not csrf_ok(gateway.settings, token, delivery_id, _text(form, "csrf")):
        raise PageError(
            403,
            "This form cannot be sent",
            "The form's security token is missing or wrong, so nothing was done. "
            "Open the page from its link and press the button there.",
        )
    kind = _text(form, "type")
    if kind not in sendable(link.role):
        raise PageError(
            422, "Unknown action", f"{ROLE_NAMES[link.role]} cannot {kind or 'do that'} here."
        )
    document = await delivery_for(gateway, link, delivery_id)
    back = "admin" if _text(form, "back") == "admin" and link.is_admin else "page"
    nonce = _text(form, "nonce")
    # The same rendered form sent twice (a double click, a reload) is one command.
    key = f"page-form:{nonce}" if _HEX32.fullmatch(nonce) else None
    command_id = command_id_for(link.actor, key)
    if key and await gateway.db[COMMANDS].find_one({"_id": command_id}, {"_id": 1}):
        raise web.HTTPSeeOther(_after(delivery_id, token, command_id, back))

    body = command_body(kind, form)
    uploads = _uploads(form)
    problems: dict[str, str] = {}
    if kind == "upload_contract":
        if len(uploads) != 1:
            problems["file"] = "Choose the one contract file to upload"
    elif kind in ("submit_demand", "finish"):
        if len(uploads) > MAX_FILES_PER_FORM:
            problems["file"] = f"At most {MAX_FILES_PER_FORM} files at once"
    elif uploads:
        problems["file"] = "This action takes no files"
    if kind != "upload_contract":
        _, errors = _validate(kind, body, form, gateway.settings.address_policy)
        problems = {**errors, **problems}
    if not problems:
        problems.update(_upload_problems(uploads, gateway.settings.max_attachment_bytes))
    if not problems and uploads:
        stored = []
        for part in uploads:
            attachment_id, problem = await store_file(gateway, delivery_id, link, part)
            if problem:
                problems["file"] = problem
                break
            stored.append(attachment_id)
        if kind == "upload_contract" and stored:
            body["attachment"] = stored[0]
        elif stored:
            body["attachments"] = stored
    command = None
    if not problems:
        command, problems = _validate(kind, body, form, gateway.settings.address_policy)
    if problems:
        if uploads and "file" not in problems:
            problems["file"] = "Choose the files again: nothing was kept, because of the above"
        values = {name: _text(form, name) for name in FORM_FIELDS}
        context = await page_context(
            request, link, token, document, form=FormState(kind, values, problems)
        )
        return render("delivery.html", status=422, **context)

    envelope = CommandEnvelope(
        command_id=command_id,
        delivery_id=delivery_id,
        actor=link.actor,
        issued_at=datetime.now(UTC),
        command=command,
    )
    await accept(gateway, envelope, fingerprint(body, delivery_id))
    await _briefly_wait_for_outcome(gateway, command_id)
    raise web.HTTPSeeOther(_after(delivery_id, token, command_id, back))


# --- the administrators' list ----------------------------------------------------------------


def overdue(document: dict[str, Any], now: datetime, patience: timedelta) -> str | None:
    """Why an admin should look at this delivery now, or None.

    Overdue: a deadline is past due and has not fired, or nothing happened for longer than the
    confirmation window while it waits on a person.
    """
    if document["state"] in TERMINAL_STATES:
        return None
    for deadline in document.get("deadlines", []):
        due = deadline.get("due_at")
        if due is not None and deadline.get("status") == "active":
            due = due if due.tzinfo else due.replace(tzinfo=UTC)
            if due < now:
                return f"a deadline was due {relative(due, now)} and has not fired"
    updated = document["updated_at"]
    updated = updated if updated.tzinfo else updated.replace(tzinfo=UTC)
    if not dispute_open(document) and now - updated > patience:
        return f"nothing has happened for {duration(now - updated)}"
    if dispute_open(document) and now - updated > patience:
        return f"the dispute has waited for {duration(now - updated)}"
    return None


async def recently_updated(
    gateway: Gateway, query: dict[str, Any], limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` deliveries matching ``query`` (``{}`` or ``{"state": ...}``), the most
    recently changed first."""
    projection = without_day_fields({"history": 0, "refusals": 0, "outbox": 0, "stages": 0})
    found: list[dict[str, Any]] = []
    async for document in newest_first(
        gateway.db[DELIVERIES],
        gateway.db[DELIVERY_DAYS],
        sort_field="updated_at",
        projection=projection,
        where=query,
    ):
        found.append(document)
        if len(found) >= limit:
            break
    return found


@routes.get("/admin")
@html_errors
async def admin_page(request: web.Request) -> web.Response:
    token = request.query.get("t", "")
    link = link_of(request, token, None)
    gateway = gateway_of(request)
    now = datetime.now(UTC)
    query: dict[str, Any] = {}
    state = request.query.get("state", "")
    notice = None
    if state:
        if state in {s.value for s in State}:
            query["state"] = state
        else:
            notice = f"There is no state “{state}”; showing every state."
            state = ""
    only_overdue = request.query.get("overdue") in ("1", "on", "yes", "true")
    rows = []
    patience = gateway.settings.confirm_window
    for document in await recently_updated(gateway, query, ADMIN_LIST_LIMIT):
        late = overdue(document, now, patience)
        if only_overdue and late is None:
            continue
        updated = document["updated_at"]
        updated = updated if updated.tzinfo else updated.replace(tzinfo=UTC)
        rows.append(
            {
                "id": document["_id"],
                "order_id": document["order_id"],
                "process": document["process"],
                "state": document["state"],
                "state_label": STATE_LABELS.get(document["state"], document["state"]),
                "customer": document["customer_id"],
                "isv": document["isv_id"],
                "dispute": dispute_open(document),
                "dispute_reason": (document.get("dispute") or {}).get("reason"),
                "overdue": late,
                "updated": when_relative(updated, now),
                "href": page_path(document["_id"], token),
                "actions": [action_view(a) for a in available_actions(document, Role.ADMIN)],
                "csrf": csrf_token(gateway.settings, token, document["_id"]),
                "sort": (not dispute_open(document), late is None, -updated.timestamp()),
            }
        )
    rows.sort(key=lambda row: row["sort"])
    outcome = None
    command_id = request.query.get("command")
    if command_id and _COMMAND_ID.fullmatch(command_id):
        known = await gateway.db[COMMANDS].find_one({"_id": command_id}, {"delivery_id": 1})
        if known:
            outcome = await outcome_of(gateway, link, known["delivery_id"], command_id, now)
            if outcome:
                outcome["delivery_id"] = known["delivery_id"]
    return render(
        "admin.html",
        title="Deliveries",
        rows=rows,
        states=[s.value for s in State],
        state_labels=STATE_LABELS,
        state=state,
        only_overdue=only_overdue,
        notice=notice,
        token=token,
        outcome=outcome,
        refresh=outcome is not None and outcome["status"] == "pending" and not outcome["late"],
        limit=ADMIN_LIST_LIMIT,
        empty_form=FormState(action=""),
    )


# --- the OpenAPI entries of these pages --------------------------------------------------------


def openapi_paths() -> dict[str, Any]:
    """OpenAPI path items for the pages, to merge into the gateway's document (they answer
    HTML and are opened with a link token, not a bearer token)."""

    def html(description: str) -> dict[str, Any]:
        return {
            "description": description,
            "content": {"text/html": {"schema": {"type": "string"}}},
        }

    def param(name: str, where: str, description: str, required: bool = True) -> dict[str, Any]:
        return {
            "name": name,
            "in": where,
            "required": required,
            "description": description,
            "schema": {"type": "string"},
        }

    token = param("t", "query", "the signed link token from an email")
    refused = {
        "403": html("the link is changed, expired or for another delivery or party"),
        "429": html("too many requests from this link; see Retry-After"),
    }
    form_fields = {
        name: {"type": "string"} for name in ("t", "csrf", "type", "nonce", "back", *FORM_FIELDS)
    }
    form_fields["file"] = {"type": "array", "items": {"type": "string", "format": "binary"}}
    return {
        "/d/{delivery_id}": {
            "get": {
                "summary": "A delivery's page, as the link's party; never changes anything",
                "security": [],
                "parameters": [
                    param("delivery_id", "path", "the delivery"),
                    token,
                    param("action", "query", "the action whose form is made ready", False),
                    param("command", "query", "a command sent from the page: its outcome", False),
                ],
                "responses": {
                    "200": html("the page"),
                    "404": html("no such delivery"),
                    **refused,
                },
            }
        },
        "/d/{delivery_id}/commands": {
            "post": {
                "summary": "Press a button of the page: the command goes the API's path",
                "security": [],
                "parameters": [param("delivery_id", "path", "the delivery")],
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "properties": form_fields,
                                "required": ["t", "csrf", "type"],
                            }
                        },
                        "application/x-www-form-urlencoded": {
                            "schema": {
                                "type": "object",
                                "properties": {k: v for k, v in form_fields.items() if k != "file"},
                                "required": ["t", "csrf", "type"],
                            }
                        },
                    },
                },
                "responses": {
                    "303": {"description": "accepted: see the page for the outcome"},
                    "400": html("the form could not be read"),
                    "413": html("a file is too large"),
                    "422": html("the form again, each field's problem beside it"),
                    "503": html("the broker or the database is unreachable; nothing was done"),
                    **refused,
                },
            }
        },
        "/d/{delivery_id}/files/{attachment_id}": {
            "get": {
                "summary": "Download a file of the delivery with the link token",
                "security": [],
                "parameters": [
                    param("delivery_id", "path", "the delivery"),
                    param("attachment_id", "path", "the file"),
                    token,
                ],
                "responses": {
                    "200": {
                        "description": "the file's bytes",
                        "content": {
                            "application/octet-stream": {
                                "schema": {"type": "string", "format": "binary"}
                            }
                        },
                    },
                    "404": html("no such file in this delivery"),
                    **refused,
                },
            }
        },
        "/admin": {
            "get": {
                "summary": "The administrators' list of deliveries (an admin link)",
                "security": [],
                "parameters": [
                    token,
                    param("state", "query", "only deliveries in this state", False),
                    param("overdue", "query", "1: only overdue deliveries", False),
                    param("command", "query", "a command sent from the list: its outcome", False),
                ],
                "responses": {"200": html("the list"), **refused},
            }
        },
    }
