"""The query of a party's list (GET /me, ``pages.mine``): its filters (a state, a process,
an order ID or product ID searched exactly), where a page starts (the ``after`` cursor: a place
in what waits for the reader, or in a walked group after a position), reading both from a
request (400 pages for anything else), and what a page without rows says.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import TypeAdapter, ValidationError

from services.gateway.pages.errors import PageError
from services.runtime.party_lists import DONE, OTHERS, WALKED_GROUPS, YOURS, Position
from shared.domain.commands import ExternalId
from shared.domain.states import TERMINAL_STATES, ProcessName, State
from shared.wording.lists import NO_DELIVERIES, NO_MATCH, NO_MORE, NO_MORE_MATCH
from shared.wording.reader import _, lazy_gettext, ngettext

#: The query parameters the page reads, each at most once.
PARAMETERS = ("t", "state", "process", "q", "after")
_SEARCH = TypeAdapter(ExternalId)
#: ``you.<offset>``, ``other`` / ``done`` (a group's start) or ``other.<millis>.<id>``.
_CURSOR = re.compile(r"(you)\.([0-9]{1,9})|(other|done)(?:\.([0-9]{1,15})\.([0-9a-f]{32}))?")
_BAD_QUERY = lazy_gettext("This list cannot be shown")


@dataclass(frozen=True)
class Filters:
    """The page's filters, ``""`` for none: a state, a process, and a search text (an order
    ID or a product ID, matched exactly)."""

    state: str = ""
    process: str = ""
    search: str = ""

    def keep(self, document: Mapping[str, Any]) -> bool:
        """Whether a stored delivery passes every filter."""
        return (
            (not self.state or document["state"] == self.state)
            and (not self.process or document["process"] == self.process)
            and (not self.search or self.search in (document["order_id"], document["product_id"]))
        )

    def query(self) -> dict[str, str]:
        """The filters as the page's query parameters (those given)."""
        given = {"state": self.state, "process": self.process, "q": self.search}
        return {name: value for name, value in given.items() if value}

    @property
    def active(self) -> bool:
        """Whether any filter is given."""
        return bool(self.state or self.process or self.search)

    def walked_groups(self) -> tuple[str, ...]:
        """The walked groups that may hold a match: a terminal state is only finished, any
        other state never is."""
        if not self.state:
            return WALKED_GROUPS
        return (DONE,) if State(self.state) in TERMINAL_STATES else (OTHERS,)


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: in the group waiting for the reader at ``offset``, or in a walked
    group after ``after`` (None: at its newest)."""

    group: str
    offset: int = 0
    after: Position | None = None

    def text(self) -> str:
        """As the ``after`` query parameter: ``you.30``, ``other``, ``done.<millis>.<id>``."""
        if self.group == YOURS:
            return f"{YOURS}.{self.offset}"
        if self.after is None:
            return self.group
        return f"{self.group}.{self.after.millis}.{self.after.delivery_id}"


def read_cursor(text: str) -> Cursor:
    """The :class:`Cursor` that :meth:`Cursor.text` wrote, and nothing else: each field in its
    range (a time from 1970 to 9999: ``party_lists.Position``), written as it writes it (no
    leading zeros).

    Raises:
      PageError: 400 for anything else.
    """
    refused = PageError(
        400,
        str(_BAD_QUERY),
        _(
            "The page position “{position}” (after=) is not one this list made. "
            "Go back to the list's first page."
        ).format(position=text[:60]),
    )
    found = _CURSOR.fullmatch(text)
    if found is None:
        raise refused
    you, offset, walked, millis, delivery_id = found.groups()
    try:
        if you:
            cursor = Cursor(YOURS, offset=int(offset))
        else:
            after = Position(int(millis), delivery_id) if millis else None
            cursor = Cursor(walked, after=after)
    except ValueError as error:
        raise refused from error
    if cursor.text() != text:
        raise refused
    return cursor


def _one(request: web.Request, name: str) -> str:
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise PageError(
            400,
            str(_BAD_QUERY),
            ngettext(
                "The address gives “{name}” {count} time; give it once.",
                "The address gives “{name}” {count} times; give it once.",
                len(values),
            ).format(name=name, count=len(values)),
        )
    return values[0] if values else ""


def read_query(request: web.Request) -> tuple[Filters, Cursor | None]:
    """The filters and the page position of a ``/me`` request.

    Raises:
      PageError: 400, saying which value is wrong and what it may be: a parameter given twice,
        an unknown state or process, a search that is no order ID or product ID (1 to 128
        letters, digits and ``. _ : @ -``), a page position this list did not make.
    """
    for name in PARAMETERS:
        _one(request, name)
    state, process, search = _one(request, "state"), _one(request, "process"), _one(request, "q")
    if state and state not in {s.value for s in State}:
        states = ", ".join(s.value for s in State)
        raise PageError(
            400,
            str(_BAD_QUERY),
            _("There is no state “{state}”. The states are: {states}.").format(
                state=state[:60], states=states
            ),
        )
    if process and process not in {p.value for p in ProcessName}:
        processes = ", ".join(p.value for p in ProcessName)
        raise PageError(
            400,
            str(_BAD_QUERY),
            _("There is no process “{process}”. The processes are: {processes}.").format(
                process=process[:60], processes=processes
            ),
        )
    search = search.strip()
    if search:
        try:
            search = _SEARCH.validate_python(search)
        except ValidationError as error:
            raise PageError(
                400,
                str(_BAD_QUERY),
                _(
                    "“{search}” is neither an order ID nor a product ID: search for one of "
                    "those, 1 to 128 letters, digits and . _ : @ -."
                ).format(search=search[:60]),
            ) from error
    after = _one(request, "after")
    cursor = read_cursor(after) if after else None
    return Filters(state, process, search), cursor


def empty_words(filters: Filters, cursor: Cursor | None) -> str:
    """What a page without rows says: past the end of the list (a page after the first:
    ``NO_MORE``, ``NO_MORE_MATCH`` when filtered), nothing matches the filters, or the reader
    has no deliveries at all (only a first page without filters can tell)."""
    if cursor is not None:
        return NO_MORE_MATCH if filters.active else NO_MORE
    return NO_MATCH if filters.active else NO_DELIVERIES
