"""Each party's own list (/me) on the running system: the list link in every email, the
groups, their order and counts, filters, search, pages, and the links' refusals.

Once per module, one customer and one ISV get five deliveries through the real workflow (the
API, the bus, the workflow's store): awaiting their demand, in delivery, in warranty (a
double check, so no 8-second confirmation window moves it on), completed with a product of its
own, and a contract process terminated by an administrator. Pages are read over HTTP from the
system's gateway and compared with what the workflow was told.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any

import aiohttp
import pytest
from pymongo import AsyncMongoClient

from services.runtime.collections import DELIVERIES, MIGRATIONS, ensure_indexes
from services.runtime.links import sign_admin_link, sign_link
from services.runtime.list_links import sign_list_link
from services.runtime.party_lists import LIST_FIELDS
from services.workflow.migrations import LISTS_MIGRATION, DeliveryMigrations
from services.workflow.store import DeliveryStore
from shared.config import Settings
from shared.domain.commands import OpenDelivery
from shared.domain.engine import Applied, open_delivery
from shared.domain.roles import Actor, Role
from tests.integration.client import BASIC_STEPS, DEMAND, Api, Party
from tests.integration.system import System
from tooling.mailsink import MailSink

pytestmark = pytest.mark.integration

ADMIN_EMAIL = "admin@example.com"  # DC_ADMIN_EMAIL of the test systems
_LIST_LINK = re.compile(r"https?://[^\s\"'<>]+/(?:me|admin)\?t=[^\s\"'<>]+")


@dataclass
class World:
    """The module's parties and deliveries, by name."""

    settings: Settings
    base_url: str
    customer: Party
    isv: Party
    ids: dict[str, str]
    orders: dict[str, str]


def _settings(system: System) -> Settings:
    """The settings the system's gateway runs with: links signed with them open its pages."""
    values = {k[3:].lower(): v for k, v in system.env.items() if k.startswith("DC_")}
    return Settings(**values)


@pytest.fixture(scope="module")
async def world(system: System) -> AsyncIterator[World]:
    async with aiohttp.ClientSession() as session:
        api = Api(session, system.base_url, system.jwt_secret)
        marketplace, admin = api.party("marketplace"), api.party("admin")
        customer, isv = api.party("customer"), api.party("isv")
        ids: dict[str, str] = {}
        orders: dict[str, str] = {}

        async def opened(name: str, **fields: Any) -> str:
            delivery = await api.open_delivery(marketplace, customer, isv, **fields)
            ids[name], orders[name] = delivery["delivery_id"], delivery["order_id"]
            return delivery["delivery_id"]

        # In this order: each one changes after the one before it.
        await opened("demand")
        await api.applied(await opened("delivery"), customer, DEMAND)
        warranty = await opened("warranty", process="double_check", warranty_period="P30D")
        for role, body in BASIC_STEPS:
            await api.applied(warranty, {"customer": customer, "isv": isv}[role], body)
        completed = await opened("completed", product_id="prod-special")
        for role, body in BASIC_STEPS:
            await api.applied(completed, {"customer": customer, "isv": isv}[role], body)
        terminated = await opened("terminated", process="contract")
        await api.applied(terminated, admin, {"type": "terminate", "reason": "Refunded."})
        yield World(_settings(system), system.base_url, customer, isv, ids, orders)


async def _get(world: World, path: str) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(world.base_url + path, allow_redirects=False) as response,
    ):
        return response.status, await response.text()


def _me(world: World, party: Party, **query: str) -> str:
    token = sign_list_link(world.settings, party.sub, party.role)
    return "/me?" + "&".join([f"t={token}", *(f"{k}={v}" for k, v in query.items())])


def _sections(html: str) -> dict[str, list[str]]:
    """The delivery ids of each group shown, in order: ``{"you": [...], ...}``."""
    found = {}
    for match in re.finditer(r'<section aria-labelledby="[a-z]+-title" id="([a-z]+)">', html):
        rest = html[match.end() :]
        body = rest[: rest.find("</section>")]
        found[match.group(1)] = re.findall(r'<tr id="row-([0-9a-f]{32})"', body)
    return found


def _names(world: World, sections: dict[str, list[str]]) -> dict[str, list[str]]:
    names = {delivery_id: name for name, delivery_id in world.ids.items()}
    return {group: [names.get(i, i) for i in ids] for group, ids in sections.items()}


def _counts(html: str) -> str:
    found = re.search(r'<p class="notice turn" id="counts" role="status">([^<]*)</p>', html)
    assert found, html[:2000]
    return unescape(found.group(1))


async def test_each_partys_list_shows_what_waits_for_them_first(world: World):
    status, html = await _get(world, _me(world, world.customer))
    assert status == 200, html
    assert _names(world, _sections(html)) == {
        # Both wait for the customer: the one with a deadline first.
        "you": ["warranty", "demand"],
        "other": ["delivery"],
        "done": ["terminated", "completed"],  # the newest change first
    }
    assert _counts(html) == "2 deliveries wait for you."
    assert "Your turn: submit your demands" in html and "Warranty ends: " in html
    assert "Waiting for the ISV to deliver the service." in html

    status, html = await _get(world, _me(world, world.isv))
    assert status == 200, html
    assert _names(world, _sections(html)) == {
        "you": ["delivery"],
        "other": ["warranty", "demand"],
        "done": ["terminated", "completed"],
    }
    assert _counts(html) == "1 delivery waits for you."
    assert "Your turn: deliver the service, then press Finish." in html
    assert 'id="next-page"' not in html and 'id="first-page"' not in html


async def test_each_row_opens_its_delivery_as_the_reader_with_the_next_step_ready(world: World):
    _, html = await _get(world, _me(world, world.isv))
    row = re.search(rf'<tr id="row-{world.ids["delivery"]}">\s*<td><a href="([^"]+)"', html)
    assert row, html
    href = unescape(row.group(1))
    assert href.startswith(f"/d/{world.ids['delivery']}?t=") and href.endswith("#act-finish")
    status, page = await _get(world, href)
    assert status == 200, page
    assert "viewing as the ISV" in page and 'id="act-finish"' in page


@pytest.mark.parametrize(
    ("query", "party", "expected"),
    [
        ({"state": "completed"}, "customer", {"done": ["completed"]}),
        ({"state": "terminated", "process": "contract"}, "customer", {"done": ["terminated"]}),
        ({"state": "in_delivery"}, "isv", {"you": ["delivery"]}),
        ({"process": "double_check"}, "customer", {"you": ["warranty"]}),
        ({"q": "prod-special"}, "isv", {"done": ["completed"]}),
        ({"q": "ORDER:demand"}, "customer", {"you": ["demand"]}),
        ({"q": "ORDER:warranty", "state": "completed"}, "isv", {}),
        ({"q": "no-such-order"}, "customer", {}),
    ],
)
async def test_filters_and_search(world: World, query, party, expected):
    query = {k: world.orders[v[6:]] if v.startswith("ORDER:") else v for k, v in query.items()}
    status, html = await _get(world, _me(world, getattr(world, party), **query))
    assert status == 200, html
    assert _names(world, _sections(html)) == expected
    if not expected:
        assert "No deliveries match." in html
    # The counts are the reader's whatever the filter.
    assert _counts(html).endswith("wait for you.") or "waits for you" in _counts(html)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("state=bogus", "There is no state “bogus”. The states are: awaiting_demand"),
        ("process=basics", "There is no process “basics”. The processes are: basic,"),
        ("q=a%20b", "“a b” is neither an order ID nor a product ID"),
        ("q=" + "x" * 129, "is neither an order ID nor a product ID"),
        ("after=you.x", "The page position “you.x” (after=) is not one this list made."),
        (f"after=done.253402300800000.{'a' * 32}", "(after=) is not one this list made."),
        ("state=ued&state=completed", "The address gives “state” 2 times; give it once."),
    ],
)
async def test_bad_query_values_are_refused_with_a_page_saying_which(world: World, query, words):
    status, html = await _get(world, _me(world, world.customer) + "&" + query)
    assert status == 400
    assert words in unescape(html)
    assert "<title>This list cannot be shown · Delivery Center</title>" in html


async def test_list_and_page_links_never_stand_in_for_each_other(world: World):
    """Each refusal names what the link opens and what it was followed to, and links to
    where it leads."""
    settings, delivery_id = world.settings, world.ids["demand"]
    list_token = sign_list_link(settings, world.customer.sub, "customer")
    page_token = sign_link(settings, delivery_id, world.customer.sub, "customer")
    admin_token = sign_admin_link(settings)
    mine = "This link opens a list of your deliveries, not "
    page = "This link opens one delivery's page, not "
    admins = "This link opens the administrators' pages, not a list of deliveries."
    refusals = [
        (f"/d/{delivery_id}?t={list_token}", mine + "a delivery's page.", f"/me?t={list_token}"),
        (f"/admin?t={list_token}", mine + "the administrators' pages.", "/me?"),
        (f"/admin/scorecards?t={list_token}", mine + "the administrators' pages.", "/me?"),
        (f"/me?t={page_token}", page + "a list of deliveries.", f"/d/{delivery_id}?t="),
        (f"/admin?t={page_token}", page + "the administrators' pages.", f"/d/{delivery_id}?"),
        (f"/me?t={admin_token}", admins, f"/admin?t={admin_token}"),
        (f"/me?t={list_token[:-3]}", "This link is not valid", None),
        ("/me", "This link is not valid", None),
    ]
    now = datetime.now(UTC)
    expired = sign_list_link(
        settings, world.customer.sub, "customer", signed_at=now - settings.link_ttl - timedelta(1)
    )
    refusals.append((f"/me?t={expired}", "This link has expired", None))
    ahead = sign_list_link(
        settings, world.customer.sub, "customer", signed_at=now + timedelta(hours=2)
    )
    refusals.append((f"/me?t={ahead}", "ahead of this server's clock", None))
    for path, words, leads_to in refusals:
        status, html = await _get(world, path)
        assert status == 403, (path, html[:500])
        assert words in unescape(html), (path, unescape(html))
        elsewhere = re.search(r'<a href="([^"]+)" id="elsewhere">', html)
        if leads_to is None:
            assert elsewhere is None, path
            continue
        assert elsewhere and unescape(elsewhere.group(1)).startswith(leads_to), path
        assert (await _get(world, unescape(elsewhere.group(1))))[0] == 200, path  # it opens
    assert "expired" not in unescape((await _get(world, f"/me?t={ahead}"))[1])
    # Both still work where they belong, and a link signed by a clock a little fast works.
    assert (await _get(world, f"/d/{delivery_id}?t={page_token}"))[0] == 200
    assert (await _get(world, f"/me?t={list_token}"))[0] == 200
    fast = sign_list_link(
        settings, world.customer.sub, "customer", signed_at=now + timedelta(seconds=5)
    )
    assert (await _get(world, f"/me?t={fast}"))[0] == 200


async def test_every_email_carries_a_working_link_to_the_readers_list(world: World, mail: MailSink):
    addresses = {
        "customer": f"{world.customer.sub}@customer.example.com",
        "isv": f"{world.isv.sub}@isv.example.com",
        "admin": ADMIN_EMAIL,
    }
    terminated = world.ids["terminated"]
    for reader, address in addresses.items():
        [message] = await mail.wait_for_async(
            lambda m, to=address: (
                m["X-Delivery-Id"] == terminated
                and m["X-Event-Type"] == "delivery_terminated"
                and m["To"] == to
            )
        )
        text = message.get_body(("plain",)).get_content()
        html = message.get_body(("html",)).get_content()
        [link] = _LIST_LINK.findall(text)
        assert unescape(link) in {unescape(found) for found in _LIST_LINK.findall(html)}
        status, page = await _get(world, link.removeprefix(world.base_url))
        assert status == 200, page
        if reader == "admin":
            assert "All deliveries:" in text and "/admin?t=" in link
            assert f'id="row-{terminated}"' in page
        else:
            assert "All your deliveries:" in text and "/me?t=" in link
            assert f'id="row-{terminated}"' in page and "Your deliveries" in page


async def test_a_long_list_pages_newest_first_without_gaps_or_repeats(world: World, system: System):
    """31 deliveries of one more ISV, written by the workflow's store (their outboxes counted
    relayed, so nobody is emailed): 30 on the first page, the last one on the next. The first
    30 are one customer's, all waiting for them and nothing else: one full page, no next."""
    isv = f"isv-{uuid.uuid4().hex[:8]}"
    customer = f"customer-{uuid.uuid4().hex[:8]}"
    client = AsyncMongoClient(system.env["DC_MONGO_URL"], tz_aware=True)
    try:
        store = DeliveryStore(client[system.env["DC_MONGO_DB"]])
        # Seconds apart, ending now: the gateway's calendar of days counts every day since the
        # newest it read, so a delivery changed today is listed at once (one backdated to a
        # day it never read would wait for its next read; only a migration backdates).
        start = datetime.now(UTC) - timedelta(seconds=40)
        ids = []
        for n in range(31):
            command = OpenDelivery(
                order_id=f"paging-{uuid.uuid4().hex}",
                order_spec="Landing page",
                product_id="prod-landing",
                isv_id=isv,
                customer_id=customer if n < 30 else f"customer-{n}",
                customer_email=f"customer-{n}@customer.example.com",
                isv_email=f"{isv}@isv.example.com",
                process="basic",
            )
            decision = open_delivery(
                command,
                Actor(id="shop", role=Role.MARKETPLACE),
                command_id=uuid.uuid4().hex,
                now=start + timedelta(seconds=n),
            )
            assert isinstance(decision, Applied)
            await store.mark_relayed(decision.delivery.delivery_id, await store.create(decision))
            ids.append(decision.delivery.delivery_id)
    finally:
        await client.close()
    reader = Party("isv", isv, "")
    status, first = await _get(world, _me(world, reader))
    assert status == 200, first
    assert _counts(first) == "Nothing waits for you."
    newest_first = list(reversed(ids))
    assert _sections(first) == {"other": newest_first[:30]}
    following = re.search(r'<a href="([^"]+)" id="next-page"', first)
    assert following, first
    status, second = await _get(world, unescape(following.group(1)))
    assert status == 200, second
    assert _sections(second) == {"other": newest_first[30:]}
    assert 'id="next-page"' not in second and 'id="first-page"' in second
    # The search goes page by page too, and keeps its filter in the next page's link.
    _, searched = await _get(world, _me(world, reader, q="prod-landing"))
    following = re.search(r'<a href="([^"]+)" id="next-page"', searched)
    assert following and "q=prod-landing" in unescape(following.group(1))

    # Exactly a page waiting for the customer, nothing else: no "Next page" to an empty one.
    waiting = Party("customer", customer, "")
    _, full = await _get(world, _me(world, waiting))
    assert _counts(full).startswith("30 deliveries wait for you")  # overdue too: 8 s idle
    assert _sections(full) == {"you": newest_first[1:][::-1]}  # the one waiting longest first
    assert 'id="next-page"' not in full
    # A position past the end says so, with the way back; never "no deliveries yet".
    for after in ("other", "you.30", "done", f"other.{10**12}.{'0' * 32}"):
        status, past = await _get(world, _me(world, waiting, after=after))
        assert status == 200, past
        assert "There is nothing more: the list ends before this page." in past, after
        assert "no deliveries yet" not in past and 'id="first-page"' in past


async def test_deliveries_stored_before_the_lists_are_placed_once(system: System):
    client = AsyncMongoClient(system.env["DC_MONGO_URL"], tz_aware=True)
    name = f"dc_lists_{uuid.uuid4().hex[:10]}"
    try:
        db = client[name]
        await ensure_indexes(db)
        now = datetime.now(UTC)
        stored = []
        for n, state in enumerate(("in_delivery", "completed")):
            stored.append(
                {
                    "_id": f"{n:032x}",
                    "process": "basic",
                    "state": state,
                    "customer_id": "c-1",
                    "isv_id": "i-1",
                    "updated_at": now,
                }
            )
        day = now.strftime("%Y-%m-%d")
        # Placed before a warranty request was the ISV's turn: as waiting for the customer.
        requested = {
            "_id": "e" * 32,
            "process": "double_check",
            "state": "in_warranty",
            "customer_id": "c-2",
            "isv_id": "i-1",
            "updated_at": now,
            "warranty_requests": [{"description": "Broken.", "at": now}],
            "customer_list": "c-2/you",
            "isv_list": f"i-1/other/{day}",
        }
        await db[DELIVERIES].insert_many([*stored, requested])
        migrations = DeliveryMigrations(DeliveryStore(db))
        assert await migrations.place_deliveries_stored_before_the_lists(now) == 2
        placed = await db[DELIVERIES].find({}, dict.fromkeys(LIST_FIELDS, 1)).to_list()
        assert sorted((d["customer_list"], d["isv_list"]) for d in placed) == [
            ("c-1/done/" + day, "i-1/done/" + day),
            ("c-1/other/" + day, "i-1/you"),
            ("c-2/you", f"i-1/other/{day}"),
        ]
        assert await db[MIGRATIONS].find_one({"_id": LISTS_MIGRATION}) is not None
        await db[DELIVERIES].insert_one({**stored[0], "_id": "f" * 32})
        assert await migrations.place_deliveries_stored_before_the_lists(now) == 0  # once
        assert await migrations.place_warranty_requests_anew(now) == 1
        moved = await db[DELIVERIES].find_one({"_id": "e" * 32})
        assert (moved["customer_list"], moved["isv_list"]) == (f"c-2/other/{day}", "i-1/you")
        assert await migrations.place_warranty_requests_anew(now) == 0  # once
    finally:
        await client.drop_database(name)
        await client.close()


async def test_a_changing_delivery_moves_between_groups(world: World, system: System):
    """The store rewrites both parties' places with every transition."""
    async with aiohttp.ClientSession() as session:
        api = Api(session, system.base_url, system.jwt_secret)
        delivery = world.ids["delivery"]
        await api.applied(delivery, world.isv, {"type": "open_dispute", "reason": "Unreachable."})
        try:
            _, html = await _get(world, _me(world, world.isv))
            sections = _names(world, _sections(html))
            assert "delivery" in sections["other"] and "you" not in sections
            assert "A dispute is open" in html
        finally:
            admin = api.party("admin")
            body = {"type": "resolve_dispute", "outcome": "continue"}
            await api.applied(delivery, admin, body)
        _, html = await _get(world, _me(world, world.isv))
        assert _names(world, _sections(html))["you"] == ["delivery"]


async def test_a_warranty_request_waits_for_the_isv_as_its_email_says(world: World, system: System):
    """Last in the module: the warranty delivery stays awaiting the ISV's service."""
    async with aiohttp.ClientSession() as session:
        api = Api(session, system.base_url, system.jwt_secret)
        body = {"type": "request_warranty_service", "description": "The  contact form\n" * 12}
        await api.applied(world.ids["warranty"], world.customer, body)
    _, html = await _get(world, _me(world, world.isv))
    assert sorted(_names(world, _sections(html))["you"]) == ["delivery", "warranty"]
    row = unescape(html[html.find(f'id="row-{world.ids["warranty"]}"') :].split("</tr>")[0])
    assert "The customer asked for warranty service on " in row and "(now)" in row
    assert "“The contact form The contact form" in row and "…”. Your turn: provide it." in row
    assert "Warranty ends: " in row and "overdue" not in row
    _, html = await _get(world, _me(world, world.customer))
    assert "warranty" in _names(world, _sections(html))["other"]
    assert "You asked for warranty service on " in html
    assert "Waiting for the ISV to provide it." in html
