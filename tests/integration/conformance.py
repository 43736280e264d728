"""schemathesis against a running gateway, as a marketplace system writing its client would:
every check (``--checks all``), positive and negative data, every phase (examples, coverage,
fuzzing, and the stateful phase that follows the document's links), once per role with that
role's token (issue 20).

Each role's run is given the ids of a delivery that role takes part in (opened, with an
attachment), so its operations get past 403 and 404 to the parts
that read bodies and files. ``EXPECTED`` lists, with its reason, each answer the document
states but schemathesis cannot know to expect from data it deems valid.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

from services.gateway.auth import mint_token
from tests.integration.gateway_support import PDF
from tests.integration.system import System
from tests.integration.waiting import PATIENCE

#: Each role's party id (the tokens' ``sub``); the known delivery has these parties.
PARTIES = {
    "admin": "conformance-admin",
    "marketplace": "conformance-marketplace",
    "customer": "conformance-customer",
    "isv": "conformance-isv",
}
#: Answers that a schema-valid request may get (``positive_data_acceptance``) beyond 2xx, 401,
#: 403, 404, 409 and 429, by operation, each with the reason no schema can state.
EXPECTED = {
    "GET /v1/events": (
        [400],
        "`after` is an opaque cursor (base64 of a time and an event id): a string this API "
        "did not make is refused with 400 invalid_query",
    ),
    "GET /v1/isvs/{isv_id}/scorecard": (
        [422],
        "`from` after today without `to` is refused (422 invalid_period): today is no schema's",
    ),
    "POST /v1/webhooks": (
        [422],
        "a webhook URL's host must resolve, now, to an address the installation allows "
        "(DC_WEBHOOK_ALLOWED_ADDRESSES): DNS is no schema's",
    ),
    "PATCH /v1/webhooks/{webhook_id}": (
        [422],
        "a new webhook URL's host must resolve to an address the installation allows",
    ),
    "POST /v1/deliveries/{delivery_id}/commands": (
        [422],
        "an Idempotency-Key sent before with another body is refused (422 "
        "idempotency_key_reused, as the IETF Idempotency-Key draft says): it depends on "
        "earlier requests",
    ),
}
#: Operations whose coverage phase runs for one role only, with the reason. The phase sends
#: every value of every enum: for an opening, the 136 locale tags and 598 time zones of its
#: four reader fields, about 1,470 requests a role. One run shows the validator takes every
#: value the document lists; the other roles' would repeat it (admin) or get 403 for each.
COVERAGE_BY_ONE_ROLE = {"POST /v1/deliveries": "marketplace"}
#: The statuses ``positive_data_acceptance`` expects of every schema-valid request.
ACCEPTED_ANYWAY = ["2xx", 401, 403, 404, 409, 429]


@dataclass(frozen=True)
class ConformanceRun:
    """One role's schemathesis run: its exit code, test cases generated, failures and errors
    (a health check that failed, a phase that could not run) found, and seconds taken;
    ``output`` is schemathesis's report."""

    role: str
    exit_code: int
    generated: int
    failures: int
    errors: int
    seconds: float
    output: str

    def __str__(self) -> str:
        return (
            f"{self.role}: {self.generated} cases, {self.failures} failures, "
            f"{self.errors} errors, {self.seconds:.0f} s"
        )


def bearer(system: System, role: str) -> str:
    """``Bearer <JWT>`` for ``role``'s party (:data:`PARTIES`), signed with the system's secret."""
    return "Bearer " + mint_token(system.jwt_secret, sub=PARTIES[role], role=role)


def known_ids(system: System) -> dict[str, str]:
    """Open a delivery between the :data:`PARTIES` and upload an attachment to it: the ids each
    run is given. Webhook endpoints are not given: a run deletes what it is given, and the
    stateful phase follows the document's links from the endpoints it registers."""
    base = system.base_url

    def headers(role: str) -> dict[str, str]:
        return {"Authorization": bearer(system, role)}

    with requests.Session() as session:
        opened = session.post(
            f"{base}/v1/deliveries",
            headers=headers("marketplace"),
            json={
                "order_id": f"conformance-{uuid.uuid4().hex[:12]}",
                "order_spec": "A website, tested for its contract",
                "product_id": "prod-conformance",
                "isv_id": PARTIES["isv"],
                "customer_id": PARTIES["customer"],
                "customer_email": "customer@example.com",
                "isv_email": "isv@example.com",
                "process": "contract",
            },
            timeout=PATIENCE,
        )
        assert opened.status_code == 202, opened.text
        delivery_id, command_id = opened.json()["delivery_id"], opened.json()["command_id"]
        deadline = time.monotonic() + PATIENCE
        while (
            outcome := session.get(
                f"{base}/v1/commands/{command_id}", headers=headers("marketplace"), timeout=PATIENCE
            ).json()
        )["status"] == "accepted":
            assert time.monotonic() < deadline, f"not opened within {PATIENCE} s"
            time.sleep(0.05)
        assert outcome["status"] == "applied", outcome
        uploaded = session.post(
            f"{base}/v1/deliveries/{delivery_id}/attachments",
            headers=headers("customer"),
            files={"file": ("brief.pdf", PDF)},
            timeout=PATIENCE,
        )
        assert uploaded.status_code == 201, uploaded.text
    return {
        "delivery_id": delivery_id,
        "attachment_id": uploaded.json()["attachment_id"],
        "command_id": command_id,
        "isv_id": PARTIES["isv"],
    }


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def config_text(role: str, authorization: str, known: dict[str, str]) -> str:
    """schemathesis.toml for one role's run: its token, the known ids, :data:`EXPECTED` and
    :data:`COVERAGE_BY_ONE_ROLE`."""
    lines = [
        f"headers = {{ Authorization = {_quoted(authorization)} }}",
        "",
        "[parameters]",
        *(f"{name} = {_quoted(value)}" for name, value in known.items()),
    ]
    for name, covering_role in COVERAGE_BY_ONE_ROLE.items():
        if role != covering_role:
            lines += [
                "",
                "[[operations]]",
                f"include-name = {_quoted(name)}",
                "phases.coverage.enabled = false",
            ]
    for name, (statuses, reason) in EXPECTED.items():
        expected = ", ".join(_quoted(s) if isinstance(s, str) else str(s) for s in ACCEPTED_ANYWAY)
        lines += [
            "",
            f"# {reason}",
            "[[operations]]",
            f"include-name = {_quoted(name)}",
            f"checks.positive_data_acceptance.expected-statuses = [{expected}, "
            f"{', '.join(map(str, statuses))}]",
        ]
    return "\n".join(lines) + "\n"


_GENERATED = re.compile(r"(\d+) generated")
_FAILURES = re.compile(r"(\d+) failures?\b")
_ERRORS = re.compile(r"(\d+) errors?\b")
#: schemathesis's closing line: "==== 1 error, 3 warnings in 37.08s ====".
_CLOSING = re.compile(r"^=+ (.*) in [0-9.]+s =+$", re.MULTILINE)


def run_schemathesis(
    system: System,
    role: str,
    known: dict[str, str],
    *,
    max_examples: int,
    seed: int,
    folder: Path,
    timeout: float,
) -> ConformanceRun:
    """``st run`` against ``system``'s /openapi.json as ``role``, every check and phase,
    positive and negative data, ``max_examples`` per operation and phase, seeded."""
    config = folder / f"schemathesis-{role}.toml"
    config.write_text(config_text(role, bearer(system, role), known))
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--no-color",
        "--config-file",
        str(config),
        "run",
        f"{system.base_url}/openapi.json",
        "--checks",
        "all",
        "--mode",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--request-timeout",
        "30",
        "--continue-on-failure",
    ]
    started = time.monotonic()
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=folder, check=False
    )
    output = result.stdout + result.stderr
    closing = _CLOSING.findall(output)
    summary = closing[-1] if closing else ""
    failures, errors = _FAILURES.search(summary), _ERRORS.search(summary)
    return ConformanceRun(
        role=role,
        exit_code=result.returncode,
        generated=sum(int(n) for n in _GENERATED.findall(output)),
        failures=int(failures.group(1)) if failures else 0,
        errors=int(errors.group(1)) if errors else 0,
        seconds=time.monotonic() - started,
        output=output,
    )
