"""The Perfetto export of 50,000 processes: its size, its write time, and what it holds in memory.

    python bench/export/size.py [--n 50000] [--rounds 3] [--keep FILE]

The processes are synthetic, shaped like a build's: a tree (each process's parent is an earlier
one), a compiler command line of 7 arguments, one exec each with its time, a quarter of them
exec'ing twice, the accounting fields of an ended process, 1% still alive, 1% killed by a
signal. They are written by ``tractui.perfetto.write`` from a generator, as ``tractui trace
--perfetto`` and ``tractui export`` do.

The anchor, measured in the same run on the same processes: the ``trace --json`` report's own
writer (``tractui.commands.trace._write_json``: one compact line per process). Printed: MB, MB
per 10,000 processes, best write time of ``--rounds`` and both against the anchor; the peak
memory Python allocated while writing (tracemalloc, a run of its own): a streaming writer holds
the set of PIDs seen and one process's events; and whether the file parses (json.load) with one
slice per process. Target: well under 100 MB for 50,000 processes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common.report import quotient, table
from bench.common.tools import say
from tractui import perfetto
from tractui.commands.trace import _write_json

T0 = 1_764_000_000.0


def processes(n: int) -> Iterator[dict[str, Any]]:
    """``n`` report dicts in tree order (a parent before its children)."""
    for i in range(n):
        pid = 10_000 + i
        start = T0 + i * 0.002
        argv = ["cc", "-O2", "-Iinclude", "-c", f"src/dir{i % 97}/file{i}.c", "-o", f"obj/{i}.o"]
        execs = [argv] if i % 4 else [["/bin/sh", "-c", "cc ..."], argv]
        alive = i % 100 == 99
        proc: dict[str, Any] = {
            "pid": pid,
            "parent": 10_000 + (i - 1) // 3 if i else None,
            "ppid": 10_000 + (i - 1) // 3 if i else 1,
            "start": round(start, 6),
            "end": None if alive else round(start + 0.05 + (i % 13) * 0.01, 6),
            "argv": argv,
            "execs": execs,
            "exec_times": [round(start + 0.0001 * (k + 1), 6) for k in range(len(execs))],
            "comm": "cc",
            "exe": "/usr/bin/x86_64-linux-gnu-gcc-13",
            "uid": 1000,
            "threads": 1,
            "exit": None
            if alive
            else ({"signal": 9, "core": False} if i % 100 == 50 else {"code": 0}),
            "alive": alive,
            "cpu_user_s": None if alive else 0.031,
            "cpu_system_s": None if alive else 0.008,
            "peak_rss_kib": None if alive else 24_576 + i % 1024,
            "read_bytes": None if alive else 4096 * (i % 50),
            "write_bytes": None if alive else 65_536,
            "ctx_switches": None if alive else 12 + i % 7,
        }
        yield proc


def best(rounds: int, run: Callable[[], None]) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", metavar="FILE", help="leave the export in FILE")
    args = parser.parse_args()
    n = args.n
    end = T0 + n * 0.002 + 1.0
    with tempfile.TemporaryDirectory() as tmp:
        trace_path = Path(args.keep or os.path.join(tmp, "trace.json"))
        report_path = Path(tmp) / "report.json"

        def export() -> None:
            with open(trace_path, "w", encoding="utf-8") as out:
                perfetto.write(processes(n), out, end=end)

        def report() -> None:
            document = {"root": 10_000, "processes": list(processes(n))}
            with open(report_path, "w", encoding="utf-8") as out:
                _write_json(document, out)

        export_s = best(args.rounds, export)
        report_s = best(args.rounds, report)
        export_mb = trace_path.stat().st_size / 1e6
        report_mb = report_path.stat().st_size / 1e6

        with open(os.devnull, "w", encoding="utf-8") as null:  # the writer's memory alone
            tracemalloc.start()
            perfetto.write(processes(n), null, end=end)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()

        with open(trace_path) as f:
            trace = json.load(f)
        slices = sum(1 for e in trace["traceEvents"] if e["ph"] == "X")
        instants = sum(1 for e in trace["traceEvents"] if e["ph"] == "i")

    say(f"Perfetto export of {n:,} synthetic processes (best of {args.rounds})")
    table(
        [
            ("writer", "MB", "MB per 10k", "write s", "MB vs report", "time vs report"),
            (
                "tractui.perfetto",
                f"{export_mb:.1f}",
                f"{export_mb / n * 1e4:.2f}",
                f"{export_s:.2f}",
                f"{quotient(export_mb, report_mb):.2f}",
                f"{quotient(export_s, report_s):.2f}",
            ),
            (
                "trace --json report (anchor)",
                f"{report_mb:.1f}",
                f"{report_mb / n * 1e4:.2f}",
                f"{report_s:.2f}",
                "1.00",
                "1.00",
            ),
        ]
    )
    say(f"  bytes per process: {export_mb * 1e6 / n:.0f}")
    say(f"  peak memory allocated while writing (tracemalloc): {peak / 1e6:.2f} MB")
    say(f"  parses with json.load: {slices:,} slices (one per process), {instants:,} exec instants")
    ok = slices == n and export_mb < 100
    say(f"  target < 100 MB for {n:,} processes: {'met' if export_mb < 100 else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
