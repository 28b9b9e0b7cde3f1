"""``tractui daemon --metrics [HOST:]PORT``: the groups as Prometheus metrics, under
process-exporter's names, types and labels (``groupname``), so that its dashboards work as they
are; and tractui's own counters.

Where each figure comes from:

- **Counters** (CPU seconds, storage bytes, context switches, page faults) are exact: an ended
  member counts with its kernel account (``Group.ended``, the taskstats records, persisted with
  the state); a live one, or one that ended and whose record has not come yet, with its latest
  ``/proc`` sample, its CPU to the ns (``schedstat``, split between the modes as the kernel
  splits it, each never falling: :func:`tractui.kernel.pstats.split`; stat's ticks alone are up
  to 10 ms short a mode). A record is read before its process's last moments (~1 ms each here),
  so the CPU adds what the records lack, recovered from what the members' reapers were given
  (``Group.unrecorded_*``: :mod:`tractui.model.reaped`, persisted with the state too): exact, to
  a clock tick a mode, for whatever a member reaped (bench/metrics). An ended member with no
  record whose reaper's reading has come since (``Proc.reaped_read``) counts through that
  reading alone: its sample goes in the round the correction comes. One that is forgotten
  (pruned) without a record ever coming leaves its last sample's page faults with its group
  (``faults`` in ``metrics.json``); its CPU and I/O stay in the accumulators (below).
- **Monotonic, across restarts and kill -9.** Each counter series is exported through an
  accumulator: it grows by what the computed value grew since the last round, and never falls
  (a member that ended with no record, a restart that lost the records of members that ended
  meanwhile, a reset of a per-process count). The accumulators are written to
  ``metrics.json`` in the state directory **before** a round's values are served, so a scrape
  never shows a value that a restart could take back.
- **A scrape reads the last round**, never ``/proc``: a sampler thread reads the live members
  every ``interval`` seconds (:mod:`tractui.kernel.pstats`), then publishes an immutable view.

The daemon's loop hands the sampler plain copies of what it needs (:meth:`Metrics.tick`): the
thread never touches the tracker.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from tractui import paths
from tractui.engine import Engine
from tractui.errors import UserError
from tractui.kernel import procfs, pstats
from tractui.kernel.procfs import CLK_TCK
from tractui.kernel.pstats import ProcStats
from tractui.model.account import Account
from tractui.model.changes import Key

log = logging.getLogger(__name__)

FILE_NAME = "metrics.json"
INTERVAL = 5.0  # seconds between two rounds of /proc reads
PREFIX = "namedprocess_namegroup_"
# process-exporter's states (its proc/read.go): the stat letters it names, the rest are "Other"
STATES = {"R": "Running", "S": "Sleeping", "D": "Waiting", "Z": "Zombie"}
STATE_NAMES = ("Running", "Sleeping", "Waiting", "Zombie", "Other")


def parse_address(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` (``[::1]:9256`` for IPv6) as (host, port); loopback when no host."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host = "127.0.0.1"
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UserError(f"--metrics {text!r}: give [HOST:]PORT, e.g. 9256 or 0.0.0.0:9256")
    return host, int(port)


class GroupFacts(NamedTuple):
    """What the loop copies of one group for a round."""

    name: str
    # (cpu user s, cpu system s, read bytes, write bytes, voluntary, nonvoluntary switches,
    # minor, major page faults): its ended members' kernel accounts
    ended: tuple[float, float, int, int, int, int, int, int]
    forks: int
    execs: int
    exits: int
    failed: int
    signaled: int
    by_you: int = 0  # ended after a signal sent from tractui: neither ok nor failed


class Round(NamedTuple):
    """What the loop copies for one round: the groups, and the members to read or to hold."""

    groups: tuple[GroupFacts, ...]
    # members whose CPU is not in the group's account: live ones (read now), and ended ones
    # whose record has not come (their last sample holds until it does)
    members: tuple[tuple[str, Key, bool], ...]  # (group, key, alive)
    lost: int
    restarts: int
    save_failures: int
    # ended members whose account came (in their group's): a sample held of one is dropped,
    # its page faults not kept (the account has them)
    accounted: frozenset[Key] = frozenset()


@dataclass(frozen=True, slots=True)
class View:
    """One round's metrics, as a scrape serves them."""

    # (metric name without prefix, labels, value), gauges and counters apart
    gauges: tuple[tuple[str, tuple[tuple[str, str], ...], float], ...] = ()
    counters: tuple[tuple[str, tuple[tuple[str, str], ...], float], ...] = ()
    taken: float = 0.0  # wall clock of the round


@dataclass(slots=True)
class Accumulators:
    """Each counter series's exported value and the computed value it last saw, and each
    group's page faults of members forgotten without an account (their last samples')."""

    series: dict[str, list[float]] = field(default_factory=dict)  # id -> [exported, last]
    faults: dict[str, list[int]] = field(default_factory=dict)  # group -> [minflt, majflt] retired

    def feed(self, sid: str, computed: float) -> float:
        """The exported value of series ``sid`` once ``computed`` is seen: it grows by what
        ``computed`` grew, never falls."""
        entry = self.series.get(sid)
        if entry is None:
            self.series[sid] = [computed, computed]
            return computed
        exported, last = entry
        if computed > last:
            exported += computed - last
        entry[0], entry[1] = exported, computed
        return exported

    def steady(
        self, user_sid: str, system_sid: str, user: float, system: float
    ) -> tuple[float, float]:
        """A group's CPU seconds (``user``, ``system``) to feed, split again so that neither
        mode falls below what its series last saw while their total grows: the members'
        splits are each steady (:func:`pstats.split`), but a member's ends as its kernel
        account splits it (the exit's cputime_adjust, the reaper's correction), which can give
        one mode a little less than its last sample did, and a series counts only what grows:
        that dip would be counted twice. A total that falls (a member forgotten without an
        account) is fed as it is."""
        last_user, last_system = self.series.get(user_sid), self.series.get(system_sid)
        if last_user is None or last_system is None:
            return user, system
        ns = (round(user * 1e9), round(system * 1e9))
        prev = (round(last_user[1] * 1e9), round(last_system[1] * 1e9))
        if sum(ns) < sum(prev):
            return user, system
        user_ns, system_ns = pstats.split(sum(ns), ns[0], ns[1], prev)
        return user_ns / 1e9, system_ns / 1e9

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "series": self.series, "faults": self.faults}

    @classmethod
    def from_json(cls, doc: object) -> Accumulators:
        """The saved accumulators; what is malformed is dropped (those series start again)."""
        out = cls()
        if not isinstance(doc, dict):
            return out
        series = doc.get("series")
        if isinstance(series, dict):
            for sid, pair in series.items():
                if (
                    isinstance(sid, str)
                    and isinstance(pair, list)
                    and len(pair) == 2
                    and all(isinstance(v, (int, float)) and v >= 0 for v in pair)
                ):
                    out.series[sid] = [float(pair[0]), float(pair[1])]
        faults = doc.get("faults")
        if isinstance(faults, dict):
            for name, pair in faults.items():
                if (
                    isinstance(name, str)
                    and isinstance(pair, list)
                    and len(pair) == 2
                    and all(isinstance(v, int) and v >= 0 for v in pair)
                ):
                    out.faults[name] = [pair[0], pair[1]]
        return out


def _sid(name: str, labels: tuple[tuple[str, str], ...]) -> str:
    return name + "{" + ",".join(f"{k}={v}" for k, v in labels) + "}"


class _Sums:
    """One group's sums over its members in a round."""

    __slots__ = (
        "fds",
        "majflt",
        "minflt",
        "nonvoluntary",
        "oldest",
        "procs",
        "read_bytes",
        "resident",
        "states",
        "stime",
        "swapped",
        "threads",
        "utime",
        "virtual",
        "voluntary",
        "worst_fd",
        "write_bytes",
    )

    def __init__(self) -> None:
        self.procs = self.threads = self.resident = self.virtual = self.swapped = 0
        self.fds = self.minflt = self.majflt = 0
        self.read_bytes = self.write_bytes = self.voluntary = self.nonvoluntary = 0
        self.utime = self.stime = 0.0
        self.worst_fd = 0.0
        self.oldest: int | None = None  # ns since boot
        self.states = dict.fromkeys(STATE_NAMES, 0)


class Metrics:
    """The sampler thread, the accumulators on disk and the HTTP server of ``/metrics``."""

    def __init__(
        self,
        directory: Path,
        interval: float = INTERVAL,
        read: Any = pstats.read,
    ) -> None:
        self.path = directory / FILE_NAME
        self.interval = interval
        self.read = read
        self.view = View()
        self.address = ""  # "HOST:PORT" once serving
        self.error = ""  # the last failure to save the accumulators; "" when all is well
        self.rounds = 0
        self._acc = self._load()
        # the latest sample of each member held, with its group
        self._last: dict[Key, tuple[str, ProcStats]] = {}
        self._limits: dict[Key, int] = {}
        # each member's CPU held as the last round split it: (user ns, system ns)
        self._cpu: dict[Key, tuple[int, int]] = {}
        self._pending: Round | None = None
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._stop = False
        self._next = 0.0
        self._thread: threading.Thread | None = None
        self._server: Any = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Exposition(self))

    # ---- the loop's side -----------------------------------------------------------------------

    def serve(self, host: str, port: int) -> str:
        """Start the sampler and the HTTP server; the address it listens on. UserError if it
        cannot listen there."""
        try:
            server, _thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as err:
            raise UserError(
                f"cannot serve metrics on {host}:{port}: {err.strerror or err}; "
                "pick another port with --metrics [HOST:]PORT"
            ) from None
        self._server = server
        bound = server.server_address
        bound_host = bound[0].decode() if isinstance(bound[0], bytes) else str(bound[0])
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        self.address = f"{shown}:{bound[1]}"
        self._thread = threading.Thread(target=self._run, name="metrics", daemon=True)
        self._thread.start()
        return self.address

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        if self._server is not None:
            with contextlib.suppress(Exception):
                self._server.shutdown()
                self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def tick(self, engine: Engine, now: float | None = None) -> bool:
        """From the daemon's loop: hand the sampler a round when one is due and it is idle."""
        now = time.monotonic() if now is None else now
        if now < self._next or not self._idle.is_set():
            return False
        self._next = now + self.interval
        self._pending = snapshot_round(engine)
        self._idle.clear()
        self._wake.set()
        return True

    def wait_idle(self, timeout: float) -> bool:
        """For tests: until the round handed over is published."""
        return self._idle.wait(timeout)

    # ---- the sampler thread --------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait()
            self._wake.clear()
            work, self._pending = self._pending, None
            if work is None or self._stop:
                continue
            try:
                self.view = self.compute(work)
                self.rounds += 1
            except Exception:  # a bug in a round must not end the metrics
                log.exception("a metrics round failed")
            finally:
                self._idle.set()

    def compute(self, work: Round) -> View:
        """Read the round's live members, sum them per group, feed the accumulators, save
        them, and return the view to serve (only once saved, or once saving failed)."""
        sums = {g.name: _Sums() for g in work.groups}
        seen: set[Key] = set()
        for group, key, alive in work.members:
            sums_g = sums.get(group)
            if sums_g is None:
                continue
            seen.add(key)
            held = self._last.get(key)
            stats = held[1] if held is not None else None
            if held is not None and held[0] != group:
                self._last[key] = (group, held[1])  # moved to another group
            if alive:
                limit = self._limits.get(key)
                # the held sample: its run time is not read again if it has not run since
                # (pstats.idle_since reads its counts, which _exact keeps as they came)
                fresh = self.read(key[0], limit, stats)
                if fresh is not None and procfs.same_start(fresh.start, key[1]):
                    stats = fresh = self._exact(key, fresh)
                    self._last[key] = (group, fresh)
                    self._limits[key] = fresh.fd_limit
            if stats is None:
                continue
            sums_g.utime += stats.utime_s
            sums_g.stime += stats.stime_s
            sums_g.read_bytes += stats.read_bytes
            sums_g.write_bytes += stats.write_bytes
            sums_g.voluntary += stats.voluntary
            sums_g.nonvoluntary += stats.nonvoluntary
            sums_g.minflt += stats.minflt
            sums_g.majflt += stats.majflt
            if not alive:
                continue
            sums_g.procs += 1
            sums_g.threads += stats.threads
            sums_g.resident += stats.resident
            sums_g.virtual += stats.virtual
            sums_g.swapped += stats.swapped
            sums_g.states[STATES.get(stats.state, "Other")] += 1
            if stats.fds >= 0:
                sums_g.fds += stats.fds
                if stats.fd_limit > 0:
                    sums_g.worst_fd = max(sums_g.worst_fd, stats.fds / stats.fd_limit)
            if sums_g.oldest is None or key[1] < sums_g.oldest:
                sums_g.oldest = key[1]
        self._retire(work.accounted, seen)
        view = self._view(work, sums)
        self._save()
        return view

    def _exact(self, key: Key, stats: ProcStats) -> ProcStats:
        """``stats`` with its CPU to the ns, split between the modes so that neither falls
        below the member's last round's (a held sample of it, once it ended, keeps that)."""
        utime, stime = round(stats.utime_s * CLK_TCK), round(stats.stime_s * CLK_TCK)
        run_ns = stats.run_ns if stats.run_ns >= 0 else (utime + stime) * procfs.NS_PER_TICK
        user, system = pstats.split(run_ns, utime, stime, self._cpu.get(key, (0, 0)))
        self._cpu[key] = (user, system)
        return stats._replace(utime_s=user / 1e9, stime_s=system / 1e9)

    def _retire(self, accounted: frozenset[Key], seen: set[Key]) -> None:
        """Drop the samples of members no longer in the round. One whose account came is in
        its group's account, page faults included; one forgotten without an account leaves its
        last sample's page faults with its group (on disk). (A member that lives through a
        round, then ends and is forgotten before the next, counts as forgotten: that takes a
        ``--keep-exited`` shorter than the interval.)"""
        for key in [k for k in self._last if k not in seen]:
            group, stats = self._last.pop(key)
            self._limits.pop(key, None)
            self._cpu.pop(key, None)
            if key not in accounted and (stats.minflt or stats.majflt):
                faults = self._acc.faults.setdefault(group, [0, 0])
                faults[0] += stats.minflt
                faults[1] += stats.majflt

    def _view(self, work: Round, sums: Mapping[str, _Sums]) -> View:
        boot_wall = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
        gauges: list[tuple[str, tuple[tuple[str, str], ...], float]] = []
        counters: list[tuple[str, tuple[tuple[str, str], ...], float]] = []
        acc = self._acc

        def count(name: str, labels: tuple[tuple[str, str], ...], computed: float) -> None:
            counters.append((name, labels, acc.feed(_sid(name, labels), computed)))

        for g in work.groups:
            s = sums[g.name]
            gl = (("groupname", g.name),)
            gauges.append((PREFIX + "num_procs", gl, s.procs))
            gauges.append((PREFIX + "num_threads", gl, s.threads))
            for memtype, value in (
                ("resident", s.resident),
                ("virtual", s.virtual),
                ("swapped", s.swapped),
            ):
                gauges.append((PREFIX + "memory_bytes", (*gl, ("memtype", memtype)), value))
            for state in STATE_NAMES:
                gauges.append((PREFIX + "states", (*gl, ("state", state)), s.states[state]))
            oldest = boot_wall + s.oldest / 1e9 if s.oldest is not None else 0.0
            gauges.append((PREFIX + "oldest_start_time_seconds", gl, oldest))
            gauges.append((PREFIX + "open_filedesc", gl, s.fds))
            gauges.append((PREFIX + "worst_fd_ratio", gl, s.worst_fd))
            user, system, read_b, write_b, vol, nonvol, ended_minflt, ended_majflt = g.ended
            user_l, system_l = (*gl, ("mode", "user")), (*gl, ("mode", "system"))
            user, system = acc.steady(
                _sid(PREFIX + "cpu_seconds_total", user_l),
                _sid(PREFIX + "cpu_seconds_total", system_l),
                user + s.utime,
                system + s.stime,
            )
            count(PREFIX + "cpu_seconds_total", user_l, user)
            count(PREFIX + "cpu_seconds_total", system_l, system)
            count(PREFIX + "read_bytes_total", gl, read_b + s.read_bytes)
            count(PREFIX + "write_bytes_total", gl, write_b + s.write_bytes)
            kind = "ctxswitchtype"
            count(PREFIX + "context_switches_total", (*gl, (kind, "voluntary")), vol + s.voluntary)
            count(
                PREFIX + "context_switches_total",
                (*gl, (kind, "nonvoluntary")),
                nonvol + s.nonvoluntary,
            )
            minflt, majflt = acc.faults.get(g.name, (0, 0))
            count(PREFIX + "major_page_faults_total", gl, ended_majflt + majflt + s.majflt)
            count(PREFIX + "minor_page_faults_total", gl, ended_minflt + minflt + s.minflt)
            tl = gl
            count("tractui_group_forks_total", tl, g.forks)
            count("tractui_group_execs_total", tl, g.execs)
            ok = max(0, g.exits - g.failed - g.by_you)
            for outcome, value in (
                ("ok", ok),
                ("failed", max(0, g.failed - g.signaled)),
                ("signaled", g.signaled),
                ("by_you", g.by_you),
            ):
                count("tractui_group_exits_total", (*tl, ("outcome", outcome)), value)
        count("tractui_events_lost_total", (), work.lost)
        count("tractui_collector_restarts_total", (), work.restarts)
        count("tractui_state_save_failures_total", (), work.save_failures)
        names = {g.name for g in work.groups}
        acc.series = {
            sid: v
            for sid, v in acc.series.items()
            if (grp := _group_of_any(sid)) is None or grp in names
        }
        acc.faults = {n: v for n, v in acc.faults.items() if n in names}
        return View(tuple(gauges), tuple(counters), time.time())

    # ---- the file ------------------------------------------------------------------------------

    def _load(self) -> Accumulators:
        try:
            with os.fdopen(paths.open_private(self.path, os.O_RDONLY)) as f:
                return Accumulators.from_json(json.load(f))
        except FileNotFoundError:
            return Accumulators()
        except (OSError, UserError, ValueError) as err:
            log.warning("metrics: cannot read %s (%s): counters start from now", self.path, err)
            return Accumulators()

    def _save(self) -> None:
        """Write the accumulators atomically (a temp file, fsync, rename)."""
        tmp = self.path.with_name(FILE_NAME + ".tmp")
        data = json.dumps(self._acc.to_json(), separators=(",", ":")).encode()
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            fd = paths.open_private(tmp, flags)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except (OSError, UserError) as err:
            message = f"metrics: cannot save {self.path}: {err}"
            if message != self.error:
                log.warning("%s", message)
            self.error = message
            return
        self.error = ""


def _group_of_any(sid: str) -> str | None:
    """The group a series belongs to (its ``groupname`` or ``group`` label); None if none."""
    inside = sid[sid.index("{") + 1 : -1]
    for part in inside.split(","):
        key, _, value = part.partition("=")
        if key in ("groupname", "group"):
            return value
    return None


def snapshot_round(engine: Engine) -> Round:
    """What a round needs, copied from the engine on the daemon's loop."""
    tracker = engine.tracker
    # the live members (a live one may have an account already: its ended threads'; its
    # /proc figures include theirs), and the ended ones apart by whether their own record came.
    # One with its threads' records but not yet its own is held as awaiting it: its sample
    # counts, and the threads' part of its account is taken out of its group's figures (else
    # the sample dropped, then the whole account come, would count that part twice)
    members: list[tuple[str, Key, bool]] = []
    accounted: list[Key] = []
    partial: dict[str, Account] = {}
    for p in tracker.procs.values():
        if p.ended is None:
            members.append((p.group, p.key, True))
        elif p.own_record or p.reaped_read:
            # its record came; or not, but its reaper's correction has its CPU now (in the
            # same round as its sample goes): its sample is not held any more
            accounted.append(p.key)
        elif p.account is None:
            members.append((p.group, p.key, False))
        else:
            members.append((p.group, p.key, False))
            partial.setdefault(p.group, Account()).merge(p.account)
    groups = []
    for g in tracker.groups.values():
        ended = g.ended
        if g.name in partial:
            ended = ended.copy()
            ended.unmerge(partial[g.name])
        groups.append(
            GroupFacts(
                g.name,
                (
                    (ended.utime_us + g.unrecorded_user_us) / 1e6,
                    (ended.stime_us + g.unrecorded_system_us) / 1e6,
                    ended.read_bytes,
                    ended.write_bytes,
                    ended.nvcsw,
                    ended.nivcsw,
                    ended.minflt,
                    ended.majflt,
                ),
                g.forks,
                g.execs,
                g.exits,
                g.failed,
                g.signaled,
                g.ended_by_you,
            )
        )
    state = engine.state
    return Round(
        tuple(groups),
        tuple(members),
        engine.counters.lost,
        engine.restarts,
        state.save_failures if state is not None else 0,
        frozenset(accounted),
    )


class _Exposition(Collector):
    """What a scrape reads: the last round's view, as metric families."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        view = self.metrics.view
        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        for rows, kind in ((view.gauges, GaugeMetricFamily), (view.counters, CounterMetricFamily)):
            for name, labels, value in rows:
                family = families.get(name)
                if family is None:
                    family = kind(name, HELP.get(name, name), labels=[k for k, _v in labels])
                    families[name] = family
                family.add_metric([v for _k, v in labels], value)
        yield from families.values()


HELP = {
    PREFIX + "num_procs": "number of processes in this group",
    PREFIX + "num_threads": "Number of threads",
    PREFIX + "memory_bytes": "number of bytes of memory in use",
    PREFIX + "states": "Number of processes in states Running, Sleeping, Waiting, Zombie, or Other",
    PREFIX + "oldest_start_time_seconds": "start time in seconds since 1970/01/01 of oldest "
    "process in group",
    PREFIX + "open_filedesc": "number of open file descriptors for this group",
    PREFIX + "worst_fd_ratio": "the worst (closest to 1) ratio between open fds and max fds "
    "among all procs in this group",
    PREFIX + "cpu_seconds_total": "Cpu user usage in seconds (ended members: exact, from the "
    "kernel's accounting and what their reapers were given)",
    PREFIX + "read_bytes_total": "number of bytes read by this group",
    PREFIX + "write_bytes_total": "number of bytes written by this group",
    PREFIX + "context_switches_total": "Context switches",
    PREFIX + "major_page_faults_total": "Major page faults",
    PREFIX + "minor_page_faults_total": "Minor page faults",
    "tractui_group_forks_total": "forks seen in this group",
    "tractui_group_execs_total": "execs seen in this group",
    "tractui_group_exits_total": "members that ended, by outcome",
    "tractui_events_lost_total": "proc connector events the kernel dropped",
    "tractui_collector_restarts_total": "times the event collector was restarted",
    "tractui_state_save_failures_total": "saves of the groups that failed",
}
