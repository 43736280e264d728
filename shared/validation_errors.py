"""pydantic's validation errors in the words a person reads: one rule, used by the API's 422
answers, the pages' forms and the settings' refusal. What a client sent comes back cut short,
so an answer stays small whatever the request held."""

from __future__ import annotations

from pydantic_core import ErrorDetails

#: pydantic prefixes these kinds' messages ("Value error, ...", "Assertion failed, ...") to
#: the text of the exception a validator raised; that text alone is the message.
_RAISED_BY_A_VALIDATOR = ("value_error", "assertion_error")
#: The longest message of one problem, in characters: a sentence and a quoted value fit; a
#: message that lists what was sent (every unknown event type, every unsafe character) is cut.
MESSAGE_LIMIT = 300
#: The longest part of a field's path shown (an unknown key is part of its path).
PATH_PART_LIMIT = 60


def cut(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its first ``limit`` and "…"."""
    return text if len(text) <= limit else text[:limit] + "…"


def quoted(value: object, limit: int = PATH_PART_LIMIT) -> str:
    """``value`` as a refusal shows it: ``repr`` (control characters escaped), the text cut
    at ``limit`` characters with "…" after, so a megabyte sent is not sent back."""
    text = value if isinstance(value, str) else str(value)
    return repr(text[:limit]) + ("…" if len(text) > limit else "")


def error_message(item: ErrorDetails) -> str:
    """The message of one item of ``ValidationError.errors()``, at most
    :data:`MESSAGE_LIMIT` characters (and "…").

    For an error a validator raised (``ValueError``, ``AssertionError``) this is the
    exception's own text, without pydantic's "Value error, " prefix; for every other kind,
    pydantic's ``msg``.
    """
    raised = item.get("ctx", {}).get("error")
    if item["type"] in _RAISED_BY_A_VALIDATOR and raised is not None:
        return cut(str(raised), MESSAGE_LIMIT)
    return cut(item["msg"], MESSAGE_LIMIT)


def field_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """An error's ``loc`` as a dotted path (``order.contact.email``), each part at most
    :data:`PATH_PART_LIMIT` characters: a key the model does not know is part of its path."""
    return prefix + ".".join(cut(str(part), PATH_PART_LIMIT) for part in loc)
