"""The pages in every language (issue 21): ``Accept-Language`` negotiated against our
catalogs, the reader each page is read by, the language switch's links, and the pseudo-locale
test of the pages: every page state rendered with a catalog that marks every message
(``tests.unit.pseudo_locale``) shows no text outside a mark but what a party typed and
machine values."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from markupsafe import Markup
from yarl import URL

from services.gateway.context import GATEWAY, Gateway
from services.gateway.pages import admin as admin_module
from services.gateway.pages.errors import PageError, error_page, render
from services.gateway.pages.guard import _elsewhere, _refused, delivery_for
from services.gateway.pages.languages import (
    COOKIE,
    admin_reader,
    chosen_language,
    language_links,
    language_name,
    list_reader,
    match_tag,
    negotiate,
    party_reader,
    request_reader,
    switch_base,
    switched,
)
from services.gateway.pages.mine_query import Cursor, Filters, empty_words, read_cursor
from services.gateway.pages.mine_rows import row_view
from services.gateway.pages.scorecard import ScorecardData, render_scorecard, trend_periods
from services.gateway.pages.view import FormState, page_context
from services.gateway.pages.words import action_view, available_actions, dispute_open
from services.runtime.links import ALL_DELIVERIES, Link, LinkError, page_path
from services.runtime.list_links import ListLink
from services.runtime.party_lists import DONE, OTHERS, YOURS
from services.runtime.scorecards import table_of
from shared.config import Settings
from shared.domain.delivery_facts import DeliveryFacts
from shared.domain.processes import PROCESSES
from shared.domain.refusals import Reason
from shared.domain.roles import Role
from shared.domain.score_periods import Period
from shared.domain.scorecard import score_trend, scorecard_of
from shared.domain.states import DeadlineKind, ProcessName, State
from shared.wording import ACTIONS, REVIEW_OUTCOMES, STATE_LABELS, refusal_words
from shared.wording import DONE as DONE_WORDS
from shared.wording.lists import GROUP_TITLES, LIST_TITLE, SEARCH_HINT, counts_words
from shared.wording.reader import reading
from tests.unit.pseudo_locale import PSEUDO, letters, unmarked

DELIVERY_ID = "ec745f2f3e7f53b7b6f5964fa83d69fa"
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
SETTINGS = Settings(link_secret="unit-tests-link-secret-at-least-32-bytes-long")


# --- Accept-Language -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        ("zh-CN,zh;q=0.9", "zh-CN"),
        ("zh-CN", "zh-CN"),
        ("zh", "zh"),
        ("zh-Hans-CN", "zh-Hans-CN"),
        ("zh-cn", "zh-CN"),
        ("en-US", "en-US"),
        ("en-US,en;q=0.9,zh;q=0.8", "en-US"),
        ("en-ZZ", "en"),
        ("fr", None),
        ("fr, de;q=0.9", None),
        ("fr, zh-CN;q=0.8, en;q=0.5", "zh-CN"),
        ("en;q=0.5, zh;q=0.8", "zh"),
        ("en;q=0, zh;q=0.1", "zh"),
        ("zh-TW", None),
        ("zh-HK, en;q=0.5", "en"),
        ("zh-Hant", None),
        ("zh-Hant-XX", None),
        ("*", None),
        ("fr, *;q=0.5, en;q=0.1", None),
        ("", None),
        (None, None),
        ("en;q=abc, zh", "zh"),
        (",,;q=1, ;", None),
    ],
)
def test_accept_language_is_negotiated_against_our_catalogs(header, locale):
    assert negotiate(header) == locale


def test_a_traditional_chinese_tag_never_falls_back_to_simplified():
    for tag in ("zh-TW", "zh-HK", "zh-MO", "zh-Hant", "zh-Hant-TW", "zh-Hant-CN"):
        assert match_tag(tag) is None, tag


def _request(path: str = "/me?t=x", headers: dict[str, str] | None = None, cookie: str = ""):
    all_headers = dict(headers or {})
    if cookie:
        all_headers["Cookie"] = f"{COOKIE}={cookie}"
    app = web.Application()
    app[GATEWAY] = Gateway(settings=SETTINGS, db=FakeDb(), broker=None, limiter=None)  # type: ignore[arg-type]
    return make_mocked_request("GET", path, headers=all_headers, app=app)


def test_each_page_reads_in_its_readers_language_and_zone():
    plain = _request()
    chinese = _request(headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    cookie = _request(headers={"Accept-Language": "zh-CN"}, cookie="en-GB")
    bad_cookie = _request(headers={"Accept-Language": "zh-CN"}, cookie="fr")
    assert request_reader(plain, SETTINGS) == ("en", "UTC")
    assert request_reader(chinese, SETTINGS) == ("zh-CN", "UTC")
    assert request_reader(cookie, SETTINGS) == ("en-GB", "UTC")
    assert request_reader(bad_cookie, SETTINGS) == ("zh-CN", "UTC")
    admin_settings = SETTINGS.model_copy(
        update={"admin_locale": "zh-Hans", "admin_time_zone": "Asia/Shanghai"}
    )
    assert admin_reader(plain, admin_settings) == ("zh-Hans", "Asia/Shanghai")
    assert admin_reader(_request(headers={"Accept-Language": "fr"}), admin_settings)[0] == "zh-Hans"
    assert admin_reader(cookie, admin_settings) == ("en-GB", "Asia/Shanghai")
    stored = {
        "customer_locale": "zh-CN",
        "customer_time_zone": "Asia/Shanghai",
        "isv_locale": None,
        "isv_time_zone": "Europe/Berlin",
    }
    assert party_reader(plain, SETTINGS, "customer", stored) == ("zh-CN", "Asia/Shanghai")
    assert party_reader(plain, SETTINGS, "isv", stored) == ("en", "Europe/Berlin")
    # The cookie wins over the stored locale, never over the zone; Accept-Language does not.
    assert party_reader(cookie, SETTINGS, "customer", stored) == ("en-GB", "Asia/Shanghai")
    assert party_reader(chinese, SETTINGS, "isv", {}) == ("en", "UTC")
    assert party_reader(chinese, SETTINGS, "admin", stored) == ("zh-CN", "UTC")
    # A party's list reads as the page of its most recently changed delivery shown.
    older = {**stored, "customer_locale": "en-GB", "updated_at": NOW - timedelta(days=1)}
    latest = {**stored, "updated_at": NOW}
    assert list_reader(plain, SETTINGS, "customer", [older, latest]) == ("zh-CN", "Asia/Shanghai")
    assert list_reader(cookie, SETTINGS, "customer", [latest]) == ("en-GB", "Asia/Shanghai")
    assert list_reader(chinese, SETTINGS, "customer", []) == ("zh-CN", "UTC")


def test_the_switch_links_to_the_same_page_with_lang_and_answers_with_a_cookie():
    with reading("zh-CN"), switch_base(URL("/d/abc?t=tok&action=confirm&lang=en")):
        links = language_links()
    assert [(link["tag"], link["current"]) for link in links] == [
        ("en", False),
        ("zh-Hans", True),
    ]
    assert links[0]["href"] == "/d/abc?t=tok&action=confirm&lang=en"
    assert links[1]["href"] == "/d/abc?t=tok&action=confirm&lang=zh-Hans"
    assert [link["name"] for link in links] == [language_name("en"), language_name("zh-Hans")]
    assert language_name("en") == "English" and language_name("zh-CN").startswith("中文")
    with switch_base(None):
        assert language_links() == []

    request = _request("/d/abc?t=tok&lang=zh-CN&action=confirm")
    assert chosen_language(request) == "zh-CN"
    answer = switched(request, "zh-CN", {"Cache-Control": "no-store"})
    assert answer.status == 303
    assert answer.location == "/d/abc?t=tok&action=confirm"
    morsel = answer.cookies[COOKIE]
    assert morsel.value == "zh-CN" and morsel["path"] == "/" and morsel["httponly"]
    assert morsel["samesite"] == "Lax" and int(morsel["max-age"]) == 365 * 24 * 3600
    assert chosen_language(_request("/me?t=x")) is None
    for bad in ("fr", "zh-TW", "zh-cn", "<x>"):
        with pytest.raises(ValueError):
            chosen_language(_request(f"/me?t=x&lang={bad}"))


# --- the pseudo-locale test of the pages ---------------------------------------------------


class _Cursor:
    def __init__(self, records: list[dict[str, Any]]):
        self.records = records

    def __aiter__(self):
        async def walk():
            for record in self.records:
                yield record

        return walk()


class _Collection:
    def __init__(self, records: list[dict[str, Any]]):
        self.records = records

    def find(self, query: dict[str, Any], *args: Any):
        wanted = set(query["_id"]["$in"])
        return _Cursor([r for r in self.records if r["_id"] in wanted])


class FakeDb:
    """The attachments' records a page reads (``attachments.files_by_id``)."""

    def __getitem__(self, name: str) -> _Collection:
        return _Collection(FILES)


FILES = [
    {
        "_id": f"file-{n}",
        "filename": f"typed-file-{n}.pdf",
        "size": 12345 * n,
        "detected_type": "pdf" if n != 2 else None,
        "uploaded_by": {"role": role, "id": f"{role}-1"},
    }
    for n, role in ((1, "customer"), (2, "isv"), (3, "isv"))
]
#: What parties typed and machine values, taken out of the pages before looking for words.
TYPED = (
    "TYPED-SPEC",
    "TYPED-NAME",
    "typed@example.com",
    "TYPED-DEMANDS",
    "TYPED-NOTE",
    "TYPED-REASON",
    "TYPED-WARRANTY",
    "STORED-REFUSAL-MESSAGE",
    "STORED-CODE",
    # A refusal's code, shown beside its words, is a machine value.
    *(reason.value for reason in Reason),
    "ORDER-1",
    DELIVERY_ID,
    "file-missing",
    "PROD-1",
    "cust-1",
    "isv-1",
    "customer-1",
    "admin-1",
    "typed-file-1.pdf",
    "typed-file-2.pdf",
    "typed-file-3.pdf",
    "Delivery Center",
    "English",
    "中文 (简体)",
    "DC_SCORECARD_REFRESH",
    # A size's unit and a file's type are symbols: ``shared.wording.moments.SIZE_IN_UNITS``.
    " KB",
    " MB",
    "pdf",
    # State ids, command types and process ids are shown as machine values beside their words.
    *(s.value for s in State),
    *(p.value for p in ProcessName),
    *ACTIONS,
    "asc",
    "desc",
)


class _Text(HTMLParser):
    """A page's text as a reader meets it: its text nodes (not its style) and the attributes
    read aloud or shown (``title``, ``alt``, ``aria-label``, ``placeholder``, a button's
    ``value``)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self.skip += 1
        shown = dict(attrs)
        for name in ("title", "alt", "aria-label", "placeholder"):
            if shown.get(name):
                self.parts.append(shown[name] or "")
        if tag == "input" and shown.get("type") in ("submit", "button") and shown.get("value"):
            self.parts.append(shown["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.parts.append(data)


def leftover(html: str) -> list[str]:
    """The words with letters left on a page once marked messages and :data:`TYPED` are out."""
    parser = _Text()
    parser.feed(html)
    return letters(unmarked("\n".join(parser.parts), data=TYPED))


def _actor(role: str) -> dict[str, str]:
    return {"role": role, "id": {"customer": "cust-1", "isv": "isv-1"}.get(role, f"{role}-1")}


def stored_delivery(process: ProcessName, state: State, *, dispute: str | None) -> dict:
    """A stored delivery with every part a page shows filled in."""
    deadlines = [
        {"kind": kind.value, "status": "active", "due_at": NOW + timedelta(days=3)}
        for kind in DeadlineKind
    ] + [{"kind": DeadlineKind.WARRANTY.value, "status": "paused", "remaining_seconds": 90000}]
    document: dict[str, Any] = {
        "_id": DELIVERY_ID,
        "order_id": "ORDER-1",
        "order_spec": "TYPED-SPEC",
        "product_id": "PROD-1",
        "process": process.value,
        "state": state.value,
        "customer_id": "cust-1",
        "isv_id": "isv-1",
        "version": 7,
        "contact": {"name": "TYPED-NAME", "phone": "+1 555 0100", "email": "typed@example.com"},
        "demands": "TYPED-DEMANDS",
        "attachments": ["file-1", "file-missing"],
        "contract": "file-2",
        "stages": [
            {
                "stage": State.IN_DELIVERY.value,
                "note": "TYPED-NOTE",
                "finished_at": NOW,
                "attachments": ["file-3"],
                "reviews": [
                    {"outcome": outcome, "by": _actor("customer"), "at": NOW, "reason": reason}
                    for outcome in REVIEW_OUTCOMES
                    for reason in ("TYPED-REASON", None)
                ],
            }
        ],
        "warranty_requests": [{"at": NOW, "description": "TYPED-WARRANTY"}],
        "deadlines": deadlines,
        "history": [
            {
                "at": NOW,
                "actor": actor,
                "command": command,
                "from_state": State.AWAITING_DEMAND.value,
                "to_state": state.value,
                "details": {
                    "reason": "TYPED-REASON",
                    "outcome": "continue",
                    "note": "TYPED-NOTE",
                    "description": "TYPED-WARRANTY",
                },
            }
            for command in DONE_WORDS
            for actor in (_actor("customer"), _actor("isv"), _actor("admin"), None)
        ],
        "refusals": [
            {
                "at": NOW,
                "actor": _actor("isv"),
                "command": "confirm",
                "message": "STORED-REFUSAL-MESSAGE",
                "code": code,
            }
            for code in ("STORED-CODE", "role_not_allowed")
        ],
        "updated_at": NOW - timedelta(days=30),
    }
    if dispute:
        document["dispute"] = {
            "status": dispute,
            "opened_by": _actor("customer"),
            "reason": "TYPED-REASON",
            "opened_at": NOW,
            **(
                {"outcome": "continue", "note": "TYPED-NOTE", "resolved_at": NOW}
                if dispute == "resolved"
                else {}
            ),
        }
    return document


def _situations():
    for process in ProcessName:
        states = set(PROCESSES[process].states) | {State.COMPLETED, State.TERMINATED}
        for state in sorted(states):
            for dispute in (None, "open", "resolved"):
                yield process, state, dispute


def _link(role: Role) -> Link:
    party = {Role.CUSTOMER: "cust-1", Role.ISV: "isv-1"}.get(role, "admin-1")
    delivery = ALL_DELIVERIES if role == Role.ADMIN else "delivery-1"
    return Link(delivery_id=delivery, party_id=party, role=role, signed_at=NOW)


def _outcomes() -> list[dict[str, Any] | None]:
    base = {"title": ACTIONS["confirm"].title, "command_id": "c-1", "delivery_id": "delivery-1"}
    return [
        None,
        {**base, "status": "pending", "late": False},
        {**base, "status": "pending", "late": True},
        {**base, "status": "applied"},
        *(
            {
                **base,
                "status": "rejected",
                "reason": code,
                "message": "STORED-REFUSAL-MESSAGE",
                "words": refusal_words(code, "STORED-REFUSAL-MESSAGE"),
            }
            # A code without words shows the API's message; one with words, its words.
            for code in ("STORED-CODE", "wrong_state")
        ),
    ]


def _form_states(document: dict[str, Any], role: Role) -> list[FormState | None]:
    """No form, then each action's form sent back with every field wrong."""
    forms: list[FormState | None] = [None]
    for action in available_actions(document, role):
        errors = {
            name: "⟦a field's problem⟧"
            for name in (
                "contact_name",
                "contact_phone",
                "contact_email",
                "demands",
                "note",
                "reason",
                "description",
                "outcome",
                "file",
                "form",
            )
        }
        forms.append(FormState(action, {"reason": "TYPED-REASON"}, errors))
    return forms


async def _delivery_pages(role: Role) -> list[tuple[str, str]]:
    """Every state of the delivery's page for ``role``: (what, html)."""
    pages = []
    for process, state, dispute in _situations():
        document = stored_delivery(process, state, dispute=dispute)
        link = _link(role)
        outcomes = _outcomes()
        forms = _form_states(document, role)
        queries = ["", "&action=terminate", "&action=bogus"]
        variants = max(len(outcomes), len(forms), len(queries))
        for n in range(variants):
            query = queries[n % len(queries)]
            request = _request(f"/d/delivery-1?t=tok{query}")
            context = await page_context(
                request,
                link,
                "tok",
                document,
                form=forms[n % len(forms)],
                outcome=outcomes[n % len(outcomes)],
            )
            with switch_base(URL(f"/d/delivery-1?t=tok{query}")):
                html = render("delivery.html", **context).text
            pages.append((f"{role} {process} {state} dispute={dispute} variant={n}", html))
    return pages


def _error_pages() -> list[tuple[str, str]]:
    """The refusals a page answers with, as pages."""
    refusals: list[PageError] = []
    for kind in ("expired", "not_yet_valid", "other_page", "bad"):
        error = LinkError(
            kind,
            "unused",
            NOW if kind == "expired" else None,
            signed_at=NOW + timedelta(hours=2) if kind == "not_yet_valid" else None,
            opens=_link(Role.CUSTOMER) if kind == "other_page" else None,
        )
        for here in ("page", "list", "admin"):
            refusals.append(_refused(error, SETTINGS, "tok", here))
    for opens in (_link(Role.CUSTOMER), _link(Role.ADMIN), ListLink("cust-1", Role.CUSTOMER, NOW)):
        refusals.append(_elsewhere(opens, "tok", "page"))
    for bad in ("you.01", "nonsense"):
        try:
            read_cursor(bad)
        except PageError as error:
            refusals.append(error)
    from services.gateway.pages import mine_query

    for query in ("state=nope", "process=nope", "q=%20%3C%3E", "state=a&state=b"):
        try:
            mine_query.read_query(_request(f"/me?t=x&{query}"))
        except PageError as error:
            refusals.append(error)

    async def missing():
        class Nothing:
            def __getitem__(self, name):
                return self

            async def find_one(self, *args):
                return None

        gateway = Gateway(settings=SETTINGS, db=Nothing(), broker=None, limiter=None)  # type: ignore[arg-type]
        try:
            await delivery_for(gateway, _link(Role.CUSTOMER), "delivery-1")
        except PageError as error:
            return error

    refusals.append(asyncio.run(missing()))
    pages = []
    for error in refusals:
        with switch_base(URL("/d/delivery-1?t=tok")):
            pages.append((f"error {error.title}", error_page(error).text))
    return pages


def _admin_page() -> str:
    """The admin list of every situation, as ``admin.admin_page`` makes it."""
    rows = []
    for process, state, dispute in _situations():
        document = stored_delivery(process, state, dispute=dispute)
        late = admin_module.overdue(document, NOW, timedelta(days=14))
        rows.append(
            {
                "id": DELIVERY_ID,
                "order_id": "ORDER-1",
                "process": document["process"],
                "state": document["state"],
                "state_label": STATE_LABELS[state],
                "customer": "cust-1",
                "isv": "isv-1",
                "isv_href": "/admin/scorecards/isv-1?t=tok",
                "dispute": dispute_open(document),
                "dispute_reason": "TYPED-REASON",
                "overdue": late,
                "updated": "⟦a moment⟧",
                "href": "/d/delivery-1?t=tok",
                "actions": [action_view(a) for a in available_actions(document, Role.ADMIN)],
                "csrf": "csrf",
            }
        )
    pages = []
    for outcome in _outcomes():
        for count in (rows, rows[:1], []):
            pages.append(
                render(
                    "admin.html",
                    title=admin_module._("Deliveries"),
                    rows=count,
                    states=[s.value for s in State],
                    state_labels=STATE_LABELS,
                    state="",
                    only_overdue=False,
                    notice=admin_module._(
                        "There is no state “{state}”; showing every state."
                    ).format(state="nope"),
                    token="tok",
                    outcome=outcome,
                    refresh=False,
                    limit=1 if len(count) == 1 else 500,
                    empty_form=FormState(action=""),
                    scorecards_href="/admin/scorecards?t=tok",
                ).text
            )
    return "\n".join(pages)


def _scorecard_html() -> Markup:
    period = Period.ending(NOW.date(), 30)
    facts = [
        DeliveryFacts(
            delivery_id=f"d-{n}",
            isv_id="isv-1",
            process=ProcessName.BASIC,
            opened_at=NOW - timedelta(days=n),
            version=1,
            state=State.COMPLETED if n % 2 else State.IN_DELIVERY,
        )
        for n in range(1, 6)
    ]
    card = scorecard_of("isv-1", period, facts, NOW, timedelta(days=14))
    trend = score_trend(facts, trend_periods(NOW.date()), NOW, timedelta(days=14))
    table = table_of(period, facts, NOW, timedelta(days=14))
    with_table = ScorecardData(card, trend, table, NOW)
    without = ScorecardData(card, [], None, NOW)
    return render_scorecard(with_table) + render_scorecard(without)


def _me_pages() -> list[tuple[str, str]]:
    pages = []
    for role in (Role.CUSTOMER, Role.ISV):
        link = ListLink("cust-1" if role == Role.CUSTOMER else "isv-1", role, NOW)
        gateway = Gateway(settings=SETTINGS, db=FakeDb(), broker=None, limiter=None)  # type: ignore[arg-type]
        sections = []
        for group in (YOURS, OTHERS, DONE):
            rows = [
                row_view(group, stored_delivery(p, s, dispute=d), link, gateway, NOW)
                for p, s, d in _situations()
            ]
            sections.append({"group": group, "title": GROUP_TITLES[group], "rows": rows})
        for filters, cursor in ((Filters(), None), (Filters(state="completed"), Cursor(YOURS))):
            pages.append(
                (
                    f"me {role}",
                    render(
                        "me.html",
                        title=LIST_TITLE,
                        viewer={"label": "⟦role⟧", "party": link.party_id},
                        counts=counts_words(3, 1),
                        scorecard_html=_scorecard_html() if role == Role.ISV else "",
                        sections=sections if cursor is None else [],
                        empty=empty_words(filters, cursor),
                        token="tok",
                        filters=filters,
                        states=[(s.value, STATE_LABELS[s]) for s in State],
                        processes=[(p.value, "⟦process⟧") for p in ProcessName],
                        search_hint=SEARCH_HINT,
                        stopped="⟦stopped⟧",
                        first_href="/me?t=tok",
                        next_href="/me?t=tok&after=you.30",
                        clear_href="/me?t=tok",
                    ).text,
                )
            )
    return pages


def _admin_scorecard_pages() -> list[tuple[str, str]]:
    from services.gateway.pages.admin_scorecards import _headings

    one = render(
        "admin_scorecard.html",
        title="⟦title⟧",
        isv_id="isv-1",
        token="tok",
        admin_href="/admin?t=tok",
        table_href="/admin/scorecards?t=tok",
        path="/admin/scorecards/isv-1",
        first="2026-11-01",
        last="2026-11-30",
        scorecard_html=_scorecard_html(),
    ).text
    tables = []
    for about, rows in ((None, []), ({"computed": "⟦c⟧", "period": "⟦p⟧"}, []), ("rows", "rows")):
        row = {
            "isv_id": "isv-1",
            "href": "/admin/scorecards/isv-1?t=tok",
            "score": "50.0",
            "previous": "⟦no score⟧",
            "trend": {"mark": "▲", "direction": "up", "sentence": "⟦up⟧"},
            "opened": 1,
            "completed": 1,
            "terminated": 0,
            "confirmation": "50%",
            "disputes": "0%",
            "overdue": "0%",
        }
        tables.append(
            render(
                "admin_scorecards.html",
                title="⟦title⟧",
                token="tok",
                admin_href="/admin?t=tok",
                rows=[row] if rows else [],
                total=2 if rows else 0,
                total_words="⟦2 ISVs⟧",
                limit=1,
                about={"computed": "⟦c⟧", "period": "⟦p⟧"} if about else None,
                headings=_headings("score", "desc", "tok"),
                notices=["⟦notice⟧"],
                refresh_every="⟦5 minutes⟧",
            ).text
        )
    return [("admin scorecard", one), *(("admin scorecards", t) for t in tables)]


def _assert_all_marked(pages: list[tuple[str, str]]) -> None:
    found: dict[str, list[str]] = {}
    for what, html in pages:
        words = leftover(html)
        if words:
            found.setdefault(" ".join(sorted(set(words))), []).append(what)
    assert not found, "unmarked words:\n" + "\n".join(
        f"{words!r}  (e.g. {places[0]}, {len(places)} pages)" for words, places in found.items()
    )


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.ISV, Role.ADMIN])
def test_every_delivery_page_state_is_all_marked_in_the_pseudo_locale(role):
    with reading("en", "UTC", catalog=PSEUDO), switch_base(URL("/d/delivery-1?t=tok")):
        pages = asyncio.run(_delivery_pages(role))
    assert len(pages) > 50
    _assert_all_marked(pages)


def test_the_lists_scorecards_and_error_pages_are_all_marked_in_the_pseudo_locale():
    with reading("en", "UTC", catalog=PSEUDO), switch_base(URL("/admin?t=tok")):
        pages = [
            ("admin", _admin_page()),
            *_me_pages(),
            *_admin_scorecard_pages(),
            *_error_pages(),
        ]
    _assert_all_marked(pages)


def test_pages_declare_their_language_and_show_the_switch():
    document = stored_delivery(ProcessName.BASIC, State.AWAITING_DEMAND, dispute=None)

    async def page(locale: str) -> web.Response:
        with reading(locale, "Asia/Shanghai"), switch_base(URL("/d/delivery-1?t=tok")):
            context = await page_context(_request(), _link(Role.CUSTOMER), "tok", document)
            return render("delivery.html", **context)

    chinese = asyncio.run(page("zh-CN"))
    assert '<html lang="zh-CN">' in chinese.text
    assert chinese.headers["Content-Language"] == "zh-CN"
    assert 'href="/d/delivery-1?t=tok&amp;lang=en"' in chinese.text
    assert 'lang="en" hreflang="en" id="lang-en">English</a>' in chinese.text
    english = asyncio.run(page("en"))
    assert '<html lang="en">' in english.text and 'id="lang-zh-Hans"' in english.text
    assert 'id="lang-en"' not in english.text  # the language being read is no link
    assert page_path("delivery-1", "tok") in english.text


def test_the_pages_words_for_what_each_part_rewards_are_the_apis_in_english():
    from services.gateway.pages.scorecard import COMPONENT_REWARDS
    from shared.domain.scorecard import COMPONENTS

    assert {c.name: c.rewards for c in COMPONENTS} == dict(COMPONENT_REWARDS.items())
