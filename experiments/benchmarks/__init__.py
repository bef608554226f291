"""Benchmarks that print ratios (run as modules, e.g. `python -m experiments.benchmarks.batched_scan`)."""
