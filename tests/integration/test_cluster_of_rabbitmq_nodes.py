"""A three-node RabbitMQ cluster with quorum queues: the node leading ``dc.commands`` dies
(``kill -9``) in the middle of a run and starts again, and nothing is lost or done twice
(issue 19).

The cluster is the test's own (``tooling.rabbitmq_nodes``: three nodes on this machine, one
Erlang cookie, joined with ``rabbitmqctl join_cluster``). The services are given all three
nodes in ``DC_AMQP_URL``; three workflow processes each start the list at a different node,
so consumers sit on every node, and each lost connection is made again to a node that
answers.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.contracts.queues import COMMANDS_QUEUE
from tests.integration.client import Api
from tests.integration.concurrent_commands import (
    BUSY_SYSTEM,
    add_workflow,
    serialise_concurrent_commands,
)
from tests.integration.faults import (
    CALM,
    progress_points,
    report_figures,
    run_figures,
    run_under_fault,
)
from tests.integration.load import LoadReport, work_timeout
from tests.integration.system import System, running_system
from tooling.mailsink import MailSink
from tooling.provision import amqp_reachable
from tooling.rabbitmq_nodes import RabbitNode, cluster_amqp_url, quorum_leader, rabbitmq_cluster

#: The issue's run: 200 basic deliveries, 800 commands.
DELIVERIES = 200
#: Commands applied while the leader is down before it starts again: the cluster works on
#: two nodes for a while, not just for a moment.
APPLIED_WHILE_DOWN = 80
WORKFLOWS = ("workflow", "workflow-2", "workflow-3")


@pytest.fixture(scope="module")
def cluster() -> Iterator[list[RabbitNode]]:
    with rabbitmq_cluster(3) as nodes:
        yield nodes


@pytest.fixture(scope="module")
def cluster_system(mail: MailSink, cluster: list[RabbitNode]) -> Iterator[System]:
    """The four services on the cluster with quorum queues, and two more workflow processes:
    ``workflow-N`` starts its node list at node N."""
    with running_system(
        mail.port,
        "rabbitmq-cluster",
        own_broker_url=cluster_amqp_url(cluster),
        DC_QUEUE_TYPE="quorum",
        **{**BUSY_SYSTEM, **CALM},
    ) as system:
        for first, name in enumerate(WORKFLOWS[1:], 1):
            add_workflow(system, name, DC_AMQP_URL=cluster_amqp_url(cluster, first=first))
        yield system


async def test_three_workflow_processes_on_the_cluster_keep_each_delivery_in_one_order(
    cluster_system: System, mail: MailSink, request: pytest.FixtureRequest
):
    figures = await serialise_concurrent_commands(cluster_system, mail, WORKFLOWS)
    report_figures(request, "3 workflow processes on a 3-node cluster", figures)


@pytest.mark.long(100)
@pytest.mark.timeout(work_timeout(DELIVERIES))
async def test_killing_the_node_that_leads_dc_commands_loses_and_duplicates_nothing(
    cluster: list[RabbitNode],
    cluster_system: System,
    mail: MailSink,
    request: pytest.FixtureRequest,
):
    report = LoadReport()
    moves: list[str] = []
    # Asked before the run (the workers declared the queue when they started): rabbitmqctl
    # takes seconds on a loaded machine, and the run would go on meanwhile.
    leader = quorum_leader(cluster, COMMANDS_QUEUE)

    async def lose_the_leader(api: Api) -> None:
        [halfway] = progress_points(DELIVERIES, 1)
        await report.wait_until_applied(halfway)
        # kill -9: the node dies at once, as its machine would (a graceful stop takes seconds
        # on a loaded machine, while the run goes on).
        await asyncio.to_thread(leader.kill)
        stopped_at, down_since = report.applied, time.monotonic()
        successor = await asyncio.to_thread(quorum_leader, cluster, COMMANDS_QUEUE)
        moves.append(
            f"{leader.node} (the leader) killed after {stopped_at} commands applied, "
            f"{successor.node} led instead"
        )
        try:
            await report.wait_until_applied(stopped_at + APPLIED_WHILE_DOWN)
        finally:
            await asyncio.to_thread(leader.start)
        moves.append(
            f"{leader.node} back after {time.monotonic() - down_since:.0f} s, "
            f"{report.applied} applied"
        )

    await run_under_fault(cluster_system, DELIVERIES, report, lose_the_leader)
    figures = await run_figures(cluster_system, mail, report)
    report_figures(
        request,
        "3-node RabbitMQ cluster, dc.commands leader killed mid-run",
        f"{figures}; answers {dict(report.answers)}; {'; '.join(moves)}",
    )
    assert figures.faults() == 0, figures


def test_delivery_center_cluster_runs_nodes_until_interrupted_and_deletes_them():
    command = [sys.executable, "-m", "services.cli", "cluster", "--nodes", "1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    lines = []
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("export DC_AMQP_URL="):
                break
        urls = line.removeprefix("export DC_AMQP_URL=").strip().split(",")
        assert len(urls) == 1, lines
        assert all(amqp_reachable(url) for url in urls), lines
        data = re.search(r"data (\S+)", "".join(lines))
        assert data is not None, lines
        folder = Path(data.group(1)).parent
        assert folder.is_dir()
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=120)
    assert process.returncode == 0, rest
    assert "stopping the nodes" in rest
    assert not folder.exists()
    assert not any(amqp_reachable(url, timeout=1.0) for url in urls)
