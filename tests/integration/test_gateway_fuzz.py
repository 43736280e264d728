"""A schema-driven fuzz of the HTTP API: schemathesis reads the gateway's /openapi.json and
sends valid and invalid requests to every operation; none may answer 5xx, and every answer
must match the document (status, content type, schema, headers)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from services.gateway.auth import mint_token
from tests.integration.gateway_support import PDF
from tests.integration.system import System, running_system
from tests.integration.waiting import PATIENCE
from tooling.mailsink import MailSink

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
#: Examples per operation and generation mode: about 12 operations x 2 modes.
MAX_EXAMPLES = 60


@pytest.fixture(scope="module")
def fuzzed_system(mail: MailSink) -> Iterator[System]:
    # A system of its own: the fuzz's deliveries stay out of the session's database, and its
    # many requests per caller are not slowed by the rate limit.
    with running_system(
        mail.port, "fuzz", DC_RATE_LIMIT_PER_SECOND="100000", DC_RATE_LIMIT_BURST="100000"
    ) as running:
        yield running


def _bearer(system: System, role: str, sub: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(system.jwt_secret, sub=sub, role=role)}


def _known_ids(system: System, session: requests.Session) -> dict[str, str]:
    """A delivery of the fuzzing customer, an attachment and a command on it, so that the
    fuzz gets past the 404s to the parts that read bodies and files."""
    marketplace = _bearer(system, "marketplace", "fuzz-marketplace")
    customer = _bearer(system, "customer", "fuzz-customer")
    answer = session.post(
        f"{system.base_url}/v1/deliveries",
        headers=marketplace,
        json={
            "order_id": f"fuzz-{uuid.uuid4().hex[:12]}",
            "order_spec": "Fuzzed website",
            "product_id": "prod-fuzz",
            "isv_id": "fuzz-isv",
            "customer_id": "fuzz-customer",
            "customer_email": "customer@example.com",
            "isv_email": "isv@example.com",
            "process": "contract",
        },
        timeout=PATIENCE,
    )
    assert answer.status_code == 202, answer.text
    delivery_id, command_id = answer.json()["delivery_id"], answer.json()["command_id"]
    deadline = time.monotonic() + PATIENCE
    while (
        outcome := session.get(
            f"{system.base_url}/v1/commands/{command_id}", headers=marketplace, timeout=PATIENCE
        ).json()
    )["status"] == "accepted":
        assert time.monotonic() < deadline, f"the delivery was not opened within {PATIENCE} s"
        time.sleep(0.05)
    assert outcome["status"] == "applied", outcome
    uploaded = session.post(
        f"{system.base_url}/v1/deliveries/{delivery_id}/attachments",
        headers=customer,
        files={"file": ("brief.pdf", PDF)},
        timeout=PATIENCE,
    )
    assert uploaded.status_code == 201, uploaded.text
    sent = session.post(
        f"{system.base_url}/v1/deliveries/{delivery_id}/commands",
        headers=customer,
        json={"type": "confirm"},
        timeout=PATIENCE,
    )
    assert sent.status_code == 202, sent.text
    return {
        "delivery_id": delivery_id,
        "attachment_id": uploaded.json()["attachment_id"],
        "command_id": sent.json()["command_id"],
    }


def _run(strategy: st.SearchStrategy, session: requests.Session, auth: dict[str, str]) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def fuzz(case) -> None:
        case.call_and_validate(session=session, headers=auth, checks=CHECKS, timeout=PATIENCE)

    fuzz()


def test_fuzzing_the_api_finds_no_server_error_and_no_departure_from_the_document(
    fuzzed_system: System,
):
    system = fuzzed_system
    with requests.Session() as session:
        known = _known_ids(system, session)
    headers = {
        # Only the marketplace (and admin) may open; the customer owns the known delivery.
        ("POST", "/v1/deliveries"): _bearer(system, "marketplace", "fuzz-marketplace"),
    }
    customer = _bearer(system, "customer", "fuzz-customer")
    schema = schemathesis.openapi.from_url(f"{system.base_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10

    def fuzz(operation, mode: GenerationMode) -> None:
        fixed = {
            name: known[name]
            for name in ("delivery_id", "attachment_id", "command_id")
            if name in operation.path
        }
        auth = headers.get((operation.method.upper(), operation.path), customer)
        strategies = [operation.as_strategy(generation_mode=mode)]
        if fixed:
            strategies.append(operation.as_strategy(generation_mode=mode, path_parameters=fixed))
        try:
            with requests.Session() as session:
                _run(st.one_of(strategies), session, auth)
        except Unsatisfiable:
            # Nothing to make invalid: the operation takes no parameters and no body.
            assert mode == GenerationMode.NEGATIVE, operation.label

    # One at a time: schemathesis's generation is not thread-safe (tried: it fails in threads).
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fuzz(operation, mode)
