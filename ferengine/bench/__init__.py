"""The benchmark suite runner.

TOML suites of plugin combinations, cached features, parallel and distributed
runs, stored results and reports.

``ferengine bench [SPEC]`` runs a suite (``quick`` by default); in Python::

    from ferengine.bench import RunOptions, load_suite, run_suite, write_report

    summary = run_suite(load_suite("quick"), RunOptions(out="bench-results/quick"))
    write_report("bench-results/quick")
"""

from ferengine.bench.options import RunOptions
from ferengine.bench.record import RunSummary
from ferengine.bench.report import write_report
from ferengine.bench.runner import run_suite
from ferengine.bench.suite import Suite, SuiteError, builtin_suites, load_suite, parse_suite

__all__ = [
    "RunOptions",
    "RunSummary",
    "Suite",
    "SuiteError",
    "builtin_suites",
    "load_suite",
    "parse_suite",
    "run_suite",
    "write_report",
]
