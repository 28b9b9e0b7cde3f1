"""The TUI's engine when a daemon runs: a mirror of the daemon's groups, fed by a subscription.

:class:`DaemonEngine` is an :class:`~tractui.engine.EngineLike`, as the TUI's own engine is, so
the TUI draws a daemon's groups exactly as its own. Its tracker is a mirror, kept equal to the
daemon's by its snapshot and deltas; commands (launch, attach, signal, rename, remove) are
requests to the daemon, which owns the processes, the launch logs and the saved state.
No Textual here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tractui.control import LaunchSpec, LogChunk, SignalResult
from tractui.daemon.client import Connection, add_request
from tractui.daemon.protocol import JsonObject, Mirror
from tractui.engine import Counters, log_path_for, targets
from tractui.errors import UserError
from tractui.events import ConnectorError
from tractui.kernel import feed
from tractui.model.adopt import Planned
from tractui.model.changes import Delta
from tractui.model.history import GroupHistory
from tractui.model.store import Proc
from tractui.model.tracker import Tracker
from tractui.model.wire import event_from_wire, key_to_wire, planned_from_wire


@dataclass(frozen=True, slots=True)
class Started:
    """A process the daemon launched or attached, as its reply names it. Its start time is the
    daemon's to know (``key`` None): the program is the daemon's, not this UI's."""

    pid: int
    group: str
    key: None = None


@dataclass(frozen=True, slots=True)
class Renamed:
    """A group the daemon renamed, by its new name."""

    name: str


def unreadable(read: Callable[[JsonObject], None], message: JsonObject) -> None:
    """``read(message)``; a message it cannot read (a field missing, of the wrong type, out of
    range: from a daemon of another tractui, or a damaged one) is the UserError of any other
    unreadable message, one line, not a traceback."""
    try:
        read(message)
    except KeyError as err:
        raise UserError(f"the daemon sent something unreadable: no field {err}") from None
    except (ValueError, TypeError) as err:
        raise UserError(f"the daemon sent something unreadable: {err}") from None


class DaemonEngine:
    """An :class:`~tractui.engine.EngineLike` whose tracker mirrors a daemon's; its commands
    are the daemon's requests. Its source of events is the daemon connection."""

    mode = "daemon"
    source = "daemon connection"

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.conn: Connection | None = None
        self.tracker = Tracker(keep_exited=math.inf)
        self.mirror = Mirror(self.tracker)
        self.counters = Counters()  # the daemon's events and losses, from its stats
        self.restarts = 0
        self.daemon_pid = 0
        self.banner = ""  # the daemon's, from its stats
        self._pending = Delta()  # what start() loaded, handed out by the first poll

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        """Connect and subscribe (NoDaemon if nothing answers); load the daemon's snapshot."""
        conn = Connection(self.path)
        try:
            conn.request("subscribe")
            snapshot = conn.receive()
            while snapshot.get("t") != "snapshot":
                snapshot = conn.receive()
            unreadable(self.mirror.load, snapshot)  # the tracker's next delta: everything, anew
        except BaseException:
            conn.close()
            raise
        self.conn = conn
        self.daemon_pid = int(conn.hello.get("pid", 0))
        self.tracker.own_pids.update(int(p) for p in conn.hello.get("own_pids", ()))
        self._pending = Delta(log=self._log(snapshot))
        self._stats(snapshot)
        return {"pid": self.daemon_pid, "filter": True}

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def alive(self) -> bool:
        return self.conn is not None

    def restart_collector(self) -> None:
        """The daemon went away: connect again (to it, or to the one that replaced it)."""
        self.stop()
        self.restarts += 1
        try:
            self.start()
        except UserError as err:
            raise ConnectorError(str(err)) from None  # the banner says the daemon is gone

    # ---- events ------------------------------------------------------------------------------

    def poll(self, timeout: float) -> Delta:
        delta, self._pending = self._pending, Delta()
        conn = self.conn
        if conn is None:
            time.sleep(timeout)
        elif conn.pending or feed.readable(conn.sock.fileno(), timeout):
            try:
                self._receive(conn, delta)
            except UserError:
                self.stop()  # the session sees the link down and reconnects
        # what the mirror changed in the tracker, with the daemon's events for the log
        changes = self.tracker.take_delta()
        changes.log, changes.events = delta.log, delta.events
        return changes

    def _receive(self, conn: Connection, delta: Delta) -> None:
        conn.sock.settimeout(0)
        try:
            while True:
                if not conn.pending and not feed.readable(conn.sock.fileno(), 0):
                    return
                self._apply(conn.receive(), delta)
        finally:
            conn.sock.settimeout(10.0)

    def _apply(self, message: JsonObject, delta: Delta) -> None:
        kind = message.get("t")
        if kind == "delta":
            unreadable(self.mirror.apply, message)
            delta.log.extend(self._log(message))
            delta.events += 1
            self._stats(message)
        elif kind == "snapshot":
            unreadable(self.mirror.load, message)
            self._stats(message)

    def _log(self, message: JsonObject) -> list[Any]:
        return [event_from_wire(e) for e in message.get("log", ())]

    def _stats(self, message: JsonObject) -> None:
        stats = message.get("stats") or {}
        self.counters.events = int(stats.get("events", self.counters.events))
        self.counters.lost = int(stats.get("lost", self.counters.lost))
        self.tracker.lost = self.counters.lost
        self.counters.accounting = str(stats.get("accounting", ""))
        self.counters.acct_records = int(stats.get("acct_records", 0))
        self.counters.acct_lost = int(stats.get("acct_lost", 0))
        self.banner = str(stats.get("banner", ""))

    # ---- commands ----------------------------------------------------------------------------

    def _request(self, op: str, **fields: Any) -> Any:
        if self.conn is None:
            raise UserError("not connected to the daemon (reconnecting): try again in a moment")
        return self.conn.request(op, **fields)

    def launch(self, group: str, spec: LaunchSpec) -> Started:
        result = self._request("add", **add_request(group, spec))
        return Started(result["pid"], result["group"])

    def attach(self, group: str, pids: list[int], create: bool = True) -> list[Started]:
        result = self._request("attach", group=group, pids=pids, create=create)
        return [Started(p, result["group"]) for p in result["roots"]]

    def plan_attach(self, pids: list[int]) -> list[Planned]:
        """The daemon's dry run: what it would add (its members, its own PIDs and this UI's
        are its to know)."""
        added = self._request("attach", pids=pids, dry_run=True)["added"]
        try:
            return [planned_from_wire(item) for item in added]
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(f"the daemon sent something unreadable: {err}") from None

    def targets(self, group: str, pid: int | None = None, subtree: bool = False) -> list[Proc]:
        """The live members of the mirror a signal would reach (the daemon checks each key)."""
        return targets(self.tracker, group, pid, subtree)

    def signal(self, procs: list[Proc], sig: int) -> list[SignalResult]:
        if not procs:
            return []
        result = self._request("signal", keys=[key_to_wire(p.key) for p in procs], signal=sig)
        return [SignalResult(r["pid"], r["ok"], r["error"]) for r in result["results"]]

    def rename_group(self, old: str, new: str) -> Renamed:
        return Renamed(self._request("rename", old=old, new=new)["group"])

    def remove_group(self, name: str) -> range:
        """As many as the daemon dropped (its reply counts them)."""
        return range(int(self._request("remove", group=name)["dropped"]))

    def log_path(self, group: str) -> Path:
        """The daemon's log of the group, as its groups say (else where ours would be)."""
        return Path(self.mirror.logs.get(group) or log_path_for(group))

    def has_launches(self, group: str) -> bool:
        """The daemon launched programs into it (its groups say so)."""
        return group in self.mirror.launched

    def history_of(self, name: str, newest: int | None = None) -> GroupHistory:
        """The group's history as the daemon keeps it: its 'list' with ``all`` (the members
        marked ``history``, the rest are the mirror's already), what it says was cut. With
        ``newest``: ``history_only`` and ``newest`` (an older daemon ignores them and sends all
        its members: those marked ``history`` are still all this keeps)."""
        if newest is None:
            result = self._request("list", group=name, all=True)
        else:
            result = self._request("list", group=name, all=True, history_only=True, newest=newest)
        info = result.get("history") or {}
        members = result.get("members") or []
        return GroupHistory(
            entries=[m for m in members if isinstance(m, dict) and m.get("history")],
            cut=str(info.get("cut") or ""),
            damaged=int(info.get("damaged") or 0),
            error=str(info.get("error") or ""),
            older=int(info.get("older") or 0),
        )

    def read_log(self, group: str, offset: int | None = None, lines: int | None = None) -> LogChunk:
        """Through the daemon: its log files are its own (0600, maybe in a directory or a
        mount namespace this UI cannot see)."""
        return LogChunk.from_wire(self._request("log", group=group, offset=offset, lines=lines))
