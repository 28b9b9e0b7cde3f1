"""The history journal's cost: writing ended members, reading a group back, and the cap.

    python bench/history/run.py [--count 20000] [--batch 200] [--cap 4M]

Synthetic members (PIDs above any pid_max; nothing runs) end ``--batch`` at a time, as a storm's
batches bring them; after each batch the engine's history step runs (collect, then flush: one
write per segment). The anchor, timed on the same members in the same run, is what the state's
journal already pays for each of them (``proc_json``, the fast encoding of groups.journal).
Then one group's history is read back as ``list --all`` reads it, and its newest 1,000 as the
group details ask for them (a ratio against the full read), and the cap is checked: the
files never hold more than it, and what was dropped is counted.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tractui.cli import _size
from tractui.events import Exit, ProcInfo
from tractui.model.history import History, entry_wire
from tractui.model.tracker import Tracker
from tractui.model.wire import proc_json
from tractui.snapshot import HISTORY_SHOWN

BASE = 5_000_000
SEC = 1_000_000_000


class NoProc:
    """A /proc with nothing in it: the members are synthetic."""

    def stat(self, pid: int) -> None:
        return None


def members(tracker: Tracker, first: int, n: int, failed_every: int = 10) -> None:
    """``n`` members of group "web" that start and end (one in ``failed_every`` fails)."""
    for i in range(first, first + n):
        pid = BASE + i
        start = (i + 1) * SEC
        argv = ("python3", "-c", f"work({i})")
        info = ProcInfo(pid, start, 1, "python3", argv, "/usr/bin/python3", 0, 1, "S", False)
        tracker.add_root("web", info)
        status = (1 << 8) if i % failed_every == 0 else 0
        tracker.apply([Exit(start + SEC // 3, pid, pid, status, 1, 1)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--cap", type=_size, default=4 << 20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tractui-history-bench-") as tmp:
        directory = Path(tmp)
        tracker = Tracker(keep_exited=math.inf, clock_offset=lambda: 0, reader=NoProc())  # type: ignore[arg-type]
        history = History(directory, args.cap)
        history.open(tracker)
        history.collect(tracker)
        spent = anchor = 0
        done = 0
        while done < args.count:
            n = min(args.batch, args.count - done)
            members(tracker, done, n)
            done += n
            batch = [tracker.procs[(BASE + i, (i + 1) * SEC)] for i in range(done - n, done)]
            t0 = time.perf_counter_ns()
            texts: dict[object, str] = {}
            for proc in batch:
                proc_json(proc, texts)
            t1 = time.perf_counter_ns()
            history.collect(tracker)
            history.flush()
            t2 = time.perf_counter_ns()
            anchor += t1 - t0
            spent += t2 - t1
        stats = history.stats()
        files = len([p for p in os.listdir(directory) if p.startswith("history.")])
        print(f"{args.count} ended members, {args.batch} per batch, cap {args.cap >> 10} KiB")
        print(
            f"  write: {spent / args.count / 1000:.2f} µs per member "
            f"(anchor, groups.journal's encoding: {anchor / args.count / 1000:.2f} µs; "
            f"ratio {spent / anchor:.1f}x)"
        )
        print(
            f"  on disk: {stats['history_bytes'] >> 10} KiB in {files} files "
            f"(cap {stats['history_cap'] >> 10} KiB), {stats['history_dropped']} dropped, "
            f"{stats['history_bytes'] / max(1, args.count - stats['history_dropped']):.0f} "
            "bytes per member kept"
        )
        assert stats["history_bytes"] <= args.cap
        t0 = time.perf_counter_ns()
        found = history.read("web")
        t1 = time.perf_counter_ns()
        off = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        wires = [entry_wire(e, "web", history.boot, off) for e in found.entries]
        t2 = time.perf_counter_ns()
        spent_read = t1 - t0
        kept = len(found.entries)
        print(
            f"  read back: {kept} members in {(t1 - t0) / 1e6:.1f} ms "
            f"({(t1 - t0) / max(1, kept) / 1000:.1f} µs each; "
            f"{stats['history_bytes'] / ((t1 - t0) / 1e9) / (1 << 20):.0f} MiB/s), "
            f"as list gives them: {(t2 - t1) / max(1, kept) / 1000:.1f} µs each more"
        )
        t0 = time.perf_counter_ns()
        newest = history.read("web", newest=HISTORY_SHOWN)
        t1 = time.perf_counter_ns()
        assert len(newest.entries) == min(HISTORY_SHOWN, kept)
        print(
            f"  newest {HISTORY_SHOWN} (the group details): {(t1 - t0) / 1e6:.1f} ms, "
            f"{newest.older} older counted by lines "
            f"(the full read above: {(t1 - t0) / max(1, spent_read):.2f}x its time)"
        )
        failed = sum(1 for w in wires if w["status"] != "exit 0")
        print(
            f"  kept: {failed} failures of {args.count // 10}, "
            f"{kept - failed} clean exits of {args.count - args.count // 10}"
        )
        history.close()


if __name__ == "__main__":
    main()
