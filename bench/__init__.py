"""The benchmarks. A package so that tests/ can import the harnesses in :mod:`bench.common`."""
