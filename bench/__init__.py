"""Benchmarks for feedsvc, run by hand: `python -m bench` (see bench/README.md)."""
