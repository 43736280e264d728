"""Presses: a page's form read, checked and turned into a command (POST /d/{id}/commands)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import hdrs, web
from pydantic import ValidationError

from services.gateway.attachments import store_file
from services.gateway.context import Gateway, gateway_of
from services.gateway.contracts import Body, Reply, documented, framing_errors
from services.gateway.errors import reason_of
from services.gateway.filenames import DispositionError, form_data_field
from services.gateway.form_files import form_files
from services.gateway.pages.csrf import csrf_ok
from services.gateway.pages.errors import PageError, html_errors, render
from services.gateway.pages.guard import (
    DELIVERY_ID,
    LINK_REFUSALS,
    delivery_for,
    html_answer,
    link_of,
)
from services.gateway.pages.languages import party_reader, reading_page, switch_base
from services.gateway.pages.routing import log, routes
from services.gateway.pages.view import FormState, page_context
from services.gateway.pages.words import sendable
from services.gateway.publishing import accept, command_id_for
from services.gateway.requests import MALFORMED_FORM, fingerprint, form_expect, read_form
from services.runtime.collections import COMMAND_OUTCOMES, COMMANDS
from services.runtime.links import Link, admin_path, page_path
from shared.contracts.messages import CommandEnvelope
from shared.domain.addresses import AddressPolicy
from shared.domain.commands import COMMAND_MODELS, address_context
from shared.domain.ids import is_hex_id
from shared.validation_errors import error_message
from shared.wording import ROLE_NAMES, size_words
from shared.wording.reader import N_, Words, _

#: Files one form may carry.
MAX_FILES_PER_FORM = 10
#: How long a press waits for its command's outcome before showing it as pending.
OUTCOME_WAIT = timedelta(seconds=1.5)

#: Form field -> the place in the command its value goes. A command takes the fields whose
#: place its model has (``COMMAND_MODELS``); an optional one left empty is left out.
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
#: The place in a command -> its form field, to put pydantic's complaints beside it.
FIELD_OF_LOCATION = {loc: name for name, loc in FORM_FIELDS.items()}
#: Messages in words for the checks whose pydantic wording is technical.
FIELD_HINTS: Mapping[str, str] = Words(
    {
        "contact_phone": N_(
            "write a phone number: digits, spaces and + ( ) . / - only, 3 to 40 of them"
        ),
        "outcome": N_("choose whether the delivery continues or is terminated"),
    }
)


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _uploads(form: Any) -> list[web.FileField]:
    return form_files(form)  # a file whose name cannot be read refuses the form (400)


def command_body(kind: str, form: Any) -> dict[str, Any]:
    """The command a form describes (its files come later, once stored): each of
    :data:`FORM_FIELDS` whose place the command's model has, stripped; an optional one (a
    note) only when filled in."""
    body: dict[str, Any] = {"type": kind}
    fields = COMMAND_MODELS[kind].model_fields if kind in COMMAND_MODELS else {}
    for name, (top, *inner) in FORM_FIELDS.items():
        field = fields.get(top)
        value = _text(form, name)
        if field is None or (not value and not field.is_required()):
            continue
        if inner:
            body.setdefault(top, {})[inner[0]] = value
        else:
            body[top] = value
    return body


def field_errors(error: ValidationError, typed: dict[str, str] | None = None) -> dict[str, str]:
    """pydantic's complaints, by form field, in words; a field left empty (in ``typed``, what
    the form held) is simply required."""
    typed = typed or {}
    found: dict[str, str] = {}
    for item in error.errors(include_url=False):
        loc = tuple(str(part) for part in item["loc"])
        name = FIELD_OF_LOCATION.get(loc)
        if name is None:
            name = "file" if loc and loc[0] in ("attachments", "attachment") else "form"
        kind = item["type"]
        if (
            kind == "missing"
            or (name in typed and not typed[name])
            or (kind == "string_too_short" and item.get("ctx", {}).get("min_length") == 1)
        ):
            message = _("required: please fill this in")
        elif kind == "string_too_long":
            message = _("too long: at most {count} characters").format(
                count=item["ctx"]["max_length"]
            )
        elif name in FIELD_HINTS:
            message = FIELD_HINTS[name]
        elif kind == "value_error" and "email" in name and ": " in item["msg"]:
            # pydantic's reason stays as it says it (English): the email checker's words.
            message = _("write a valid email address ({reason})").format(
                reason=error_message(item).split(": ", 1)[-1]
            )
        elif kind == "value_error" and "email" in name:
            message = _("write a valid email address")
        else:
            message = error_message(item)
        found.setdefault(name, message[0].upper() + message[1:])
    return found


def _validate(
    kind: str, body: dict[str, Any], form: Any, addresses: AddressPolicy
) -> tuple[Any, dict[str, str]]:
    try:
        return COMMAND_MODELS[kind].model_validate(body, context=address_context(addresses)), {}
    except ValidationError as error:
        return None, field_errors(error, {name: _text(form, name) for name in FORM_FIELDS})


async def keep_upload(
    gateway: Gateway, delivery_id: str, link: Link, part: web.FileField
) -> tuple[str | None, str | None]:
    """Keep a file of the form in GridFS as the API does; its id, or what is wrong with it."""
    limit = gateway.settings.max_attachment_bytes
    data = part.file.read(limit + 1)
    name = uploaded_name(part)
    problem = _size_problem(name, len(data), limit)
    if problem:
        return None, problem
    record = await store_file(gateway.db, delivery_id, name, data, link.actor)
    return record["_id"], None


def _size_problem(name: str, size: int, limit: int) -> str | None:
    """What is wrong with a file ``name`` of ``size`` bytes, at most ``limit``: too large or
    empty; None when nothing."""
    if size > limit:
        return _("The file {name} is too large: at most {size} each").format(
            name=name, size=size_words(limit)
        )
    if size == 0:
        return _("The file {name} is empty").format(name=name)
    return None


def uploaded_name(part: web.FileField) -> str:
    """The file name the browser meant, read from the part's own Content-Disposition by the
    same rules as the API's uploads (``filenames.form_data_field``); aiohttp's ``filename``
    when the header cannot be read, which ``form_files`` refuses before anything is stored."""
    try:
        _kind, name = form_data_field(part.headers.getall(hdrs.CONTENT_DISPOSITION, []))
    except DispositionError:
        return part.filename
    return name or part.filename


def upload_problems(uploads: list[web.FileField], limit: int) -> dict[str, str]:
    """Every file's size checked before any is kept, so a refused form leaves nothing behind
    (names that cannot be read whole were refused before, by ``form_files``)."""
    for part in uploads:
        size = part.file.seek(0, 2)
        part.file.seek(0)
        problem = _size_problem(uploaded_name(part), size, limit)
        if problem:
            return {"file": problem}
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


#: The press form's fields, as its contract documents them.
_FORM_FIELDS_SCHEMA: dict[str, dict[str, Any]] = {
    **{name: {"type": "string"} for name in ("t", "csrf", "type", "nonce", "back", *FORM_FIELDS)},
    "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
}


def _form_schema(with_files: bool) -> dict[str, Any]:
    """The JSON Schema of the press form; ``file`` only in a multipart form (RFC 7578)."""
    return {
        "type": "object",
        "properties": {k: v for k, v in _FORM_FIELDS_SCHEMA.items() if with_files or k != "file"},
        "required": ["t", "csrf", "type"],
    }


def _after(delivery_id: str, token: str, command_id: str, back: str) -> str:
    """Where a press leads: the page with the command's outcome at its top. No fragment: the
    page refreshes itself while the command is pending, and a refresh to a URL with a fragment
    would only scroll."""
    if back == "admin":
        return admin_path(token, command=command_id)
    return page_path(delivery_id, token, command=command_id)


@routes.post("/d/{delivery_id}/commands", expect_handler=form_expect)
@documented(
    "Press a button of the page: the command goes the API's path",
    public=True,
    parameters=(DELIVERY_ID,),
    body=Body(
        content={
            "multipart/form-data": _form_schema(with_files=True),
            "application/x-www-form-urlencoded": _form_schema(with_files=False),
        }
    ),
    responses={
        303: Reply("accepted: see the page for the outcome"),
        400: html_answer("the form could not be read"),
        413: html_answer("a file is too large"),
        422: html_answer("the form again, each field's problem beside it"),
        503: html_answer("the broker or the database is unreachable; nothing was done"),
        **framing_errors(html_answer),
        **LINK_REFUSALS,
    },
)
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
            400, _("This form could not be read"), _("The browser sent a form we cannot read.")
        ) from error
    token = _text(form, "t")
    link = link_of(request, token, delivery_id)
    if not csrf_ok(gateway.settings, token, delivery_id, _text(form, "csrf")):
        raise PageError(
            403,
            _("This form cannot be sent"),
            _(
                "The form's security token is missing or wrong, so nothing was done. "
                "Open the page from its link and press the button there."
            ),
        )
    kind = _text(form, "type")
    if kind not in sendable(link.role):
        raise PageError(
            422,
            _("Unknown action"),
            _("{role} cannot {action} here.").format(role=ROLE_NAMES[link.role], action=kind)
            if kind
            else _("{role} cannot do that here.").format(role=ROLE_NAMES[link.role]),
        )
    document = await delivery_for(gateway, link, delivery_id)
    # The rest is read as the delivery's page is, for this party (its refusals too).
    with reading_page(*party_reader(request, gateway.settings, link.role.value, document)):
        back = "admin" if _text(form, "back") == "admin" and link.is_admin else "page"
        nonce = _text(form, "nonce")
        # The same rendered form sent twice (a double click, a reload) is one command.
        key = f"page-form:{nonce}" if is_hex_id(nonce) else None
        command_id = command_id_for(link.actor, key)
        if key and await gateway.db[COMMANDS].find_one({"_id": command_id}, {"_id": 1}):
            raise web.HTTPSeeOther(_after(delivery_id, token, command_id, back))

        body = command_body(kind, form)
        uploads = _uploads(form)
        problems: dict[str, str] = {}
        if kind == "upload_contract":
            if len(uploads) != 1:
                problems["file"] = _("Choose the one contract file to upload")
        elif kind in ("submit_demand", "finish"):
            if len(uploads) > MAX_FILES_PER_FORM:
                problems["file"] = _("At most {count} files at once").format(
                    count=MAX_FILES_PER_FORM
                )
        elif uploads:
            problems["file"] = _("This action takes no files")
        if kind != "upload_contract":
            _command, errors = _validate(kind, body, form, gateway.settings.address_policy)
            problems = {**errors, **problems}
        if not problems:
            problems.update(upload_problems(uploads, gateway.settings.max_attachment_bytes))
        if not problems and uploads:
            stored = []
            for part in uploads:
                attachment_id, problem = await keep_upload(gateway, delivery_id, link, part)
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
                problems["file"] = _(
                    "Choose the files again: nothing was kept, because of the above"
                )
            values = {name: _text(form, name) for name in FORM_FIELDS}
            context = await page_context(
                request, link, token, document, form=FormState(kind, values, problems)
            )
            with switch_base(page_path(delivery_id, token)):
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
