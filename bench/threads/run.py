"""bench/threads: what the tree's thread rows (H) cost the session thread, at 10,000 processes.

Starts ``churn N 0 DURATION`` (bench/ui/churn.c: N sleeping children, no churn) and P Python
processes with T threads each, all in process groups of their own that are killed at the end.
Then times, on the same processes, in the same run:

- the anchor: one round of the process sampler (``Sampler.read`` of every live process: what
  the UI reads each round, H or not);
- a pass of the thread sampler (``ThreadSampler.read``, what H adds once a second): over the
  N single-threaded processes only (it lists no thread: the cost of looking), then over all
  of them with the multi-threaded ones, at the default limit of threads a pass.

Prints each as ms per pass (median of ``--repeat``) and as a ratio to the anchor.

    sudo .venv/bin/python bench/threads/run.py                 # 10,000 + 20 x 100 threads
    sudo .venv/bin/python bench/threads/run.py --procs 5000 --threaded 40 --threads 50
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common.tools import compile_c, say
from tractui.kernel import procfs
from tractui.kernel.sample import Sampler
from tractui.kernel.threads import ThreadSampler

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CHURN_SOURCE = REPO / "bench" / "ui" / "churn.c"
CHURN = REPO / "bench" / "out" / "churn"
MAX_PROCS = 20_000
LIFETIME = 120  # s: every process started ends by itself after this, whatever happens
THREADED = """
import threading, time, sys
for _ in range(int(sys.argv[1]) - 1):
    threading.Thread(target=time.sleep, args=({life},), daemon=True).start()
time.sleep({life})
"""


def children_of(pid: int) -> list[int]:
    table = procfs.scan()
    return [p for p, stat in table.items() if stat.ppid == pid]


def timed(run: Callable[[], object], repeat: int) -> float:
    """The median time of ``run()``, in ms."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--procs", type=int, default=10_000, help="single-threaded processes")
    parser.add_argument("--threaded", type=int, default=20, help="multi-threaded processes")
    parser.add_argument("--threads", type=int, default=100, help="threads in each of those")
    parser.add_argument("--repeat", type=int, default=7, help="passes timed (the median)")
    args = parser.parse_args()
    if not 0 < args.procs <= MAX_PROCS:
        sys.exit(f"run.py: --procs must be 1..{MAX_PROCS}")
    if not 0 <= args.threaded <= 100 or not 2 <= args.threads <= 1000:
        sys.exit("run.py: --threaded must be 0..100 and --threads 2..1000")
    churn_bin = compile_c(CHURN_SOURCE, CHURN)
    started: list[subprocess.Popen[bytes]] = []
    try:
        churn = subprocess.Popen(
            [str(churn_bin), str(args.procs), "0", str(LIFETIME)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # killed by its PGID at the end
        )
        started.append(churn)
        time.sleep(0.5)  # until it blocks SIGUSR1 (before, the signal would end it)
        os.kill(churn.pid, signal.SIGUSR1)
        code = THREADED.format(life=LIFETIME)
        for _ in range(args.threaded):
            started.append(
                subprocess.Popen(
                    [sys.executable, "-c", code, str(args.threads)],
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + 60
        while len(children_of(churn.pid)) < args.procs:
            if time.monotonic() > deadline:
                sys.exit(f"run.py: only {len(children_of(churn.pid))} of {args.procs} started")
            time.sleep(1.0)
        threaded = [p.pid for p in started[1:]]
        while any(
            procfs.read_stat(p) is None or procfs.read_stat(p).threads < args.threads  # type: ignore[union-attr]
            for p in threaded
        ):
            if time.monotonic() > deadline:
                sys.exit("run.py: the threaded processes did not start their threads")
            time.sleep(0.2)
        single = []
        for pid in children_of(churn.pid):
            start = procfs.read_start(pid)
            if start is not None:
                single.append((pid, start))
        multi = [(pid, procfs.read_start(pid) or 0) for pid in threaded]
        keys = single + multi
        say(
            f"{len(single):,} single-threaded + {len(multi)} x {args.threads} threads "
            f"({len(keys):,} processes, {len(multi) * (args.threads - 1):,} thread rows); "
            f"load {os.getloadavg()[0]:.2f}"
        )
        sampler = Sampler()
        sampler.read(keys)  # warm: the dentries, as the UI's rounds have
        anchor = timed(lambda: sampler.read(keys), args.repeat)
        counts_single = [(k, 1) for k in single]
        looking = timed(lambda: ThreadSampler(interval=0).read(counts_single), args.repeat)
        counts = counts_single + [(k, args.threads) for k in multi]
        limit = ThreadSampler().limit
        threads = ThreadSampler(interval=0)
        threads.read(counts)
        full = timed(lambda: threads.read(counts), args.repeat)
        rows = sum(len(t) for t in threads.threads.values())
        per_thread = full / max(1, min(rows, limit)) * 1000
        say(f"anchor: process sampler, one round of {len(keys):,}: {anchor:8.1f} ms")
        say(
            f"threads pass, {len(single):,} single-threaded only:  {looking:8.1f} ms "
            f"({looking / anchor:.3f}x the anchor)"
        )
        say(
            f"threads pass, all, limit {limit:,} threads:   {full:8.1f} ms "
            f"({full / anchor:.3f}x the anchor; {per_thread:.1f} us a thread; "
            f"{rows:,} thread rows known)"
        )
        say("a pass runs once a second while H is on: its ms are the ms per second it costs")
    finally:
        for popen in started:
            with suppress(ProcessLookupError):
                os.killpg(popen.pid, signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                popen.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
