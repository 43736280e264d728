"""What every test run shares: the figures fault and scale tests measured, shown at the end."""

from __future__ import annotations


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
