"""The administrators' scorecard pages (issue 18) on the running system: the table of every ISV
(``/admin/scorecards``) sorted by plain links with the trend against the previous period,
one ISV's scorecard, the ISV's own list showing its section, and the refusals.

Each test files hand-made facts for ISVs of its own through the read model
(``ScorecardBook.record``, as the workflow's relay does) and refreshes the table (as the
timers service does every second here: both compute the same rows), so the scores are known
without walking deliveries through months.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html import escape

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from pymongo import AsyncMongoClient

from services.gateway.app import create_app
from services.runtime.links import scorecard_path, scorecards_path, sign_admin_link, sign_link
from services.runtime.list_links import sign_list_link
from services.runtime.scorecards import ScorecardBook
from shared.config import Settings
from shared.domain.delivery_facts import DeliveryFacts
from shared.domain.score_periods import Period
from shared.domain.states import ProcessName, State
from tests.integration.rawhttp import send
from tests.integration.system import System

pytestmark = pytest.mark.integration

_SCORE_CELL = re.compile(r'<td class="score">([^<]+)</td>')


@pytest.fixture(scope="module")
def settings(system: System) -> Settings:
    """The settings the gateway runs with: links signed with them open its pages."""
    return Settings(**{k[3:].lower(): v for k, v in system.env.items() if k.startswith("DC_")})


@pytest.fixture
async def book(settings: Settings) -> AsyncIterator[ScorecardBook]:
    client: AsyncMongoClient = AsyncMongoClient(settings.mongo_url, tz_aware=True)
    try:
        yield ScorecardBook(client[settings.mongo_db])
    finally:
        await client.close()


async def file_facts(book: ScorecardBook, isv: str, now: datetime, *kinds: tuple[int, str]):
    """One delivery of ``isv`` per ``(days ago it opened, how it went)``: ``good`` (confirmed
    by the customer), ``late`` (confirmed by the clock after a revision round) or ``bad``
    (terminated after a dispute)."""
    for days_ago, kind in kinds:
        fields = {
            "good": {"state": State.COMPLETED, "confirmed_by": "customer"},
            "late": {"state": State.COMPLETED, "confirmed_by": "automatic", "revision_rounds": 1},
            "bad": {
                "state": State.TERMINATED,
                "disputed": True,
                "terminated_after_dispute": True,
            },
        }[kind]
        await book.record(
            DeliveryFacts(
                delivery_id=uuid.uuid4().hex,
                isv_id=isv,
                process=ProcessName.BASIC,
                opened_at=now - timedelta(days=days_ago),
                version=4,
                seconds_in_state={"in_delivery": 3600.0},
                **fields,
            )
        )


async def refresh(book: ScorecardBook, settings: Settings, now: datetime) -> None:
    await book.refresh_table(Period.ending(now.date()), now, settings.confirm_window)


async def get(system: System, path: str) -> tuple[int, str, dict[str, str]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(system.base_url + path) as response,
    ):
        return response.status, await response.text(), dict(response.headers)


def scores(page: str) -> list[float | None]:
    return [None if s == "no score" else float(s) for s in _SCORE_CELL.findall(page)]


def assert_sorted(values: list[float | None], descending: bool) -> None:
    present = [v for v in values if v is not None]
    assert present == sorted(present, reverse=descending)
    assert values == present + [None] * (len(values) - len(present)), "no score comes last"


async def test_the_table_sorts_by_score_with_the_trend_and_opens_each_isv(
    system: System, settings: Settings, book: ScorecardBook
):
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:8]
    rising, falling, new = f"up-{tag}", f"down-{tag}", f"<b>new</b>-{tag}"
    # 5 days ago counts in this period; 100 days ago in the one before it.
    await file_facts(book, rising, now, (5, "good"), (6, "good"), (100, "bad"), (101, "good"))
    await file_facts(book, falling, now, (5, "bad"), (6, "late"), (100, "good"))
    await file_facts(book, new, now, (3, "good"))
    await refresh(book, settings, now)
    token = sign_admin_link(settings)

    status, page, headers = await get(system, scorecards_path(token))
    assert status == 200, page
    assert "script-src" not in headers["Content-Security-Policy"]  # default-src 'none'
    assert 'id="scorecards-as-of"' in page and "As of " in page
    assert_sorted(scores(page), descending=True)
    assert page.index(f">{rising}</a>") < page.index(f">{falling}</a>")
    row = page[page.index(f">{rising}</a>") :].split("</tr>")[0]
    assert "100.0" in row and "▲ +" in row and 'class="trend up"' in row
    row = page[page.index(f">{falling}</a>") :].split("</tr>")[0]
    assert "▼ −" in row and 'class="trend down"' in row
    # A hostile ISV id is text; with no previous score, its trend is "new".
    assert "<b>new</b>" not in page
    row = page[page.index(f">{escape(new)}</a>") :].split("</tr>")[0]
    assert ">new<" in row
    assert 'aria-sort="descending"' in page

    # The score's heading is a link to the other order.
    assert escape(scorecards_path(token, sort="score", order="asc")) in page
    status, page, _ = await get(system, scorecards_path(token, sort="score", order="asc"))
    assert status == 200
    assert_sorted(scores(page), descending=False)
    assert page.index(f">{falling}</a>") < page.index(f">{rising}</a>")
    assert 'aria-sort="ascending"' in page
    # Another column, and an unknown one (said, then the default).
    status, page, _ = await get(system, scorecards_path(token, sort="trend", order="desc"))
    assert status == 200 and page.index(f">{rising}</a>") < page.index(f">{falling}</a>")
    status, page, _ = await get(system, scorecards_path(token, sort="nope", order="up"))
    assert status == 200 and "no column “nope”" in page and "“up” is no order" in page

    # Each ISV's name opens its scorecard: the section with its parts, charts and trend.
    assert escape(scorecard_path(new, token)) in page
    status, card, _ = await get(system, scorecard_path(new, token))
    assert status == 200, card
    assert f'Scorecard of ISV <span class="isv-id">{escape(new)}</span>' in card
    assert "<b>new</b>" not in card
    assert card.count("<svg") == 2 and "Customer confirmation" in card
    status, card, _ = await get(system, scorecard_path(rising, token))
    assert 'id="score-trend-mark"' in card and "▲ +" in card
    # /admin links here, and its ISV names to their scorecards.
    status, admin, _ = await get(system, f"/admin?t={token}")
    assert status == 200 and escape(scorecards_path(token)) in admin


async def test_one_isvs_period_is_checked_like_the_api(system: System, settings: Settings):
    token = sign_admin_link(settings)
    status, page, _ = await get(system, scorecard_path("isv-x", token, **{"from": "2026-1-1"}))
    assert status == 400 and "YYYY-MM-DD" in page
    status, page, _ = await get(
        system, scorecard_path("isv-x", token, **{"from": "2026-02-01", "to": "2026-01-01"})
    )
    assert status == 422 and "before from" in page
    status, page, _ = await get(
        system, scorecard_path("isv-x", token, **{"from": "2026-01-01", "to": "2026-01-31"})
    )
    assert status == 200 and "1 Jan 2026 – 31 Jan 2026 (31 days)" in page
    assert "no score" in page
    status, page, _ = await get(
        system, scorecard_path("isv-x", token, **{"from": "2026-01-01", "to": "2026-01-01"})
    )
    assert status == 200 and "(1 day)" in page and "1 days" not in page
    status, page, _ = await get(system, scorecard_path("isv-x", token, **{"from": "3000-01-01"}))
    assert status == 422 and "from (3000-01-01) is after today" in page
    # An id no ISV can have (sent raw: a browser drops dot segments, even %2E%2E) is a 404
    # page, and no raw control character reaches the page.
    for raw in ("%00", "%2E%2E", "x%1B%5B2J"):
        answer = await send(
            system.base_url, "GET", f"/admin/scorecards/{raw}?t={token}", {"Connection": "close"}
        )
        assert answer.status == 404 and b"No ISV can have the id" in answer.body, raw
        assert not re.search(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", answer.body), raw


async def test_only_an_admins_link_opens_the_scorecards(system: System, settings: Settings):
    delivery = uuid.uuid4().hex
    others = {
        "an ISV's page link": sign_link(settings, delivery, "isv-1", "isv"),
        "a customer's page link": sign_link(settings, delivery, "c-1", "customer"),
        "an ISV's list link": sign_list_link(settings, "isv-1", "isv"),
        "a changed admin link": sign_admin_link(settings)[:-2] + "xx",
        "no link": "",
    }
    for what, token in others.items():
        for path in (scorecards_path(token), scorecard_path("isv-1", token)):
            status, page, _ = await get(system, path)
            assert status == 403, (what, path)
            assert "Delivery score" not in page and "ISV scorecards" not in page


async def test_the_isvs_own_list_shows_its_scorecard_and_a_customers_none(
    system: System, settings: Settings, book: ScorecardBook
):
    now = datetime.now(UTC)
    isv = f"isv-me-{uuid.uuid4().hex[:8]}"
    await file_facts(book, isv, now, (2, "good"), (4, "late"))
    status, page, _ = await get(system, f"/me?t={sign_list_link(settings, isv, 'isv')}")
    assert status == 200, page
    assert 'id="scorecard"' in page and "Delivery score" in page
    assert page.count("<svg") == 2 and "of 100" in page and 'id="score-trend-data"' in page
    status, page, _ = await get(system, f"/me?t={sign_list_link(settings, 'c-1', 'customer')}")
    assert status == 200 and "Delivery score" not in page and "<svg" not in page


async def test_before_the_first_refresh_the_table_says_so():
    """On a database of its own (the shared one is refreshed every second): no table yet,
    then a table without ISVs."""
    name = f"dc_sc_{uuid.uuid4().hex[:12]}"
    settings = Settings(mongo_db=name)
    client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    mongo: AsyncMongoClient = AsyncMongoClient(settings.mongo_url, tz_aware=True)
    try:
        token = sign_admin_link(settings)
        async with client.get(scorecards_path(token)) as response:
            page = await response.text()
        assert response.status == 200
        assert 'id="scorecards-empty"' in page and "Not computed yet" in page
        assert "<table" not in page
        await refresh(ScorecardBook(mongo[name]), settings, datetime.now(UTC))
        async with client.get(scorecards_path(token)) as response:
            page = await response.text()
        assert 'id="scorecards-none"' in page and "As of " in page
    finally:
        await client.close()
        await mongo.drop_database(name)
        await mongo.close()
