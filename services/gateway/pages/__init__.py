"""The delivery page and the admin list: server-rendered HTML opened by signed links.

Every page is opened with a link token (``?t=``, see ``links.py``). A GET only shows; every
press is a POST with the link token and a CSRF token derived from it, and goes through the same
command path as the JSON API: the command is validated with its pydantic model and handed to
``publishing.accept`` with the link's party as actor; the browser is then sent (303) to the page,
which shows the command as pending until its outcome is recorded, then applied or refused.

One module per concern: ``words`` (steps, turns, deadlines, actions, who did what), ``errors``
(refusals as pages), ``guard`` (link checks), ``csrf`` (the form token), ``view`` (the
delivery page and its files), ``forms`` (presses: form fields to commands), ``admin`` (the
administrators' list); each route's OpenAPI contract sits on
its handler, and ``guard`` holds the pieces the contracts share. ``routing`` holds the route
table and the templates they share. Importing this
package registers every page's route on ``routes``, in the order below.
"""

from __future__ import annotations

# isort: off
# In the order of the old single module: the page modules register their routes on
# ``routes`` as they are imported (view, forms, admin), as they always were.
from services.gateway.pages.words import (
    action_view,
    available_actions,
    deadline_words,
    dispute_open,
    sendable,
    steps_of,
    turn_words,
    who,
)
from services.gateway.pages.errors import PAGE_HEADERS, PageError, error_page, html_errors, render
from services.gateway.pages.guard import delivery_for, link_of
from services.gateway.pages.view import (
    PENDING_PATIENCE,
    FormState,
    delivery_file,
    delivery_page,
    file_href,
    outcome_of,
    page_context,
)
from services.gateway.pages.forms import (
    MAX_FILES_PER_FORM,
    FORM_FIELDS,
    OUTCOME_WAIT,
    command_body,
    field_errors,
    press,
    store_file,
    upload_problems,
    uploaded_name,
)
from services.gateway.pages.admin import ADMIN_LIST_LIMIT, admin_page, overdue, recently_updated
from services.gateway.pages.routing import routes

# isort: on
from shared.wording import ACTIONS, PROCESS_LABELS, STATE_LABELS

__all__ = [
    "ACTIONS",
    "ADMIN_LIST_LIMIT",
    "FORM_FIELDS",
    "MAX_FILES_PER_FORM",
    "OUTCOME_WAIT",
    "PAGE_HEADERS",
    "PENDING_PATIENCE",
    "PROCESS_LABELS",
    "STATE_LABELS",
    "FormState",
    "PageError",
    "action_view",
    "admin_page",
    "available_actions",
    "command_body",
    "deadline_words",
    "delivery_file",
    "delivery_for",
    "delivery_page",
    "dispute_open",
    "error_page",
    "field_errors",
    "file_href",
    "html_errors",
    "link_of",
    "outcome_of",
    "overdue",
    "page_context",
    "press",
    "recently_updated",
    "render",
    "routes",
    "sendable",
    "steps_of",
    "store_file",
    "turn_words",
    "upload_problems",
    "uploaded_name",
    "who",
]
