"""pydantic's validation errors in the words a person reads: one rule, used by the API's 422
answers and by the settings' refusal."""

from __future__ import annotations

from pydantic_core import ErrorDetails

#: pydantic prefixes these kinds' messages ("Value error, ...", "Assertion failed, ...") to
#: the text of the exception a validator raised; that text alone is the message.
_RAISED_BY_A_VALIDATOR = ("value_error", "assertion_error")


def error_message(item: ErrorDetails) -> str:
    """The message of one item of ``ValidationError.errors()``.

    For an error a validator raised (``ValueError``, ``AssertionError``) this is the
    exception's own text, without pydantic's "Value error, " prefix; for every other kind,
    pydantic's ``msg``.
    """
    raised = item.get("ctx", {}).get("error")
    if item["type"] in _RAISED_BY_A_VALIDATOR and raised is not None:
        return str(raised)
    return item["msg"]


def quoted(value: object, limit: int = 60) -> str:
    """``value`` as a refusal shows it: ``repr`` (control characters escaped), the text cut
    at ``limit`` characters with "…" after, so a megabyte sent is not sent back."""
    text = value if isinstance(value, str) else str(value)
    return repr(text[:limit]) + ("…" if len(text) > limit else "")
