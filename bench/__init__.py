"""Benchmarks of hubsync (speed and memory). Run one with ``python -m bench.<name>``, all with
``python -m bench.run_all``; see BENCHMARKS.md for the figures and how to read them."""
