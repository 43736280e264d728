"""A small client of the HTTP API, as a marketplace system or a person's browser would use it."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import aiohttp

from services.gateway.auth import mint_token
from tests.integration.waiting import PATIENCE

CONTACT = {"name": "Ann Buyer", "phone": "+1 555 0100", "email": "ann@customer.example.com"}
DEMAND = {"type": "submit_demand", "contact": CONTACT, "demands": "A shop with a cart"}
#: A basic delivery after its opening: the customer's demand, the ISV's finish, the confirm.
BASIC_STEPS = [("customer", DEMAND), ("isv", {"type": "finish"}), ("customer", {"type": "confirm"})]
#: A stepwise delivery from its demand to completion, with one revision round of the design.
STEPWISE_STEPS = [
    ("customer", DEMAND),
    ("isv", {"type": "finish", "note": "functional design v1"}),
    ("customer", {"type": "request_changes", "reason": "add a blog"}),
    ("isv", {"type": "finish", "note": "functional design v2"}),
    ("customer", {"type": "confirm"}),
    ("isv", {"type": "finish", "note": "UED"}),
    ("customer", {"type": "confirm"}),
    ("isv", {"type": "finish", "note": "built and tested"}),
    ("customer", {"type": "confirm"}),
    ("customer", {"type": "confirm"}),
]
#: The public events of a basic delivery run to completion, in order.
BASIC_EVENTS = ["delivery_opened", "demand_submitted", "stage_finished", "delivery_completed"]


@dataclass(frozen=True)
class Party:
    role: str
    sub: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def open_body(customer: Party, isv: Party, **fields: Any) -> dict[str, Any]:
    """A valid ``open_delivery`` body for a new order of ``customer`` from ``isv`` (process
    ``basic``); ``fields`` replace or add fields."""
    return {
        "order_id": f"order-{uuid.uuid4().hex[:12]}",
        "order_spec": "Company website, 5 pages",
        "product_id": "prod-website",
        "isv_id": isv.sub,
        "customer_id": customer.sub,
        "customer_email": f"{customer.sub}@customer.example.com",
        "isv_email": f"{isv.sub}@isv.example.com",
        "process": "basic",
        **fields,
    }


class Api:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, secret: str):
        self.session = session
        self.base_url = base_url
        self.secret = secret

    def party(self, role: str, sub: str | None = None) -> Party:
        sub = sub or f"{role}-{uuid.uuid4().hex[:8]}"
        return Party(role, sub, mint_token(self.secret, sub=sub, role=role))

    async def request(
        self, method: str, path: str, party: Party | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = {**(party.headers if party else {}), **kwargs.pop("headers", {})}
        async with self.session.request(
            method, self.base_url + path, headers=headers, **kwargs
        ) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.read()

    async def open_delivery(
        self, marketplace: Party, customer: Party, isv: Party, **fields: Any
    ) -> dict[str, Any]:
        body = open_body(customer, isv, **fields)
        status, answer = await self.request("POST", "/v1/deliveries", marketplace, json=body)
        assert status == 202, answer
        outcome = await self.outcome(answer["command_id"], marketplace)
        assert outcome["status"] == "applied", outcome
        return {**body, **answer}

    async def send(
        self, delivery_id: str, party: Party, body: dict[str, Any], **kwargs: Any
    ) -> tuple[int, Any]:
        return await self.request(
            "POST", f"/v1/deliveries/{delivery_id}/commands", party, json=body, **kwargs
        )

    def parties(self) -> dict[str, Party]:
        """A fresh marketplace, customer, ISV and admin, by role."""
        return {role: self.party(role) for role in ("marketplace", "customer", "isv", "admin")}

    async def applied(self, delivery_id: str, party: Party, body: dict[str, Any]) -> str:
        """Send a command that must be applied; its command id."""
        outcome = await self.command(delivery_id, party, body)
        assert outcome["status"] == "applied", outcome
        return outcome["command_id"]

    async def basic_delivery(self, parties: dict[str, Party]) -> str:
        """Open a basic delivery for ``parties`` and run it to completion
        (:data:`BASIC_STEPS`); its id."""
        opened = await self.open_delivery(
            parties["marketplace"], parties["customer"], parties["isv"]
        )
        for role, body in BASIC_STEPS:
            await self.applied(opened["delivery_id"], parties[role], body)
        return opened["delivery_id"]

    async def command(self, delivery_id: str, party: Party, body: dict[str, Any]) -> dict[str, Any]:
        """Send a command and wait for its outcome (applied or rejected)."""
        status, answer = await self.send(delivery_id, party, body)
        assert status == 202, answer
        return await self.outcome(answer["command_id"], party)

    async def outcome(
        self, command_id: str, party: Party, timeout: float = PATIENCE
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            status, answer = await self.request("GET", f"/v1/commands/{command_id}", party)
            assert status == 200, answer
            if answer["status"] != "accepted":
                return answer
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"command {command_id} still accepted after {timeout} s")
            await asyncio.sleep(0.05)

    async def delivery(self, delivery_id: str, party: Party) -> dict[str, Any]:
        status, answer = await self.request("GET", f"/v1/deliveries/{delivery_id}", party)
        assert status == 200, answer
        return answer

    async def wait_for_state(
        self, delivery_id: str, party: Party, state: str, timeout: float = PATIENCE
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            delivery = await self.delivery(delivery_id, party)
            if delivery["state"] == state:
                return delivery
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(
                    f"delivery still {delivery['state']}, not {state}, after {timeout} s"
                )
            await asyncio.sleep(0.1)
