"""A webhook attempt never connects to an address the policy refuses (SSRF), and says why."""

from __future__ import annotations

import pytest

from services.notifier.posting import post


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://localhost:9/hook", "loopback"),
        ("http://[::1]:9/hook", "loopback"),
        ("http://10.1.2.3:9/hook", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
    ],
)
async def test_a_refused_address_is_an_attempt_that_failed_before_connecting(url: str, kind: str):
    answer = await post(url, b"{}", {}, frozenset())
    assert answer.status is None
    assert not answer.delivered
    assert answer.error is not None and answer.error.startswith("refused:")
    assert f"a {kind} address" in answer.error


async def test_an_allowed_kind_is_tried():
    # Loopback allowed: the attempt connects (to a closed port) rather than being refused.
    answer = await post("http://127.0.0.1:9/hook", b"{}", {}, frozenset({"loopback"}))
    assert answer.status is None
    assert answer.error is not None and not answer.error.startswith("refused:")
