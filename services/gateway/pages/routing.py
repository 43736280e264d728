"""What every page module shares: the route table, the templates and the logger."""

from __future__ import annotations

import logging

from aiohttp import web
from jinja2 import Environment, PackageLoader, StrictUndefined

#: The pages' logger, named ``services.gateway.pages`` as before the pages became a package.
log = logging.getLogger(__package__)
routes = web.RouteTableDef()

_templates = Environment(
    loader=PackageLoader("services.gateway", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
