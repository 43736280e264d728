"""``DC_AMQP_URL`` as a list of nodes (shared.config.amqp_urls): parsed once, each item an AMQP
URL, errors that name the item without its credentials; every connection takes the list."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.runtime.bootstrap import amqp_parameters, make_broker
from services.runtime.event_stream import EventStream
from shared.config import Settings, amqp_urls, redacted_amqp_url

ONE = "amqp://guest:guest@127.0.0.1:5672/%2F"
NODES = (
    "amqp://dc:s3cret@rabbit-1:5672/%2F",
    "amqp://dc:s3cret@rabbit-2:5672/%2F",
    "amqp://dc:s3cret@rabbit-3:5672/%2F",
)


def test_one_url_is_a_list_of_one():
    assert amqp_urls(ONE) == (ONE,)
    assert Settings(amqp_url=ONE).amqp_urls == (ONE,)


def test_several_urls_keep_their_order_without_spaces_or_duplicates():
    value = f" {NODES[0]} ,{NODES[1]},\t{NODES[2]}\n, {NODES[1]}"
    assert amqp_urls(value) == NODES


def test_amqps_and_percent_encoded_vhosts_are_kept_as_written():
    tls = "amqps://u:p%40ss@rabbit-1:5671/dc%2Fprod?heartbeat=10"
    urls = amqp_urls(f"{tls},amqp://u:p@rabbit-2/%2F")
    assert urls == (tls, "amqp://u:p@rabbit-2/%2F")
    first, second = amqp_parameters(",".join(urls))
    assert (first.virtual_host, first.port, first.credentials.password) == ("dc/prod", 5671, "p@ss")
    assert first.heartbeat == 10  # the URL's own option wins over the defaults
    assert (second.virtual_host, second.port, second.heartbeat) == ("/", 5672, 0)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "the URL is empty"),
        ("   ", "the URL is empty"),
        (f"{NODES[0]},,{NODES[1]}", "URL 2 of 3 is empty"),
        (f"{NODES[0]},", "URL 2 of 2 is empty"),
        (f"{NODES[0]};{NODES[1]}", "the URL holds ';'"),
        ("http://dc:s3cret@rabbit-1:15672/", "the URL is not an AMQP URL"),
        (f"{NODES[0]},redis://dc:s3cret@cache:6379", "URL 2 of 2 is not an AMQP URL"),
        ("rabbit-1:5672", "the URL is not an AMQP URL"),
        ("amqp://dc:s3cret@:5672/%2F", "the URL is not an AMQP URL"),
        ("amqp://dc:s3cret@rabbit-1:99999/%2F", "the URL is malformed"),
        # Malformed so that no redaction could find where the credentials end:
        ("amqp://dc:s3cret,x@rabbit-1:5672/%2F", "URL 1 of 2 is malformed"),
        ("amqp:/dc:s3cret@rabbit-1", "the URL is not an AMQP URL"),
        ("dc:s3cret@rabbit-1:5672", "the URL is not an AMQP URL"),
        ("amqp://dc:s3cret", "the URL is malformed"),
    ],
)
def test_a_bad_item_is_named_by_position_never_quoted(value: str, problem: str):
    with pytest.raises(ValueError) as refused:
        amqp_urls(value)
    assert str(refused.value).startswith(problem)
    assert "s3cret" not in str(refused.value)
    with pytest.raises(ValidationError) as invalid:
        Settings(amqp_url=value)
    assert "amqp_url" in str(invalid.value) and "s3cret" not in str(invalid.value)


def test_settings_read_the_list_from_the_environment(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DC_AMQP_URL", ",".join(NODES))
    assert Settings().amqp_urls == NODES


def test_redacted_urls_show_where_not_who():
    assert redacted_amqp_url(NODES[0]) == "amqp://***@rabbit-1:5672/%2F"
    assert redacted_amqp_url("amqp://rabbit-1/%2F") == "amqp://rabbit-1/%2F"
    assert redacted_amqp_url("amqp://dc:a/b@c@rabbit-1/%2F") == "amqp://***@rabbit-1/%2F"


def test_every_connection_takes_the_whole_list():
    settings = Settings(amqp_url=",".join(NODES))
    broker = make_broker(settings)
    assert [p.host for p in broker.parameters] == ["rabbit-1", "rabbit-2", "rabbit-3"]
    assert {p.heartbeat for p in broker.parameters} == {0}
    assert [p.host for p in EventStream(settings.amqp_url).parameters] == [
        "rabbit-1",
        "rabbit-2",
        "rabbit-3",
    ]


def test_one_url_makes_the_broker_of_before():
    broker = make_broker(Settings(amqp_url=ONE))
    assert not isinstance(broker.parameters, list)
    assert (broker.parameters.host, broker.parameters.heartbeat) == ("127.0.0.1", 0)
