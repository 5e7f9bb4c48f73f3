"""Benchmarks: the selector benchmark (generator vs baselines over the replay matrix)."""

from lab.bench.figures import TARGETS, benchmark_figures
from lab.bench.report import render_report
from lab.bench.run import run_selector_bench

__all__ = ["TARGETS", "benchmark_figures", "render_report", "run_selector_bench"]
