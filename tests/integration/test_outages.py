"""Nothing accepted is lost when RabbitMQ restarts or the database goes away under load.

Each test stops a server of its own (``own_servers``), never the machine's shared broker or
database that other test runs use at the same time, and runs a whole system on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from tests.integration.client import Api
from tests.integration.faults import (
    CALM,
    assert_exactly_once,
    label,
    progress_points,
    report_figures,
    run_under_fault,
)
from tests.integration.load import (
    STALL_TIMEOUT,
    LoadReport,
    run_one,
    work_timeout,
)
from tests.integration.own_servers import OwnFerretDB, own_ferretdb
from tests.integration.system import System, running_system
from tests.integration.waiting import until
from tooling.mailsink import MailSink
from tooling.rabbitmq_nodes import RabbitNode, own_rabbitmq

#: Enough deliveries that the outage meets ``CONCURRENCY`` commands in flight.
RESTART_DELIVERIES = 40
OUTAGE_DELIVERIES = 40


@pytest.fixture
def own_broker() -> Iterator[RabbitNode]:
    with own_rabbitmq() as broker:
        yield broker


@pytest.fixture
def system_on_own_broker(mail: MailSink, request, own_broker: RabbitNode) -> Iterator[System]:
    with running_system(
        mail.port, label(request), own_broker_url=own_broker.amqp_url, **CALM
    ) as system:
        yield system


@pytest.fixture
def own_database() -> Iterator[OwnFerretDB]:
    with own_ferretdb() as server:
        yield server


@pytest.fixture
def system_on_own_database(mail: MailSink, request, own_database: OwnFerretDB) -> Iterator[System]:
    with running_system(
        mail.port, label(request), DC_MONGO_URL=own_database.mongo_url, **CALM
    ) as system:
        yield system


@pytest.mark.long(40)
@pytest.mark.timeout(work_timeout(RESTART_DELIVERIES))
async def test_a_rabbitmq_restart_loses_nothing_accepted(
    own_broker: RabbitNode,
    system_on_own_broker: System,
    mail: MailSink,
    request: pytest.FixtureRequest,
):
    report = LoadReport()

    async def restart_broker(api: Api) -> None:
        [applied] = progress_points(RESTART_DELIVERIES, 1)
        await report.wait_until_applied(applied)
        refused_before = report.answers[503]
        await asyncio.to_thread(own_broker.stop_app)
        try:
            # The run's clients are all waiting for outcomes now; one more marketplace opens
            # a delivery, and is refused until the broker is back. Down until it was refused.
            late_opening = asyncio.create_task(run_one(api, report))
            await until(
                lambda: report.answers[503] > refused_before,
                "the gateway answers 503 while the broker is down",
                timeout=STALL_TIMEOUT,
            )
        finally:
            await asyncio.to_thread(own_broker.start_app)
        await late_opening

    await run_under_fault(system_on_own_broker, RESTART_DELIVERIES, report, restart_broker)
    assert report.answers[503] > 0, f"the gateway never saw the broker down: {report.answers}"
    figures = await assert_exactly_once(system_on_own_broker, mail, report)
    report_figures(request, "RabbitMQ restart", f"{figures}; answers {dict(report.answers)}")


@pytest.mark.long(50)
@pytest.mark.timeout(work_timeout(OUTAGE_DELIVERIES))
async def test_a_database_outage_loses_and_duplicates_nothing(
    own_database: OwnFerretDB,
    system_on_own_database: System,
    mail: MailSink,
    request: pytest.FixtureRequest,
):
    report = LoadReport()

    async def outage(api: Api) -> None:
        [applied] = progress_points(OUTAGE_DELIVERIES, 1)
        await report.wait_until_applied(applied)
        refused_before = report.refusals()
        await asyncio.to_thread(own_database.stop)
        try:
            # The run's clients may all be waiting on outcome polls, which need not be refused
            # soon; a marketplace opening a delivery now is, as its command cannot be recorded.
            # Down until a client was refused.
            late_opening = asyncio.create_task(run_one(api, report))
            await report.wait_for_refusal(more_than=refused_before)
        finally:
            await asyncio.to_thread(own_database.start)
        await late_opening

    await run_under_fault(system_on_own_database, OUTAGE_DELIVERIES, report, outage)
    figures = await assert_exactly_once(system_on_own_database, mail, report)
    report_figures(
        request,
        "FerretDB outage",
        f"{figures}; answers {dict(report.answers)}, polls {dict(report.polls)}",
    )
