"""What reading PSS costs: /proc/PID/smaps_rollup against /proc/PID/stat (the anchor: what
the sampler reads of every live process each round), on the processes of this machine.

    python bench/meters/pss_cost.py [--n 300] [--big-mb 512]

Each of up to ``--n`` processes (the lowest PIDs: long-lived daemons and shells) is read both
ways, 3 times, the best kept. Then a process of this bench's own that maps ``--big-mb`` MB
(touched, so that its page tables are full) is read: the kernel walks every page table of
the process for smaps_rollup, so its cost grows with the memory mapped. Run as root to read
every process's rollup (others' are refused otherwise).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common.report import quotient, table
from bench.common.stats import percentile
from bench.common.tools import say


def read_s(path: str, tries: int = 3) -> float | None:
    """The best of ``tries`` reads of a whole file, in seconds; None if it cannot be read."""
    best = None
    for _ in range(tries):
        started = time.perf_counter()
        try:
            with open(path, "rb") as f:
                while f.read(65536):
                    pass
        except OSError:
            return None
        spent = time.perf_counter() - started
        best = spent if best is None else min(best, spent)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--big-mb", type=int, default=512)
    args = parser.parse_args()
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())[: args.n]
    rollup: list[float] = []
    stat: list[float] = []
    for pid in pids:
        r = read_s(f"/proc/{pid}/smaps_rollup")
        s = read_s(f"/proc/{pid}/stat")
        if r is not None and s is not None:
            rollup.append(r)
            stat.append(s)
    say(f"{len(rollup)} processes read both ways (of the first {len(pids)} PIDs)")
    big = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import sys, time; b = bytearray({args.big_mb} << 20); "
            "b[::4096] = b'x' * len(b[::4096]); print('ready', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert big.stdout is not None
        big.stdout.readline()
        big_rollup = read_s(f"/proc/{big.pid}/smaps_rollup", tries=5) or float("nan")
        big_stat = read_s(f"/proc/{big.pid}/stat", tries=5) or float("nan")
    finally:
        big.kill()
        big.wait(timeout=10)
    rows = [["read", "p50 µs", "p95 µs", "max µs", "x anchor (p50)"]]
    for name, values in (("smaps_rollup", rollup), ("anchor: stat", stat)):
        rows.append(
            [
                name,
                f"{percentile(values, 50) * 1e6:.1f}",
                f"{percentile(values, 95) * 1e6:.1f}",
                f"{max(values) * 1e6:.1f}",
                f"{quotient(percentile(values, 50), percentile(stat, 50)):.1f}x",
            ]
        )
    rows.append(
        [
            f"smaps_rollup, {args.big_mb} MB touched",
            f"{big_rollup * 1e6:.1f}",
            "",
            "",
            f"{quotient(big_rollup, big_stat):.1f}x its stat",
        ]
    )
    table(rows)


if __name__ == "__main__":
    main()
