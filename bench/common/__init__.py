"""What the benchmarks share, and with tests/: one definition of each thing they measure with.

- :mod:`bench.common.stats`: the one percentile (nearest rank) every figure uses;
- :mod:`bench.common.report`: markdown tables and "x.xx" ratios against a named anchor;
- :mod:`bench.common.tools`: printing as they go, C load generators, programs to install;
- :mod:`bench.common.machine`: the machine's CPU time and its limits on processes;
- :mod:`bench.common.tmux` and :mod:`bench.common.daemon`: tractui in tmux, and a tractui
  daemon, for the benchmarks and for the tests that drive the real thing.

A process's own /proc files are read through :mod:`tractui.kernel.procfs`, as tractui reads them.
"""
