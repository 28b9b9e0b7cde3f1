"""The attach picker's cost: reading every process on the system, and a search per keystroke.

    python bench/attach/run.py [--extra 3000] [--runs 5]

Starts ``--extra`` sleeping processes (one shell forking ``sleep``s, in a session of its own;
killed by its process group at the end, and each sleep ends by itself after 5 minutes), then
times, ``--runs`` times each:

- ``listing.processes()``: what the picker's worker thread reads (stat, owner, cmdline of each);
- the anchor, in the same run on the same processes: ``ps -e -o pid,user,args`` (procps reads
  the same files), wall time of the whole command;
- the picker's rows (``read_picks``: the reading, user names, escaping) and one search
  (``matches``) of a word typed, of a word that matches nothing, and of two words.

It prints medians and the ratio against ps; the UI thread pays only the search (the reading is
a worker's).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common.tools import say
from tractui.kernel import listing, procfs
from tractui.screens.attach import read_picks
from tractui.widgets.picker import matches

EXTRA_MAX = 10_000  # pid_max is 32768 here, and other work shares the machine


def median_ms(run: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        times.append((time.perf_counter() - started) * 1e3)
    return statistics.median(times)


def start_sleepers(n: int) -> subprocess.Popen[bytes]:
    script = f"i=0; while [ $i -lt {n} ]; do sleep 300 & i=$((i+1)); done; wait"
    return subprocess.Popen(["sh", "-c", script], start_new_session=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--extra", type=int, default=3000, help="sleeping processes to add")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not 0 <= args.extra <= EXTRA_MAX:
        parser.error(f"--extra: from 0 to {EXTRA_MAX}")
    shell = start_sleepers(args.extra) if args.extra else None
    try:
        if shell is not None:
            deadline = time.monotonic() + 120
            while len(procfs.descendants(shell.pid)) < args.extra:
                if time.monotonic() > deadline:
                    say("the sleepers did not all start within 2 minutes")
                    return 1
                time.sleep(0.2)
        n = len(listing.processes())
        say(f"processes on the system: {n:,} ({args.extra:,} started here); {args.runs} runs each")
        ps = median_ms(
            lambda: subprocess.run(
                ["ps", "-e", "-o", "pid,user,args"], stdout=subprocess.DEVNULL, check=True
            ),
            args.runs,
        )
        read = median_ms(listing.processes, args.runs)
        picks_ms = median_ms(lambda: read_picks(frozenset(), {}), args.runs)
        picks = read_picks(frozenset(), {})
        one = median_ms(lambda: matches(picks, "sleep"), args.runs)
        none = median_ms(lambda: matches(picks, "zzzz-nothing"), args.runs)
        two = median_ms(lambda: matches(picks, "sleep 300"), args.runs)
        say(f"anchor  ps -e -o pid,user,args      {ps:8.1f} ms")
        say(f"        listing.processes()         {read:8.1f} ms  {read / ps:5.2f}x ps")
        say(f"        picker rows (read_picks)    {picks_ms:8.1f} ms  {picks_ms / ps:5.2f}x ps")
        say(f"        per process                 {picks_ms / n * 1e3:8.1f} us")
        say(f"search  one word (matches)          {one:8.2f} ms  (UI thread, per keystroke)")
        say(f"        a word matching nothing     {none:8.2f} ms")
        say(f"        two words                   {two:8.2f} ms")
        return 0
    finally:
        if shell is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(shell.pid, signal.SIGKILL)
            shell.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
