"""Benchmarks that print figures and write them to ``bench/results/``; run each from the
repository's root as a module: ``python3 -m bench.commands``, ``python3 -m bench.storage``,
``python3 -m bench.deadlines`` (README, "Benchmarks")."""
