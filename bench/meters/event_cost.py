"""What the UI's own engine spends per event of a churn: its poll (the events applied, the
journal and the saves of the groups, the history of ended members, prune), on the session
thread, without the kernel, the sampler or a screen.

    python bench/meters/event_cost.py [--live 10000] [--rate 1000] [--life-ms 100] [--seconds 20]
    python bench/meters/event_cost.py --anchor DIR   # against another copy of the package

The engine is tractui's own (``Engine``, with its state file, journal and history in a temp
directory), fed by a stand-in collector: ``--live`` members that sleep, and ``--rate`` children
a second that live ``--life-ms`` and exit, as bench/ui's churn makes them (a fork, an exit and
the exit's taskstats record each: bench/ui's 2,000 fork and exit events a second by default, and
1,000 records). Events come in
real time, stamped with the kernel's clock, in the batches a poll every 100 ms (the session's
step) finds, so that pruning (10 s), upkeep (0.5 s) and the saves put off while busy follow
their real pace. The PIDs are above pid_max: no /proc read finds them.

Prints the poll's CPU (thread time) per event and as % of one CPU, over ``--runs`` windows.
With ``--anchor DIR`` (e.g. a copy of main's package: ``git archive main tractui | tar -x -C
DIR``), ``--pairs`` runs of this tractui and of DIR's alternate, each in a process of its own,
and the ratio of their µs an event is the figure: of one machine, never a target. Far steadier
than bench/ui's whole-process CPU: no sampler, no screen, no other process.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

_args = sys.argv[1:]
for _i, _arg in enumerate(_args):  # before tractui is imported
    if _arg == "--pythonpath" and _i + 1 < len(_args):
        sys.path.insert(0, _args[_i + 1])
    elif _arg.startswith("--pythonpath="):
        sys.path.insert(0, _arg.partition("=")[2])
sys.path.insert(1, str(Path(__file__).resolve().parents[2]))

from tractui.engine import Engine  # noqa: E402
from tractui.events import Exit, Fork, ProcInfo  # noqa: E402
from tractui.kernel.taskstats import TaskRecord  # noqa: E402
from tractui.model.history import History  # noqa: E402
from tractui.model.state import Persister  # noqa: E402

STEP = 0.1  # s: the session's step (MIN_STEP)
FIRST_PID = 5_000_000  # above any pid_max (4,194,304 at most): /proc has none of them
MAX_LIVE = 30_000
MAX_RATE = 5_000


class StandIn:
    """The collector's place in the engine: hands over the batches queued by the bench."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []
        self.pid = os.getpid()
        self.reader = self
        self._r, self._w = os.pipe()  # always readable: poll finds a batch at once
        os.write(self._w, b"x")

    def start(self) -> dict[str, Any]:
        return {"pid": self.pid, "filter": True, "rcvbuf": 1 << 20, "accounting": ""}

    def stop(self) -> None:
        for fd in (self._r, self._w):
            os.close(fd)

    def alive(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._r

    def read(self, _limit: int) -> list[Any]:
        stats = {"datagrams": 0, "lost": 0, "malformed": 0, "cpu_ns": 0, "maxrss_kb": 0}
        out = [("batch", batch, stats) for batch in self.batches]
        self.batches = []
        return out


def record(pid: int, life_us: int) -> TaskRecord:
    return TaskRecord(
        pid, False, pid, 0, "churn", 0, int(time.time()) - 1, life_us, 300, 200,
        1_024, 0, 0, 2, 1, 16, run_ns=500_000, minflt=80, majflt=0,
    )  # fmt: skip


def run(args: argparse.Namespace, directory: Path) -> list[tuple[float, int, float]]:
    engine = Engine(state=Persister(directory), history=History(directory))
    stand_in = StandIn()
    engine.collector = stand_in  # type: ignore[assignment]
    engine.start()
    tracker = engine.tracker
    offset = tracker.clock_offset()  # the tracker adds it to each event's time
    mono = time.monotonic_ns
    root = FIRST_PID
    boot_now = time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    info = ProcInfo(root, boot_now, 1, "churn", ("churn",), "/usr/bin/churn", 0, 1, "S", False)
    tracker.add_root("bench", info, ts=boot_now)
    next_pid = root + 1
    live = [next_pid + i for i in range(args.live)]
    next_pid += args.live
    stand_in.batches.append([Fork(mono() - offset, root, root, pid, pid) for pid in live])
    engine.poll(0)
    life_ns = int(args.life_ms * 1e6)
    pending: list[tuple[int, int]] = []  # (exit due, pid)
    per_step = args.rate * STEP
    owed = 0.0
    windows: list[tuple[float, int, float]] = []
    cpu = events = 0.0
    window_start = time.monotonic()
    settled = False
    while len(windows) < args.runs:
        now = time.monotonic()
        ts = mono() - offset
        batch: list[Any] = []
        owed += per_step
        while owed >= 1:
            owed -= 1
            batch.append(Fork(ts, root, root, next_pid, next_pid))
            pending.append((ts + life_ns, next_pid))
            next_pid += 1
        while pending and pending[0][0] <= ts:
            _due, pid = pending.pop(0)
            batch.append(Exit(ts, pid, pid, 0, root, root))
            batch.append(record(pid, life_ns // 1000))
        stand_in.batches.append(batch)
        started = time.thread_time()
        engine.poll(0)
        cpu += time.thread_time() - started
        events += len(batch)
        if not settled and now - window_start >= args.settle:
            settled, cpu, events, window_start = True, 0.0, 0, now
        elif settled and now - window_start >= args.seconds:
            windows.append((cpu, int(events), now - window_start))
            cpu, events, window_start = 0.0, 0, now  # each window as long as the others
        rest = STEP - (time.monotonic() - now)
        if rest > 0:
            time.sleep(rest)
    engine.stop()
    return windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--live", type=int, default=10_000, help=f"members asleep (≤ {MAX_LIVE})")
    parser.add_argument("--rate", type=int, default=1_000, help=f"children a second (≤ {MAX_RATE})")
    parser.add_argument("--life-ms", type=float, default=100.0, help="a child's life (ms)")
    parser.add_argument("--seconds", type=float, default=20.0, help="a window (s, ≤ 120)")
    parser.add_argument("--runs", type=int, default=3, help="windows (≤ 10)")
    parser.add_argument("--settle", type=float, default=12.0, help="s before the first window")
    parser.add_argument("--pythonpath", default="", help="import tractui from this directory")
    parser.add_argument("--anchor", default="", help="alternate with tractui from this directory")
    parser.add_argument("--pairs", type=int, default=3, help="with --anchor: runs each (≤ 10)")
    args = parser.parse_args()
    if args.anchor:
        if not 1 <= args.pairs <= 10:
            sys.exit("event_cost: --pairs out of bounds: see --help")
        against(args)
        return
    if not (
        0 <= args.live <= MAX_LIVE
        and 1 <= args.rate <= MAX_RATE
        and 0 < args.seconds <= 120
        and 1 <= args.runs <= 10
        and 0 < args.life_ms <= 10_000
    ):
        sys.exit("event_cost: out of bounds: see --help")
    import tractui

    print(
        f"event_cost: tractui from {Path(tractui.__file__).parent.parent}; {args.live:,} members "
        f"asleep, {args.rate:,} children/s living {args.life_ms:g} ms (fork, exit, record: "
        f"{3 * args.rate:,} events/s), a poll every {STEP * 1e3:g} ms"
    )
    with tempfile.TemporaryDirectory(prefix="tractui-event-cost-") as tmp:
        directory = Path(tmp) / "state"
        directory.mkdir(mode=0o700)
        windows = run(args, directory)
    for cpu, events, seconds in windows:
        print(
            f"  {events:,} events in {seconds:.1f} s: poll {cpu / seconds * 100:.2f}% of a CPU, "
            f"{cpu / max(events, 1) * 1e6:.1f} µs an event"
        )
    total_cpu = sum(w[0] for w in windows)
    total_events = sum(w[1] for w in windows)
    print(f"  all: {total_cpu / max(total_events, 1) * 1e6:.2f} µs an event")


def against(args: argparse.Namespace) -> None:
    """This tractui and the anchor's, ``--pairs`` runs each, alternating."""
    here = str(Path(__file__).resolve().parents[2])
    common = [
        f"--live={args.live}", f"--rate={args.rate}", f"--life-ms={args.life_ms}",
        f"--seconds={args.seconds}", f"--runs={args.runs}", f"--settle={args.settle}",
    ]  # fmt: skip
    got: dict[str, list[float]] = {"this": [], "anchor": []}
    for i in range(args.pairs):
        for name, path in (("this", here), ("anchor", args.anchor)):
            out = subprocess.run(
                [sys.executable, __file__, *common, "--pythonpath", path],
                capture_output=True,
                text=True,
                timeout=args.settle + args.seconds * args.runs + 120,
            )
            found = re.search(r"all: ([0-9.]+) µs an event", out.stdout)
            if out.returncode or found is None:
                sys.exit(f"event_cost: the run of {path} failed: {out.stderr.strip()[-500:]}")
            got[name].append(float(found.group(1)))
            print(f"  pair {i + 1}, {name} ({path}): {found.group(1)} µs an event", flush=True)
    this, anchor = (sum(v) / len(v) for v in (got["this"], got["anchor"]))
    print(f"this {this:.2f} µs an event, anchor {anchor:.2f}: {this / anchor:.2f}x the anchor")


if __name__ == "__main__":
    main()
