"""The engine: the collector process, the tracker it feeds, and the commands that act on it.

The engine is single-threaded on purpose: a command (launch, attach) runs between two batches,
so every event after it is applied with the new member already known, and nothing that the
member forks can slip past. Whoever owns the engine (a CLI command, the TUI's worker, the daemon)
calls :meth:`Engine.poll` in a loop and its commands from the same thread.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tractui import control, feed, paths
from tractui.control import LaunchSpec, SignalResult
from tractui.errors import UserError
from tractui.events import ConnectorError, Event
from tractui.tracker import Delta, Proc, Tracker

log = logging.getLogger(__name__)

START_TIMEOUT = 10.0


@dataclass(slots=True)
class Counters:
    """Running totals reported by the collector."""

    datagrams: int = 0
    lost: int = 0
    malformed: int = 0
    collector_cpu_ns: int = 0  # since it subscribed
    collector_maxrss_kb: int = 0
    events: int = 0
    batches: int = 0
    started: float = field(default_factory=time.monotonic)


class CollectorProcess:
    """``python -m tractui.collector`` as a child in its own session, read through a pipe."""

    def __init__(self, extra_args: list[str] | None = None, verbose: bool = False) -> None:
        self.extra_args = extra_args or []
        self.verbose = verbose
        self.proc: subprocess.Popen[bytes] | None = None
        self.reader: feed.FrameReader | None = None
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        """Start it and wait until it is subscribed; raise ConnectorError with its reason."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tractui.collector", *self.extra_args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None if self.verbose else subprocess.DEVNULL,
            start_new_session=True,  # the terminal's Ctrl-C is not for it
            close_fds=True,
        )
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        os.set_blocking(fd, False)
        self.reader = feed.FrameReader(fd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            select.select([fd], [], [], 0.1)
            for message in self.reader.read():
                if message[0] == "ready":
                    self.info = message[1]
                    return self.info
                if message[0] == "error":
                    self.stop()
                    raise ConnectorError(message[2], exit_code=message[1])
            if self.reader.eof:
                code = self.proc.wait()
                self.proc = None
                raise ConnectorError(f"the event collector exited at start (status {code})")
        self.stop()
        raise ConnectorError(f"the event collector did not start within {timeout:.0f} s")

    def fileno(self) -> int:
        assert self.reader is not None
        return self.reader.fd

    def alive(self) -> bool:
        return (
            self.proc is not None
            and self.proc.poll() is None
            and not (self.reader is not None and self.reader.eof)
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


class Engine:
    """Collector + tracker + control. Not thread-safe: use it from one thread."""

    def __init__(
        self,
        keep_exited: float = 10.0,
        collector_args: list[str] | None = None,
        verbose: bool = False,
    ) -> None:
        self.collector = CollectorProcess(collector_args, verbose)
        self.tracker = Tracker(keep_exited=keep_exited)
        self.counters = Counters()
        self.launched: dict[int, subprocess.Popen[bytes]] = {}
        self.collector_error: str = ""
        self.restarts = 0
        self._last_upkeep = 0.0

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        info = self.collector.start()
        self.tracker.own_pids.add(info["pid"])
        log.debug(
            "collector %d subscribed: kernel filter %s, receive buffer %d KiB",
            info["pid"],
            "on" if info["filter"] else "off (legacy listen)",
            info["rcvbuf"] // 1024,
        )
        return info

    def stop(self) -> None:
        self.collector.stop()
        self.reap()

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
            fd = self.collector.fileno()
            readable, _, _ = select.select([fd], [], [], timeout)
            if readable:
                events = self._read_batches()
        elif timeout > 0:
            time.sleep(timeout)
        delta = self.tracker.apply(events)
        if delta.lost:
            log.warning(
                "the kernel dropped %d events: rescanned /proc (%d members ended unseen so far)",
                delta.lost,
                self.tracker.unrecovered,
            )
        now = time.monotonic()
        if now - self._last_upkeep >= 0.5:
            self._last_upkeep = now
            self.tracker.prune()
            self.reap()
            extra = self.tracker.take_delta()
            _merge(delta, extra)
        return delta

    def _read_batches(self) -> list[Event]:
        assert self.collector.reader is not None
        events: list[Event] = []
        for message in self.collector.reader.read(4 << 20):
            if message[0] == "batch":
                events.extend(message[1])
                self._count(message[2], len(message[1]))
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
        """Collect the exit of launched programs (their statuses come from the kernel events)."""
        for pid, popen in list(self.launched.items()):
            if popen.poll() is not None:
                del self.launched[pid]

    # ---- commands ----------------------------------------------------------------------------

    def launch(self, group: str, spec: LaunchSpec) -> Proc:
        """Start a program as a new root of ``group`` (created if new; not if the launch fails)."""
        tracker = self.tracker
        existed = group in tracker.groups
        name = tracker.create_group(group, exist_ok=True).name
        try:
            popen = control.launch(spec, log_path_for(name))
        except UserError:
            if not existed:
                tracker.remove_group(name)
                tracker.take_delta()
            raise
        self.launched[popen.pid] = popen
        log.debug("launched %d into %r: %s", popen.pid, name, spec.argv)
        return self.adopt_child(name, popen.pid)

    def adopt_child(self, group: str, pid: int) -> Proc:
        """Make a just-started child of ours (not yet reaped) a root of ``group``."""
        return self.tracker.attach(group, pid, allow_zombie=True)[0]

    def attach(self, group: str, pids: list[int]) -> list[Proc]:
        """Attach running processes (and their descendants); all or none."""
        for pid in pids:
            self.tracker.check_attachable(pid)
        roots = [self.tracker.attach(group, pid)[0] for pid in pids]
        log.debug("attached %s to %r", pids, group)
        return roots

    def targets(self, group: str, pid: int | None = None, subtree: bool = False) -> list[Proc]:
        """Live processes a signal would reach: a group, one member, or a member's subtree."""
        tracker = self.tracker
        tracker.group(group)
        if pid is None:
            return tracker.members(group, alive_only=True)
        proc = tracker.live.get(pid)
        if proc is None or proc.group != group:
            raise UserError(f"PID {pid} is not a live member of group {group!r}")
        if not subtree:
            return [proc]
        return [p for p in tracker.subtree(proc.key) if p.alive]

    def signal(self, procs: list[Proc], sig: int) -> list[SignalResult]:
        own = self.tracker.own_pids
        results = [control.send_signal(p.pid, p.start, sig, own) for p in procs]
        log.debug("signal %d: %s", sig, ", ".join(r.describe() for r in results))
        return results


def _merge(into: Delta, other: Delta) -> None:
    into.added.extend(other.added)
    into.changed |= other.changed
    into.exited.extend(other.exited)
    into.removed.extend(other.removed)
    into.groups |= other.groups
    into.events += other.events
    into.lost += other.lost
    into.log.extend(other.log)


def log_path_for(group: str) -> Path:
    return paths.log_dir() / f"{group}.log"
