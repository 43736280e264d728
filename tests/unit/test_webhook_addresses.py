"""Which webhook URLs and addresses Delivery Center may call (shared.domain.webhook_addresses):
the hostile tester's inputs and more of each kind."""

from __future__ import annotations

import pytest

from shared.domain.webhook_addresses import address_kind, address_problem, url_problem


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("8.8.8.8", None),
        ("93.184.216.34", None),
        ("2606:2800:220:1:248:1893:25c8:1946", None),
        ("2001:4860:4860::8888", None),
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("169.254.169.254", "link_local"),
        ("fe80::1", "link_local"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        # Shared address space (RFC 6598): cloud metadata lives there too (100.100.100.200).
        ("100.64.0.1", "private"),
        ("100.100.100.200", "private"),
        ("198.18.0.1", "private"),  # benchmarking
        ("192.0.2.1", "private"),  # documentation
        ("240.0.0.1", "private"),  # reserved
        ("255.255.255.255", "private"),
        ("0.0.0.0", "private"),
        ("::", "private"),
        ("224.0.0.1", "private"),
        ("ff02::1", "private"),
        # IPv6 addresses that lead to an IPv4 one are judged by it.
        ("::ffff:10.0.0.1", "private"),
        ("2002:a9fe:a9fe::1", "link_local"),  # 6to4 of 169.254.169.254
        ("2002:7f00:1::1", "loopback"),  # 6to4 of 127.0.0.1
        ("64:ff9b::a9fe:a9fe", "link_local"),  # NAT64 of 169.254.169.254
        ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "private"),  # Teredo
    ],
)
def test_address_kinds(address: str, kind: str | None):
    assert address_kind(address) == kind


def test_a_host_with_one_refused_address_is_refused():
    assert address_problem(["8.8.8.8", "10.0.0.1"], frozenset()) is not None
    assert address_problem(["8.8.8.8", "10.0.0.1"], frozenset({"private"})) is None
    assert address_problem(["100.100.100.200"], frozenset({"loopback"})) is not None


@pytest.mark.parametrize(
    "url",
    [
        "https://payments.example.com/dc",
        "http://127.0.0.1:9000/hook",
        "http://[::1]:8080/",
        "http://1.2.3.4/",
        "http://cafe.be/",
        "http://example.com./x?q=1",
        "HTTPS://EXAMPLE.COM/",
    ],
)
def test_urls_a_client_can_call_as_written(url: str):
    assert url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/", "http or https"),
        ("javascript:alert(1)", "http or https"),
        ("http:///path", "no host"),
        ("http://user@example.com/", "user name"),
        ("http://u:p@example.com/", "user name"),
        ("http://127.1/", "four decimal numbers"),
        ("http://2130706433/", "four decimal numbers"),
        ("http://017700000001/", "four decimal numbers"),
        ("http://0x7f.1/", "four decimal numbers"),
        ("http://0x7f000001/", "four decimal numbers"),
        ("http://127.000.000.001/", "four decimal numbers"),
        ("http://10.1/", "four decimal numbers"),
        ("http://[::1%25lo]/", "zone"),
        ("http://[fe80::1%25eth0]/", "zone"),
        ("http://127.0.0.1:0/", "port"),
        ("http://example.com:99999/", "not a URL"),
        ("http://a b/", "spaces or control"),
        ("http://127.0.0.1/ x\r\nHost: evil", "spaces or control"),
        ("http://127.0.0.1/\x00x", "spaces or control"),
        ("http://127.0.0.1/\tx", "spaces or control"),
        ("http://127.0.0.1/\x7f", "spaces or control"),
        ("http://example.com/" + "a" * 2000, "longer than 2000"),
    ],
)
def test_urls_refused_with_the_reason(url: str, words: str):
    problem = url_problem(url)
    assert problem is not None and words in problem, problem
