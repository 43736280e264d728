"""What every test run shares: the long files started first, and the figures fault and scale
tests measured, shown at the end."""

from __future__ import annotations

from collections import Counter

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with tests marked ``long(seconds)`` first, the longest first (by the sum of
    their marks), the others after in their order.

    pytest-xdist's ``loadfile`` hands out files in this order (``delivery-center test`` turns
    its own reordering off), so each long file starts at once on a worker of its own and the
    short ones fill the other workers meanwhile: the run ends when its longest file does,
    not when a long file that began last does.
    """
    weight: Counter = Counter()
    for item in items:
        marker = item.get_closest_marker("long")
        if marker is not None:
            weight[item.path] += marker.args[0]
    items.sort(key=lambda item: -weight[item.path])  # stable: a file's tests keep their order


def pytest_terminal_summary(terminalreporter) -> None:
    """A "figures" section listing what tests recorded with ``faults.report_figures``
    (their ``user_properties``, which pytest-xdist carries back from its workers)."""
    lines = [
        value
        for outcome in ("passed", "failed")
        for report in terminalreporter.stats.get(outcome, [])
        if getattr(report, "when", None) == "call"
        for name, value in getattr(report, "user_properties", ())
        if name == "figures"
    ]
    if lines:
        terminalreporter.write_sep("-", "figures")
        for line in lines:
            terminalreporter.write_line(line)
