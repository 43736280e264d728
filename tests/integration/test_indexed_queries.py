"""Every query the product makes is served by an index on the provisioned database server.

The product's own code runs in this process against a fresh database and a RabbitMQ virtual
host of its own: the workflow opens and changes a few hundred deliveries spread over several
days (store, outbox relay, deadline book, outcomes), the gateway answers its API reads and
lists, uploads and downloads (GridFS), pages and admin list, the notifier records its emails,
the operators' reports and dead-letter commands run, and the timer fires every deadline.

A pymongo ``CommandListener`` sees each find, update, delete, findAndModify, count, distinct
and aggregate they send, with the product function that sent it. Each distinct (function,
collection, filter shape) is explained as a find with the same filter; on FerretDB the plan is
SQLite's ``EXPLAIN QUERY PLAN``, where ``SCAN <table>`` reads the whole collection and
``SEARCH <table> USING INDEX`` does not. A scan fails the test, naming the query, unless it
reads at most ``limit`` rows (an empty filter with the limit pushed down) or it is listed in
``SCANS_ON_PURPOSE`` with the reason. Nothing here waits for time to pass: clocks are given.

The second test checks that the newest-first lists, which now walk the days through an index
(``services.runtime.delivery_days``), give exactly what one sort of every delivery gave.
"""

from __future__ import annotations

import asyncio
import json
import re
import traceback
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from html import unescape
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import aiohttp
import pika
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pymongo import MongoClient, monitoring
from pymongo.database import Database

import services
from services.gateway.app import create_app
from services.gateway.attachments import store_file
from services.gateway.auth import mint_token
from services.gateway.pages import recently_updated
from services.gateway.pages.csrf import csrf_token
from services.gateway.pages.mine import read_page
from services.gateway.pages.mine_query import Filters
from services.gateway.pages.mine_rows import order_waiting
from services.notifier.sending import Notifier
from services.ops import dead_letters, reports
from services.ops import scorecards as ops_scorecards
from services.runtime import delivery_days
from services.runtime.bootstrap import make_broker
from services.runtime.collections import (
    ATTACHMENTS,
    DEAD_LETTERS,
    DELIVERIES,
    DELIVERY_DAYS,
    EMAILS,
    EMAILS_SENT,
    GRIDFS_CHUNKS,
    LIST_PROJECTION,
    database,
    ensure_indexes,
    make_mongo,
)
from services.runtime.dead_letter_recorder import DeadLetterRecorder
from services.runtime.deadline_book import DeadlineBook
from services.runtime.delivery_days import DAY_FIELDS
from services.runtime.links import sign_admin_link, sign_link
from services.runtime.list_links import ListLink, sign_list_link
from services.runtime.party_lists import (
    LIST_FIELDS,
    WALKED_GROUPS,
    YOURS,
    Position,
    list_group,
)
from services.runtime.scorecards import ScorecardBook
from services.timers.firing import DeadlineFirer
from services.workflow.actors import Workflow, policy_of
from services.workflow.apply import CommandApplier
from services.workflow.relay import OutboxRelay
from services.workflow.store import DeliveryStore
from shared.config import Settings
from shared.contracts.messages import CommandEnvelope
from shared.contracts.queues import APPLY_COMMAND_ACTOR, COMMANDS_QUEUE
from shared.domain.actions import Situation
from shared.domain.commands import Confirm, Contact, Finish, OpenDelivery, SubmitDemand
from shared.domain.delivery import PARTY_ID_FIELDS
from shared.domain.engine import Applied, delivery_id_for, open_delivery
from shared.domain.events import Event
from shared.domain.roles import Actor, Role
from shared.domain.score_periods import Period
from tooling.vhosts import create_vhost, delete_vhost

pytestmark = pytest.mark.integration

REPO = Path(services.__file__).resolve().parent.parent
SERVICES = REPO / "services"

#: Queries that read a whole collection on purpose, by (innermost product function,
#: collection): why that is right.
SCANS_ON_PURPOSE = {
    ("services/runtime/delivery_days.py:newest_first", DELIVERY_DAYS): (
        "the newest-first walk reads its list of days whole: one tiny record per active day"
    ),
    ("services/runtime/delivery_days.py:newest_first_sync", DELIVERY_DAYS): (
        "the newest-first walk reads its list of days whole: one tiny record per active day"
    ),
    ("services/runtime/party_lists.py:days", DELIVERY_DAYS): (
        "each party's list reads its calendar of days whole, at most once in ten minutes per "
        "gateway process: one tiny record per active day"
    ),
    ("services/ops/reports.py:stats", DELIVERIES): (
        "`stats` reports on every delivery: reading them all is the report (an operator's "
        "command, never a request path)"
    ),
    ("services/ops/dead_letters.py:purge", DEAD_LETTERS): (
        "`dlq purge` deletes every dead-letter record"
    ),
    ("services/runtime/scorecards.py:rebuild_from", DELIVERIES): (
        "`scorecard rebuild` files every delivery's facts again: reading them all, a batch at "
        "a time, is the command (an operator's, never a request path)"
    ),
    ("services/workflow/migrations.py:flag_outboxes_stored_before_the_flag", DELIVERIES): (
        "a one-off migration, run once per database and then recorded in `migrations`"
    ),
    ("services/workflow/migrations.py:date_deliveries_stored_before_the_days", DELIVERIES): (
        "a one-off migration, run once per database and then recorded in `migrations`"
    ),
    ("services/workflow/migrations.py:place_deliveries_stored_before_the_lists", DELIVERIES): (
        "a one-off migration, run once per database and then recorded in `migrations`"
    ),
}

#: Deliveries opened per day, and the days they are spread over.
PER_DAY = 40
DAYS = 5
CONTACT = Contact(name="Ada Buyer", phone="+49 30 1234567", email="ada@customer.example.com")
MARKETPLACE = Actor(id="marketplace", role=Role.MARKETPLACE)
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


# --- recording the product's queries -----------------------------------------------------


@dataclass
class Query:
    """One kind of query: where it came from, on which collection, an example filter."""

    origin: str
    callers: str
    collection: str
    command: str
    filter: dict[str, Any]
    limit: int | None
    plan: list[str] | None = None
    limit_pushed_down: bool = False

    def describe(self) -> str:
        limit = f", limit {self.limit}" if self.limit else ""
        return (
            f"{self.command} on {self.collection} with {self.filter!r}{limit}\n"
            f"    from {self.callers}\n    plan: {self.plan}"
        )


def _shape(value: Any) -> Any:
    """A filter with its values replaced by their types: queries of one shape share a plan."""
    if isinstance(value, dict):
        return tuple((key, _shape(item)) for key, item in value.items())
    if isinstance(value, list | tuple):
        return ("list", tuple(sorted({repr(_shape(item)) for item in value})))
    return type(value).__name__


def _collection_kind(name: str) -> str:
    """Hourly deadline buckets are one kind of collection."""
    return re.sub(r"^deadlines_\d{10}$", "deadlines_<hour>", name)


def _filters(name: str, command: dict[str, Any]) -> list[tuple[str, dict[str, Any], int | None]]:
    """The (collection, filter, limit) of each query in one command; [] for other commands."""
    if name in ("find", "count"):
        return [
            (
                command[name],
                dict(command.get("filter", command.get("query")) or {}),
                command.get("limit"),
            )
        ]
    if name == "update":
        return [(command[name], dict(u["q"]), None) for u in command["updates"]]
    if name == "delete":
        return [(command[name], dict(d["q"]), None) for d in command["deletes"]]
    if name == "findAndModify":
        return [(command[name], dict(command.get("query") or {}), None)]
    if name == "distinct":
        return [(command[name], dict(command.get("query") or {}), None)]
    if name == "aggregate":
        pipeline = command.get("pipeline") or [{}]
        return [(command[name], dict(pipeline[0].get("$match", {})), None)]
    return []


def _product_callers() -> list[str]:
    """``services/...py:function`` of each product function on the stack, innermost first."""
    found = []
    for frame in reversed(traceback.extract_stack()):
        path = Path(frame.filename).resolve()
        # A comprehension is a frame of its own; the function around it names the query.
        if SERVICES in path.parents and not frame.name.startswith("<"):
            found.append(f"{path.relative_to(REPO)}:{frame.name}")
    return found


class QueryRecorder(monitoring.CommandListener):
    """Every kind of query sent to one database, explained once, while the collection exists.

    pymongo has no way to unregister a listener; outside ``database_name`` this one ignores
    everything, so it is harmless for the rest of the session.
    """

    def __init__(self, mongo_url: str, database_name: str):
        self.database_name = database_name
        self.queries: dict[tuple, Query] = {}
        self.errors: list[str] = []
        self._pending: dict[int, list[Query]] = {}
        self._explainer: MongoClient | None = None
        self._mongo_url = mongo_url

    def explainer(self) -> Database:
        if self._explainer is None:
            self._explainer = MongoClient(self._mongo_url, tz_aware=True)
        return self._explainer[self.database_name]

    def close(self) -> None:
        if self._explainer is not None:
            self._explainer.close()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.database_name != self.database_name:
            return
        try:
            found = _filters(event.command_name, event.command)
            if not found:
                return
            callers = _product_callers()
            origin = callers[0] if callers else "(not the product)"
            fresh = []
            for collection, query_filter, limit in found:
                key = (
                    origin,
                    _collection_kind(collection),
                    event.command_name,
                    repr(_shape(query_filter)),
                    bool(limit),
                )
                if key not in self.queries:
                    query = Query(
                        origin,
                        " <- ".join(callers) or origin,
                        collection,
                        event.command_name,
                        query_filter,
                        limit,
                    )
                    self.queries[key] = query
                    fresh.append(query)
            if fresh:
                self._pending[event.request_id] = fresh
        except Exception:  # pymongo swallows a listener's errors: keep them for the test
            self.errors.append(traceback.format_exc())

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        # Explain right after the query ran: the collection exists now (an upsert may just
        # have created it) and still exists (a finished deadline bucket is dropped later).
        for query in self._pending.pop(event.request_id, []):
            try:
                self.explain(query)
            except Exception:
                self.errors.append(traceback.format_exc())

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._pending.pop(event.request_id, None)

    def explain(self, query: Query) -> None:
        spec: dict[str, Any] = {"find": query.collection, "filter": query.filter}
        if query.limit:
            spec["limit"] = query.limit
        answer = self.explainer().command("explain", spec)
        # An empty plan means the collection does not exist (yet): explained again at the end.
        query.plan = answer["queryPlanner"].get("Plan")
        query.limit_pushed_down = bool(answer.get("limitPushdown"))


def _scans(query: Query) -> bool:
    assert query.plan is not None
    if query.filter == {} and query.limit_pushed_down:
        return False  # reads at most `limit` rows (GridFS asking whether a bucket is empty)
    return any(re.search(r"\bSCAN\b", step) for step in query.plan)


# --- exercising the product ---------------------------------------------------------------


class Clock:
    """A clock the test moves; the product's code asks it for the time."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Exercised:
    recorder: QueryRecorder
    settings: Settings
    events: list[Event] = field(default_factory=list)


def _open(order_id: str, customer: str, isv: str, now: datetime) -> CommandEnvelope:
    command = OpenDelivery(
        order_id=order_id,
        order_spec="Company website, 5 pages",
        product_id="prod-website",
        isv_id=isv,
        customer_id=customer,
        customer_email=f"{customer}@customer.example.com",
        isv_email=f"{isv}@isv.example.com",
        process="basic",
    )
    return CommandEnvelope(
        command_id=f"open:{delivery_id_for(order_id)}",
        delivery_id=delivery_id_for(order_id),
        actor=MARKETPLACE,
        issued_at=now,
        command=command,
    )


def _by(actor: Actor, delivery_id: str, command: Any, now: datetime) -> CommandEnvelope:
    return CommandEnvelope(
        command_id=f"cmd-{uuid.uuid4().hex}",
        delivery_id=delivery_id,
        actor=actor,
        issued_at=now,
        command=command,
    )


def _customer(i: int) -> str:
    return f"customer-{i % 7}"


def _isv(i: int) -> str:
    return f"isv-{i % 3}"


def _dead_letter_on(amqp_url: str, message_id: str) -> None:
    """A dead letter in the commands' dead-letter queue of this test's virtual host."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    try:
        channel = connection.channel()
        # dramatiq declared it (with its own arguments) when the gateway published a command.
        queue = dead_letters.dead_letter_queue(COMMANDS_QUEUE)
        body = {
            "queue_name": COMMANDS_QUEUE,
            "actor_name": APPLY_COMMAND_ACTOR,
            "args": [{}],
            "kwargs": {},
            "options": {},
            "message_id": message_id,
        }
        channel.basic_publish("", queue, json.dumps(body).encode())
    finally:
        connection.close()


async def _run_the_workflow(db, settings: Settings, events: list[Event]) -> list[str]:
    """Open ``PER_DAY`` deliveries on each of ``DAYS`` past days, move some on later (some
    refused), as the workflow does; returns the delivery ids."""

    async def keep_event(event: Event) -> None:
        events.append(event)

    store = DeliveryStore(db)
    start = datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0)
    clock = Clock(start - timedelta(days=DAYS + 3))
    applier = CommandApplier(
        store,
        OutboxRelay(store, DeadlineBook(db), keep_event, ScorecardBook(db)),
        db[ATTACHMENTS],
        policy_of(settings),
        clock=clock,
    )
    ids = []
    for day in range(DAYS):
        for i in range(PER_DAY):
            clock.now = start - timedelta(days=DAYS + 3 - day, minutes=-7 * i)
            envelope = _open(f"order-{day}-{i}", _customer(i), _isv(i), clock.now)
            assert await applier.apply(envelope) == "applied"
            ids.append(envelope.delivery_id)
    return ids


async def _move_on(db, settings: Settings, ids: list[str], attachment_id: str) -> None:
    """Every third delivery gets its demand submitted days later, every sixth is then
    finished (which opens its confirmation deadlines), every fifth gets a refused
    confirmation: updated_at and opened_at then order the deliveries differently."""
    store = DeliveryStore(db)
    clock = Clock(datetime.now(UTC) - timedelta(days=2))
    applier = CommandApplier(
        store,
        OutboxRelay(store, DeadlineBook(db), _ignore_event, ScorecardBook(db)),
        db[ATTACHMENTS],
        policy_of(settings),
        clock=clock,
    )
    for n, delivery_id in enumerate(ids):
        clock.now += timedelta(minutes=11)
        customer = Actor(id=_customer(n % PER_DAY), role=Role.CUSTOMER)
        if n % 3 == 0:
            files = [attachment_id] if n == 0 else []
            demand = SubmitDemand(contact=CONTACT, demands="A shop", attachments=files)
            assert await applier.apply(_by(customer, delivery_id, demand, clock.now)) == "applied"
        if n % 6 == 0:
            isv = Actor(id=_isv(n % PER_DAY), role=Role.ISV)
            finish = Finish(note="done")
            assert await applier.apply(_by(isv, delivery_id, finish, clock.now)) == "applied"
        elif n % 5 == 0:  # nothing to confirm yet
            assert await applier.apply(_by(customer, delivery_id, Confirm(), clock.now)) == (
                "rejected"
            )


async def _ignore_event(event: Event) -> None:
    return None


async def _use_the_gateway(settings: Settings, delivery_id: str) -> None:
    """Every read, list, page and download of the gateway, and its accepting of commands
    (API and page form) and files."""
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:

        def auth(role: str, sub: str) -> dict[str, str]:
            return {
                "Authorization": f"Bearer {mint_token(settings.jwt_secret, sub=sub, role=role)}"
            }

        customer = auth("customer", _customer(0))
        admin = auth("admin", "admin-1")

        async def get(path: str, headers: dict[str, str] | None = None, status: int = 200) -> Any:
            async with client.get(path, headers=headers or {}) as response:
                assert response.status == status, (path, await response.text())
                if response.content_type == "application/json":
                    return await response.json()
                return await response.read()

        form = aiohttp.FormData()
        form.add_field("file", PDF, filename="spec.pdf", content_type="application/pdf")
        async with client.post(
            f"/v1/deliveries/{delivery_id}/attachments", data=form, headers=customer
        ) as response:
            assert response.status == 201, await response.text()
            attachment_id = (await response.json())["attachment_id"]
        assert await get(f"/v1/attachments/{attachment_id}", customer) == PDF

        # Lists of one state or ISV read small ones directly, large ones day by day: both.
        for small_list in (delivery_days.SMALL_LIST, 1):
            with mock.patch.object(delivery_days, "SMALL_LIST", small_list):
                for path, headers in [
                    ("/v1/deliveries?limit=10", admin),
                    ("/v1/deliveries?limit=10&skip=45", auth("marketplace", "marketplace")),
                    ("/v1/deliveries?state=awaiting_demand&limit=10", admin),
                    ("/v1/deliveries", customer),
                    ("/v1/deliveries?state=in_delivery", customer),
                    ("/v1/deliveries", auth("isv", _isv(0))),
                    ("/v1/deliveries?state=in_delivery", auth("isv", _isv(0))),
                    (f"/v1/deliveries/{delivery_id}", customer),
                    (f"/v1/deliveries/{delivery_id}", admin),
                ]:
                    await get(path, headers)

        # Accepting: a new order, the same order again, a command; each is recorded.
        opened = {
            **_open("order-new", _customer(0), _isv(0), datetime.now(UTC)).command.model_dump()
        }
        for _ in range(2):
            async with client.post(
                "/v1/deliveries", json=opened, headers=auth("marketplace", "marketplace")
            ) as response:
                assert response.status == 202, await response.text()
        async with client.post(
            f"/v1/deliveries/{delivery_id}/commands",
            json={"type": "confirm"},
            headers={**customer, "Idempotency-Key": "k-1"},
        ) as response:
            assert response.status == 202, await response.text()
            command_id = (await response.json())["command_id"]
        await get(f"/v1/commands/{command_id}", customer)

        admin_token = sign_admin_link(settings)
        await get(f"/admin?t={admin_token}")
        for small_list in (delivery_days.SMALL_LIST, 1):
            with mock.patch.object(delivery_days, "SMALL_LIST", small_list):
                await get(f"/admin?t={admin_token}&state=in_delivery&overdue=1")
        await get(f"/admin?t={admin_token}&command={command_id}")
        # The scorecards: the table (one document by _id), one ISV's (its days by _id).
        await get(f"/admin/scorecards?t={admin_token}&sort=trend&order=asc")
        await get(f"/admin/scorecards/{_isv(0)}?t={admin_token}")
        await get(f"/v1/isvs/{_isv(0)}/scorecard?from=2026-01-01&to=2026-12-31", admin)
        # Each party's own list: what waits for them (one equality), then the rest walked a
        # window of days at a time ($in), an order ID looked up by _id, and a next page.
        for role, party in ((Role.CUSTOMER, _customer(0)), (Role.ISV, _isv(0))):
            mine = sign_list_link(settings, party, role)
            first = (await get(f"/me?t={mine}")).decode()
            await get(f"/me?t={mine}&state=completed&process=basic&q=prod-website")
            await get(f"/me?t={mine}&q=order-0-0")
            following = re.search(r'<a href="([^"]+)" id="next-page"', first)
            if following:
                await get(unescape(following.group(1)))
        link = sign_link(settings, delivery_id, _customer(0), Role.CUSTOMER)
        await get(f"/d/{delivery_id}?t={link}")
        await get(f"/d/{delivery_id}/files/{attachment_id}?t={link}")
        form_fields = {
            "t": link,
            "csrf": csrf_token(settings, link, delivery_id),
            "type": "confirm",
            "nonce": uuid.uuid4().hex,
        }
        for _ in range(2):  # the same form twice (a double click) is one command
            async with client.post(f"/d/{delivery_id}/commands", data=form_fields) as response:
                assert response.status == 200, await response.text()
    finally:
        await client.close()


@pytest.fixture(scope="module")
async def exercised() -> AsyncIterator[Exercised]:
    base = Settings()
    name = f"dc_idx_{uuid.uuid4().hex[:12]}"
    amqp_url = create_vhost(base.amqp_url, name)
    settings = base.model_copy(
        update={
            "mongo_db": name,
            "amqp_url": amqp_url,
            "rate_limit_per_second": 10_000.0,
            "rate_limit_burst": 10_000,
        }
    )
    recorder = QueryRecorder(settings.mongo_url, name)
    monitoring.register(recorder)  # before the product makes its clients
    sync_client = MongoClient(settings.mongo_url, tz_aware=True)
    mongo = make_mongo(settings)
    broker = make_broker(settings)
    now = datetime.now(UTC)
    try:
        db = database(mongo, settings)
        await ensure_indexes(db)
        done = Exercised(recorder, settings)

        # A delivery stored by an earlier version, without its days: the workflow's
        # startup dates it, or the newest-first lists would never show it.
        earlier = open_delivery(
            _open("order-earlier", _customer(2), _isv(2), now).command,
            MARKETPLACE,
            command_id="open:earlier",
            now=now - timedelta(days=30),
        )
        assert isinstance(earlier, Applied)
        stored_before = {**earlier.delivery.model_dump(), "revision": 1, "outbox": []}
        sync_client[name][DELIVERIES].insert_one(
            {"_id": earlier.delivery.delivery_id, **stored_before}
        )

        # The workflow's own startup, a command through its actor, and its sweep.
        workflow = Workflow(broker, settings)
        await workflow.apply_command(
            _open("order-live", _customer(1), _isv(1), now).model_dump(mode="json")
        )
        await workflow.sweep_outboxes()

        ids = await _run_the_workflow(db, settings, done.events)
        uploader = Actor(id=_customer(0), role=Role.CUSTOMER)
        kept = await store_file(db, ids[0], "spec.pdf", PDF, uploader)
        await _move_on(db, settings, ids, kept["_id"])
        # The table of every ISV's scorecard, as the timers service refreshes it.
        await ScorecardBook(db).refresh_table(
            Period.ending(now.date()), now, settings.confirm_window
        )
        await _use_the_gateway(settings, ids[0])

        notifier = Notifier(
            db[EMAILS], db[EMAILS_SENT], settings, Clock(now), transport=_accept_email
        )
        failing = Notifier(
            db[EMAILS], db[EMAILS_SENT], settings, Clock(now), transport=_refuse_email
        )
        with pytest.raises(ConnectionError):
            await failing.notify(done.events[0])  # recorded as failed: the next try claims anew
        for event in done.events[:6]:
            await notifier.notify(event)
            await notifier.notify(event)  # sent already: looked up, not sent again

        ops_db = sync_client[name]
        assert reports.find_delivery(ops_db, ids[0]) is not None
        reports.list_deliveries(ops_db, state=None, overdue=False, now=now, limit=20)
        reports.list_deliveries(ops_db, state=None, overdue=True, now=now, limit=5)
        for small_list in (delivery_days.SMALL_LIST, 1):
            with mock.patch.object(delivery_days, "SMALL_LIST", small_list):
                reports.list_deliveries(
                    ops_db, state="in_delivery", overdue=False, now=now, limit=5
                )
        reports.deadlines_due(ops_db, now, timedelta(days=60))
        reports.stats(ops_db)
        # The scorecard commands: every ISV's table computed afresh, and the rebuild.
        await asyncio.to_thread(
            ops_scorecards.fresh_table, settings, Period.ending(now.date()), now
        )
        await asyncio.to_thread(ops_scorecards.rebuild, settings, lambda count: None)

        DeadLetterRecorder(settings).after_process_message(
            None,
            SimpleNamespace(
                failed=True,
                queue_name=COMMANDS_QUEUE,
                actor_name=APPLY_COMMAND_ACTOR,
                options={"retries": 3},
                message_id="dead-1",
            ),
            exception=RuntimeError("kept failing"),
        )
        _dead_letter_on(amqp_url, "dead-1")
        with dead_letters.browsing(amqp_url, ops_db) as (_, letters):
            assert [letter.error for letter in letters] == ["RuntimeError: kept failing"]
        dead_letters.purge(amqp_url, ops_db)

        # The timer, two months on: every deadline is due, sent, forgotten, its bucket done.
        fired: list[Any] = []

        async def send(commands: list[Any]) -> None:
            fired.extend(commands)

        firer = DeadlineFirer(DeadlineBook(db), send, Clock(now + timedelta(days=60)))
        assert await firer.fire_due() > 0
        assert fired

        yield done
    finally:
        recorder.database_name = ""  # stop recording before cleaning up
        broker.close()
        await mongo.close()
        sync_client.drop_database(name)
        sync_client.close()
        recorder.close()
        delete_vhost(base.amqp_url, name)


async def _refuse_email(message: EmailMessage, sender: str, recipients: Any) -> None:
    raise ConnectionError("the SMTP server went away")


async def _accept_email(message: EmailMessage, sender: str, recipients: Any) -> None:
    return None


# --- the checks ---------------------------------------------------------------------------


@pytest.mark.long(45)
async def test_every_query_of_the_product_is_served_by_an_index(exercised: Exercised):
    recorder = exercised.recorder
    assert not recorder.errors, "\n".join(recorder.errors)
    for query in recorder.queries.values():
        if not query.plan:
            recorder.explain(query)
    unexplained = [q.describe() for q in recorder.queries.values() if not q.plan]
    assert not unexplained, "queries on collections that never existed:\n" + "\n".join(unexplained)
    scanning = [
        query.describe()
        for query in recorder.queries.values()
        if _scans(query)
        and (query.origin, _collection_kind(query.collection)) not in SCANS_ON_PURPOSE
    ]
    for query in recorder.queries.values():
        print(query.describe())  # shown with -s or on failure: what was checked
    assert not scanning, "these queries read their whole collection:\n" + "\n".join(scanning)

    # The paths that matter most were really seen (a silent change would skip them).
    origins = {(q.origin, q.collection) for q in recorder.queries.values()}
    for expected in [
        ("services/workflow/store.py:save_applied", DELIVERIES),
        ("services/workflow/migrations.py:date_deliveries_stored_before_the_days", DELIVERIES),
        ("services/workflow/store.py:with_pending_outbox", DELIVERIES),
        ("services/gateway/downloads.py:_checked_chunks", GRIDFS_CHUNKS),
        ("services/runtime/delivery_days.py:newest_first", DELIVERIES),
        ("services/runtime/delivery_days.py:newest_first_sync", DELIVERIES),
        ("services/workflow/migrations.py:place_deliveries_stored_before_the_lists", DELIVERIES),
        ("services/gateway/pages/mine.py:read_page", DELIVERIES),
        ("services/runtime/party_lists.py:walk", DELIVERIES),
    ]:
        assert expected in origins, f"{expected} was never exercised"
    assert any(q.collection.startswith("deadlines_") for q in recorder.queries.values())


async def test_gridfs_chunks_have_an_index_led_by_files_id(exercised: Exercised):
    with MongoClient(exercised.settings.mongo_url) as client:
        indexes = client[exercised.settings.mongo_db][GRIDFS_CHUNKS].index_information()
    assert any(spec["key"][0][0] == "files_id" for spec in indexes.values()), indexes


@pytest.mark.long(25)
async def test_newest_first_lists_are_one_sort_of_every_delivery(exercised: Exercised):
    """The day-by-day walks give the rows, in the order, that one sort of the whole
    collection gave before them."""
    settings = exercised.settings
    with MongoClient(settings.mongo_url, tz_aware=True) as client:
        db = client[settings.mongo_db]
        projection = {"history": 0, "refusals": 0, "outbox": 0, "stages": 0}
        hidden = {**projection, **dict.fromkeys((*DAY_FIELDS, *LIST_FIELDS), 0)}
        by_opening = list(db[DELIVERIES].find({}, hidden, sort=[("opened_at", -1)]))
        by_change = list(db[DELIVERIES].find({}, hidden, sort=[("updated_at", -1)]))
        assert len(by_opening) > DAYS * PER_DAY
        assert [d["_id"] for d in by_opening] != [d["_id"] for d in by_change]
        now = datetime.now(UTC)
        for limit in (1, 7, PER_DAY + 3, 10_000):
            assert (
                reports.list_deliveries(db, state=None, overdue=False, now=now, limit=limit)
                == by_opening[:limit]
            )
        for small_list in (delivery_days.SMALL_LIST, 1):
            with mock.patch.object(delivery_days, "SMALL_LIST", small_list):
                for state in ("in_delivery", "completed"):
                    in_state = [d for d in by_opening if d["state"] == state]
                    for limit in (1, 7, 10_000):
                        listed = reports.list_deliveries(
                            db, state=state, overdue=False, now=now, limit=limit
                        )
                        assert listed == in_state[:limit], (state, small_list, limit)
        overdue_ones = [
            d
            for d in by_opening
            if any(
                x["status"] == "active" and x.get("due_at") and x["due_at"] < now
                for x in d["deadlines"]
            )
        ]
        assert (
            reports.list_deliveries(db, state=None, overdue=True, now=now, limit=3)
            == (overdue_ones[:3])
        )

    mongo = make_mongo(settings)
    try:
        gateway = SimpleNamespace(db=database(mongo, settings))
        for limit in (1, 7, PER_DAY + 3, 10_000):
            assert await recently_updated(gateway, {}, limit) == by_change[:limit]
        for state in ("in_delivery", "completed", "awaiting_demand"):
            in_state = [d for d in by_change if d["state"] == state]
            for small_list in (delivery_days.SMALL_LIST, 1):
                with mock.patch.object(delivery_days, "SMALL_LIST", small_list):
                    for limit in (1, 5, 10_000):
                        listed = await recently_updated(gateway, {"state": state}, limit)
                        assert listed == in_state[:limit], (state, small_list, limit)
    finally:
        await mongo.close()

    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    try:
        admin = {
            "Authorization": f"Bearer {mint_token(settings.jwt_secret, sub='a', role='admin')}"
        }
        for skip, limit in ((0, 1), (0, 50), (38, 45), (0, 500), (190, 50)):
            async with client.get(
                f"/v1/deliveries?skip={skip}&limit={limit}", headers=admin
            ) as response:
                listed = [d["delivery_id"] for d in (await response.json())["deliveries"]]
            assert listed == [d["_id"] for d in by_opening[skip : skip + limit]]
        # One ISV's and one state's lists, read directly (small) and day by day (large).
        isv = _isv(1)
        isv_headers = {
            "Authorization": f"Bearer {mint_token(settings.jwt_secret, sub=isv, role='isv')}"
        }
        isv_rows = [d for d in by_opening if d["isv_id"] == isv]
        [(isv_state, _)] = Counter(d["state"] for d in isv_rows).most_common(1)
        cases = [
            ("", isv_headers, isv_rows),
            (f"&state={isv_state}", isv_headers, [d for d in isv_rows if d["state"] == isv_state]),
            ("&state=in_delivery", admin, [d for d in by_opening if d["state"] == "in_delivery"]),
        ]
        for small_list in (delivery_days.SMALL_LIST, 1):
            with mock.patch.object(delivery_days, "SMALL_LIST", small_list):
                for query, headers, expected in cases:
                    assert expected, query
                    for skip, limit in ((0, 1), (0, 50), (7, 20), (0, 500)):
                        async with client.get(
                            f"/v1/deliveries?skip={skip}&limit={limit}{query}", headers=headers
                        ) as response:
                            page = (await response.json())["deliveries"]
                        listed = [d["delivery_id"] for d in page]
                        wanted = [d["_id"] for d in expected[skip : skip + limit]]
                        assert listed == wanted, (query, small_list, skip, limit)
    finally:
        await client.close()


async def test_each_partys_list_pages_through_every_delivery_of_theirs_once(
    exercised: Exercised,
):
    """/me's pages, concatenated, are the party's deliveries: what waits for them in their
    order, then every other one newest change first, whatever the page size or filter."""
    settings = exercised.settings
    with MongoClient(settings.mongo_url, tz_aware=True) as client:
        stored = list(client[settings.mongo_db][DELIVERIES].find({}, LIST_PROJECTION))
    now = datetime.now(UTC)
    mongo = make_mongo(settings)
    try:
        gateway = SimpleNamespace(db=database(mongo, settings), settings=settings)
        for role, party in ((Role.CUSTOMER, _customer(0)), (Role.ISV, _isv(1))):
            theirs = [d for d in stored if d[PARTY_ID_FIELDS[role]] == party]
            for filters in (Filters(), Filters(state="in_delivery"), Filters(search="nothing")):
                kept = [d for d in theirs if filters.keep(d)]

                def group(document: dict[str, Any], role: Role = role) -> str:
                    return list_group(Situation.of_document(document), role)

                expected = [
                    d["_id"]
                    for d in order_waiting(
                        [d for d in kept if group(d) == YOURS], now, settings.confirm_window
                    )
                ]
                for walked in WALKED_GROUPS:
                    rest = [d for d in kept if group(d) == walked]
                    expected += [d["_id"] for d in sorted(rest, key=Position.of, reverse=True)]
                assert len(theirs) > 10
                # Every boundary unfiltered; a filtered walk at one size (the suite's time).
                for size in (3, 1000) if filters == Filters() else (5,):
                    listed: list[str] = []
                    cursor = None
                    for _ in range(len(theirs) + 2):
                        page = await read_page(
                            gateway,
                            ListLink(party, role, now),
                            filters,
                            cursor,
                            now,
                            size=size,
                            budget=1000,
                        )
                        listed += [document["_id"] for _, document in page.rows]
                        cursor = page.next
                        if cursor is None:
                            break
                    assert listed == expected, (role, filters, size)
    finally:
        await mongo.close()
