"""The collector's own figures, sent with each batch: its peak RSS is read again only after a
page fault (it cannot grow without one), and is then the kernel's VmHWM."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import os
from tractui.kernel import procfs
from tractui.kernel.collector import Collector

read, write = os.pipe()
collector = Collector(write)
before = collector._stats()["maxrss_kb"]
assert before == procfs.peak_rss_kb(), (before, procfs.peak_rss_kb())
reads = []
real = procfs.peak_rss_kb
procfs.peak_rss_kb = lambda pid="self": reads.append(pid) or real(pid)
collector._stats()
collector._stats()
quiet = len(reads)  # no fault between two calls: no read (at most one for a stray fault)
grown = b"x" * (64 << 20)  # 64 MiB touched: the peak grows
after = collector._stats()["maxrss_kb"]
print(before, after, quiet, real())
"""


def test_the_peak_rss_sent_follows_the_kernels_and_is_read_again_only_after_faults() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    before, after, quiet, hwm = map(int, out)
    assert quiet <= 1
    assert after >= before + 60_000  # KiB: the 64 MiB are in it
    assert after <= hwm
