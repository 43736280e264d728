"""Refusals as HTML pages: PageError, render, error_page and the html_errors decorator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from services.gateway.context import gateway_of
from services.gateway.errors import HttpError, handle_or_abort
from services.gateway.pages.languages import (
    chosen_language,
    request_reader,
    switch_base,
    switch_languages,
    switched,
    without_switch,
)
from services.gateway.pages.routing import log, templates
from services.runtime.bootstrap import is_transient_db_error
from shared.wording import size_words
from shared.wording.reader import Reader, _, reader, reading

#: Sent with every page: nothing from elsewhere, no scripts, no framing, no referrer (the
#: link token is in the URL).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class PageError(Exception):
    """A refusal on a page, answered as the error page (:func:`error_page`).

    Parameters:
      status(int): The HTTP status, 4xx or 5xx (RFC 9110 section 15).
      title(str): The page's heading.
      message(str): What happened, for people.
      extra: ``hint`` (str, what to do next), ``retry_after`` (seconds, also sent as
        ``Retry-After``) and ``elsewhere`` (``{"href", "words"}``: a link to where to go
        instead, e.g. the page a link of another kind opens).

    ``title``, ``message`` and the extras are words already in the reader's language (the
    page raising it is read in it); ``reader`` is set by ``languages.reading_page`` when the
    refusal stands for a page whose reader is known, so its error page is read alike.
    """

    def __init__(self, status: int, title: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.title, self.message, self.extra = status, title, message, extra
        self.reader: Reader | None = None


def render(template: str, status: int = 200, headers: dict[str, str] | None = None, **context):
    """A page: ``template`` (in ``services/gateway/templates``) rendered with ``context``.

    Parameters:
      template(str): The Jinja template's name; a name it uses that ``context`` lacks raises
        ``jinja2.UndefinedError``.
      status(int): The HTTP status.
      headers(dict[str, str] | None): Added to :data:`PAGE_HEADERS`, winning over them.

    Returns:
      web.Response: ``text/html; charset=utf-8``, in the current reader's language (its
      ``Content-Language``).
    """
    text = templates.get_template(template).render(**context)
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={
            **PAGE_HEADERS,
            "Content-Language": reader().html_lang,
            **(headers or {}),
        },
    )


def error_page(error: PageError) -> web.Response:
    """``error`` as the error page, with its status and ``Retry-After`` if it has one."""
    headers = {}
    if "retry_after" in error.extra:
        headers["Retry-After"] = str(error.extra["retry_after"])
    if error.reader is not None:
        chosen = error.reader
        with reading(chosen.locale, chosen.time_zone, catalog=chosen.catalog):
            return _error_page(error, headers)
    return _error_page(error, headers)


def _error_page(error: PageError, headers: dict[str, str]) -> web.Response:
    return render(
        "error.html",
        status=error.status,
        headers=headers,
        title=error.title,
        message=error.message,
        hint=error.extra.get("hint"),
        elsewhere=error.extra.get("elsewhere"),
    )


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def html_errors(handler: Handler) -> Handler:
    """Answer a refusal with an HTML page, not the API's JSON; read the page in the
    request's language (``languages.request_reader``: the cookie, ``Accept-Language``, the
    default) unless the handler chooses another; answer a language switch's link
    (``?lang=``, on a GET) by setting its cookie, before anything else (an invalid ``lang``
    is refused: 400)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        settings = gateway_of(request).settings
        get = request.method in ("GET", "HEAD")
        with (
            reading(*request_reader(request, settings)),
            switch_base(without_switch(request.rel_url) if get else None),
        ):
            return await _answered(handler, request, get)

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


async def _answered(handler: Handler, request: web.Request, get: bool) -> web.StreamResponse:
    """``handler``'s answer, its refusals as pages (see :func:`html_errors`)."""
    try:
        if get:
            try:
                tag = chosen_language(request)
            except ValueError as error:
                raise PageError(
                    400,
                    _("No such language"),
                    _(
                        "This page cannot be shown in the language “{lang}”: choose {languages}."
                    ).format(lang=request.query.get("lang", "")[:60], languages=switch_languages()),
                ) from error
            if tag is not None:
                raise switched(request, tag, PAGE_HEADERS)
        # A failure once a file's answer started closes the connection: no page follows.
        return await handle_or_abort(handler, request)
    except PageError as error:
        return error_page(error)
    except HttpError as error:
        extra = {"retry_after": error.extra["retry_after"]} if "retry_after" in error.extra else {}
        return error_page(PageError(error.status, _("Not done"), error.message, **extra))
    except web.HTTPRequestEntityTooLarge:
        limit = gateway_of(request).settings.max_attachment_bytes
        message = _("What was sent is too large: a file may have at most {size}.").format(
            size=size_words(limit)
        )
        return error_page(PageError(413, _("Too large"), message))
    except web.HTTPException:
        raise
    except Exception as error:
        if not is_transient_db_error(error):
            raise
        log.warning("database unreachable for %s %s: %s", request.method, request.path, error)
        return error_page(
            PageError(
                503,
                _("Try again in a moment"),
                _("The database is unreachable right now; nothing was done."),
                retry_after=5,
            )
        )
