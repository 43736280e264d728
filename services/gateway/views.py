"""The JSON shapes of a delivery as the API shows it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.runtime.delivery_days import DAY_FIELDS

#: Stored fields that are bookkeeping and never shown.
_HIDDEN = frozenset({"_id", "revision", "outbox", "has_outbox", *DAY_FIELDS})


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


def attachment_view(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "attachment_id": record["_id"],
        "filename": record["filename"],
        "size": record["size"],
        "content_type": record["content_type"],
        "sha256": record["sha256"],
        "uploaded_at": record["uploaded_at"].isoformat(),
    }


def _deadlines(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "kind": d["kind"],
            "due_at": d["due_at"].isoformat() if d.get("due_at") else None,
            "status": d["status"],
            "remaining_seconds": d.get("remaining_seconds"),
        }
        for d in document.get("deadlines", [])
    ]


def summary_view(document: dict[str, Any]) -> dict[str, Any]:
    return {
        "delivery_id": document["_id"],
        "order_id": document["order_id"],
        "product_id": document["product_id"],
        "process": document["process"],
        "state": document["state"],
        "version": document["version"],
        "customer_id": document["customer_id"],
        "isv_id": document["isv_id"],
        "deadlines": _deadlines(document),
        "dispute": _jsonable(document.get("dispute")),
        "updated_at": document["updated_at"].isoformat(),
    }


def delivery_view(document: dict[str, Any], files: dict[str, dict[str, Any]]) -> dict[str, Any]:
    def file(attachment_id: str) -> dict[str, Any]:
        record = files.get(attachment_id)
        return attachment_view(record) if record else {"attachment_id": attachment_id}

    view = {k: _jsonable(v) for k, v in document.items() if k not in _HIDDEN}
    view["delivery_id"] = document["_id"]
    view["deadlines"] = _deadlines(document)
    view["attachments"] = [file(a) for a in document.get("attachments", [])]
    view["contract"] = file(document["contract"]) if document.get("contract") else None
    return view


class PendingDelivery(BaseModel):
    """A delivery whose open is accepted and not applied yet: ``GET /v1/deliveries/{id}``
    answers it with 202 until the workflow has opened it."""

    delivery_id: str
    order_id: str | None = Field(description="null only for opens accepted before it was kept")
    state: None = Field(default=None, description="null until the open is applied")
    command_id: str = Field(description="the open; its status is at /v1/commands/{command_id}")
    status: Literal["accepted"] = "accepted"
