"""Benchmarks: suites of tasks × methods × seeds, a results store, statistics and reports."""

from autolr.bench.harness import bench, load_suite
from autolr.bench.report import write_report
from autolr.bench.store import ResultsStore

__all__ = ["ResultsStore", "bench", "load_suite", "write_report"]
