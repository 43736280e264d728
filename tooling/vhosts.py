"""RabbitMQ virtual hosts through the management API: one per test run or benchmark, so no two
systems on one broker ever share a queue; and how many consumers a queue has."""

from __future__ import annotations

import base64
import json
import urllib.request
from urllib.parse import unquote, urlsplit, urlunsplit

import pika

from services.runtime.bootstrap import amqp_parameters
from shared.config import amqp_urls

#: The management plugin's HTTP port (enabled by the provisioning).
MANAGEMENT_PORT = 15672


def _management(amqp_url: str, method: str, path: str, body: dict | None = None) -> object:
    """One management API call on the first node of ``amqp_url`` (a cluster shares its
    virtual hosts, users and permissions)."""
    parts = urlsplit(amqp_urls(amqp_url)[0])
    request = urllib.request.Request(
        f"http://{parts.hostname}:{MANAGEMENT_PORT}/api/{path}",
        method=method,
        data=json.dumps(body or {}).encode(),
        headers={"Content-Type": "application/json"},
    )
    credentials = f"{unquote(parts.username or 'guest')}:{unquote(parts.password or 'guest')}"
    request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = response.read()
    return json.loads(answer) if answer else None


def create_vhost(amqp_url: str, name: str) -> str:
    """Create virtual host ``name`` with full rights for the URL's user.

    Through RabbitMQ's management HTTP API (port :data:`MANAGEMENT_PORT`, the URL's
    credentials); creating an existing one is a no-op.

    Parameters:
      amqp_url(str): An AMQP URI of the broker, whose user gets the rights; or several,
        comma-separated, of one cluster (``DC_AMQP_URL``).
      name(str): The virtual host's name, safe in a URL path.

    Returns:
      str: ``amqp_url`` with the virtual host as the path of each URI.

    Raises:
      urllib.error.URLError: The management API is unreachable or refused (HTTPError).
    """
    urls = amqp_urls(amqp_url)
    user = unquote(urlsplit(urls[0]).username or "guest")
    _management(amqp_url, "PUT", f"vhosts/{name}")
    everything = {"configure": ".*", "write": ".*", "read": ".*"}
    _management(amqp_url, "PUT", f"permissions/{name}/{user}", everything)
    return ",".join(urlunsplit(urlsplit(url)._replace(path=f"/{name}")) for url in urls)


def delete_vhost(amqp_url: str, name: str) -> None:
    """Delete virtual host ``name`` and everything in it (see :func:`create_vhost`).

    Raises:
      urllib.error.URLError: The management API is unreachable, or HTTPError (404) if the
        virtual host does not exist.
    """
    _management(amqp_url, "DELETE", f"vhosts/{name}")


def queue_types(amqp_url: str, name: str) -> dict[str, tuple[str, dict]]:
    """Each queue of virtual host ``name``: its type (``classic``, ``quorum``) and arguments,
    as the management API lists them (a passive declare cannot tell the type).

    Raises:
      urllib.error.URLError: The management API is unreachable or refused (HTTPError).
    """
    listed = _management(amqp_url, "GET", f"queues/{name}")
    return {q["name"]: (q["type"], q["arguments"]) for q in listed}  # type: ignore[union-attr]


def queue_depths(amqp_url: str, queue: str) -> tuple[int, int]:
    """(messages ready, consumers attached) of ``queue``; (0, 0) if it does not exist yet.
    Messages a consumer holds unacknowledged are not counted until it lets them go.
    ``amqp_url`` may list several nodes of a cluster (``DC_AMQP_URL``): the first that
    answers is asked."""
    connection = pika.BlockingConnection(amqp_parameters(amqp_url))
    try:
        method = connection.channel().queue_declare(queue, passive=True).method
        return method.message_count, method.consumer_count
    except pika.exceptions.ChannelClosedByBroker:
        return 0, 0
    finally:
        if connection.is_open:
            connection.close()


def consumer_count(amqp_url: str, queue: str) -> int:
    """Consumers attached to ``queue`` (0 if it does not exist yet)."""
    return queue_depths(amqp_url, queue)[1]
