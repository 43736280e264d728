"""The pure parts of local provisioning: which addresses we may provision, and where they are."""

from __future__ import annotations

import pytest

from services.infra.provision import amqp_address, is_loopback, mongo_address


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "db.localhost", "::1", "[::1]"]
)
def test_loopback_hosts_may_be_provisioned(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize(
    "host", ["rabbitmq", "mongo", "10.0.0.5", "192.168.1.1", "0.0.0.0", "example.com", "::", ""]
)
def test_other_hosts_are_never_provisioned(host: str) -> None:
    assert not is_loopback(host)


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("amqp://guest:guest@127.0.0.1:5672/%2F", ("127.0.0.1", 5672)),
        ("amqp://guest:guest@localhost/%2F", ("localhost", 5672)),
        ("amqps://u:p@broker.example.com/vhost", ("broker.example.com", 5671)),
        ("amqp://rabbitmq:5673", ("rabbitmq", 5673)),
    ],
)
def test_amqp_address(url: str, address: tuple[str, int]) -> None:
    assert amqp_address(url) == address


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("mongodb://127.0.0.1:27017/", ("127.0.0.1", 27017)),
        ("mongodb://localhost", ("localhost", 27017)),
        ("mongodb://user:p%40ss@127.0.0.1:27117/db?authSource=admin", ("127.0.0.1", 27117)),
        ("mongodb://a.example:27018,b.example:27019/?replicaSet=rs0", ("a.example", 27018)),
        ("mongodb://[::1]:27017/", ("::1", 27017)),
    ],
)
def test_mongo_address(url: str, address: tuple[str, int]) -> None:
    assert mongo_address(url) == address
