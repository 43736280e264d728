"""Refusals as HTML pages: PageError, render, error_page and the html_errors decorator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from services.gateway.context import gateway_of
from services.gateway.errors import HttpError, handle_or_abort
from services.gateway.pages.routing import log, templates
from services.runtime.bootstrap import is_transient_db_error
from shared.wording import size_words

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
    """

    def __init__(self, status: int, title: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.title, self.message, self.extra = status, title, message, extra


def render(template: str, status: int = 200, headers: dict[str, str] | None = None, **context):
    """A page: ``template`` (in ``services/gateway/templates``) rendered with ``context``.

    Parameters:
      template(str): The Jinja template's name; a name it uses that ``context`` lacks raises
        ``jinja2.UndefinedError``.
      status(int): The HTTP status.
      headers(dict[str, str] | None): Added to :data:`PAGE_HEADERS`, winning over them.

    Returns:
      web.Response: ``text/html; charset=utf-8``.
    """
    text = templates.get_template(template).render(**context)
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={**PAGE_HEADERS, **(headers or {})},
    )


def error_page(error: PageError) -> web.Response:
    """``error`` as the error page, with its status and ``Retry-After`` if it has one."""
    headers = {}
    if "retry_after" in error.extra:
        headers["Retry-After"] = str(error.extra["retry_after"])
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
    """Answer a refusal with an HTML page, not the API's JSON."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            # A failure once a file's answer started closes the connection: no page follows.
            return await handle_or_abort(handler, request)
        except PageError as error:
            return error_page(error)
        except HttpError as error:
            extra = (
                {"retry_after": error.extra["retry_after"]} if "retry_after" in error.extra else {}
            )
            return error_page(PageError(error.status, "Not done", error.message, **extra))
        except web.HTTPRequestEntityTooLarge:
            limit = gateway_of(request).settings.max_attachment_bytes
            message = f"What was sent is too large: a file may have at most {size_words(limit)}."
            return error_page(PageError(413, "Too large", message))
        except web.HTTPException:
            raise
        except Exception as error:
            if not is_transient_db_error(error):
                raise
            log.warning("database unreachable for %s %s: %s", request.method, request.path, error)
            return error_page(
                PageError(
                    503,
                    "Try again in a moment",
                    "The database is unreachable right now; nothing was done.",
                    retry_after=5,
                )
            )

    wrapped.__name__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped
