"""The engine: the collector process, the tracker it feeds, and the commands that act on it.

The engine is single-threaded on purpose: a command (launch, attach) runs between two batches,
so every event after it is applied with the new member already known, and nothing that the
member forks can slip past. Whoever owns the engine (a CLI command, the TUI's worker, the daemon)
calls :meth:`Engine.poll` in a loop and its commands from the same thread.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from collections.abc import Callable, Sequence, Sized
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from tractui import control, paths
from tractui.control import LaunchSpec, LogChunk, SignalResult
from tractui.errors import UserError
from tractui.events import Event
from tractui.gate import no_pause
from tractui.kernel import feed
from tractui.kernel.collector import CollectorProcess
from tractui.kernel.taskstats import TaskRecord
from tractui.model.adopt import Planned
from tractui.model.changes import Delta, Key
from tractui.model.history import GroupHistory, History, wire_lines
from tractui.model.state import LaunchRecord, Persister, Restored
from tractui.model.store import Group, Proc, outcome_text, validate_group_name
from tractui.model.tracker import KEEP_EXITED, Tracker

log = logging.getLogger(__name__)

T = TypeVar("T")


def _call(fn: Callable[[], T]) -> T:
    return fn()


# launch records kept per group: the newest, and any older one whose end is not logged yet
LAUNCHES_KEPT = 64


@dataclass(slots=True)
class Counters:
    """Running totals reported by the collector."""

    datagrams: int = 0
    lost: int = 0
    malformed: int = 0
    collector_cpu_ns: int = 0  # since it subscribed
    collector_maxrss_kb: int = 0
    # the kernel's exit records (taskstats): "" when they come, else the one line saying why not
    accounting: str = ""
    acct_records: int = 0
    acct_lost: int = 0
    events: int = 0  # the proc connector's (fork, exec, exit...), not the exit records
    batches: int = 0
    started: float = field(default_factory=time.monotonic)


class Started(Protocol):
    """A process that a command launched or attached, as the command's caller learns of it."""

    @property
    def pid(self) -> int: ...

    @property
    def group(self) -> str: ...

    @property
    def key(self) -> Key | None:
        """(pid, start); None when another process started it (a daemon, whose it is)."""


class Named(Protocol):
    """A group as a command that renamed it names it."""

    @property
    def name(self) -> str: ...


class EngineLike(Protocol):
    """What a :class:`~tractui.session.Session` runs in its thread: this process's
    :class:`Engine`, a daemon's groups mirrored (:class:`~tractui.daemon.link.DaemonEngine`),
    or a replay (:class:`~tractui.replay.ReplayEngine`). Each implements all of it, and none
    inherits another. Used from one thread, like the engine."""

    mode: str  # "embedded" (this process tracks) or "daemon": the header says which
    source: str  # what dies and is restarted: "event collector", "daemon connection"
    tracker: Tracker  # the groups as they are now (a daemon's: its mirror)
    counters: Counters
    restarts: int  # how many times restart_collector ran

    @property
    def banner(self) -> str:
        """What the UI should say about the engine ("" when nothing)."""

    def start(self) -> dict[str, Any]: ...

    def stop(self) -> None: ...

    def alive(self) -> bool:
        """Its source of events (the collector, the daemon connection) is up."""

    def restart_collector(self) -> None:
        """Start its source again after it died (ConnectorError if it cannot)."""

    def poll(self, timeout: float) -> Delta:
        """Wait up to ``timeout`` for events, apply them, return what changed."""

    def launch(self, group: str, spec: LaunchSpec) -> Started: ...

    def attach(self, group: str, pids: list[int], create: bool = True) -> Sequence[Started]:
        """Attach ``pids`` and their descendants (:meth:`Engine.attach`); the roots."""

    def plan_attach(self, pids: list[int]) -> list[Planned]:
        """What attaching ``pids`` would add now, exactly (:meth:`Engine.plan_attach`)."""

    def targets(self, group: str, pid: int | None = None, subtree: bool = False) -> list[Proc]: ...

    def signal(self, procs: list[Proc], sig: int) -> list[SignalResult]: ...

    def rename_group(self, old: str, new: str) -> Named: ...

    def remove_group(self, name: str) -> Sized:
        """Stop tracking a group; what was dropped, counted."""

    def log_path(self, group: str) -> Path: ...

    def has_launches(self, group: str) -> bool:
        """Programs were launched into the group (by this engine, an earlier one, a daemon)."""

    def history_of(self, name: str, newest: int | None = None) -> GroupHistory:
        """The ended members of a group kept on disk, in ``list --all`` form, oldest first
        (UserError for an unknown group). Reads files or asks the daemon: not for each frame.
        ``newest``: those that ended last are enough (more may come: an older daemon's)."""

    def read_log(
        self, group: str, offset: int | None = None, lines: int | None = None
    ) -> LogChunk: ...


class Engine:
    """Collector + tracker + control. Not thread-safe: use it from one thread.

    The engine a TUI or a daemon runs in this process: an :class:`EngineLike`."""

    mode = "embedded"  # the TUI's header: this process runs the engine (or "daemon")
    source = "event collector"  # what the session restarts when it dies
    # the persister's tick runs in poll; the daemon turns it off to tick after it published
    # a batch, so that no delta waits for the disk
    save_in_poll = True

    def __init__(
        self,
        keep_exited: float = KEEP_EXITED,
        collector_args: list[str] | None = None,
        verbose: bool = False,
        collector_stderr: Path | None = None,
        state: Persister | None = None,
        history: History | None = None,
    ) -> None:
        self.collector = CollectorProcess(collector_args, verbose, collector_stderr)
        self.tracker = Tracker(keep_exited=keep_exited)
        self.counters = Counters()
        self.launched: dict[int, subprocess.Popen[bytes]] = {}
        # runs what starts a process (a launch, the collector): its owner may route it to a
        # thread of normal priority, as a child inherits the nice value of the thread that forks
        self.spawn: Callable[[Callable[[], T]], T] = _call
        # called between the phases of a poll: the UI's gate (tractui.gate), which parks the
        # engine while the UI answers a key
        self.pause: Callable[[], bool] = no_pause
        self._launched_keys: dict[int, Key] = {}  # pid -> the member each launched one is
        self.launches: dict[str, list[LaunchRecord]] = {}  # by group: what was launched into it
        self.state = state  # saves the groups; None: they die with us
        # keeps the ended members on disk (in the state's directory, under its lock): None, not
        self.history = history
        self.restored: Restored | None = None  # what the state held when we started
        self.collector_error: str = ""
        self.restarts = 0
        self._last_upkeep = 0.0
        # launched programs whose end is not in their launch log yet (see log_exits)
        self._awaiting: set[Key] = set()

    @property
    def banner(self) -> str:
        """What the UI should say about the engine: the saved groups' :meth:`notices`."""
        return " · ".join(t for t in self.notices() if t)

    def notices(self) -> list[str]:
        """What a user must know about the saved groups: what was wrong with them at start (a
        corrupt file set aside, and where), a save that failed (the groups are only in
        memory), what was missed while nothing tracked them. Each said once: a file that
        could not be read is both what restore found and why nothing is saved."""
        restored = self.restored
        found = restored.warning if restored is not None else ""
        out = [found] if found else []
        if self.state is not None and self.state.error and self.state.error != found:
            out.append(f"state not saved: {self.state.error}")
        if self.history is not None and self.history.error:
            out.append(self.history.error)
        if restored is not None and (unseen := restored.unseen()):
            out.append(unseen)
        if self.counters.accounting:
            out.append(accounting_notice(self.counters.accounting))
        return out

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        info = self.spawn(self.collector.start)
        self.tracker.own_pids.add(info["pid"])
        # an older collector's ready has no word on it: then it sends no records either
        self.counters.accounting = info.get("accounting", "kernel accounting not supported")
        log.debug(
            "collector %d subscribed: kernel filter %s, receive buffer %d KiB",
            info["pid"],
            "on" if info["filter"] else "off (legacy listen)",
            info["rcvbuf"] // 1024,
        )
        if self.state is not None and self.restored is None:
            # only now that the collector listens: nothing a member forks meanwhile is missed
            try:
                self.state.acquire()
                self.restored = self.state.restore(self)
            except BaseException:
                self.state.release()
                self.collector.stop()
                raise
            if self.history is not None:
                self.history.open(self.tracker)  # under the state's lock, after its restore
            # programs launched before a restart, whose end no log has yet: it may have come
            # while nothing watched (said so), or still be to come
            self._awaiting = {
                (r.pid, r.start) for rs in self.launches.values() for r in rs if not r.outcome
            }
            self.log_exits(restored=True)
        return info

    def stop(self) -> None:
        self.collector.stop()
        self.reap()
        if self.history is not None:
            self.keep_history()
            self.history.close()
        if self.state is not None:
            self.state.close(self)

    def alive(self) -> bool:
        return self.collector.alive()

    def restart_collector(self) -> None:
        """After the collector died: start a new one and rescan what happened meanwhile."""
        old = self.collector.pid
        self.collector.stop()
        if old is not None:
            self.tracker.own_pids.discard(old)
        self.restarts += 1
        self.start()
        self.tracker.rescan()

    def __enter__(self) -> Engine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- events ------------------------------------------------------------------------------

    def poll(self, timeout: float) -> Delta:
        """Wait up to ``timeout`` for batches, apply every one that came, return the changes."""
        events: list[Event] = []
        if self.collector.alive():
            if feed.readable(self.collector.fileno(), timeout):
                events = self._read_batches()
        elif timeout > 0:
            time.sleep(timeout)
        delta = self.tracker.apply(events)
        self.pause()
        if delta.lost:
            log.warning(
                "the kernel dropped %d events: rescanned /proc (%d members ended unseen so far)",
                delta.lost,
                self.tracker.unrecovered,
            )
        now = time.monotonic()
        upkeep = now - self._last_upkeep >= 0.5
        if self._awaiting and (delta.exited or upkeep):
            self.log_exits()  # before prune, which could forget a short-lived program
        if upkeep:
            self._last_upkeep = now
            if self.history is not None:
                self.history.collect(self.tracker)  # what prune forgets is encoded first
                self.pause()
            self.tracker.prune()
            self.reap()
            self.tracker.read_reapers()
            self.pause()
            extra = self.tracker.take_delta()
            _merge(delta, extra)
        if self.save_in_poll:
            self.keep_history()
            self.pause()
            if self.state is not None:
                # cheap unless the groups changed; while batches keep coming (this poll had
                # some), the whole save waits for a pause as the daemon's does, the journal
                # holding every change meanwhile: at 2,000 events/s a save of 20,000 members
                # a second was a tenth of the UI's session thread (bench/ui)
                self.state.tick(self, busy=bool(events))
        return delta

    def log_exits(self, restored: bool = False) -> None:
        """Append to its launch log the end of each launched program that ended, once: the
        line is noted in its launch record (saved with the groups), so a restart, even a
        kill -9, neither loses it nor writes it again (``restored``: just after a restart, a
        line already in the log's tail, written before a kill -9 that lost the note, is not
        written twice)."""
        tracker = self.tracker
        for key in list(self._awaiting):
            proc = tracker.procs.get(key)
            if proc is not None and proc.alive:
                continue
            self._awaiting.discard(key)
            found = self._launch_record(key, proc.group if proc is not None else None)
            if found is None:
                continue  # its group was removed: so was its record
            name, i, record = found
            if proc is None:
                outcome, when = "ended while not tracked (status unknown)", time.time()
            else:
                outcome = outcome_text(proc)
                when = (tracker.wall_of_boot + (proc.ended or 0)) / 1e9
            line = exit_line(record.pid, outcome, when)
            if not (restored and _logged(Path(record.log), record.pid)):
                try:
                    control.append_log(Path(record.log), line)
                except UserError as err:
                    log.warning("%s", err)
            self.launches[name][i] = replace(record, outcome=outcome)
            group = tracker.groups.get(name)
            if group is not None and group.last_launch == key and not group.last_outcome:
                group.last_outcome = outcome  # it ended unseen (the tracker saw no exit)
            tracker.note_group(name)  # its launch records: saved with the group

    def _launch_record(self, key: Key, group: str | None) -> tuple[str, int, LaunchRecord] | None:
        """The launch record of the program ``key`` (in ``group`` if known), with its group and
        its index there."""
        names = [group] if group is not None else list(self.launches)
        for name in names:
            for i, record in enumerate(self.launches.get(name, ())):
                if (record.pid, record.start) == key:
                    return name, i, record
        return None

    def history_of(self, name: str, newest: int | None = None) -> GroupHistory:
        """The ended members of group ``name`` kept on disk, as ``list --all`` gives them
        (:func:`tractui.model.history.entry_wire`: oldest first, without those still in
        memory), what the cap cut of them, and why there are none if history is off: for the
        daemon's ``list``, and for a UI or session to show. Reads the files: not for each frame.
        ``newest``: only the ``newest`` that ended last (``older`` counts the rest's lines)."""
        group = self.tracker.group(name)
        history = self.history
        if history is None:
            return GroupHistory(error="history is not kept (tractui daemon --history-cap 0)")
        if not history.on:
            return GroupHistory(error=history.error)
        found = history.read(group.name, group.created, self.tracker.procs, newest)
        off = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        found.entries, damaged = wire_lines(found.entries, group.name, history.boot, off)
        found.damaged += damaged
        return found

    def has_launches(self, group: str) -> bool:
        return bool(self.launches.get(group))

    def keep_history(self) -> None:
        """Write the members that ended (or changed since) to the history journal, if kept:
        cheap when none did. The daemon calls it after it published the batch."""
        history = self.history
        if history is not None:
            history.collect(self.tracker)
            history.flush()

    def _read_batches(self) -> list[Event]:
        assert self.collector.reader is not None
        events: list[Event] = []
        for message in self.collector.reader.read(4 << 20):
            if message[0] == "batch":
                batch = message[1]
                events.extend(batch)
                # the proc connector's events only: the exit records (decoded, or the kernel's
                # bytes as the collector passes them on) have acct_records
                types = list(map(type, batch))
                self._count(message[2], len(batch) - types.count(TaskRecord) - types.count(bytes))
            elif message[0] == "error":
                self.collector_error = message[2]
                log.error("collector: %s", message[2])
        return events

    def _count(self, stats: dict[str, int], n: int) -> None:
        c = self.counters
        c.datagrams = stats["datagrams"]
        c.lost = stats["lost"]
        c.malformed = stats["malformed"]
        c.collector_cpu_ns = stats["cpu_ns"]
        c.collector_maxrss_kb = stats["maxrss_kb"]
        c.acct_records = stats.get("acct_records", 0)
        c.acct_lost = stats.get("acct_lost", 0)
        c.events += n
        c.batches += 1

    def drain(self, quiet: float = 0.15, limit: float = 5.0) -> Delta:
        """Apply events until no member changed for ``quiet`` seconds (or ``limit`` passed).

        Quiet means quiet for our groups: the rest of the system may fork all it likes."""
        total = Delta()
        deadline = time.monotonic() + limit
        last = time.monotonic()
        while time.monotonic() < deadline:
            delta = self.poll(0.05)
            _merge(total, delta)
            if delta.members_changed:
                last = time.monotonic()
            elif time.monotonic() - last >= quiet:
                break
        return total

    def reap(self) -> None:
        """Collect the exit of launched programs (their statuses come from the kernel events)
        with wait4(): its rusage is the program's whole CPU, its own and what it reaped, which
        gives the CPU its group's records lack (:mod:`tractui.model.reaped`)."""
        for pid, popen in list(self.launched.items()):
            usage = None  # no rusage: reaped already, or by someone else (Popen.wait)
            if popen.returncode is None:
                try:
                    got, status, usage = os.wait4(pid, os.WNOHANG)
                except ChildProcessError:
                    popen.poll()
                else:
                    if got == 0:
                        continue  # still running
                    popen.returncode = os.waitstatus_to_exitcode(status)
            del self.launched[pid]
            key = self._launched_keys.pop(pid, None)
            if key is not None and usage is not None:
                self.tracker.unrecorded.waited(
                    key,
                    self.tracker.now(),
                    round(usage.ru_utime * 1e6),
                    round(usage.ru_stime * 1e6),
                )

    # ---- commands ----------------------------------------------------------------------------

    def launch(self, group: str, spec: LaunchSpec) -> Proc:
        """Start a program as a new root of ``group`` (created if new; not if the launch fails)."""
        tracker = self.tracker
        existed = group in tracker.groups
        name = tracker.create_group(group, exist_ok=True).name
        log_path = log_path_for(name)
        try:
            popen = self.spawn(lambda: control.launch(spec, log_path))
        except Exception:  # whatever failed (a NUL the OS refused, say), no group is left over
            if not existed:
                # the delta says it came and went; taking it would drop what other commands
                # changed since the last poll, which the daemon's subscribers must hear
                tracker.remove_group(name)
            raise
        self.launched[popen.pid] = popen
        log.debug("launched %d into %r: %s", popen.pid, name, spec.argv)
        proc = self.adopt_child(name, popen.pid)
        self._launched_keys[popen.pid] = proc.key
        self.tracker.expect_exec(proc, tuple(spec.argv))
        records = self.launches.setdefault(name, [])
        records.append(LaunchRecord.of(spec.argv, spec.cwd, spec.as_root, proc, log_path))
        if len(records) > LAUNCHES_KEPT:  # the oldest whose end is logged go
            done = [r for r in records[:-LAUNCHES_KEPT] if r.outcome]
            records[:] = [r for r in records if r not in done]
        self._awaiting.add(proc.key)
        # the last launch: its outcome in the header; the one before, failed, is pruned now
        last = tracker.groups[name]
        last.last_launch, last.last_outcome, last.last_failed = proc.key, "", False
        tracker.note_group(name)  # its launch records: saved with the group
        return proc

    def adopt_child(self, group: str, pid: int) -> Proc:
        """Make a just-started child of ours (not yet reaped) a root of ``group``.

        It started after the last poll (commands run between polls), so everything it forked
        is in the batches still to come: no /proc scan, which costs tens of ms on a busy box and
        would see forks before their events, out of genealogical order."""
        return self.tracker.attach(group, pid, allow_zombie=True, descendants=False)[0]

    def attach(self, group: str, pids: list[int], create: bool = True) -> list[Proc]:
        """Attach running processes (and their descendants); all or none; the roots.

        A PID given twice, or a descendant of one given before it, is attached once. Into a
        group that does not exist only with ``create`` (else a UserError naming those that
        do)."""
        planned = self.tracker.plan_attach(pids)
        added = self.attach_planned(attach_group(self.tracker, group, create), planned)
        return [proc for proc in added if proc.parent is None]

    def attach_planned(self, group: str, planned: list[Planned]) -> list[Proc]:
        """Add what :meth:`plan_attach` planned, now, to ``group`` (checked by the caller:
        :func:`attach_group`); every process added, roots first in their subtrees."""
        added = self.tracker.attach_planned(group, planned)
        log.debug("attached %d processes to %r", len(added), group)
        return added

    def plan_attach(self, pids: list[int]) -> list[Planned]:
        """Exactly what :meth:`attach` of ``pids`` would add now (UserError if it would fail)."""
        return self.tracker.plan_attach(pids)

    def rename_group(self, old: str, new: str) -> Group:
        """Rename a group; its launch records, and its log file if the new name has none yet,
        follow (running programs keep writing to the moved file)."""
        group = self.tracker.rename_group(old, new)
        if group.name == old:
            return group
        if self.history is not None:
            self.history.rename(old, group.name)
        records = self.launches.pop(old, None)
        old_log, new_log = log_path_for(old), log_path_for(group.name)
        try:
            os.link(old_log, new_log)  # unlike a rename, never replaces an existing log
            os.unlink(old_log)
        except OSError:
            new_log = old_log  # no log yet, or the new name has one: each keeps its own
        if records is not None:
            self.launches[group.name] = [
                replace(r, log=str(new_log)) if r.log == str(old_log) else r for r in records
            ]
        return group

    def remove_group(self, name: str) -> list[Key]:
        """Stop tracking a group (its processes are left alone; so is its log)."""
        keys = self.tracker.remove_group(name)
        self.launches.pop(name, None)
        if self.history is not None:
            self.history.forget(name)
        return keys

    def targets(self, group: str, pid: int | None = None, subtree: bool = False) -> list[Proc]:
        """Live processes a signal would reach: a group, one member, or a member's subtree."""
        return targets(self.tracker, group, pid, subtree)

    def signal(self, procs: list[Proc], sig: int) -> list[SignalResult]:
        """Signal each process; each one reached remembers it (saved with it), so that its end
        is counted as ended by you, not failed (see Proc.by_you)."""
        tracker = self.tracker
        own = tracker.own_pids
        results = [control.send_signal(p.pid, p.start, sig, own) for p in procs]
        now = tracker.now()
        for proc, result in zip(procs, results, strict=True):
            if result.ok and proc.key in tracker.procs:
                proc.signalled, proc.signalled_at = int(sig), now
                tracker.changes.note_changed(proc.key)
        log.debug("signal %d: %s", sig, ", ".join(r.describe() for r in results))
        return results

    def log_path(self, group: str) -> Path:
        """Where the group's launched programs write their output."""
        return log_path_for(group)

    def read_log(self, group: str, offset: int | None = None, lines: int | None = None) -> LogChunk:
        """Part of the group's launch log (see :func:`control.read_log`): how a client of the
        daemon, which may not open the file itself, reads its programs' output."""
        return control.read_log(log_path_for(self.tracker.group(group).name), offset, lines)


def attach_group(tracker: Tracker, group: str, create: bool) -> str:
    """The group an attach goes to, its name checked; one that does not exist only with
    ``create``: a typo must not make a new group (the error names the groups there are)."""
    name = validate_group_name(group)
    if name not in tracker.groups and not create:
        raise UserError(
            f"no group named {name!r} {tracker.known_groups()}: attach to one of them, "
            "or create it (tractui attach --create)"
        )
    return name


def targets(tracker: Tracker, group: str, pid: int | None, subtree: bool) -> list[Proc]:
    """The live members of ``tracker`` a signal would reach: a group (``pid`` None), one
    member, or a member's subtree."""
    found = tracker.group(group)
    if pid is None:
        return tracker.members(group, alive_only=True)
    proc = tracker.live.get(pid)
    if proc is None or proc.group != group:
        # an exited member (the latest with that PID): its live descendants, in subtree scope
        ended = [tracker.procs[k] for k in found.members if k[0] == pid and k in tracker.procs]
        if not ended:
            raise UserError(f"PID {pid} is not a member of group {group!r}")
        proc = max(ended, key=lambda p: p.start)
        if not subtree:
            raise UserError(
                f"PID {pid} has exited: nothing to signal (its subtree scope reaches "
                "its live descendants)"
            )
        below = [p for p in tracker.subtree(proc.key) if p.alive]
        if not below:
            raise UserError(f"PID {pid} has exited, and no descendant of it is alive")
        return below
    if not subtree:
        return [proc]
    return [p for p in tracker.subtree(proc.key) if p.alive]


def exit_line(pid: int, outcome: str, when: float) -> str:
    """The line a launch log gets when the program launched there ends."""
    clock = time.strftime("%H:%M:%S", time.localtime(when))
    return f"──── {clock} PID {pid} exited: {outcome} ────\n"


def _logged(path: Path, pid: int) -> bool:
    """The log's tail already says that ``pid`` exited (written before a kill -9)."""
    try:
        tail = control.read_log(path, lines=200).text
    except UserError:
        return False
    return f" PID {pid} exited: " in tail


def _merge(into: Delta, other: Delta) -> None:
    into.added.extend(other.added)
    into.changed |= other.changed
    into.exited.extend(other.exited)
    into.removed.extend(other.removed)
    into.groups |= other.groups
    into.events += other.events
    into.lost += other.lost
    into.log.extend(other.log)
    into.reset |= other.reset


def accounting_notice(reason: str) -> str:
    """The one line a user sees while the kernel's accounting is off: what is missing, and the
    reason (which says what to do)."""
    return f"ended processes' CPU and memory: unavailable ({reason})"


def log_path_for(group: str) -> Path:
    return paths.log_dir() / f"{group}.log"
