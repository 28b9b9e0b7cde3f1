"""``tractui events``: the live stream of new processes (what trac's exec logger printed)."""

from __future__ import annotations

import argparse
import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from tractui.events import ConnectorError, Event, Exec, Exit, ExitStatus, Fork, read_superseded
from tractui.kernel import procfs
from tractui.kernel.collector import CollectorProcess
from tractui.model.wire import iso_time
from tractui.text import escape, shell_join

GONE = "(ended before it could be read)"
SUPERSEDED = "(exec'd again before it could be read)"


class Names:
    """What we know of each pid's name and command line, from the execs we have seen."""

    def __init__(self) -> None:
        self.known: dict[int, tuple[str, tuple[str, ...]]] = {}
        self.parents: dict[int, int] = {}  # pid -> who forked it, from fork events
        self.users = procfs.UserNames()

    def of(self, pid: int) -> tuple[str, tuple[str, ...]]:
        entry = self.known.get(pid)
        if entry is None:
            info = procfs.read_info(pid)
            entry = (info.comm, info.argv) if info is not None else ("?", ())
            self.known[pid] = entry
        return entry

    def user(self, uid: int) -> str:
        return self.users.name(uid)


class Printer:
    def __init__(self, as_json: bool, show_all: bool, write: Callable[[str], Any]) -> None:
        self.as_json = as_json
        self.show_all = show_all
        self.write = write
        self.names = Names()
        # event timestamps are CLOCK_MONOTONIC ns; /proc's start times CLOCK_BOOTTIME ns
        self.wall_offset = time.time() - time.monotonic()
        self.boot_wall = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
        self.shown = 0

    def clock(self, ts: int) -> tuple[float, str]:
        wall = self.wall_offset + ts / 1e9
        return wall, datetime.fromtimestamp(wall).strftime("%H:%M:%S.%f")[:-3]

    def batch(self, events: list[Event]) -> None:
        """Print a batch of events, in order."""
        superseded = superseded_execs(events)
        for i, ev in enumerate(events):
            if superseded and i in superseded:
                self._exec(ev, superseded=True)  # type: ignore[arg-type]
            else:
                self.event(ev)

    def event(self, ev: Event) -> None:
        kind = type(ev)
        if kind is Exec:
            self._exec(ev)  # type: ignore[arg-type]
        elif kind is Fork:
            self._fork(ev)  # type: ignore[arg-type]
        elif kind is Exit:
            self._exit(ev)  # type: ignore[arg-type]

    def _exec(self, ev: Exec, superseded: bool = False) -> None:
        info = ev.info
        argv: tuple[str, ...]
        exe, created = "", None
        if info is not None and superseded:  # what it showed may be a later program's
            comm, argv, ppid, user = SUPERSEDED, (), info.ppid, "?"
            self.names.known[ev.pid] = (comm, argv)  # not the name it had before this exec
        elif info is not None:
            self.names.known[ev.pid] = (info.comm, info.argv)
            comm, argv, ppid, user = info.comm, info.argv, info.ppid, self.names.user(info.uid)
            exe, created = info.exe, self.boot_wall + info.start / 1e9
        else:  # it ended before its /proc entry could be read
            comm, argv, user = GONE, (), "?"
            ppid = self.names.parents.get(ev.pid, 0)
            # its exit is not to name what it was before this exec (bash for /bin/true)
            self.names.known[ev.pid] = (comm, argv)
        self._emit("exec", ev.ts, ev.pid, ppid, comm, argv, user=user, exe=exe, created=created)

    def _fork(self, ev: Fork) -> None:
        if ev.is_thread:
            return
        parent = self.names.of(ev.parent_tgid)
        self.names.known[ev.child_pid] = parent
        self.names.parents[ev.child_pid] = ev.parent_tgid
        if self.show_all:
            wall = self.clock(ev.ts)[0]
            self._emit(
                "fork", ev.ts, ev.child_pid, ev.parent_tgid, parent[0], parent[1], created=wall
            )

    def _exit(self, ev: Exit) -> None:
        if ev.is_thread:
            return
        comm, argv = self.names.known.pop(ev.pid, ("?", ()))
        self.names.parents.pop(ev.pid, None)
        if self.show_all:
            self._emit("exit", ev.ts, ev.pid, ev.parent_tgid, comm, argv, status=ev.decoded())

    def _emit(
        self,
        kind: str,
        ts: int,
        pid: int,
        ppid: int,
        comm: str,
        argv: tuple[str, ...],
        user: str = "",
        exe: str = "",
        created: float | None = None,
        status: ExitStatus | None = None,
    ) -> None:
        wall, clock = self.clock(ts)
        self.shown += 1
        unread = comm in (GONE, SUPERSEDED)
        if self.as_json:  # OpenTelemetry's process attribute names (README, "The event stream")
            record: dict[str, Any] = {
                "time": round(wall, 6),
                "tractui.event": kind,
                "process.pid": pid,
                "process.parent_pid": ppid,
                # what an unread exec ran is not known: null, never prose in a name field ([] args)
                "process.executable.name": None if unread else comm,
                "process.command_args": list(argv),
            }
            if kind == "exec":
                record["process.executable.path"] = None if unread else exe
                record["process.owner"] = user
            if created is not None:
                record["process.creation.time"] = iso_time(created)
            if status is not None:
                record["process.exit.code"] = status.shell_code()
                record["process.exit.time"] = iso_time(wall)
                record["tractui.exit.signal"] = status.signal
                record["tractui.exit.status"] = status.describe()
            self.write(json.dumps(record) + "\n")
            return
        # any user's text, on root's terminal: quoted on one line, its controls escaped
        command = shell_join(argv) if argv else comm if unread else f"[{escape(comm)}]"
        if kind == "exec":
            self.write(f"{clock} {pid:>7} {ppid:>7} {user:<10} {command}\n")
        elif kind == "fork":
            self.write(f"{clock} {pid:>7} {ppid:>7} {'fork':<10} {command}\n")
        else:
            described = status.describe() if status is not None else "?"
            self.write(f"{clock} {pid:>7} {ppid:>7} {described:<10} {command}\n")

    def header(self) -> None:
        if not self.as_json:
            what = "USER/EVENT" if self.show_all else "USER"
            self.write(f"{'TIME':<12} {'PID':>7} {'PPID':>7} {what:<10} COMMAND\n")


def superseded_execs(events: list[Event]) -> set[int]:
    """The indexes of the execs in ``events`` whose /proc read ended after (or just before) a
    later exec of the same process in ``events``: that read may show the later program. (One
    in a later batch comes too late: the exec is printed by then.)"""
    out: set[int] = set()
    later: dict[int, int] = {}  # pid -> the stamp of its next exec in the batch
    for i in range(len(events) - 1, -1, -1):
        ev = events[i]
        if type(ev) is Exec:
            ts = later.get(ev.pid)
            if ts is not None and ev.info is not None and read_superseded(ev.info.read_ns, ts):
                out.add(i)
            later[ev.pid] = ev.ts
    return out


def run(args: argparse.Namespace) -> int:
    collector = CollectorProcess(["--no-accounting"], verbose=args.verbose)
    try:
        collector.start()
    except ConnectorError as err:
        print(f"tractui: {err.message}", file=sys.stderr)
        return err.exit_code
    interrupted = False

    def on_signal(_signum: int, _frame: object) -> None:
        nonlocal interrupted
        interrupted = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    out = sys.stdout
    printer = Printer(args.json, args.all, out.write)
    deadline = time.monotonic() + args.duration if args.duration else None
    seen = lost = 0
    try:
        printer.header()
        fd = collector.fileno()
        assert collector.reader is not None
        while not interrupted:
            left = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if left <= 0:
                break
            try:
                readable, _, _ = select.select([fd], [], [], left)
            except InterruptedError:
                continue
            if not readable:
                continue
            for message in collector.reader.read():
                if message[0] == "batch":
                    seen = message[2]["datagrams"]
                    lost = message[2]["lost"]
                    printer.batch(message[1])
                elif message[0] == "error":
                    print(f"tractui: {message[2]}", file=sys.stderr)
                    return 70
            out.flush()
            if collector.reader.eof:
                print("tractui: the event collector stopped", file=sys.stderr)
                return 70
    except BrokenPipeError:
        # the reader of our output went away (| head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        collector.stop()
    print(f"tractui events: {seen} events seen, {lost} lost", file=sys.stderr)
    return 0
