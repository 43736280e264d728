"""What every page module shares: the route table, the templates and the logger.

The templates' globals are the words and paths every form reads, wherever it is rendered (the
delivery page, the admin list): the contract's allowed types and cap (``shared.domain.files``),
what a dispute does (``shared.wording``) and where a form is sent (``links.commands_path``).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from services.gateway.pages.languages import language_links
from services.runtime.links import commands_path
from shared.domain.files import CONTRACT_TYPES
from shared.wording import DISPUTE_RULE, contract_hint, sentence_start
from shared.wording.reader import _, ngettext, reader

#: The pages' logger, named ``services.gateway.pages`` as before the pages became a package.
log = logging.getLogger(__package__)
routes = web.RouteTableDef()

#: Control characters no page shows raw (C0 but tab, line feed and carriage return; DEL; C1):
#: HTML calls them parse errors, and a NUL in an id (``/admin/scorecards/%00``) would reach
#: the reader as is.
_UNSHOWABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def shown(value: Any) -> Any:
    """Every value a template writes (Jinja's ``finalize``, before escaping): text with each
    of :data:`_UNSHOWABLE` replaced by U+FFFD, as an HTML parser does with NUL; markup stays
    markup, other values are left alone."""
    if not isinstance(value, str) or not _UNSHOWABLE.search(value):
        return value
    cleaned = _UNSHOWABLE.sub("\ufffd", value)
    return Markup(cleaned) if isinstance(value, Markup) else cleaned


def dispute_hint() -> str:
    """What a dispute does, as a sentence in the reader's language."""
    return sentence_start(str(DISPUTE_RULE))


def html_lang() -> str:
    """The page's ``<html lang>``: the current reader's BCP 47 tag."""
    return reader().html_lang


#: The pages' Jinja templates (``services/gateway/templates``), autoescaped; no value they
#: write carries a raw control character (:func:`shown`). Their words are gettext messages
#: (``{% trans %}``, ``_()``; Jinja's i18n extension, new style: ``%`` placeholders by name,
#: a literal ``%`` written ``%%``), translated when rendered for the current reader
#: (``shared.wording.reader``): a page is rendered inside its ``reading`` block.
templates = Environment(
    loader=PackageLoader("services.gateway", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=shown,
    extensions=["jinja2.ext.i18n"],
)
templates.install_gettext_callables(gettext=_, ngettext=ngettext, newstyle=True)  # type: ignore[attr-defined]
templates.globals.update(
    commands_path=commands_path,
    # What the contract's file input accepts (its ``accept``): the allowed types' extensions.
    contract_accept=",".join(f".{kind}" for kind in sorted(CONTRACT_TYPES)),
    # Words, made for each page in its reader's language: functions the templates call.
    contract_hint=contract_hint,
    dispute_hint=dispute_hint,
    html_lang=html_lang,
    language_links=language_links,
)
