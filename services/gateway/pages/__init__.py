"""The delivery page and the admin list: server-rendered HTML opened by signed links.

Every page is opened with a link token (``?t=``, see ``services/runtime/links.py``). A GET only
shows; every press is a POST with the link token and a CSRF token derived from it, and goes
through the same command path as the JSON API: the command is validated with its pydantic model
and handed to ``publishing.accept`` with the link's party as actor; the browser is then sent
(303) to the page, which shows the command as pending until its outcome is recorded, then
applied or refused.

One module per concern: ``words`` (steps, turns, deadlines, actions, who did what), ``errors``
(refusals as pages), ``guard`` (link checks), ``csrf`` (the form token), ``view`` (the
delivery page and its files), ``forms`` (presses: form fields to commands), ``admin`` (the
administrators' list), ``mine`` (a party's own list, ``/me``; its query in ``mine_query``,
its rows in ``mine_rows``), ``charts`` (inline SVG), ``scorecard`` (an ISV's scorecard section)
and ``admin_scorecards`` (every ISV's table, one ISV's page); each route's OpenAPI contract
sits on its handler, and ``guard`` holds the pieces the contracts share. ``routing`` holds
the route table and the templates they share. Importing this package registers every page's
route on ``routes``, in the order below.
"""

from __future__ import annotations

# isort: off
# The page modules register their routes on ``routes`` as they are imported, in this order
# (view, forms, admin, mine, admin_scorecards); the names below are those the app and the
# tests read from here.
from services.gateway.pages.words import (
    available_actions,
    deadline_words,
    sendable,
    steps_of,
    turn_words,
)
from services.gateway.pages.errors import PageError, error_page, html_errors
from services.gateway.pages import view  # noqa: F401  (registers the page and its files)
from services.gateway.pages.forms import command_body, field_errors, upload_problems, uploaded_name
from services.gateway.pages.admin import overdue, recently_updated
from services.gateway.pages import mine  # noqa: F401  (registers /me)
from services.gateway.pages import admin_scorecards  # noqa: F401  (registers the scorecards)
from services.gateway.pages.routing import routes

# isort: on
from shared.wording import ACTIONS, PROCESS_LABELS, STATE_LABELS

__all__ = [
    "ACTIONS",
    "PROCESS_LABELS",
    "STATE_LABELS",
    "PageError",
    "available_actions",
    "command_body",
    "deadline_words",
    "error_page",
    "field_errors",
    "html_errors",
    "overdue",
    "recently_updated",
    "routes",
    "sendable",
    "steps_of",
    "turn_words",
    "upload_problems",
    "uploaded_name",
]
