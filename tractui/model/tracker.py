"""The tracker: applies proc-connector events to a member store (:mod:`tractui.model.store`).

Pure Python and no UI. A fork of a member adds its child to the member's group, an exec
records what it runs, an exit ends it; the guards here tell a late event of a PID's previous
owner from one of the member that has the PID now. Every :meth:`Tracker.apply` returns a
:class:`Delta` for consumers. Reconciliation with /proc (attach, rescan after lost events,
restore at start, zombies) is :mod:`tractui.model.adopt`'s; change tracking is
:mod:`tractui.model.changes`'s.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence

from tractui.events import (
    Comm,
    Event,
    Exec,
    Exit,
    ExitStatus,
    Fork,
    Loss,
    ProcInfo,
    read_superseded,
)
from tractui.kernel import procfs
from tractui.kernel.taskstats import (
    DecodeStats,
    TaskRecord,
    decode_raw,
    exit_key,
    exit_record,
)
from tractui.model.account import Account
from tractui.model.adopt import Adopter, Planned, ProcFS, ProcReader, Zombies
from tractui.model.changes import Delta, Key, MemberEvent
from tractui.model.reaped import Unrecorded
from tractui.model.store import (
    BY_YOU_WINDOW_NS,
    SUPERSEDED_EXEC,
    Group,
    Proc,
    Store,
    outcome_text,
)

# An exit followed this soon by an exec of the same pid is execve from a non-leader thread.
EXEC_AFTER_EXIT_NS = 1_000_000_000
# A thread's exit record tells its start only in whole seconds (ac_btime): it belongs to a
# member that ran in the same seconds, within this slack (the clock's truncation and steps).
BTIME_SLACK_S = 2
# How long after its exit record a task's exit event may come: the kernel sends the record, then
# frees the memory, then sends the event; a task preempted in between (a loaded machine) took
# up to ~40 ms in a loaded make -j2 here. A second, with the start second checked too.
EXIT_EVENT_LAG_NS = 1_000_000_000
# Likewise at the other end: the kernel sets a task's start time, then sends its fork event; a
# parent preempted in between (at the unlock of the task list, under load) makes the event's
# time, a member's start, late by that much, and so the start its exit record gives early.
# Five times the exit's 40 ms seen; less than the lifetimes that tell a pid's previous owner
# apart (its start second alone is 2 s wide)
FORK_EVENT_LAG_NS = 200_000_000
# How long a record of no member is kept for its fork event to come (a collector that fell
# behind reads the records of processes whose fork events are still in the queue): between
# this and half of it. Every exit on the host sends one: ~25k records a second in a storm.
ORPHANS_KEPT_NS = 1_000_000_000
# At most this many records of no member kept per generation (two generations): a host whose
# tasks end faster than that (a storm of non-members) drops the rest at once, ~600 bytes each.
# A member's record dropped so (its fork event still unread) leaves it without an account.
ORPHANS_MAX = 16384
# thread names kept for the forks of renamed threads (a thread's Comm event to its Exit)
THREAD_COMMS_MAX = 4096
# how long an exited member stays (s), unless told: with thousands of short-lived processes,
# ten seconds of them (the daemon keeps them longer: see its --keep-exited)
# a member that dies of the signal sent from tractui to one of its ancestors (a wrapper that
# forwards it) counts as ended by you: how far up it is looked for, and how long before the
# signal's stamp (taken just after the kill) its death may be
FORWARD_DEPTH = 16
FORWARD_SLACK_NS = 1_000_000_000
KEEP_EXITED = 10.0


class Tracker(Store):
    """A member store fed kernel events by :meth:`apply`, reconciled with /proc through
    ``reader`` (the real /proc unless told)."""

    def __init__(
        self,
        keep_exited: float = KEEP_EXITED,
        own_pids: Iterable[int] = (),
        clock_offset: Callable[[], int] = procfs.boot_offset_ns,
        reader: ProcReader | None = None,
    ) -> None:
        super().__init__()
        self.keep_exited_ns = int(min(keep_exited, 1e9) * 1e9)  # inf: keep for ever
        self.own_pids: set[int] = {os.getpid(), *own_pids}
        self.clock_offset = clock_offset  # event time (monotonic) -> /proc time (boot clock)
        self.reader: ProcReader = ProcFS() if reader is None else reader
        self.adopter = Adopter(self, self.reader)
        self.zombies = Zombies(self, self.reader)
        self.unrecorded = Unrecorded(self)  # the CPU the records lack, from the reapers
        self.offset = clock_offset()
        self.events = 0
        self.lost = 0
        self.unrecovered = 0  # members that ended while events were lost
        self._launched_argv: dict[Key, tuple[str, ...]] = {}  # see expect_exec
        # a live member's own exit record (pid -> record), kept until its exit event checks
        # that the record's start is the member's: see _record
        self._early_records: dict[int, TaskRecord] = {}
        # records that came before their process's fork event (it lived and died between two
        # reads of the sockets, or the collector fell behind): kept ORPHANS_KEPT_NS at least,
        # for the exit event to take
        # (as the collector sent them: undecoded datagrams, see _raw_record)
        self._orphans: dict[int, TaskRecord | bytes] = {}  # pid -> its own record
        self._orphans_before: dict[int, TaskRecord | bytes] = {}
        self._orphan_threads: dict[int, list[TaskRecord | bytes]] = {}  # tgid -> its threads'
        self._orphan_threads_before: dict[int, list[TaskRecord | bytes]] = {}
        self.acct_stats = DecodeStats()  # of the datagrams decoded here
        self._orphans_since = 0  # when the newer generation started (boot-clock ns)
        self._orphans_kept = 0  # records kept in the newer generation
        self.orphans_dropped = 0  # records of no member dropped past ORPHANS_MAX
        self.wall_of_boot = time.time_ns() - self.now()  # boot-clock ns -> epoch ns
        # a live member's last exec: when /proc was read for it (0: not read) and the argv we
        # launched it with, if so (see _exec)
        self._last_exec: dict[Key, tuple[int, tuple[str, ...] | None]] = {}
        self.thread_comms: dict[int, str] = {}  # tid -> name, of member threads renamed
        self.renamed_threads: set[int] = set()  # live members with a thread renamed

    # ---- reconciliation with /proc (tractui.model.adopt) -------------------------------------

    def check_attachable(self, pid: int, allow_zombie: bool = False) -> ProcInfo:
        """The process ``pid`` as /proc shows it, or a UserError saying why it can't be tracked."""
        return self.adopter.check_attachable(pid, allow_zombie)

    def attach(
        self, group_name: str, pid: int, allow_zombie: bool = False, descendants: bool = True
    ) -> list[Proc]:
        """Adopt a running process and its current descendants into a group (created if new).

        Returns the adopted processes, ``pid`` first. ``allow_zombie`` is for our own children,
        which we have not reaped yet: their exit event is still on its way. Without
        ``descendants`` the /proc scan for them is skipped: right for a process started since
        the last :meth:`apply`, whose every fork is still in the event stream.
        """
        return self.adopter.attach(group_name, pid, allow_zombie, descendants)

    def plan_attach(self, pids: Sequence[int], exclude: Iterable[int] = ()) -> list[Planned]:
        """Exactly what attaching ``pids`` would add now (:meth:`Adopter.plan`): what an
        attach preview shows, and what :meth:`attach_planned` then adds."""
        return self.adopter.plan(pids, exclude=exclude)

    def attach_planned(self, group_name: str, planned: Sequence[Planned]) -> list[Proc]:
        """Add a :meth:`plan_attach` to a group (created if new); the processes added."""
        return self.adopter.attach_planned(group_name, planned)

    def rescan(self) -> None:
        """After lost events: drop members that are gone, adopt what /proc says they forked."""
        self.adopter.rescan()

    def restore(
        self, procs: Iterable[Proc], same_boot: bool = True
    ) -> tuple[list[Proc], list[Proc], list[Proc]]:
        """Put back saved members of existing groups (parents first), reconciled with /proc.

        A member saved alive is kept if a process with its pid and start time runs now (never
        after a reboot: ``same_boot`` False); else it ended unseen and shows as "gone". Then
        what the kept ones forked meanwhile is adopted. Group counters and roots are the
        caller's. Returns (kept, gone, adopted).
        """
        kept, gone, adopted = self.adopter.restore(procs, same_boot)
        for proc in gone:  # reaped meanwhile, by its parent if that is kept: as _end does
            if proc.ended is not None:
                self.unrecorded.ended(proc, self.live.get(proc.ppid), proc.ended)
        for proc in kept:  # a reaper's reaped sum came back with it: read it again
            if proc.fix is not None:
                self.unrecorded.reapers[proc.key] = None
        return kept, gone, adopted

    # ---- members joining -----------------------------------------------------------------------

    def add_root(self, group_name: str, info: ProcInfo, ts: int | None = None) -> Proc:
        """Make the process ``info`` describes a root of a group (created if new).

        ``ts`` (ns since boot) is when it joined, for the event log: now unless given."""
        group = self.create_group(group_name, exist_ok=True)
        proc = self.adopt(group, info, parent=None)
        group.roots.append(proc.key)
        self.log_event(self.now() if ts is None else ts, "root", proc, proc.command())
        return proc

    def adopt(self, group: Group, info: ProcInfo, parent: Proc | None) -> Proc:
        """A running process, as /proc showed it, joins ``group`` under ``parent``."""
        proc = Proc(
            pid=info.pid,
            start=info.start,
            group=group.name,
            parent=parent.key if parent is not None else None,
            ppid=info.ppid,
        )
        proc._absorb(info)  # a zombie has no cmdline: it shows as [comm], as htop shows it
        self.unrecorded.joined(proc, info.cut_ticks)
        self.insert(proc, parent)
        return proc

    # ---- events ------------------------------------------------------------------------------

    def apply(self, events: Iterable[Event | TaskRecord | bytes]) -> Delta:
        """Apply a batch of events in kernel order, and the kernel's exit records (taskstats)
        among them, decoded or as the collector sends them (each exit's datagram, as bytes);
        return what changed since the last call."""
        self.offset = self.clock_offset()
        now = self.now()
        self.wall_of_boot = time.time_ns() - now
        if now - self._orphans_since >= ORPHANS_KEPT_NS // 2:
            self._orphans_since = now
            self._orphans_kept = 0
            self._orphans_before, self._orphans = self._orphans, {}
            self._orphan_threads_before, self._orphan_threads = self._orphan_threads, {}
        lost_before = self.lost
        n = 0
        for event in events:
            n += 1
            kind = type(event)
            if kind is Fork:
                self._fork(event)  # type: ignore[arg-type]
            elif kind is Exit:
                self._exit(event)  # type: ignore[arg-type]
            elif kind is Exec:
                self._exec(event)  # type: ignore[arg-type]
            elif kind is bytes:
                self._raw_record(event)  # type: ignore[arg-type]
            elif kind is TaskRecord:
                self._record(event)  # type: ignore[arg-type]
            elif kind is Comm:
                self._comm(event)  # type: ignore[arg-type]
            elif kind is Loss:
                self.lost += event.dropped  # type: ignore[union-attr]
        self.events += n
        if self.lost != lost_before:
            self.rescan()
        if self.unrecorded.pending:
            self.unrecorded.settle(now)
        return self.take_delta(events=n, lost=self.lost - lost_before)

    def _fork(self, ev: Fork) -> None:
        if ev.child_pid != ev.child_tgid:  # a thread: folded into its process
            proc = self.live.get(ev.child_tgid)
            if proc is not None:
                proc.threads += 1
                if proc.threads > proc.peak_threads:
                    proc.peak_threads = proc.threads
                self.changes.note_volatile(proc.key)
            return
        start = ev.ts + self.offset
        old = self.live.get(ev.child_pid)
        if old is not None:
            if procfs.same_start(old.start, start):
                return  # already adopted from /proc
            if start < old.start:
                # a late fork of the pid's previous owner (from the backlog of a loss, after
                # the rescan adopted its new owner): that child is long gone
                return
            stat = self.reader.stat_if_present(old.pid)
            if stat is not None and procfs.same_start(stat.start, old.start):
                return  # /proc shows the member alive: this fork is not of its pid's new owner
            self.gone(old)  # its exit was lost: the pid was reused
        parent = self.live.get(ev.parent_tgid)
        if parent is None:
            return
        if start < self.adopter.rescanned_at:
            # from the backlog of a loss, older than the rescan, which could not reach it if it
            # was reparented: its exit may be among the events lost, so it joins only if /proc
            # shows it still running (else it stayed "alive" for good, a PID for xargs to hit)
            stat = self.reader.stat_if_present(ev.child_pid)
            if stat is None or stat.ended or not procfs.same_start(stat.start, start):
                return
        group = self.groups[parent.group]
        comm = parent.comm
        if ev.parent_pid != ev.parent_tgid and ev.parent_tgid in self.renamed_threads:
            comm = self._thread_name(ev.parent_pid, ev.child_pid, start, comm)
        proc = Proc(
            pid=ev.child_pid,
            start=start,
            group=group.name,
            parent=parent.key,
            ppid=ev.parent_tgid,
            comm=comm,
            argv=parent.argv,
            exe=parent.exe,
            uid=parent.uid,
        )
        self.insert(proc, parent)
        group.forks += 1
        self.log_event(start, "fork", proc, str(parent.pid))

    def _exec(self, ev: Exec) -> None:
        proc = self.live.get(ev.pid)
        if proc is None:
            proc = self._revive(ev)
            if proc is None:
                return
        last = self._last_exec.get(proc.key)
        if last is not None and read_superseded(last[0], ev.ts):
            self._superseded(proc, last[1])
        info = ev.info
        read_ns = 0
        if info is not None and procfs.same_start(info.start, proc.start):
            proc._absorb(info)
            read_ns = info.read_ns
        else:  # gone (or its pid reused) before /proc was read: it runs its forker's no more
            proc.argv, proc.comm, proc.exe = (), "", ""
        launched = None
        if self._launched_argv:
            launched = self._launched_argv.pop(proc.key, None)
            if launched is not None and not proc.argv:
                proc.argv = launched  # we started it: what it exec'd is no guess
        last_exec = self._last_exec
        last_exec[proc.key] = (read_ns, launched)
        if len(last_exec) > 2 * len(self.live) + 64:  # members removed alive (a group removed)
            self._last_exec = {k: v for k, v in last_exec.items() if k in self.procs}
        proc.execs.append(proc.argv)  # () : gone before we looked
        proc.exec_times.append(ev.ts + self.offset)
        self.groups[proc.group].execs += 1
        self.changes.note_changed(proc.key)
        self.changes.note_group(proc.group)  # its counters changed
        detail = proc.command()
        self.log_event(ev.ts + self.offset, "exec", proc, detail)

    def _superseded(self, proc: Proc, launched: tuple[str, ...] | None) -> None:
        """``proc`` exec's again, stamped before the /proc read for its last exec ended (or
        just after: see tractui.events.EXEC_SETUP_NS): that read may show this later program,
        so what the last one ran is unknown (but for the argv we launched it with), never the
        later one's."""
        argv = launched or ()
        if proc.execs:
            proc.execs[-1] = argv
        proc.argv, proc.comm, proc.exe = argv, "", ""
        if not proc.exec_times:
            return
        # its exec in the event log still to be sent says so too (one already sent, from an
        # earlier batch, stays as it was)
        when = proc.exec_times[-1]
        log = self.changes.delta.log
        for i in range(len(log) - 1, -1, -1):
            entry = log[i]
            if entry.key == proc.key and entry.kind == "exec" and entry.ts == when:
                detail = " ".join(argv) if argv else SUPERSEDED_EXEC
                log[i] = entry._replace(detail=detail)
                break
            if entry.ts < when:
                break

    def expect_exec(self, proc: Proc, argv: tuple[str, ...]) -> None:
        """``proc`` is a program we started with ``argv``, its exec event still to come: if
        /proc cannot show its command line by then (it ended within a millisecond, as
        ``sh -c 'exit 7'`` does under load), the exec is known to have run ``argv``."""
        if not proc.argv:
            proc.argv = argv
        self._launched_argv[proc.key] = argv

    def _revive(self, ev: Exec) -> Proc | None:
        """execve from a non-leader thread: the leader "exited" just before; it lives on."""
        proc = self.recent_exit.get(ev.pid)
        if proc is None or proc.ended is None or proc.lost_exit:
            return None
        if not 0 <= ev.ts + self.offset - proc.ended <= EXEC_AFTER_EXIT_NS:
            return None
        group = self.groups[proc.group]
        assert proc.exit is not None
        group.exits -= 1
        if proc.by_you():
            group.ended_by_you -= 1
        elif proc.exit.failed:
            group.failed -= 1
            group.roots_failed -= proc.parent is None
            group.signaled -= proc.exit.signal is not None
        if proc.account is not None:  # counted in as ended: it lives on (its peak stays)
            group.ended.unmerge(proc.account)
        self.unrecorded.unended(proc)
        proc.revived_at = proc.ended  # its leader's record may still come: see _record
        proc.own_record = False  # the program it runs now sends one more at its end
        proc.exit = None
        proc.ended = None
        self.revive(proc)
        return proc

    def _exit(self, ev: Exit) -> None:
        if ev.pid != ev.tgid:
            if self.thread_comms:
                self.thread_comms.pop(ev.pid, None)
            proc = self.live.get(ev.tgid)
            if proc is not None and proc.threads > 1:
                proc.threads -= 1
                self.changes.note_volatile(proc.key)
            return
        proc = self.live.get(ev.pid)
        if proc is None:
            return
        ended = ev.ts + self.offset
        if ended + procfs.START_TOLERANCE_NS < proc.start:
            return  # a late exit of the pid's previous owner
        status = ev.decoded()
        proc.ppid = ev.parent_tgid  # its parent now: its exit record names the same
        self._end(proc, ended, status)

    def _forwarded_signal(self, proc: Proc, ended: int, sig: int) -> None:
        """``proc`` died of ``sig`` within the by-you window of that very signal sent from
        tractui to one of its ancestors (``timeout 300 cmd``: timeout passes its SIGTERM on to
        cmd): it remembers that signal as its own (saved with it), so that it counts as ended by
        you (Proc.by_you), not failed. The signal is stamped after it was sent: a child that
        died of it at once may end up to FORWARD_SLACK_NS before the stamp."""
        procs = self.procs
        key = proc.parent
        for _ in range(FORWARD_DEPTH):
            ancestor = procs.get(key) if key is not None else None
            if ancestor is None:
                return
            if ancestor.signalled == sig and (
                -FORWARD_SLACK_NS <= ended - ancestor.signalled_at <= BY_YOU_WINDOW_NS
            ):
                proc.signalled, proc.signalled_at = sig, ancestor.signalled_at
                return
            key = ancestor.parent

    def _end(self, proc: Proc, ended: int, status: ExitStatus | None) -> None:
        if self._launched_argv:  # its exec event was lost
            self._launched_argv.pop(proc.key, None)
        self._last_exec.pop(proc.key, None)
        self.renamed_threads.discard(proc.pid)
        proc.ended = ended
        proc.exit = status
        proc.threads = 0
        if status is not None and status.signal and not proc.signalled and proc.parent:
            self._forwarded_signal(proc, ended, status.signal)
        group = self.groups[proc.group]
        group.exits += 1
        if status is None:
            proc.lost_exit = True
        elif proc.by_you():
            group.ended_by_you += 1
        elif status.failed:
            group.failed += 1
            group.signaled += status.signal is not None
            group.roots_failed += proc.parent is None
        if group.last_launch == proc.key:
            group.last_outcome = outcome_text(proc)
            group.last_failed = proc.counted_failed()
            self.changes.note_group(group.name)
        if self._early_records or self._orphans or self._orphans_before:
            pid = proc.pid
            record = self._early_records.pop(pid, None)
            if record is None:
                kept = self._orphans.pop(pid, None) or self._orphans_before.pop(pid, None)
                record = self._decoded(kept) if isinstance(kept, bytes) else kept
            # its start (exit time less its elapsed time) must be the member's: else it was a
            # previous owner's of the pid (the exit of a member gone unseen has no time to check)
            if record is not None and self._own_record(proc, record, ended, status):
                self._add_leader(proc, record)
        if self._orphan_threads or self._orphan_threads_before:
            for records in (
                self._orphan_threads.pop(proc.pid, ()),
                self._orphan_threads_before.pop(proc.pid, ()),
            ):
                for kept in records:
                    record = self._decoded(kept) if isinstance(kept, bytes) else kept
                    # (into its group's total just below)
                    if record is not None and self._thread_of(proc, record):
                        if proc.account is None:
                            proc.account = Account(processes=1)
                        proc.account.add_record(record)
        if proc.account is not None:
            group.ended.merge(proc.account)
        # its reaper: the member its exit event named its parent; for an unseen end, its last
        # known parent if that is a live member (it reaped it: else its cutime would count
        # what this one reaped, records the group has already, a second time; if another
        # reaped it, its reaper's correction is only lower)
        reaper = self.live.get(proc.ppid)
        self.unrecorded.ended(proc, reaper, ended)
        self.end(proc)
        self.zombies.exited(proc)
        self.log_event(ended, "exit", proc, proc.status_text())
        self._reparented(proc)

    # ---- exit records (taskstats) -------------------------------------------------------------

    def _raw_record(self, raw: bytes) -> None:
        """An exit datagram as the collector passed it on: decoded only if its process is a
        member's (live or just ended), else kept as it is for a while (see _record). Every
        exit on the host sends one: most are no member's, and decoding each cost the
        collector ~2 µs (bench/storm)."""
        key = exit_key(raw)
        if key is not None:
            tgid = key[1]
            if tgid not in self.live and tgid not in self.recent_exit:
                self._keep_orphan(key[0], tgid, raw)
                return
            rec = exit_record(raw)  # the usual version, read fast (an aggregate after it: none)
            if rec is not None:
                self._record(rec)
                return
        records: list[TaskRecord] = []
        decode_raw(raw, records, self.acct_stats)
        for rec in records:
            self._record(rec)

    def _decoded(self, raw: bytes) -> TaskRecord | None:
        """The task's own record in a datagram kept undecoded (not its group's aggregate)."""
        rec = exit_record(raw)  # the usual version, read fast
        if rec is not None:
            return rec
        records: list[TaskRecord] = []
        decode_raw(raw, records, self.acct_stats)
        return next((rec for rec in records if not rec.aggregate), None)

    def _record(self, rec: TaskRecord) -> None:
        """A task's exit record: into its member's account, else dropped at once (every exit
        on the host sends one). A thread's record folds into its process; the thread group's
        aggregate holds no CPU or memory in the exit path and is skipped.

        The record may come before or after the exit event (two sockets). Before: the member
        is live, and its own record waits for the exit event to check its start; a thread's is
        checked by its start second. After: the member has just ended with that pid, and its
        start must match (its own record: to the tick; a thread's: to the second). A process
        that lived and died between two reads may even have its record read before its fork
        event: a record of no member is kept a while (ORPHANS_KEPT_NS) for an exit event."""
        if rec.aggregate:
            return
        tgid = rec.tgid or rec.pid  # ac_tgid is 0 before version 13: a leader's, or unknown
        proc = self.live.get(tgid)
        if proc is not None:
            if rec.pid != tgid:
                if self._thread_of(proc, rec):
                    self._credit(proc, rec)
            elif proc.revived_at is not None and self._lifetime_fits(proc, rec, proc.revived_at):
                # its leader's, which ended when another thread exec'd (see _revive), read
                # after the exec: that life's CPU, in the account the process carries on
                self._credit(proc, rec)
            else:
                self._early_records[tgid] = rec
            return
        proc = self.recent_exit.get(tgid)
        if proc is not None and proc.ended is not None:
            if rec.pid == tgid:
                if not proc.lost_exit and self._own_record(proc, rec, proc.ended, proc.exit):
                    if not proc.comm and rec.comm:
                        proc.comm = rec.comm  # its exec ended unread: the kernel's name
                    proc.own_record = True
                    self._credit(proc, rec)
                    return
            elif self._thread_of(proc, rec):
                self._credit(proc, rec)
                return
        # not a member's, or a member's whose fork event is still to come
        self._keep_orphan(rec.pid, tgid, rec)

    def _keep_orphan(self, task: int, tgid: int, record: TaskRecord | bytes) -> None:
        """Keep a record of no member a while, in case its fork event is still to come (at
        most ORPHANS_MAX a generation)."""
        if self._orphans_kept >= ORPHANS_MAX:
            self.orphans_dropped += 1
            return
        self._orphans_kept += 1
        if task == tgid:
            self._orphans[tgid] = record
        else:
            self._orphan_threads.setdefault(tgid, []).append(record)

    def _own_record(
        self, proc: Proc, rec: TaskRecord, ended: int, status: ExitStatus | None
    ) -> bool:
        """``rec`` is the ended ``proc``'s own: the first of its life, the same parent and
        the same exit status as its exit event gave (``status``; None: it ended unseen, and
        then only its parent and start second are checked), and, for a seen exit, a lifetime
        that fits (:meth:`_lifetime_fits`). A previous owner of the pid that ended within the
        second before it started, and lived as long, must also have had the same parent and
        status to pass for it."""
        if proc.own_record or rec.ppid != proc.ppid:
            return False
        if status is None:
            return self._start_second_fits(proc, rec)
        if ExitStatus.from_wait_status(rec.status) != status:
            return False
        return self._lifetime_fits(proc, rec, ended)

    def _lifetime_fits(self, proc: Proc, rec: TaskRecord, ended: int) -> bool:
        """The task ``rec`` tells of started when ``proc`` did, given that it ended at
        ``ended``. The record's elapsed time is taken in the exit path before the exit event's
        time, a few µs before on an idle machine, tens of ms when the exiting task is
        preempted in between: so the start it gives (exit event less elapsed time) may be late
        by that much; and early by as much when its parent was preempted before it sent the
        fork event (whose time is the member's start), or by a /proc start's tick. Its start
        second (ac_btime) must be the member's too."""
        late = ended - rec.etime_us * 1000 - proc.start
        if not -max(FORK_EVENT_LAG_NS, procfs.START_TOLERANCE_NS) <= late <= EXIT_EVENT_LAG_NS:
            return False
        return self._start_second_fits(proc, rec)

    def _start_second_fits(self, proc: Proc, rec: TaskRecord) -> bool:
        second = (proc.start + self.wall_of_boot) // 1_000_000_000
        return second - BTIME_SLACK_S <= rec.btime <= second + BTIME_SLACK_S

    def _thread_of(self, proc: Proc, rec: TaskRecord) -> bool:
        """The thread ``rec`` started while ``proc`` ran (to the second)."""
        wall = self.wall_of_boot
        first = (proc.start + wall) // 1_000_000_000 - BTIME_SLACK_S
        if proc.ended is None:
            return rec.btime >= first
        return first <= rec.btime <= (proc.ended + wall) // 1_000_000_000 + BTIME_SLACK_S

    def _add_leader(self, proc: Proc, rec: TaskRecord) -> None:
        """``proc``'s own record (not yet in any group total): its account, and its name if
        its exec ended before /proc could be read."""
        if proc.account is None:
            proc.account = Account(processes=1)
        proc.account.add_record(rec)
        proc.own_record = True
        if not proc.comm and rec.comm:
            proc.comm = rec.comm
        self.changes.note_changed(proc.key)

    def _credit(self, proc: Proc, rec: TaskRecord) -> None:
        """A record of ``proc``'s (a thread's, or its own late one): into its account, and
        into its group's total if it has ended (the first one counts the process in)."""
        account = proc.account
        first = account is None
        if account is None:
            account = proc.account = Account(processes=1)
        user, system = account.utime_us, account.stime_us  # (0, 0) for a new account
        account.add_record(rec)
        self.changes.note_changed(proc.key)
        if proc.ended is None:
            return
        group = self.groups.get(proc.group)
        if group is None:
            return
        if first:
            group.ended.merge(account)
        else:
            group.ended.add_record(rec)
        # what this record added to the account
        user, system = account.utime_us - user, account.stime_us - system
        self.unrecorded.recorded(proc, user, system, self.now())
        self.changes.note_group(group.name)

    def log_event(self, ts: int, kind: str, proc: Proc, detail: str) -> None:
        """A member's event, for the event log of the next delta."""
        if kind == "fork":
            parent = self.procs.get(proc.parent) if proc.parent is not None else None
            ppid = parent.pid if parent is not None else proc.ppid
            event = MemberEvent(ts, kind, proc.key, proc.group, detail, ppid)
        elif kind == "exit":
            status = proc.exit
            event = MemberEvent(
                ts,
                kind,
                proc.key,
                proc.group,
                detail,
                proc.ppid,
                code=status.shell_code() if status is not None else None,
                signal=status.signal if status is not None else None,
            )
        else:
            event = MemberEvent(
                ts, kind, proc.key, proc.group, detail, proc.ppid, proc.argv, proc.comm, proc.exe
            )
        self.changes.note_event(event)

    def _reparented(self, dead: Proc) -> None:
        """The kernel reparents a process's children before it reports the exit: re-read them."""
        for key in dead.children:
            child = self.procs.get(key)
            if child is None or not child.alive:
                continue
            stat = self.reader.stat(child.pid)
            if stat is not None and procfs.same_start(stat.start, child.start):
                child.ppid = stat.ppid
                self.changes.note_volatile(key)

    def gone(self, proc: Proc) -> None:
        """A live member ended without an exit event reaching us."""
        self._end(proc, self.now(), None)
        self.unrecovered += 1

    def _comm(self, ev: Comm) -> None:
        if ev.pid != ev.tgid:
            if ev.tgid in self.live:
                self._name_thread(ev.pid, ev.comm)
                self.renamed_threads.add(ev.tgid)
            return
        proc = self.live.get(ev.pid)
        if proc is not None:
            proc.comm = ev.comm
            self.changes.note_changed(proc.key)

    def _thread_name(self, tid: int, child: int, start: int, comm: str) -> str:
        """The name of a process forked (at ``start``) by thread ``tid`` of a process some of
        whose threads were renamed: the kernel copies the forking thread's. A thread named by
        no event of ours (made by a renamed thread, whose fork event names the process's
        parent, not it) is read from the child's /proc entry, if it is still there."""
        known = self.thread_comms.get(tid)
        if known is not None:
            return known
        stat = self.reader.stat_if_present(child)
        if stat is not None and procfs.same_start(stat.start, start):
            return stat.comm  # (if it exec'd or renamed itself since, that event follows)
        return comm

    def _name_thread(self, tid: int, comm: str) -> None:
        """A member's thread ``tid`` is named ``comm``: what a process it forks is named (kept
        to the thread's exit; the oldest name is dropped past THREAD_COMMS_MAX)."""
        comms = self.thread_comms
        comms.pop(tid, None)  # renamed again: now the newest
        if len(comms) >= THREAD_COMMS_MAX:
            del comms[next(iter(comms))]  # its exit was lost, or it lives long
        comms[tid] = comm

    # ---- upkeep ------------------------------------------------------------------------------

    def prune(self, now: int | None = None) -> None:
        """Forget exited processes older than ``keep_exited`` that have no children left and
        are not zombies (a zombie still exists: it stays until its parent reaps it)."""
        now = self.now() if now is None else now
        self.zombies.check(now)
        limit = now - self.keep_exited_ns
        for proc in list(self.exited.values()):
            if proc.ended is None or proc.ended > limit:
                break  # oldest first: the rest are younger
            self._maybe_prune(proc, limit)

    def kept_failed(self, proc: Proc) -> bool:
        """``proc`` is the program launched last into its group, and it failed: kept in the tree
        (not pruned) until the next launch into the group, or the group's removal."""
        group = self.groups.get(proc.group)
        return group is not None and group.last_failed and group.last_launch == proc.key

    def _maybe_prune(self, proc: Proc, limit: int) -> None:
        """Forget ``proc``, then its parent if that is now an old exit with no children."""
        while (
            proc.ended is not None
            and proc.ended <= limit
            and not proc.children
            and proc.key in self.procs
            and not self.zombies.unreaped(proc)
            and not self.kept_failed(proc)
            and not (self.unrecorded.pending and self.unrecorded.waiting(proc.key))
        ):
            self.remove(proc.key)
            parent = self.procs.get(proc.parent) if proc.parent is not None else None
            if parent is None:
                return
            proc = parent

    def read_reapers(self) -> int:
        """Read what the live reapers have reaped (their cutime and cstime) for the CPU the
        records lack (:mod:`tractui.model.reaped`); how many were read."""
        return self.unrecorded.read(self.reader, self.now())

    def now(self) -> int:
        return time.clock_gettime_ns(time.CLOCK_BOOTTIME)
