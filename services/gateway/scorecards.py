"""An ISV's delivery-quality scorecard over HTTP (``GET /v1/isvs/{isv_id}/scorecard``): the
figures and score of ``shared.domain.scorecard`` for a period of UTC days, read from the read
model ``services.runtime.scorecards`` (one document per day of the period and of the one
before it, whatever the ISV's history)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from aiohttp import web

from services.gateway.context import caller, gateway_of
from services.gateway.contracts import CALLER_ERRORS, Reply, documented, error, parameter
from services.gateway.errors import HttpError
from services.gateway.models import ScorecardView, json_answer
from services.runtime.scorecards import ScorecardBook
from shared.domain.roles import ACTOR_ID_RULE, Role
from shared.domain.score_periods import (
    DAY_PATTERN,
    DEFAULT_PERIOD_DAYS,
    MAX_PERIOD_DAYS,
    Period,
    PeriodProblem,
    given_day,
    isv_id_refusal,
    requested_period,
)

routes = web.RouteTableDef()
_DAY_SCHEMA = {"type": "string", "format": "date", "pattern": f"^{DAY_PATTERN}$"}
#: The query parameters that pick a scorecard's period, here and on the admin's pages.
PERIOD_PARAMETERS = (
    parameter(
        "from",
        "query",
        f"the first UTC day whose openings count; default: {DEFAULT_PERIOD_DAYS} days ending on to",
        required=False,
        schema=_DAY_SCHEMA,
    ),
    parameter(
        "to",
        "query",
        "the last UTC day whose openings count (included); default: today (UTC)",
        required=False,
        schema=_DAY_SCHEMA,
    ),
)


def query_day(request: web.Request, name: str) -> date | None:
    """The day in query parameter ``name`` (``given_day``), None when absent.

    Raises:
      HttpError: 400 ``invalid_query`` naming it: given twice, not written ``YYYY-MM-DD``, or
        not a day of the calendar.
    """
    try:
        return given_day(name, request.query.getall(name, []))
    except PeriodProblem as problem:
        raise HttpError(
            400,
            "invalid_query",
            problem.message,
            fields=[{"field": name, "message": problem.message}],
        ) from problem


def query_period(request: web.Request, today: date) -> Period:
    """The period the query's ``from`` and ``to`` ask for (``requested_period``).

    Raises:
      HttpError: 400 ``invalid_query`` (:func:`query_day`); 422 ``invalid_period``: ``to``
        before ``from``, ``from`` after today without ``to``, more than
        :data:`MAX_PERIOD_DAYS` days, or a period (or the one before it) reaching before year
        1, naming the fields at fault among those given.
    """
    first, last = query_day(request, "from"), query_day(request, "to")
    try:
        return requested_period(first, last, today)
    except PeriodProblem as problem:
        raise HttpError(
            422,
            "invalid_period",
            problem.message,
            fields=[{"field": name, "message": problem.message} for name in problem.fields],
        ) from problem


def path_isv_id(request: web.Request) -> str:
    """The ISV id in the path (``{isv_id}``).

    Raises:
      HttpError: 404 ``not_found`` when no ISV can have it (``isv_id_refusal``): empty
        after decoding, over 200 characters, holding a control character (``%00``), or ``.``
        or ``..``; an ISV that can exist but has no deliveries has a scorecard of zeros.
    """
    isv_id = request.match_info["isv_id"]
    refusal = isv_id_refusal(isv_id)
    if refusal is not None:
        raise HttpError(404, "not_found", refusal)
    return isv_id


@routes.get("/v1/isvs/{isv_id}/scorecard")
@documented(
    "An ISV's delivery-quality scorecard: figures and 0-100 score of a period (that ISV, admin)",
    parameters=(
        parameter("isv_id", "path"),
        *PERIOD_PARAMETERS,
    ),
    responses={
        200: Reply("the scorecard of the period", ScorecardView),
        400: error("invalid_query: from or to is not a date written YYYY-MM-DD, or given twice"),
        422: error(
            "invalid_period: to is before from (or from after today without to), the period is "
            f"longer than {MAX_PERIOD_DAYS} days, or it (or the one before it) starts before "
            "year 1"
        ),
        **CALLER_ERRORS,
        403: error("not an admin, nor the ISV whose scorecard it is"),
        404: error(f"not_found: no ISV can have this id (an ISV id is {ACTOR_ID_RULE})"),
    },
)
async def isv_scorecard(request: web.Request) -> web.Response:
    """GET /v1/isvs/{isv_id}/scorecard?from=&to=, the ISV itself (token role ``isv`` with
    ``sub`` the ISV id) and admins: :class:`ScorecardView` of the deliveries opened from
    ``from`` to ``to`` (UTC days; default the last :data:`DEFAULT_PERIOD_DAYS` days up to
    today), computed now with ``DC_CONFIRM_WINDOW`` as the patience.

    403 ``forbidden`` for another ISV and every other role; 404 ``not_found`` for an id no ISV
    can have (:func:`path_isv_id`); 400 ``invalid_query`` for a day
    that is not ``YYYY-MM-DD`` or given twice; 422 ``invalid_period`` (:func:`query_period`). An
    ISV without deliveries gets counts of 0 and a null score.
    """
    actor = caller(request, Role.ISV, Role.ADMIN)
    isv_id = path_isv_id(request)
    if actor.role == Role.ISV and actor.id != isv_id:
        raise HttpError(403, "forbidden", "an ISV may read its own scorecard only")
    now = datetime.now(UTC)
    period = query_period(request, now.date())
    gateway = gateway_of(request)
    patience = gateway.settings.confirm_window
    card = await ScorecardBook(gateway.db).scorecard(isv_id, period, now, patience)
    return json_answer(ScorecardView.of(card, period, now, patience))
