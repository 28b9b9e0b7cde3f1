"""The timeline's refresh at 5,000 processes, against the process tree's refresh of the same
snapshots, both measured in this run.

    python bench/timeline/run.py [--processes 5000] [--refreshes 200] [--size 120x40]

A synthetic group (a replay: no kernel, PIDs above any pid_max) of ``--processes`` members, as
a build leaves them: 50 shells under a make, each forking compilers one after the other over
the last ten minutes, an exec each; most ended (exit 0, a few failed, a few killed), the newest
of each shell still running. Both widgets are mounted side by side in a headless app of
``--size``. Each refresh, as a snapshot brings it: time goes on by 0.2 s (the timeline's bars
grow, its view follows now) and the CPU% of the first 100 rows changes (the tree's lines on
screen change); the snapshot is built outside the timing. What is timed, for each widget: its
``update_snapshot`` (the rebuild: the walk of the group in tree order, its extent) and the
rendering of every line on screen (``render_lines`` after a full refresh). Target: the
timeline's p95 ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.geometry import Region
from textual.widget import Widget

from bench.common.report import ratio, table
from bench.common.stats import percentile
from tractui.kernel import procfs
from tractui.kernel.sample import Sample
from tractui.replay import NOW_NS, WALL, ReplayTracker, Script
from tractui.snapshot import Snapshot, SnapshotRows
from tractui.widgets.timeline import Timeline
from tractui.widgets.tree import ProcessTree

BASE = 5_000_000  # PIDs above any pid_max: nothing real is named
SHELLS = 50
SPAN = 600.0  # seconds of history


class NoProc:
    """A /proc with nothing in it: the members are synthetic."""

    def stat(self, pid: int) -> None:
        return None


def build_group(processes: int) -> ReplayTracker:
    tracker = ReplayTracker(keep_exited=math.inf, reader=NoProc())  # type: ignore[arg-type]
    s = Script(tracker)
    root = BASE
    s.root("build", root, ("make", "-j8", "all"), ago=SPAN + 1)
    per_shell, extra = divmod(max(SHELLS, processes - 1 - SHELLS), SHELLS)
    pid = root + 1
    for shell in range(SHELLS):
        count = per_shell + (shell < extra)
        sh = pid
        pid += 1
        born = SPAN - shell * 0.5
        s.fork(root, sh, ago=born)
        s.exec(sh, ("sh", "-c", f"make -C dir{shell}"), born_ago=born, ago=born, ppid=root)
        step = (born - 1) / count
        for i in range(count):
            child = pid
            pid += 1
            start = born - 0.1 - i * step
            s.fork(sh, child, ago=start)
            argv = ("cc", "-c", f"dir{shell}/file{i}.c")
            s.exec(child, argv, born_ago=start, ago=start - 0.001, ppid=sh)
            if i == count - 1:
                continue  # the newest still runs
            status = 0 if i % 23 else (1 << 8) if i % 2 else 15  # a few fail, a few are killed
            s.exit(child, status, ago=start - step * 0.8, ppid=sh)
    tracker.apply(s.events)
    return tracker


def snapshots(tracker: ReplayTracker, count: int, touched: int) -> list[Snapshot]:
    """``count`` snapshots 0.2 s apart, the CPU% of ``touched`` rows changing in each."""
    rows = SnapshotRows(tracker, procfs.UserNames())
    keys = sorted(tracker.procs)[:touched]
    out = []
    for i in range(count):
        samples = {k: Sample("R", float((i + k[0]) % 50), 1024, i, 1, 0) for k in keys}
        rows.touch(keys)
        wall = WALL + i * 0.2
        fields: dict[str, Any] = dict(
            seq=i + 1, wall=wall, events=0, rate=0.0, lost=0, state="running", banner=""
        )
        fields["boot_wall"] = WALL - NOW_NS / 1e9  # the replay's boot stands still
        out.append(rows.build(samples, samples, set(), **fields))
    return out


class Bench(App[None]):
    CSS = "Horizontal > * { width: 1fr; height: 1fr; }"

    def __init__(self, clock: list[float]) -> None:
        super().__init__()
        self.clock = clock

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield ProcessTree(id="tree")
            yield Timeline("build", lambda: self.clock[0], id="timeline")


def timed(widget: Widget, snapshot: Snapshot) -> tuple[float, float]:
    """ms, wall and CPU (this thread's): the widget's rebuild from the snapshot and the
    drawing of every line on screen."""
    started, cpu = time.perf_counter(), time.thread_time()
    widget.update_snapshot(snapshot)  # type: ignore[attr-defined]
    widget.refresh()
    region = widget.size.region
    widget.render_lines(Region(0, 0, region.width, region.height))
    return (time.perf_counter() - started) * 1e3, (time.thread_time() - cpu) * 1e3


async def run(args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    tracker = build_group(args.processes)
    members = len(tracker.procs)
    shots = snapshots(tracker, args.refreshes + 10, 100)
    took = time.perf_counter() - t0
    print(f"built {members:,} processes and {len(shots)} snapshots in {took:.1f} s")
    width, height = args.size
    clock = [shots[0].wall]
    app = Bench(clock)
    tree_ms: list[tuple[float, float]] = []
    timeline_ms: list[tuple[float, float]] = []
    async with app.run_test(size=(width * 2, height)) as pilot:
        tree = app.query_one(ProcessTree)
        timeline = app.query_one(Timeline)
        await pilot.pause(0.1)
        for i, snapshot in enumerate(shots):
            clock[0] = snapshot.wall
            if i == 0:
                tree.update_snapshot(snapshot)
                timeline.update_snapshot(snapshot, select=next(iter(snapshot.procs)))
                await pilot.pause(0.1)
                continue
            # alternate which goes first, so neither always finds the caches warm
            if i % 2:
                tree_ms.append(timed(tree, snapshot))
                timeline_ms.append(timed(timeline, snapshot))
            else:
                timeline_ms.append(timed(timeline, snapshot))
                tree_ms.append(timed(tree, snapshot))
            await pilot.pause(0)
        # warm-up refreshes are left out
        tree_ms, timeline_ms = tree_ms[9:], timeline_ms[9:]
        shown = len(timeline.keys)
        lines = timeline.size.height
    print(
        f"group: {shown:,} processes in the timeline; each widget {width}x{height} ({lines} lines)"
    )
    rows = [["refresh (rebuild + a screen of lines)", "p50 ms", "p95 ms", "max ms"]]
    figures: dict[tuple[str, int], list[float]] = {}
    for which, kind in ((0, "wall"), (1, "CPU")):
        for name, values in (("process tree (anchor)", tree_ms), ("timeline", timeline_ms)):
            v = [t[which] for t in values]
            figures[name, which] = v
            p50, p95 = percentile(v, 50), percentile(v, 95)
            rows.append([f"{name}, {kind}", f"{p50:.1f}", f"{p95:.1f}", f"{max(v):.1f}"])
    table(rows)
    for which, kind in ((0, "wall"), (1, "CPU")):
        line, anchor = figures["timeline", which], figures["process tree (anchor)", which]
        print(
            f"timeline / tree, {kind}: p50 {ratio(percentile(line, 50), percentile(anchor, 50))}, "
            f"p95 {ratio(percentile(line, 95), percentile(anchor, 95))}"
        )
    p95 = percentile(figures["timeline", 0], 95)
    cpu95 = percentile(figures["timeline", 1], 95)
    print(
        f"target: timeline p95 <= 50 ms: {'met' if p95 <= 50 else 'NOT met'} "
        f"(wall {p95:.1f} ms; CPU {cpu95:.1f} ms; load average {os.getloadavg()[0]:.1f})"
    )


def size(text: str) -> tuple[int, int]:
    w, _, h = text.partition("x")
    return int(w), int(h)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--processes", type=int, default=5_000)
    parser.add_argument("--refreshes", type=int, default=200)
    parser.add_argument("--size", type=size, default=(120, 40))
    args = parser.parse_args()
    if not 10 <= args.processes <= 100_000:
        parser.error("--processes: 10 to 100,000")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
