"""The pages' contracts for the gateway's OpenAPI document (``contracts.documented``): they
answer HTML and are opened with a link token, not a bearer token. Declared here, on the
handlers of ``view``, ``forms`` and ``admin``, so that the page modules hold page code only;
importing this module (``pages/__init__``) declares them."""

from __future__ import annotations

from typing import Any

from services.gateway.contracts import Body, Reply, documented, parameter, text
from services.gateway.pages.admin import admin_page
from services.gateway.pages.forms import press
from services.gateway.pages.view import delivery_file, delivery_page
from services.gateway.pages.words import FORM_FIELDS


def _html(description: str) -> Reply:
    return text("text/html", description)


def _optional(name: str, description: str) -> dict[str, Any]:
    return parameter(name, "query", description, required=False)


_DELIVERY = parameter("delivery_id", "path", "the delivery")
_TOKEN = parameter("t", "query", "the signed link token from an email")
_REFUSED = {
    403: _html("the link is changed, expired or for another delivery or party"),
    429: _html("too many requests from this link; see Retry-After"),
}
_FORM_FIELDS: dict[str, dict[str, Any]] = {
    **{name: {"type": "string"} for name in ("t", "csrf", "type", "nonce", "back", *FORM_FIELDS)},
    "file": {"type": "array", "items": {"type": "string", "format": "binary"}},
}


def _form(with_files: bool) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {k: v for k, v in _FORM_FIELDS.items() if with_files or k != "file"},
        "required": ["t", "csrf", "type"],
    }


documented(
    "A delivery's page, as the link's party; never changes anything",
    public=True,
    parameters=(
        _DELIVERY,
        _TOKEN,
        _optional("action", "the action whose form is made ready"),
        _optional("command", "a command sent from the page: its outcome"),
    ),
    responses={200: _html("the page"), 404: _html("no such delivery"), **_REFUSED},
)(delivery_page)

documented(
    "Press a button of the page: the command goes the API's path",
    public=True,
    parameters=(_DELIVERY,),
    body=Body(
        content={
            "multipart/form-data": _form(with_files=True),
            "application/x-www-form-urlencoded": _form(with_files=False),
        }
    ),
    responses={
        303: Reply("accepted: see the page for the outcome"),
        400: _html("the form could not be read"),
        413: _html("a file is too large"),
        422: _html("the form again, each field's problem beside it"),
        503: _html("the broker or the database is unreachable; nothing was done"),
        **_REFUSED,
    },
)(press)

documented(
    "Download a file of the delivery with the link token",
    public=True,
    parameters=(_DELIVERY, parameter("attachment_id", "path", "the file"), _TOKEN),
    responses={
        200: text(
            "application/octet-stream", "the file's bytes", {"type": "string", "format": "binary"}
        ),
        404: _html("no such file in this delivery"),
        **_REFUSED,
    },
)(delivery_file)

documented(
    "The administrators' list of deliveries (an admin link)",
    public=True,
    parameters=(
        _TOKEN,
        _optional("state", "only deliveries in this state"),
        _optional("overdue", "1: only overdue deliveries"),
        _optional("command", "a command sent from the list: its outcome"),
    ),
    responses={200: _html("the list"), **_REFUSED},
)(admin_page)
