"""The TUI's session: the engine in a thread of its own, commands queued to it, snapshots out.

The engine is single-threaded (see :mod:`tractui.engine`): its tracker's dicts change on every
poll. So one thread owns it: it polls, runs the commands the UI queued between two polls (so a
launched program's first fork is applied with its group already known), samples the htop columns
from /proc, and publishes an immutable :class:`Snapshot` at most ``snapshot_interval`` apart (more
on a tree of thousands of rows: :data:`ROW_INTERVAL`). The
UI only ever reads snapshots, and acts through the methods here, which return futures. What a
snapshot holds (and what the commands return) is the UI model, in :mod:`tractui.snapshot`.

No Textual here: this is domain code, tested without a terminal.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import functools
import gc
import logging
import math
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from tractui.control import LaunchSpec, LogChunk, SignalResult
from tractui.engine import Engine, EngineLike, log_path_for
from tractui.errors import UserError
from tractui.gate import Gate
from tractui.kernel import procfs
from tractui.kernel.meters import MeterReader, Meters
from tractui.kernel.peek import Peek, peek
from tractui.kernel.sample import Sample, Sampler
from tractui.kernel.threads import ThreadSampler
from tractui.model.changes import Delta, Key, MemberEvent
from tractui.model.store import Proc, aligned_exec_times
from tractui.model.trend import Trends
from tractui.snapshot import (
    EMPTY,
    HISTORY_SHOWN,
    Details,
    GroupDetails,
    Listed,
    LogEntry,
    QuitPlan,
    Resolved,
    Snapshot,
    SnapshotRows,
    ended_entries,
    ended_in_tree,
    lifetime_s,
    proc_row,
)
from tractui.supervise import EventRings, Restarter
from tractui.text import escape

log = logging.getLogger(__name__)

T = TypeVar("T")

HEARTBEAT = 1.0  # seconds between two snapshots at most, even when nothing changed
# Each snapshot costs both threads time in proportion to the rows of the tree (the session's
# copy of the rows, the UI's flattening and its repaint), whatever changed: a snapshot of a
# changing tree is due ``snapshot_interval`` after the last, or this long per row tracked if
# longer, up to ROWS_INTERVAL_MAX: past 4,000 rows the snapshots cost the same share of a CPU
# whatever the tree's size, down to one a second, htop's refresh at ``-d 10`` (its default is
# 1.5 s). 20,000 rows (10,000 live and the exited ones kept): one snapshot a second. bench/ui
# at 10,000 processes: two a second -> one, the UI process 1.07-1.08x htop's CPU -> 0.97-1.04x
# (two runs each, then four). A command's effect (a renice, a signal) is not held back (see
# due_interval).
ROW_INTERVAL = 50e-6
ROWS_INTERVAL_MAX = 1.0
# While the UI answers a key, the session thread waits (holding no GIL) for at most this long:
# bench/ui at 10,000 processes traced the slow presses to the UI thread waiting for the GIL
# that this thread held (its snapshots, samples and deltas), not to the UI's own work
KEY_QUIET = 0.1
# A step (poll, commands, a slice of samples, maybe a snapshot) starts at most this often: in a
# storm of events each step applies a batch of them, not a few (a step's own cost was most of
# the session thread's CPU at 2,000 events/s: bench/ui). 25 ms -> 50 ms -> 100 ms: each step's
# fixed part (a journal append, the history's flush, the sampler's slice, the poll's wait)
# less often, for events shown at most 100 ms later (a snapshot is 0.2 s apart at the least).
# A command does not wait for the rest between two steps: submit() wakes the thread, whose poll
# then takes what came without waiting for more.
MIN_STEP = 0.1
END_GRACE = 2.0
# bench/ui: when set, the session and the app append timing lines to this file (opt-in)
BENCH_TIMINGS = os.environ.get("TRACTUI_BENCH_TIMINGS", "")
_bench_lines: collections.deque[str] = collections.deque()


def bench_note(kind: str, started: float) -> None:
    """Note "MONOTONIC KIND MS" (MS since ``started``, a perf_counter) for BENCH_TIMINGS; the
    lines are written 200 at a time and at exit, so that the hook costs next to nothing."""
    bench_value(kind, (time.perf_counter() - started) * 1e3)


def bench_value(kind: str, ms: float) -> None:
    """Note "MONOTONIC KIND MS" for BENCH_TIMINGS (see :func:`bench_note`)."""
    _bench_lines.append(f"{time.monotonic():.3f} {kind} {ms:.3f}\n")
    if len(_bench_lines) >= 200:
        _bench_flush()


def _bench_flush() -> None:
    lines = []
    with contextlib.suppress(IndexError):
        while True:
            lines.append(_bench_lines.popleft())  # atomic: two threads may flush at once
    with open(BENCH_TIMINGS, "a") as f:
        f.writelines(lines)


def bench_span(kind: str, wall: float, cpu: float) -> None:
    """Note a span of work for BENCH_TIMINGS: "END span KIND START WALL_MS CPU_MS" (monotonic
    ``wall`` and this thread's ``cpu`` (thread_time) at its start). Five fields: the bench's
    figures read only the three-field lines; bench/ui/keys.py lines spans up with the keys."""
    now = time.monotonic()
    cpu_ms = (time.thread_time() - cpu) * 1e3
    _bench_lines.append(f"{now:.4f} span {kind} {wall:.4f} {(now - wall) * 1e3:.3f} {cpu_ms:.3f}\n")
    if len(_bench_lines) >= 200:
        _bench_flush()


def bench_line(line: str) -> None:
    """Note a free-form line for BENCH_TIMINGS (the key traces: bench/ui/keys.py)."""
    _bench_lines.append(line + "\n")
    if len(_bench_lines) >= 200:
        _bench_flush()


def _timed(kind: str, run: Callable[[], T]) -> T:
    """``run()``, noted as a span of the session thread when BENCH_TIMINGS is set."""
    if not BENCH_TIMINGS:
        return run()
    wall, cpu = time.monotonic(), time.thread_time()
    try:
        return run()
    finally:
        bench_span(kind, wall, cpu)


def _schedstat(tid: int | None = None) -> tuple[float, float]:
    """A thread's time on a CPU and waiting for one (run queue), ms (/proc schedstat)."""
    path = "/proc/thread-self/schedstat" if tid is None else f"/proc/self/task/{tid}/schedstat"
    try:
        with open(path) as f:
            run, wait, _slices = f.read().split()
    except (OSError, ValueError):
        return 0.0, 0.0
    return int(run) / 1e6, int(wait) / 1e6


_session_tid: list[int] = []  # the session thread's native ID (bench only)


class KeyTrace:
    """bench/ui: one key's life in the UI process, for BENCH_TIMINGS. A key's event is made in
    Textual's input thread (its time), reaches the app (on_event) before the focused widget
    handles it and again as it bubbles back, then a frame is written (App._display) and the
    after-refresh callbacks run. Each callback notes a line (bench/ui/keys.py reads them)::

        PAINTED keytrace EVENT FIRST LAST DISPLAY_START DISPLAY_END UI_CPU UI_RUNQ S_CPU S_RUNQ

    times monotonic; then from FIRST to PAINTED, ms: the UI thread's CPU and its wait for a CPU
    (schedstat), the session thread's the same."""

    def __init__(self) -> None:
        self.arrivals: dict[float, list[float]] = {}
        self.displays: collections.deque[tuple[float, float]] = collections.deque(maxlen=32)

    def wrap_display(self, display: Callable[..., None]) -> Callable[..., None]:
        """``display`` (App._display: a frame written), noting when each one ran."""

        def timed(*args: Any) -> None:
            started = time.monotonic()
            display(*args)
            self.displays.append((started, time.monotonic()))

        return timed

    def arrived(self, event_time: float) -> None:
        """The key reached the app (its first or a later arrival)."""
        now = time.monotonic()
        seen = self.arrivals.get(event_time)
        if seen is None:
            session = _schedstat(_session_tid[0]) if _session_tid else (0.0, 0.0)
            self.arrivals[event_time] = [now, now, *_schedstat(), *session]
            if len(self.arrivals) > 64:
                self.arrivals.pop(next(iter(self.arrivals)))
        else:
            seen[1] = now

    def painted(self, event_time: float) -> None:
        """An after-refresh callback of the key: note its line so far."""
        now = time.monotonic()
        seen = self.arrivals.get(event_time)
        if seen is None:
            return
        first, last, run0, wait0, srun0, swait0 = seen
        run1, wait1 = _schedstat()
        srun1, swait1 = _schedstat(_session_tid[0]) if _session_tid else (0.0, 0.0)
        shown = [d for d in self.displays if d[0] >= last and d[1] <= now]
        d0, d1 = shown[0] if shown else (0.0, 0.0)
        bench_line(
            f"{now:.4f} keytrace {event_time:.4f} {first:.4f} {last:.4f} {d0:.4f} {d1:.4f} "
            f"{run1 - run0:.2f} {wait1 - wait0:.2f} {srun1 - srun0:.2f} {swait1 - swait0:.2f}"
        )


_gc_started = [0.0, 0.0]


def _gc_note(phase: str, info: dict[str, int]) -> None:
    """Note each garbage collection as "gcN" (N its generation; it holds the GIL throughout)
    and the CPU time its thread spent in it as "gcNcpu"."""
    if phase == "start":
        _gc_started[:] = time.perf_counter(), time.thread_time()
    else:
        bench_note(f"gc{info['generation']}", _gc_started[0])
        bench_value(f"gc{info['generation']}cpu", (time.thread_time() - _gc_started[1]) * 1e3)
        wall = time.monotonic() - (time.perf_counter() - _gc_started[0])
        bench_span(
            f"gc{info['generation']}:{threading.current_thread().name}", wall, _gc_started[1]
        )


if BENCH_TIMINGS:
    atexit.register(_bench_flush)
    gc.callbacks.append(_gc_note)


class GarbagePacer:
    """Python's cyclic garbage collector, run by the session thread between two of its steps
    instead of wherever an allocation crosses the threshold (most often the UI thread's, in the
    middle of a key's answer), and never while the UI answers a key (:meth:`Session.hold`).

    :meth:`start` turns the automatic collections off (for the whole process) and :meth:`stop`
    back on; :meth:`tick` collects as CPython would at the same thresholds: a generation 0
    collection once ``threshold0`` more objects are tracked, every ``threshold1``-th of them
    also generation 1, and every ``threshold2``-th of those a full one. bench/ui at 10,000
    processes: the slowest keys were those during which the UI thread ran a collection."""

    def __init__(self, threshold0: int = 10_000, threshold1: int = 20, threshold2: int = 100):
        self.thresholds = (threshold0, threshold1, threshold2)
        self.running = False
        self.collections = [0, 0, 0]  # made by tick, per generation

    def start(self) -> None:
        gc.disable()
        self.running = True

    def stop(self) -> None:
        if self.running:
            self.running = False
            gc.enable()

    def due(self) -> int | None:
        """The generation a collection now would take (None: none due)."""
        count0, count1, count2 = gc.get_count()
        threshold0, threshold1, threshold2 = self.thresholds
        if count0 < threshold0:
            return None
        if count1 + 1 < threshold1:  # this collection of generation 0 makes one more
            return 0
        return 2 if count2 + 1 >= threshold2 else 1

    def tick(self) -> int | None:
        """Collect if one is due; the generation collected, or None."""
        generation = self.due() if self.running else None
        if generation is not None:
            gc.collect(generation)
            self.collections[generation] += 1
        return generation


@dataclass(slots=True)
class _Command:
    run: Callable[[], Any]
    future: Future[Any] = field(default_factory=Future)
    reads: bool = False  # it only reads: no snapshot is due for it (see submit)


class Session:
    """Owns an engine (an :class:`~tractui.engine.EngineLike`: this process's, a daemon's
    mirrored, a replay) in a thread; publishes snapshots; runs queued commands."""

    def __init__(
        self,
        engine: EngineLike,
        sampler: Sampler | None = None,
        clock: Callable[[], float] = time.time,
        snapshot_interval: float = 0.2,
        sample_interval: float = 1.0,
        watch_collector: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
        read_cwd: Callable[[int], str] | None = None,
        machine: bool = True,
        nice: int = 0,
        garbage: GarbagePacer | None = None,
    ) -> None:
        self.engine = engine
        self.nice = nice  # added to the session thread's nice value (see SESSION_NICE)
        self._spawner: Spawner | None = None  # starts processes at the caller's priority
        self.garbage = garbage  # collections made by the session thread (None: Python's own)
        self.snapshot_interval = snapshot_interval
        self.watch_collector = watch_collector
        self.snapshot = EMPTY
        self.clock = clock  # the wall clock snapshots are taken by (a replay's stands still)
        # a banner times by ``monotonic``, and shows the times of day ``clock`` gives
        self._restarter = Restarter(engine, monotonic, wall=clock)
        sampler = sampler or Sampler()
        sampler.interval = sample_interval
        self._snapshots = Snapshots(
            engine, self._restarter, sampler, clock, monotonic, read_cwd or _read_cwd
        )
        # ``machine``: show this machine's meters, and peek at a process's open files and
        # environment in its details; not in a replay's demo (its PIDs are not this machine's,
        # and its screen is the same anywhere)
        if machine:
            self._snapshots.read_meters = MeterReader().read
            self._snapshots.peek = peek
            self._snapshots.record_trends = True
        self._listeners: list[Callable[[Snapshot], None]] = []
        self._queue: queue.Queue[_Command] = queue.Queue()
        self._stop = threading.Event()
        self._wake = threading.Event()  # a command was queued (or stop): no rest before a step
        self._thread: threading.Thread | None = None
        self._dirty = True  # a snapshot is due
        self._asked = False  # and it shows what a command did: due soon (see due_interval)
        # closed while the UI answers a key (see hold()): the session's work waits at it
        self.gate = Gate(KEY_QUIET)
        sampler.pause = self.gate.pause
        self._snapshots.rows_pause(self.gate.pause)
        if isinstance(engine, Engine):
            engine.pause = self.gate.pause
        # the programs this UI launched (a daemon's launches are the daemon's: not kept here)
        self._launched: dict[Key, None] = {}

    # ---- lifecycle (UI thread) ---------------------------------------------------------------

    def subscribe(self, listener: Callable[[Snapshot], None]) -> None:
        """Call ``listener(snapshot)`` from the session thread for each new snapshot."""
        self._listeners.append(listener)

    def start(self) -> None:
        """Start the session thread. The engine must already be started."""
        if self.nice and isinstance(self.engine, Engine):
            # made here, by the caller's thread, so it has the caller's priority, not the
            # session thread's lowered one (which launched programs would inherit)
            self._spawner = Spawner()
            self.engine.spawn = self._spawner.run
        self._thread = threading.Thread(target=self._run, name="tractui-session", daemon=True)
        if self.garbage is not None:
            self.garbage.start()
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread, fail queued commands, stop the engine (launched programs live on)."""
        self._stop.set()
        self._wake.set()
        stopped = True
        if self._thread is not None:
            self._thread.join(timeout)
            stopped = not self._thread.is_alive()
            self._thread = None
        if self._spawner is not None:
            self._spawner.stop()
        self._fail_pending()
        if self.garbage is not None:
            self.garbage.stop()
        if stopped:  # else it may still read: its files close with the process
            self._snapshots.sampler.close()
        self.engine.stop()

    def hold(self) -> None:
        """The UI is answering a key (see also :meth:`hold_drawing`): the session thread
        pauses at its next step, or within its work (the sampler's reads, a snapshot's rows, a
        poll's phases: :mod:`tractui.gate`), giving the GIL up, until :meth:`release` or for
        KEY_QUIET s at most (UI thread)."""
        self.gate.hold()

    def release(self) -> None:
        """The key's answer (or the snapshot) is on the screen: the session thread goes on
        (UI thread)."""
        self.gate.release()

    def hold_drawing(self) -> None:
        """The UI draws a snapshot: held as for a key (:meth:`hold`), unless a command waits
        to run (submit opened the gate for it: the UI awaits its answer)."""
        if self._queue.empty():
            self.gate.hold()

    def submit(self, run: Callable[[], T], reads: bool = False) -> Future[T]:
        """Run ``run()`` in the session thread between two polls; its result in a future.
        The gate opens: the UI now waits for the session thread (a key's action awaits the
        command before the key's release could come), so holding it back would only delay
        the answer, by the whole hold. A command's effect is snapshotted at once (see
        due_interval); ``reads``: it changes nothing (a log followed every 0.25 s, details),
        so a big tree keeps its pace."""
        command = _Command(run, reads=reads)
        if self._stop.is_set():
            command.future.set_exception(UserError("tractui is shutting down"))
        else:
            self._queue.put(command)
            self._wake.set()
            self.gate.release()
        return command.future

    # ---- commands (called from the UI; run in the session thread) ----------------------------

    def launch(self, group: str, spec: LaunchSpec) -> Future[int]:
        """Launch a program into ``group``; the future holds its PID."""

        def run() -> int:
            proc = self.engine.launch(group, spec)
            if proc.key is not None:  # None: the daemon's program, not this UI's
                self._launched[proc.key] = None
            self._dirty = True
            return proc.pid

        return self.submit(run)

    def preview(self, pids: list[int]) -> Future[Resolved]:
        """Exactly what attaching ``pids`` would add now (UserError saying why it can't)."""

        def run() -> Resolved:
            return Resolved.of(self.engine.plan_attach(pids), self._snapshots.users.name)

        return self.submit(run)

    def attach(self, group: str, pids: list[int], create: bool = True) -> Future[list[int]]:
        """Attach running processes and their descendants; the future holds the root PIDs.
        Into a group that does not exist only with ``create``."""

        def run() -> list[int]:
            procs = self.engine.attach(group, pids, create)
            self._dirty = True
            return [p.pid for p in procs]

        return self.submit(run)

    def own_pids(self) -> Future[frozenset[int]]:
        """tractui's own processes (this one, its collector, a daemon's): never attached."""
        return self.submit(lambda: frozenset(self.engine.tracker.own_pids), reads=True)

    def targets(self, group: str, pid: int | None, subtree: bool) -> Future[list[int]]:
        """The PIDs a signal with this scope would reach now."""
        return self.submit(
            lambda: [p.pid for p in self.engine.targets(group, pid, subtree)], reads=True
        )

    def send_signal(
        self, group: str, pid: int | None, subtree: bool, sig: int
    ) -> Future[list[SignalResult]]:
        """Signal a group (``pid`` None), one member, or a member's subtree, through pidfds."""

        def run() -> list[SignalResult]:
            procs = self.engine.targets(group, pid, subtree)
            if not procs:
                raise UserError(f"group {group!r} has no live process to signal")
            return self.engine.signal(procs, sig)

        return self.submit(run)

    def rename(self, old: str, new: str) -> Future[str]:
        def run() -> str:
            name = self.engine.rename_group(old, new).name
            self._snapshots.log.rename(old, name)
            self._dirty = True
            return name

        return self.submit(run)

    def remove(self, group: str) -> Future[int]:
        """Stop tracking a group (its processes go on); the future holds how many were dropped."""

        def run() -> int:
            keys = self.engine.remove_group(group)
            self._dirty = True
            return len(keys)

        return self.submit(run)

    def renice(self, key: Key, step: int) -> Future[int]:
        """Change a process's nice value by ``step``; the future holds the new value. The
        process is sampled again at once: its NI column shows the new value at the next
        snapshot, not a sampling round later."""

        def run() -> int:
            value = renice(key, step)
            if self._snapshots.resample([key]):
                self._dirty = True
            return value

        return self.submit(run)

    def renice_many(self, keys: list[Key], step: int) -> Future[list[tuple[Key, int | str]]]:
        """Renice each process (the tagged set): per key, its new nice value or why not."""

        def run() -> list[tuple[Key, int | str]]:
            out: list[tuple[Key, int | str]] = []
            for key in keys:
                try:
                    out.append((key, renice(key, step)))
                except UserError as err:
                    out.append((key, str(err)))
            return out

        return self.submit(run)

    def tagged_targets(self, keys: list[Key]) -> Future[list[int]]:
        """The PIDs of the live ones of these processes (what a signal to them would reach)."""
        return self.submit(lambda: [p.pid for p in self._live(keys)], reads=True)

    def signal_keys(self, keys: list[Key], sig: int) -> Future[list[SignalResult]]:
        """Signal the live ones of these processes (the tagged set, any group), through pidfds
        as every signal (each checked against its start: a reused PID is never hit)."""

        def run() -> list[SignalResult]:
            procs = self._live(keys)
            if not procs:
                raise UserError("none of them is alive any more: nothing to signal")
            return self.engine.signal(procs, sig)

        return self.submit(run)

    def live_below(self, key: Key) -> Future[list[Key]]:
        """The live descendants of a member (an exited one's: what its subtree scope reaches),
        by key, so that a signal to them never reaches a later owner of its PID."""
        tracker = self.engine.tracker
        return self.submit(lambda: [p.key for p in tracker.subtree(key) if p.alive], reads=True)

    def _live(self, keys: list[Key]) -> list[Proc]:
        procs = self.engine.tracker.procs
        return [p for p in map(procs.get, keys) if p is not None and p.alive]

    def on_screen(self, keys: tuple[Key, ...]) -> None:
        """The processes whose rows the UI shows now: sampled at least every sample interval,
        however long a round of every process takes (see :meth:`Snapshots.sample`). From any
        thread: the tuple is swapped in whole."""
        self._snapshots.on_screen = keys

    def show_threads(self, on: bool) -> Future[None]:
        """Read the threads of the multi-threaded processes into each snapshot (the tree's
        thread rows), or stop reading them. Read from /proc by this process, daemon or not."""

        def run() -> None:
            self._snapshots.show_threads(on)
            self._dirty = True

        return self.submit(run)

    def details(self, key: Key) -> Future[Details]:
        return self.submit(lambda: self._snapshots.details(key), reads=True)

    def group_details(self, group: str) -> Future[GroupDetails]:
        """The details view of a group, with its history (read from the disk, or asked of the
        daemon): once per call, for a screen that opens, never for each frame."""

        def run() -> GroupDetails:
            if not any(g.name == group for g in self.snapshot.groups):
                self._publish()  # a group newer than the last snapshot: its row, now
            return self._snapshots.group_details(group, self.snapshot)

        return self.submit(run)

    def quit_plan(self) -> Future[QuitPlan]:
        """What quitting with "end them" would end, and which live members it would leave."""

        def run() -> QuitPlan:
            tracker = self.engine.tracker
            ending = self._launched_alive()
            keys = {p.key for p in ending}
            groups = dict.fromkeys(p.group for p in ending)
            left = [
                p for g in groups for p in tracker.members(g, alive_only=True) if p.key not in keys
            ]
            return QuitPlan(
                tuple(Listed(p.group, p.pid, escape(p.command())) for p in ending),
                tuple(Listed(p.group, p.pid, escape(p.command())) for p in left),
            )

        return self.submit(run)

    def end_launched(self, grace: float = END_GRACE) -> Future[int]:
        """SIGTERM the live programs this UI launched and their descendants, SIGKILL what is
        left of them after ``grace``; nothing else. The future holds how many were signalled."""

        def run() -> int:
            procs = self._launched_alive()
            self.engine.signal(procs, signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline and any(p.alive for p in procs):
                self._step(0.05)
            left = self._launched_alive()  # with what they forked meanwhile
            if left:
                self.engine.signal(left, signal.SIGKILL)
            return len({p.key for p in procs + left})

        return self.submit(run)

    def _launched_alive(self) -> list[Proc]:
        """The live members in the genealogical subtrees of the programs this UI launched."""
        tracker = self.engine.tracker
        out: dict[Key, Proc] = {}
        for key in self._launched:
            for proc in tracker.subtree(key):
                if proc.alive:
                    out[proc.key] = proc
        return list(out.values())

    def _launched_groups(self) -> set[str]:
        procs = self.engine.tracker.procs
        return {p.group for p in map(procs.get, self._launched) if p is not None}

    def log_path(self, group: str) -> str:
        """Where a group's launched programs write their output (the daemon's, if it runs).

        Called on the UI thread: read from the last snapshot, where the session thread put it,
        never asked of the engine. A group that is in no snapshot any more (just renamed or
        removed) gets the path an engine gives a group it does not know."""
        for row in self.snapshot.groups:
            if row.name == group:
                return row.log_path
        return str(log_path_for(group))

    def read_log(self, group: str, offset: int | None = None) -> Future[LogChunk]:
        """Part of a group's launch log: its tail, or what follows ``offset`` (through the
        daemon when one runs: its files may not be ours to open)."""
        return self.submit(lambda: self.engine.read_log(group, offset), reads=True)

    # ---- the session thread ------------------------------------------------------------------

    def _run(self) -> None:
        if BENCH_TIMINGS:
            _session_tid[:] = [threading.get_native_id()]
        if self.nice:
            lower_priority(self.nice)
        last_snapshot = last_step = 0.0
        while not self._stop.is_set():
            self.gate.pause()  # while the UI answers a key (KEY_QUIET at most)
            rest = MIN_STEP - (time.monotonic() - last_step)
            if rest > 0:
                self._wake.wait(rest)
            if self._stop.is_set():
                break
            self._wake.clear()  # before the commands are run: one queued later wakes it again
            last_step = time.monotonic()
            try:
                self._watch_collector()
                # a command queued: the poll takes what came, it does not wait for more
                wait = 0.05 if self._queue.empty() else 0.0
                _timed("poll", functools.partial(self._step, wait))
                self._run_commands()
                if _timed("sample", self._snapshots.sample):
                    self._dirty = True
                if self._snapshots.read_threads():
                    self._dirty = True
                now = time.monotonic()
                published = False
                # at least once a second: the header's event rate and clock, a banner's expiry.
                # Due at the step nearest the time (half a step early at most): a step's poll
                # takes up to 50 ms, so "not yet" would put it off by a whole step
                due = self.due_interval() if self._dirty else HEARTBEAT
                if now - last_snapshot >= due - MIN_STEP / 2:
                    last_snapshot = now
                    _timed("publish", self._publish)
                    published = True
                # not during a key, nor just after a snapshot was posted: the UI is drawing it
                # (a collection holds the GIL throughout)
                if self.garbage is not None and self.gate.is_open() and not published:
                    self.garbage.tick()
            except Exception:  # one bad batch must not leave the UI frozen
                log.exception("session step failed")
                self._restarter.stick("internal error in the engine thread (see the log with -v)")
                self._dirty = True
                time.sleep(0.2)

    def due_interval(self) -> float:
        """How long after the last snapshot a tree that changed gets its next one: see
        ROW_INTERVAL."""
        if self._asked:  # a command's effect (a renice, a signal) is not held back
            return self.snapshot_interval
        rows = len(self.engine.tracker.procs)
        return max(self.snapshot_interval, min(ROWS_INTERVAL_MAX, rows * ROW_INTERVAL))

    def _step(self, timeout: float) -> None:
        if self._snapshots.note(self.engine.poll(timeout)):
            self._dirty = True

    def _run_commands(self) -> None:
        while True:
            try:
                command = self._queue.get_nowait()
            except queue.Empty:
                return
            if not command.future.set_running_or_notify_cancel():
                continue
            try:
                with self.gate.exempt():  # the UI waits for it: see submit()
                    result = command.run()
                command.future.set_result(result)
            except BaseException as err:  # handed to the UI, which shows UserErrors
                command.future.set_exception(err)
            changed = self._snapshots.note(self.engine.tracker.take_delta())
            if changed or not command.reads:
                self._dirty = self._asked = True

    def _fail_pending(self) -> None:
        while True:
            try:
                command = self._queue.get_nowait()
            except queue.Empty:
                return
            if command.future.set_running_or_notify_cancel():
                command.future.set_exception(UserError("tractui is shutting down"))

    def _watch_collector(self) -> None:
        """The collector is a separate process (or the daemon connection): if it dies, say so
        and start another (:class:`~tractui.supervise.Restarter`)."""
        if self.watch_collector and self._restarter.check():
            self._dirty = True

    def _publish(self) -> None:
        self._dirty = self._asked = False
        self.snapshot = self._snapshots.build(self._launched_groups())
        for listener in self._listeners:
            listener(self.snapshot)


def event_rate(
    rate: float, mark: tuple[float, int], now: float, events: int
) -> tuple[float, tuple[float, int]]:
    """The header's events per second: ``rate`` and its ``mark`` (time, event count) carried
    from the last call, renewed once a second has passed. A count lower than the mark's is a
    daemon that restarted (its counters from 0): counted from 0, never a negative rate."""
    mark_time, mark_events = mark
    if events < mark_events:
        mark_events = 0
    if now - mark_time < 1.0:
        return rate, (mark_time, mark_events)
    return (events - mark_events) / (now - mark_time), (now, events)


class Snapshots:
    """What the session thread makes of its engine: the :class:`Snapshot` the UI reads.

    It notes what each delta changed (the event log's lines, the samples to forget), samples
    the htop columns of a slice of the live members at a time, and builds each snapshot, with
    the header's counts, event rate and banner (the :class:`Restarter`'s, then the engine's).
    Used in the session thread only; the :class:`Session` says when a snapshot is due."""

    def __init__(
        self,
        engine: EngineLike,
        restarter: Restarter,
        sampler: Sampler,
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        read_cwd: Callable[[int], str],
    ) -> None:
        self.engine = engine
        self.restarter = restarter
        self.sampler = sampler
        self.clock = clock
        self.monotonic = monotonic  # for the event rate (a replay stands it still)
        self.read_cwd = read_cwd
        self.users = procfs.UserNames()
        self.log: EventRings[LogEntry] = EventRings()  # the event log's lines, per group
        # START: the wall clock at the boot clock's 0, by this session's clock (a replay's too)
        boot_wall = clock() - engine.tracker.now() / 1e9
        self._rows = SnapshotRows(
            engine.tracker,
            self.users,
            lambda g: str(engine.log_path(g)),
            boot_wall,
            sampler.mem_total_kb,
        )
        self._last_sample: dict[Key, Sample] = {}  # kept past exit: TIME+ and RSS stay shown
        self.threads = ThreadSampler()
        self._threads_on = False  # the tree shows thread rows: read them
        self._seq = 0
        self._rate = 0.0
        self._rate_mark = (monotonic(), 0)
        # the details' sparklines: a point per sampling round, of each member and each group
        self.trends = Trends(sampler.interval)
        self.group_trends = Trends(sampler.interval)
        self._rounds = sampler.rounds
        self.on_screen: tuple[Key, ...] = ()  # the processes on the UI's screen (Session.on_screen)
        self._bench_rounds = (sampler.rounds, time.monotonic())  # BENCH_TIMINGS: the last end
        self.record_trends = False  # a replay's demo keeps none: its screens never change
        self.read_meters: Callable[[], Meters] | None = None
        self.peek: Callable[[int], Peek] | None = None
        self._meters: Meters | None = None
        self._meters_at = -math.inf  # when they were read (monotonic): once a second

    def rows_pause(self, pause: Callable[[], bool]) -> None:
        """What building a snapshot's rows calls every few hundred rows (tractui.gate)."""
        self._rows.pause = pause

    def note(self, delta: Delta) -> bool:
        """Turn a delta's member events into event-log lines. True if anything changed."""
        if not delta and not delta.events:
            return False
        if delta.log:
            self._add_log(delta.log, self.engine.tracker.now())
        self.sampler.forget(delta.exited)
        self.sampler.forget(delta.removed)
        for key in delta.removed:
            self._last_sample.pop(key, None)
        self.trends.forget(delta.removed)
        return True

    def _add_log(self, events: list[MemberEvent], now_ns: int) -> None:
        """Keep the newest events of each group (:class:`EventRings`), at their kernel times."""
        wall = self.clock()
        for ev in events:
            # escaped once here, not at each paint: another user's text, for a terminal
            text = escape(f"forked by {ev.detail}" if ev.kind == "fork" else ev.detail)
            self.log.add(
                ev.group,
                LogEntry(wall - (now_ns - ev.ts) / 1e9, ev.group, ev.kind, ev.key[0], text),
            )

    def sample(self) -> bool:
        """The sampler's next slice of live members, and the rows on the screen whose last
        read is a sample interval old; their rows change with their columns. True if a row
        changed."""
        started = time.perf_counter() if BENCH_TIMINGS else 0.0
        live = self.engine.tracker.live
        read = self.sampler.step(lambda: [p.key for p in live.values()])
        # a round of thousands of processes takes longer than the interval (the sampler's CPU
        # budget): the rows the user looks at are read as often as a small round's
        due = self.sampler.due(
            [k for k in self.on_screen if (p := live.get(k[0])) is not None and p.key == k]
        )
        if due:
            self.sampler.sample(due)
        elif not read:
            return False
        changed = self.sampler.take_changed()
        samples = self.sampler.samples
        for key in changed:
            sample = samples.get(key)
            if sample is not None:
                self._last_sample[key] = sample
        if changed:
            self._rows.touch(changed)
        if self.sampler.rounds != self._rounds and self.record_trends:
            self._rounds = self.sampler.rounds
            self._add_trends()
        if BENCH_TIMINGS:
            bench_note("sample", started)
            if self.sampler.rounds != self._bench_rounds[0]:  # a round's length: its pace
                now = time.monotonic()
                bench_value("round", (now - self._bench_rounds[1]) * 1e3)
                self._bench_rounds = (self.sampler.rounds, now)
        return bool(changed)

    def show_threads(self, on: bool) -> None:
        """Read threads from now on (at once, then every second), or forget them."""
        self._threads_on = on
        self.threads.clear()
        if on:
            self.read_threads()

    def read_threads(self) -> bool:
        """While thread rows are shown, a pass of the thread sampler when one is due; True if
        the threads changed."""
        if not self._threads_on or not self.threads.due():
            return False
        samples = self.sampler.samples
        live = self.engine.tracker.live.values()
        counts = ((p.key, s.threads) for p in live if (s := samples.get(p.key)) is not None)
        return self.threads.read(counts)

    def resample(self, keys: list[Key]) -> bool:
        """Sample these members now (after a renice); True if a row changed."""
        self.sampler.sample(keys)
        changed = self.sampler.take_changed()
        samples = self.sampler.samples
        for key in changed:
            sample = samples.get(key)
            if sample is not None:
                self._last_sample[key] = sample
        self._rows.touch(changed)
        return bool(changed)

    def _add_trends(self) -> None:
        """A round is over: a point of every live member's history, and of each group's
        (the sums of its live members')."""
        samples = self.sampler.samples
        points: list[tuple[Key, float, int]] = []
        cpu: dict[str, float] = {}
        rss: dict[str, int] = {}
        for proc in self.engine.tracker.live.values():  # by PID
            sample = samples.get(proc.key)
            if sample is not None:
                points.append((proc.key, sample.cpu, sample.rss_kb))
                group = proc.group
                cpu[group] = cpu.get(group, 0.0) + sample.cpu
                rss[group] = rss.get(group, 0) + sample.rss_kb
        now = self.monotonic()
        self.trends.add_round(now, points)
        groups = self.engine.tracker.groups
        self.group_trends.forget([g for g in self.group_trends.traces if g not in groups])
        self.group_trends.add_round(now, ((g, cpu.get(g, 0.0), rss.get(g, 0)) for g in groups))

    def build(self, launched: set[str]) -> Snapshot:
        """A snapshot now; ``launched``: the groups with programs this UI launched."""
        engine = self.engine
        now = self.monotonic()
        events = engine.counters.events or engine.tracker.events
        self._rate, self._rate_mark = event_rate(self._rate, self._rate_mark, now, events)
        self._seq += 1
        started = time.perf_counter() if BENCH_TIMINGS else 0.0
        self.log.keep(engine.tracker.groups)
        wall = self.clock()
        snapshot = self._rows.build(
            self.sampler.samples,
            self._last_sample,
            launched,
            histories=self.group_trends.cpu_histories(),
            seq=self._seq,
            wall=wall,
            events=events,
            rate=self._rate,
            lost=engine.counters.lost or engine.tracker.lost,
            state=self.restarter.state,
            banner=self.restarter.banners(),
            logs=self.log.tuples(),  # made anew only for the groups that changed
            mode=engine.mode,
            threads=MappingProxyType(dict(self.threads.threads)) if self._threads_on else {},
            meters=self._read_meters(now),
        )
        if BENCH_TIMINGS:
            bench_note("snapshot", started)
        return snapshot

    def _read_meters(self, now: float) -> Meters | None:
        """The meters, read again once a second (snapshots come up to 5 times a second)."""
        if self.read_meters is not None and not now - self._meters_at < 1.0:
            self._meters_at = now
            self._meters = self.read_meters()
        return self._meters

    def details(self, key: Key) -> Details:
        """The details view of a tracked process (UserError once it is pruned)."""
        tracker = self.engine.tracker
        proc = tracker.procs.get(key)
        if proc is None:
            raise UserError("that process is no longer tracked (pruned after it exited)")
        sample = self.sampler.samples.get(key)
        rows = self._rows
        last = self._last_sample.get(key)
        row = proc_row(proc, 0, (), sample, last, self.users, rows.boot_wall, rows.mem_total_kb)
        parent = tracker.procs.get(proc.parent) if proc.parent is not None else None
        if parent is not None:
            parent_text = f"{parent.pid} {parent.command()}"
        elif proc.parent is not None:
            parent_text = f"{proc.parent[0]} (pruned)"
        else:
            parent_text = ""
        cwd = self.read_cwd(proc.pid) if proc.alive else ""
        ppid_text = str(proc.ppid)
        if proc.reparented:
            ppid_text += f" (reparented: forked by {proc.parent[0] if proc.parent else '?'})"
        started = self.clock() - (tracker.now() - proc.start) / 1e9
        return Details(
            row=row,
            argv=proc.argv,
            exe=proc.exe,
            cwd=cwd,
            uid=proc.uid,
            started=started,
            parent=parent_text,
            ppid_text=ppid_text,
            peak_threads=proc.peak_threads,
            execs=tuple(proc.execs),
            exec_after=tuple(
                (t - proc.start) / 1e9 if t is not None else None
                for t in aligned_exec_times(proc.exec_times, len(proc.execs))
            ),
            account=proc.account.copy() if proc.account is not None else None,
            accounting=self.engine.counters.accounting,
            lifetime=lifetime_s(proc),
            # read now, on opening, never sampled: smaps_rollup walks the page tables
            peek=self.peek(proc.pid) if proc.alive and self.peek is not None else None,
            trend=self.trends.series(key),
        )

    def group_details(self, name: str, snapshot: Snapshot) -> GroupDetails:
        """The details view of a group: its row of the last snapshot, its ended members'
        account, and its history (UserError if the group is gone). A history that cannot be
        read is said in its notes: the rest is still worth showing."""
        group = self.engine.tracker.group(name)
        row = next((g for g in snapshot.groups if g.name == group.name), None)
        if row is None:
            raise UserError(f"group {group.name} is not shown yet: try again in a moment")
        notes: list[str] = []
        entries: list[dict[str, Any]] = []
        older = 0  # not read: the daemon (or the files) counted them
        try:
            found = self.engine.history_of(group.name, newest=HISTORY_SHOWN)
        except (UserError, OSError) as err:
            notes.append(f"the history cannot be read: {err}")
        else:
            entries, older = found.entries, found.older
            if found.error:
                notes.append(f"no history: {found.error}")
            if found.cut:
                notes.append(found.cut)
            if found.damaged:
                notes.append(f"{found.damaged} damaged line(s) of the history were skipped")
        history = ended_entries(entries)
        tracker = self.engine.tracker
        procs = tracker.procs
        wall, now = self.clock(), tracker.now()
        # on a daemon, our mirror may still hold a member the daemon has pruned and written
        # (its delta is on the way): it is listed once, from the disk
        on_disk = {(e.get("pid"), e.get("start")) for e in entries}
        ended = [
            procs[k]
            for k in group.members
            if k in procs and not procs[k].alive and k not in on_disk
        ]
        # newest first; at the same time by (pid, start), not by the order of a set
        ended.sort(key=lambda p: (p.ended or 0, p.key), reverse=True)
        in_tree = [ended_in_tree(p, wall, now) for p in ended]
        return GroupDetails(
            row=row,
            ended=group.ended.copy(),
            accounting=self.engine.counters.accounting,
            created=group.created,
            has_launches=self.engine.has_launches(group.name),
            daemon=self.engine.mode == "daemon",
            history=(*in_tree, *history[:HISTORY_SHOWN]),
            history_notes=tuple(notes),
            more=max(0, len(history) - HISTORY_SHOWN) + older,
            in_tree=len(in_tree),
            trend=self.group_trends.series(group.name),
            unrecorded_s=group.unrecorded_s,
        )


class Spawner:
    """A thread that starts processes for the session thread. A child inherits the nice value
    of the thread that forks it, and the session thread runs niced (:func:`lower_priority`):
    a program launched from it would run at nice +10, and a user could not take that back
    without privilege. Made by the thread that starts the session, it keeps that one's
    priority; the session thread hands it each fork (:meth:`run`) and waits."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()  # no job is queued after the stop's sentinel
        self._stopped = False
        self._thread = threading.Thread(target=self._serve, name="tractui-spawner", daemon=True)
        self._thread.start()

    def run(self, fn: Callable[[], T]) -> T:
        """``fn()``, called in the spawner's thread: its value, or what it raised. Once
        stopped (a session thread that outlived its stop's join), or from a job of its own,
        in the caller's thread: waiting on a thread that serves no more would hang for ever."""
        done: Future[T] = Future()
        with self._lock:
            served = not self._stopped and threading.current_thread() is not self._thread
            if served:
                self._jobs.put((fn, done))
        return done.result() if served else fn()

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self._jobs.put(None)
        self._thread.join(5.0)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            fn, done = job
            try:
                done.set_result(fn())
            except BaseException as err:  # handed to the caller, who raises it
                done.set_exception(err)


def lower_priority(step: int) -> int:
    """Add ``step`` (> 0) to the calling thread's nice value, not its process's (Linux: a
    thread ID is a PRIO_PROCESS target of its own). Any user may; the new value, or the old one
    if the system says no."""
    tid = threading.get_native_id()
    try:
        value = min(19, os.getpriority(os.PRIO_PROCESS, tid) + step)
        os.setpriority(os.PRIO_PROCESS, tid, value)
        return value
    except OSError as err:
        log.debug("session thread: nice unchanged (%s)", err)
        return os.getpriority(os.PRIO_PROCESS, tid)


def _read_cwd(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        return ""


def renice(key: Key, step: int) -> int:
    """Add ``step`` to the nice value of the process (pid, start); return the new value."""
    pid, start = key
    now = procfs.read_start(pid)
    if now is None or not procfs.same_start(now, start):
        raise UserError(f"PID {pid} has exited: nothing to renice")
    try:
        value = max(-20, min(19, os.getpriority(os.PRIO_PROCESS, pid) + step))
        os.setpriority(os.PRIO_PROCESS, pid, value)
    except PermissionError:
        raise UserError(
            f"PID {pid}: permission denied (only root may lower nice or touch others')"
        ) from None
    except ProcessLookupError:
        raise UserError(f"PID {pid} has exited: nothing to renice") from None
    return value
