"""What the UI's sampler costs a round: each process's /proc/PID/stat kept open and read in
place (pread), against the anchor, the same sampler opening, reading and closing it at each
read (``fd_budget=0``, as it did before). Both read the same sleeping processes, in turns.

    python bench/meters/sampler_cost.py [--n 2000] [--rounds 10] [--paced 10]

Starts ``--n`` processes (``sleep``, each ending by itself after 300 s; all killed at the end),
then reads them all ``--rounds`` times each way, alternating, and prints the thread CPU time
per process read (p50 and best over the rounds). The processes are asleep, as most of a big
machine's are: their stat does not change, so statm is not read (see Sampler.STATM_EVERY).

Then, paced as the UI's session thread runs it (a step every 50 ms, within its CPU budget),
each way for ``--paced`` seconds, twice, alternating: the reads a second and the CPU they
took. Read in slices between naps, a process costs more than in a tight loop (caches gone
cold); with thousands of processes the sampler spends its whole budget, so a cheaper read
shows as more reads a second (shorter rounds), not less CPU.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common.report import ratio, table
from bench.common.stats import percentile
from bench.common.tools import say
from tractui.kernel import procfs
from tractui.kernel.sample import Sampler

MAX_N = 10_000
STEP = 0.05  # s: the session thread's step


def round_cost(sampler: Sampler, keys: list[tuple[int, int]]) -> float:
    """Thread CPU seconds per process of one round (a read of each)."""
    started = time.thread_time()
    got = sampler.sample(keys)
    spent = time.thread_time() - started
    if len(got) != len(keys):
        sys.exit(f"sampler_cost: {len(keys) - len(got)} of the processes ended early")
    return spent / len(keys)


def paced(held: Sampler, anchor: Sampler, keys: list[tuple[int, int]], seconds: float) -> None:
    """Each sampler stepped every STEP s for ``seconds``, twice each, alternating."""
    got: dict[str, list[tuple[float, float]]] = {"held": [], "anchor": []}
    for _ in range(2):
        for name, sampler in (("held", held), ("anchor", anchor)):
            reads = 0
            cpu = time.thread_time()
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                reads += sampler.step(lambda: keys)
                time.sleep(STEP)
            got[name].append((reads / seconds, (time.thread_time() - cpu) / seconds))
    say(f"paced: a step every {STEP * 1e3:g} ms, budget {held.budget:.0%} of a CPU, {seconds:g} s")
    rows = [["sampler", "reads/s", "CPU %", "reads per CPU ms", "x anchor"]]
    per_ms = {n: sum(r for r, _ in v) / sum(c for _, c in v) / 1e3 for n, v in got.items()}
    for name, label in (("held", "stat kept open"), ("anchor", "anchor: open at each read")):
        for rate, cpu in got[name]:
            rows.append([label, f"{rate:,.0f}", f"{cpu * 100:.1f}", f"{rate / cpu / 1e3:.0f}", ""])
        rows[-1][4] = ratio(per_ms[name], per_ms["anchor"])
    table(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help=f"processes (1..{MAX_N:,})")
    parser.add_argument("--rounds", type=int, default=10, help="rounds each way (1..100)")
    parser.add_argument("--paced", type=float, default=10, help="s each way, paced (0..60)")
    args = parser.parse_args()
    if not 1 <= args.n <= MAX_N or not 1 <= args.rounds <= 100 or not 0 <= args.paced <= 60:
        parser.error(f"--n takes 1..{MAX_N:,}, --rounds 1..100, --paced 0..60")
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    held = Sampler()
    if held.fd_budget < args.n:
        say(f"note: RLIMIT_NOFILE {soft}: only {held.fd_budget} of {args.n} stay open")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(args.n):
            procs.append(subprocess.Popen(["sleep", "300"], start_new_session=True))
        time.sleep(0.5)
        keys = []
        for p in procs:
            start = procfs.read_start(p.pid)
            if start is not None:
                keys.append((p.pid, start))
        anchor = Sampler(fd_budget=0)
        for sampler in (held, anchor):  # the first round of each: samples made, files opened
            sampler.sample(keys)
        costs: dict[str, list[float]] = {"held": [], "anchor": []}
        for _ in range(args.rounds):
            costs["held"].append(round_cost(held, keys))
            costs["anchor"].append(round_cost(anchor, keys))
        say(f"{len(keys):,} processes asleep, {args.rounds} rounds each way, {held.held:,} open")
        rows = [["read of a process", "p50 µs", "best µs", "p50 x anchor"]]
        anchor_p50 = percentile(costs["anchor"], 50)
        for name, label in (
            ("held", "stat kept open (pread)"),
            ("anchor", "anchor: open, read, close"),
        ):
            values = costs[name]
            rows.append(
                [
                    label,
                    f"{percentile(values, 50) * 1e6:.2f}",
                    f"{min(values) * 1e6:.2f}",
                    ratio(percentile(values, 50), anchor_p50),
                ]
            )
        table(rows)
        if args.paced:
            paced(held, anchor, keys, args.paced)
        held.close()
    finally:
        for p in procs:
            os.kill(p.pid, signal.SIGKILL)
        for p in procs:
            p.wait(timeout=10)


if __name__ == "__main__":
    main()
