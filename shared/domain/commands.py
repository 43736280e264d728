"""Every command as one frozen pydantic model, discriminated by ``type``.

These are the contract: the gateway validates requests with them, bus publishers
follow their JSON Schemas, and the engine reads them.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from shared.domain import addresses
from shared.domain.address_schema import POLICY_MARKER
from shared.domain.addresses import AddressPolicy
from shared.domain.ids import HEX_ID_PATTERN
from shared.domain.locales import LocaleTag, TimeZoneName
from shared.domain.roles import NOT_DOT_SEGMENT_SCHEMA, not_dot_segment
from shared.domain.states import ProcessName
from shared.durations import Duration

#: The characters stripping removes, for a pattern's class, and (``NOT_BLANK``) some
#: character that stripping leaves, as a JSON Schema pattern: pydantic strips Unicode
#: White_Space (Rust's ``trim``), written out, because ``\s`` means other sets in ECMA-262
#: (no U+0085, but U+FEFF) and in Python (U+001C to U+001F as well).
WHITE_SPACE = (
    "\\t\\n\\x0b\\x0c\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
)
NOT_BLANK = f"[^{WHITE_SPACE}]"
#: One line of text: what may end up in an email header never holds CR or LF.
SingleLine = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=200,
        # No CR or LF, and something stripping leaves (schema_files.NOT_BLANK).
        pattern=rf"^[^\r\n]*{NOT_BLANK}[^\r\n]*$",
    ),
]
#: Free text written by a person (demands, reasons, notes).
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000)]
#: An identifier chosen by another system (order, product, party): safe in URLs and document keys.
ExternalId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=128,
        # Spaces around are stripped before the pattern is checked, so it allows them.
        pattern=rf"^[{WHITE_SPACE}]*[A-Za-z0-9._:@-]+[{WHITE_SPACE}]*$",
    ),
]
#: A party of a delivery (its customer, its ISV): an :data:`ExternalId` that a URL path can
#: carry, so neither ``.`` nor ``..`` (``roles.DOT_SEGMENTS``: the party's pages, such as
#: ``/admin/scorecards/<isv_id>``, would be out of every browser's reach). Also a token's
#: ``sub`` (``roles.ActorId``).
PartyId = Annotated[
    ExternalId, AfterValidator(not_dot_segment), Field(json_schema_extra=NOT_DOT_SEGMENT_SCHEMA)
]
AttachmentId = Annotated[str, StringConstraints(pattern=HEX_ID_PATTERN)]


#: The key of the validation ``context`` that holds the installation's ``AddressPolicy``: the
#: gateway passes ``address_context(settings.address_policy)`` to ``model_validate``.
ADDRESS_POLICY = "address_policy"


def address_context(policy: AddressPolicy) -> dict[str, AddressPolicy]:
    """The validation context under which an ``Email`` must also be one this installation can
    send to (``shared.domain.addresses.refusal``)."""
    return {ADDRESS_POLICY: policy}


def _email(value: str, info: ValidationInfo) -> str:
    """The kept form (``addresses.normalized``); with an ``AddressPolicy`` in the context, also
    refused if the installation cannot email it. Errors as pydantic's ``EmailStr`` words them."""
    policy = (info.context or {}).get(ADDRESS_POLICY)
    try:
        return addresses.accepted(value, policy) if policy else addresses.normalized(value)
    except ValueError as error:
        raise PydanticCustomError(
            "value_error", "value is not a valid email address: {reason}", {"reason": str(error)}
        ) from None


#: An email address (RFC 5321/6531): syntax and kept form per ``shared.domain.addresses``.
#: Commands from the bus are held to the syntax; the gateway adds the installation's policy.
Email = Annotated[
    str,
    AfterValidator(_email),
    # The gateway's document adds its installation's policy where the marker is
    # (``address_schema.policy_schema``); the bus holds commands to the syntax alone.
    WithJsonSchema(
        {"type": "string", "format": "idn-email", "maxLength": 254, POLICY_MARKER: True}
    ),
]

#: Longest warranty period, 100 years: beyond it a due date would not be a date.
MAX_WARRANTY = timedelta(days=36_500)
#: A warranty period: whole seconds or ISO 8601 (P365D), see shared.durations.
WarrantyPeriod = Annotated[timedelta, Duration(at_most=MAX_WARRANTY)]


def _type_required(schema: dict[str, Any]) -> None:
    """A party's command names its ``type``: the commands endpoint picks the model by it, so
    its JSON Schema requires it (pydantic leaves a field with a default out of ``required``)."""
    schema["required"] = ["type", *(name for name in schema.get("required", ()) if name != "type")]


def _double_check_needs_warranty(schema: dict[str, Any]) -> None:
    """The opening's JSON Schema states the engine's rule (``engine.decide_opening``): a
    ``double_check`` delivery needs a ``warranty_period`` that is not null."""
    schema["if"] = {"properties": {"process": {"const": "double_check"}}, "required": ["process"]}
    schema["then"] = {
        "required": ["warranty_period"],
        "properties": {"warranty_period": {"not": {"type": "null"}}},
    }


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra=_type_required)


class Contact(BaseModel):
    """The customer's contact for the delivery; every field is required.

    ``phone``: 3 to 40 of digits, spaces and ``()./-``, optionally after a leading ``+``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: SingleLine
    phone: Annotated[
        str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ()./-]{3,40}$")
    ]
    email: Email


class OpenDelivery(_Command):
    """The marketplace opens a delivery for a paid order (over HTTP, ``type`` may be left out)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", json_schema_extra=_double_check_needs_warranty
    )

    type: Literal["open_delivery"] = "open_delivery"
    order_id: ExternalId
    order_spec: Text
    product_id: ExternalId
    isv_id: PartyId
    customer_id: PartyId
    customer_email: Email
    isv_email: Email
    process: ProcessName
    #: Required for ``double_check``: how long the warranty lasts after the first confirmation.
    warranty_period: WarrantyPeriod | None = None
    #: The language the customer reads the emails and pages in: a BCP 47 tag of English or
    #: Simplified Chinese as CLDR spells it (``en-GB``, ``zh-CN``); null or left out, the
    #: installation's ``DC_DEFAULT_LOCALE`` when the customer is written to.
    customer_locale: LocaleTag | None = None
    #: The language the ISV reads in, as ``customer_locale``.
    isv_locale: LocaleTag | None = None
    #: The time zone the customer reads times and days in: an IANA name (``Asia/Shanghai``);
    #: null or left out, the installation's ``DC_DEFAULT_TIME_ZONE`` when read.
    customer_time_zone: TimeZoneName | None = None
    #: The time zone the ISV reads in, as ``customer_time_zone``.
    isv_time_zone: TimeZoneName | None = None


class SubmitDemand(_Command):
    """The customer's demands and contact, with attachments already uploaded to the delivery
    (at most 50 ids); the ISV's work starts."""

    type: Literal["submit_demand"] = "submit_demand"
    contact: Contact
    demands: Text
    attachments: list[AttachmentId] = Field(default_factory=list, max_length=50)


class UploadContract(_Command):
    """The ISV's contract (contract process): an attachment of this delivery, DOC, DOCX, XLSX,
    PPT, PPTX, PDF, PNG, ZIP or 7z by its content, at most 5 MB."""

    type: Literal["upload_contract"] = "upload_contract"
    attachment: AttachmentId


class Finish(_Command):
    """The ISV hands over the current step's deliverable, with an optional note and
    attachments already uploaded to the delivery (at most 50 ids)."""

    type: Literal["finish"] = "finish"
    note: Text | None = None
    attachments: list[AttachmentId] = Field(default_factory=list, max_length=50)


class Confirm(_Command):
    """The customer accepts the deliverable under review."""

    type: Literal["confirm"] = "confirm"


class RequestChanges(_Command):
    """The customer sends the deliverable under review back to the ISV, saying why."""

    type: Literal["request_changes"] = "request_changes"
    reason: Text


class RequestWarrantyService(_Command):
    """During the warranty the customer asks the ISV for service; the state stays."""

    type: Literal["request_warranty_service"] = "request_warranty_service"
    description: Text


class ConfirmWarranty(_Command):
    """The customer's second confirmation, during the warranty: the delivery completes."""

    type: Literal["confirm_warranty"] = "confirm_warranty"


class OpenDispute(_Command):
    """The customer or the ISV opens a dispute, saying why: deadlines pause and only an admin
    acts until it is resolved."""

    type: Literal["open_dispute"] = "open_dispute"
    reason: Text


class ResolveDispute(_Command):
    """An admin ends the open dispute: ``continue`` (deadlines resume with the time that was
    left) or ``terminate``."""

    type: Literal["resolve_dispute"] = "resolve_dispute"
    outcome: Literal["continue", "terminate"]
    note: Text | None = None


class Terminate(_Command):
    """An admin ends a delivery in any non-terminal state, saying why."""

    type: Literal["terminate"] = "terminate"
    reason: Text


class ExpireDeadline(_Command):
    """Sent by the timer worker when a deadline falls due; never accepted over HTTP."""

    type: Literal["expire_deadline"] = "expire_deadline"
    deadline_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]


#: Commands sent to an existing delivery.
DeliveryCommand = Annotated[
    SubmitDemand
    | UploadContract
    | Finish
    | Confirm
    | RequestChanges
    | RequestWarrantyService
    | ConfirmWarranty
    | OpenDispute
    | ResolveDispute
    | Terminate
    | ExpireDeadline,
    Field(discriminator="type"),
]
Command = Annotated[OpenDelivery | DeliveryCommand, Field(discriminator="type")]

ALL_COMMAND_MODELS: tuple[type[_Command], ...] = (
    OpenDelivery,
    SubmitDemand,
    UploadContract,
    Finish,
    Confirm,
    RequestChanges,
    RequestWarrantyService,
    ConfirmWarranty,
    OpenDispute,
    ResolveDispute,
    Terminate,
    ExpireDeadline,
)
COMMAND_MODELS: dict[str, type[_Command]] = {
    model.model_fields["type"].default: model for model in ALL_COMMAND_MODELS
}
#: Commands a person or the marketplace may send over HTTP to an existing delivery.
PUBLIC_DELIVERY_COMMANDS = frozenset(COMMAND_MODELS) - {"open_delivery", "expire_deadline"}
