"""Each route's contract, declared once beside its handler with :func:`documented`: a summary,
its parameters, its request body and every answer it may give, each answer a model of
``models.py`` (or a media type's schema, for files and pages) with its headers.

``openapi.py`` walks the gateway's route tables and makes the OpenAPI 3.1 document from these
declarations; a route without one stops it (:class:`UndocumentedRoute`). The shapes are those
of OpenAPI 3.1 (https://spec.openapis.org/oas/v3.1.0): parameter and header objects are
written as the document holds them.

Why no library derives the document from the routes: aiohttp-pydantic needs class-based views
and validates request bodies itself, which would bypass ``requests.read_body``'s size cap and
our precise 4xx answers (``invalid_input`` naming each field). aiohttp-apigami builds on
marshmallow and apispec, a second schema language beside the pydantic models the handlers
already answer with. openapi-pydantic only types the document's objects; it derives nothing
from routes, so declaring each contract here, from the same models, is the shorter road.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

from services.gateway.models import Error
from services.gateway.requests import MAX_JSON_BYTES

Handler = TypeVar("Handler", bound=Callable[..., Any])
#: The attribute of a handler that holds its contract.
_ATTRIBUTE = "openapi_contract"


@dataclass(frozen=True)
class Reply:
    """One documented answer of a route.

    Args:
        description: what the answer means, for people.
        model: the JSON body's model (``application/json``), or None.
        content: other bodies: media type -> JSON Schema (a file, a page); or None.
        headers: header name -> OpenAPI header object (``Location``, ``Retry-After``).
        links: link name -> OpenAPI link object (:func:`link`): the operations that take an
            id this answer gives, which a client (schemathesis's stateful phase) follows.
    """

    description: str
    model: type[BaseModel] | None = None
    content: Mapping[str, dict[str, Any]] | None = None
    headers: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    links: Mapping[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class Body:
    """A route's request body (always required).

    Args:
        models: a JSON body: one model, or several told apart by their ``type`` field.
        content: other bodies: media type -> JSON Schema (multipart forms).
    """

    models: tuple[type[BaseModel], ...] = ()
    content: Mapping[str, dict[str, Any]] | None = None


@dataclass(frozen=True)
class Contract:
    """What a route promises: see :func:`documented`."""

    summary: str
    responses: Mapping[int, Reply]
    parameters: tuple[dict[str, Any], ...] = ()
    body: Body | None = None
    public: bool = False


class UndocumentedRoute(LookupError):
    """A route was registered without a contract (:func:`documented`)."""


def documented(
    summary: str,
    *,
    responses: Mapping[int, Reply],
    parameters: tuple[dict[str, Any], ...] = (),
    body: Body | None = None,
    public: bool = False,
) -> Callable[[Handler], Handler]:
    """Declare a handler's contract: ``summary`` (one line), ``responses`` (HTTP status ->
    :class:`Reply`, in the order the document lists them), ``parameters`` (OpenAPI parameter
    objects, see :func:`parameter`), ``body`` and whether the route is ``public`` (no bearer
    token). Returns the handler itself, marked; put it under the route's decorator."""
    contract = Contract(summary, dict(responses), tuple(parameters), body, public)

    def declare(handler: Handler) -> Handler:
        setattr(handler, _ATTRIBUTE, contract)
        return handler

    return declare


def contract_of(handler: Callable[..., Any]) -> Contract:
    """The contract declared for ``handler``; :class:`UndocumentedRoute` if there is none."""
    contract = getattr(handler, _ATTRIBUTE, None)
    if not isinstance(contract, Contract):
        name = getattr(handler, "__qualname__", repr(handler))
        raise UndocumentedRoute(f"{name} has no contract: declare it with contracts.documented")
    return contract


def parameter(
    name: str,
    where: str,
    description: str | None = None,
    *,
    required: bool = True,
    schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An OpenAPI parameter object: ``where`` is ``path``, ``query`` or ``header``; the schema
    is a string's unless given."""
    found: dict[str, Any] = {"name": name, "in": where, "required": required}
    if description is not None:
        found["description"] = description
    found["schema"] = schema if schema is not None else {"type": "string"}
    return found


def link(method: str, path: str, description: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link object to the operation ``method`` ``path`` of this document, whose
    ``parameters`` (name -> runtime expression, e.g. ``$response.body#/delivery_id``) come
    from the answer (OpenAPI 3.1, section 4.8.20)."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    return {
        "operationRef": f"#/paths/{pointer}/{method.lower()}",
        "parameters": dict(parameters),
        "description": description,
    }


def links_for(
    parameter: str, expression: str, *operations: tuple[str, str, str, str]
) -> dict[str, dict[str, Any]]:
    """Links named by ``operations`` (name, method, path, what it is), each passing the id at
    ``expression`` (e.g. ``$response.body#/delivery_id``) as the path ``parameter``."""
    return {
        name: link(method, path, what, **{parameter: expression})
        for name, method, path, what in operations
    }


def links_to_delivery(expression: str) -> dict[str, dict[str, Any]]:
    """Links from an answer naming a delivery (at ``expression``) to what takes its id."""
    return links_for(
        "delivery_id",
        expression,
        ("GetDelivery", "GET", "/v1/deliveries/{delivery_id}", "the delivery"),
        ("SendCommand", "POST", "/v1/deliveries/{delivery_id}/commands", "a command to it"),
        ("UploadAttachment", "POST", "/v1/deliveries/{delivery_id}/attachments", "a file for it"),
    )


#: One webhook endpoint's path, where the links of its registration lead.
_WEBHOOK = "/v1/webhooks/{webhook_id}"
#: Links from a webhook endpoint's registration (201) to what takes its id.
WEBHOOK_LINKS = links_for(
    "webhook_id",
    "$response.body#/webhook_id",
    ("GetWebhook", "GET", _WEBHOOK, "the endpoint"),
    ("ChangeWebhook", "PATCH", _WEBHOOK, "a change to it"),
    ("DeleteWebhook", "DELETE", _WEBHOOK, "its removal"),
    ("RotateSecret", "POST", f"{_WEBHOOK}/rotate-secret", "a new secret"),
    ("DeliveryLog", "GET", f"{_WEBHOOK}/deliveries", "its delivery log"),
    ("Replay", "POST", f"{_WEBHOOK}/replay", "a replay"),
)

#: The link from an answer carrying a ``command_id`` to that command's outcome.
COMMAND_OUTCOME_LINK = {
    "GetCommandOutcome": link(
        "GET",
        "/v1/commands/{command_id}",
        "the command's outcome",
        command_id="$response.body#/command_id",
    )
}


def error(description: str, headers: Mapping[str, dict[str, Any]] | None = None) -> Reply:
    """A refusal: an :class:`~services.gateway.models.Error` body."""
    return Reply(description, Error, headers=headers or {})


def text(
    media_type: str,
    description: str,
    schema: dict[str, Any] | None = None,
    headers: Mapping[str, dict[str, Any]] | None = None,
) -> Reply:
    """An answer that is not JSON: a ``media_type`` body, a string unless ``schema``."""
    return Reply(
        description, content={media_type: schema or {"type": "string"}}, headers=headers or {}
    )


#: ``Retry-After`` (RFC 9110 section 10.2.3), in seconds.
RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "schema": {"type": "integer", "minimum": 1},
    }
}
#: ``Location`` of a 202: the command's status (``publishing.command_location``).
LOCATION = {
    "Location": {
        "description": "where the command's status is read: /v1/commands/{command_id}",
        "schema": {"type": "string", "format": "uri-reference"},
    }
}
#: The bearer challenge of a 401 (RFC 6750 section 3; ``auth.py``).
WWW_AUTHENTICATE = {
    "WWW-Authenticate": {
        "description": 'RFC 6750 challenge: Bearer realm="delivery-center", '
        'error="invalid_request" or "invalid_token", error_description',
        "schema": {"type": "string"},
    }
}
#: Answers every authenticated operation may give.
CALLER_ERRORS = {
    401: error(
        "missing, malformed, expired or wrongly signed token, untyped claims, or unknown role",
        headers=WWW_AUTHENTICATE,
    ),
    403: error("the caller's role may not do this"),
    429: error("the caller's rate limit is spent", headers=RETRY_AFTER),
    503: error("the broker or the database is unreachable", headers=RETRY_AFTER),
}
#: Answers of every operation that reads a JSON body (``requests.json_body``).
JSON_BODY_ERRORS = {
    400: error("the body is not a JSON object"),
    413: error(f"the body is larger than {MAX_JSON_BYTES} bytes"),
    422: error("invalid input; `fields` names each field at fault"),
}
#: What every POST may be refused before its body is read (``requests.framed_bodies`` and the
#: routes' ``expect_handler``), by status.
BODY_FRAMING = {
    411: "length_required: neither Content-Length nor chunked Transfer-Encoding (no body)",
    415: "unsupported_content_encoding: a Content-Encoding other than gzip or deflate named alone",
    417: "expectation_failed: an Expect other than 100-continue",
}
#: ``Accept-Encoding`` of a 415 ``unsupported_content_encoding``.
ACCEPT_ENCODING = {
    "Accept-Encoding": {
        "description": "the content codings a body may be sent in",
        "schema": {"type": "string"},
    }
}


def framing_errors(answer: Callable[..., Reply] = error) -> dict[int, Reply]:
    """The :data:`BODY_FRAMING` refusals every POST route declares, each built by ``answer``
    (:func:`error`; a page's HTML answer on the pages)."""
    return {
        status: answer(words, headers=ACCEPT_ENCODING) if status == 415 else answer(words)
        for status, words in BODY_FRAMING.items()
    }
