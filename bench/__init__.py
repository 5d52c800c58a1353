"""Benchmarks: ratios of the project against references measured in the same run (see RESULTS.md)."""
