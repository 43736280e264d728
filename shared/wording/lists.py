"""The words of each party's own list of deliveries (``/me``) and of the emails' link to it.

Part of :mod:`shared.wording` (pure: no I/O, no clock); what a row says about one delivery
(what to do, who is awaited, deadlines, states) is the delivery page's own words, read from
the rest of the package and ``services.gateway.pages.words``. Only what belongs to the list
as a whole lives here: its title, its groups, its counts and its search.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.wording.moments import counted
from shared.wording.reader import N_, Words, lazy_gettext, plural

#: The list's title, and the emails' words before the link to it.
LIST_TITLE = lazy_gettext("Your deliveries")
LIST_LINK_WORDS = lazy_gettext("All your deliveries")
#: An administrator's list (``/admin``), as the emails to ``DC_ADMIN_EMAIL`` name it.
ADMIN_LIST_LINK_WORDS = lazy_gettext("All deliveries")
#: Each group's heading, in the list's order: the reader must act, someone else must (the
#: other party, an administrator, the clock), nobody (completed or terminated).
GROUP_TITLES: Mapping[str, str] = Words(
    {
        "you": N_("Waiting for you"),
        "other": N_("Waiting for others"),
        "done": N_("Finished"),
    }
)
#: The counts at the top: how many wait for the reader, and how many of those are overdue.
WAITING = plural("{count} delivery waits for you", "{count} deliveries wait for you")
NOTHING_WAITING = lazy_gettext("Nothing waits for you.")
OVERDUE = plural("{count} is overdue", "{count} are overdue")
#: The line itself: ``{waiting}`` and ``{overdue}`` from :data:`WAITING` and :data:`OVERDUE`.
WAITING_LINE = lazy_gettext("{waiting}.")
WAITING_AND_OVERDUE_LINE = lazy_gettext("{waiting}, {overdue}.")
#: A finished delivery's "when": ``{at}`` is ``when_relative`` of its last change.
FINISHED: Mapping[str, str] = Words(
    {
        "completed": N_("Completed on {at}"),
        "terminated": N_("Terminated on {at}"),
    }
)
#: A row whose customer's warranty request awaits the ISV
#: (``shared.domain.actions.awaits_warranty_service``), as each party reads it: ``{at}`` is
#: when it was asked (``when_relative``), ``{words}`` the request's words, shortened
#: (:func:`shortened`).
WARRANTY_REQUESTED: Mapping[str, str] = Words(
    {
        "isv": N_(
            "The customer asked for warranty service on {at}: “{words}”. Your turn: provide it."
        ),
        "customer": N_(
            "You asked for warranty service on {at}: “{words}”. Waiting for the ISV to provide it."
        ),
    }
)
#: Characters of a request's words a row shows at most, "…" included.
REQUEST_WORDS_SHOWN = 80
#: A delivery with no deadline running.
NO_DEADLINE = lazy_gettext("no deadline")
#: What the search box takes.
SEARCH_HINT = lazy_gettext("an order ID, or a product ID")
#: A filtered page whose search stopped before the page was full: ``{day}`` the oldest day
#: looked at ("2026-11-30").
SEARCH_STOPPED = lazy_gettext(
    "Searched the deliveries that changed on {day} or later; older ones may match too: "
    "look further to go on."
)
NO_MATCH = lazy_gettext("No deliveries match.")
NO_DELIVERIES = lazy_gettext("You have no deliveries yet.")
#: A page after the first that has no rows: the list ended before it (a "Next page" link kept
#: from before the list changed, or a position given by hand).
NO_MORE = lazy_gettext("There is nothing more: the list ends before this page.")
NO_MORE_MATCH = lazy_gettext("No more deliveries match: the list ends before this page.")


def counts_words(waiting: int, overdue: int) -> str:
    """The line at the top of the list: "3 deliveries wait for you, 1 is overdue.",
    "1 delivery waits for you.", "Nothing waits for you."."""
    if waiting == 0:
        return str(NOTHING_WAITING)
    words = counted(waiting, *WAITING)
    if overdue:
        return WAITING_AND_OVERDUE_LINE.format(waiting=words, overdue=counted(overdue, *OVERDUE))
    return WAITING_LINE.format(waiting=words)


def shortened(text: str, limit: int = REQUEST_WORDS_SHOWN) -> str:
    """``text`` on one line (every run of white space one space) and at most ``limit``
    characters: cut at the last space that leaves room for "…" (within the last fifth), else
    mid-word, and "…" added."""
    words = " ".join(text.split())
    if len(words) <= limit:
        return words
    cut = words[: limit - 1]
    space = cut.rfind(" ")
    if space >= (limit - 1) * 4 // 5:
        cut = cut[:space]
    return cut.rstrip(" .,;:") + "…"


def warranty_request_words(role: str, at: str, description: str) -> str:
    """A row's "Now" while the customer's warranty request awaits the ISV, for ``role``
    (``"isv"``: it is their turn; ``"customer"``: they wait), ``at`` when it was asked in
    words, ``description`` the request's words (shortened).

    Raises ``KeyError`` for another role."""
    return WARRANTY_REQUESTED[role].format(at=at, words=shortened(description))
