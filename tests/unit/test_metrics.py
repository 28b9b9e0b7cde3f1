"""The metrics' accumulators, address parsing and /proc reader (tractui.daemon.metrics)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tractui.daemon.metrics import (
    Accumulators,
    GroupFacts,
    Metrics,
    Round,
    parse_address,
    snapshot_round,
)
from tractui.errors import UserError
from tractui.events import Exit, Fork
from tractui.kernel import procfs, pstats
from tractui.kernel.pstats import ProcStats
from tractui.model.reaped import SETTLE_NS, Reading
from tractui.model.tracker import Tracker

from .fakeproc import FakeProc
from .test_tracker import ROOT, SEC, info
from .test_tracker_accounts import record


def test_accumulator_grows_by_growth_and_never_falls() -> None:
    acc = Accumulators()
    assert acc.feed("a{}", 5.0) == 5.0
    assert acc.feed("a{}", 7.0) == 7.0
    assert acc.feed("a{}", 2.0) == 7.0  # a member gone without a record: no fall
    assert acc.feed("a{}", 3.5) == 8.5  # the growth since counts
    restored = Accumulators.from_json(acc.to_json())
    assert restored.feed("a{}", 0.0) == 8.5  # a restart: the per-process counts begin again
    assert restored.feed("a{}", 1.0) == 9.5


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        {"series": []},
        {"series": {"a{}": [1]}},
        {"series": {"a{}": [-1, 2]}},
        {"series": {"a{}": ["x", 1]}},
        {"faults": {"g": [1.5, 2]}},
    ],
)
def test_malformed_file_is_dropped_not_trusted(doc: object) -> None:
    acc = Accumulators.from_json(doc)
    assert acc.series == {} and acc.faults == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9256", ("127.0.0.1", 9256)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:9", ("::1", 9)),
        (":0", ("127.0.0.1", 0)),
    ],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "x", "host:", "1:99999", "h:-1"])
def test_parse_address_refuses(text: str) -> None:
    with pytest.raises(UserError, match=r"\[HOST:\]PORT"):
        parse_address(text)


def test_pstats_reads_this_process() -> None:
    stats = pstats.read(os.getpid())
    assert stats is not None
    assert procfs.same_start(stats.start, procfs.read_start(os.getpid()) or -1)
    vmrss = int(procfs.read_status(os.getpid())["VmRSS"].split()[0]) * 1024
    assert abs(stats.resident - vmrss) <= 1 << 20  # statm and status agree (1 MiB of drift)
    assert stats.fds >= 3 and stats.fd_limit > 0
    assert stats.threads >= 1 and stats.state in "RS"


def _stats(start: int, user: float, minflt: int = 0) -> ProcStats:
    return ProcStats(start, "S", user, 0.0, minflt, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 1024)


Counters = tuple[tuple[str, tuple[tuple[str, str], ...], float], ...]


def _user(counters: Counters, group: str = "g") -> float:
    return next(
        v
        for n, labels, v in counters
        if n.endswith("cpu_seconds_total")
        and ("mode", "user") in labels
        and ("groupname", group) in labels
    )


def _faults(counters: Counters, group: str = "g") -> tuple[float, float]:
    minor, major = (
        next(
            v
            for n, labels, v in counters
            if n.endswith(f"{kind}_page_faults_total") and ("groupname", group) in labels
        )
        for kind in ("minor", "major")
    )
    return minor, major


NO_ACCOUNT = (0.0, 0.0, 0, 0, 0, 0, 0, 0)


def test_round_holds_an_ended_members_cpu_until_its_record(tmp_path: Path) -> None:
    """Live 1 s; then ended, record not yet come: still 1 s (its last sample); then the
    record in the group's account: 1.01 s, not 2; its page faults the record's, not the
    sample's and the record's."""
    reads = {7: _stats(100, 1.0, minflt=50)}
    metrics = Metrics(tmp_path, read=lambda pid, limit, before: reads.get(pid))
    facts = GroupFacts("g", NO_ACCOUNT, 1, 0, 0, 0, 0)
    view = metrics.compute(Round((facts,), (("g", (7, 100), True),), 0, 0, 0))
    assert _user(view.counters) == 1.0 and _faults(view.counters) == (50, 0)
    view = metrics.compute(Round((facts,), (("g", (7, 100), False),), 0, 0, 0))
    assert _user(view.counters) == 1.0 and _faults(view.counters) == (50, 0)
    accounted = facts._replace(ended=(1.01, 0.0, 0, 0, 0, 0, 52, 1), exits=1)
    view = metrics.compute(Round((accounted,), (), 0, 0, 0, frozenset({(7, 100)})))
    assert _user(view.counters) == pytest.approx(1.01) and _faults(view.counters) == (52, 1)
    assert (tmp_path / "metrics.json").exists()
    again = Metrics(tmp_path, read=lambda pid, limit, before: None)
    view = again.compute(Round((facts,), (), 0, 0, 0))  # restarted, the account lost
    assert _user(view.counters) == pytest.approx(1.01) and _faults(view.counters) == (52, 1)


def test_a_member_forgotten_without_a_record_leaves_its_faults(tmp_path: Path) -> None:
    """No record ever came (lost, or accounting off): when the member is pruned, its last
    sample's page faults stay with its group, across a restart too; a short-lived member
    with a record that no round saw counts its record's."""
    reads = {7: _stats(100, 1.0, minflt=50)}
    metrics = Metrics(tmp_path, read=lambda pid, limit, before: reads.get(pid))
    facts = GroupFacts("g", NO_ACCOUNT, 1, 0, 0, 0, 0)
    metrics.compute(Round((facts,), (("g", (7, 100), True),), 0, 0, 0))
    metrics.compute(Round((facts,), (("g", (7, 100), False),), 0, 0, 0))
    view = metrics.compute(Round((facts,), (), 0, 0, 0))  # pruned, no record
    assert _faults(view.counters) == (50, 0)
    assert metrics._acc.faults == {"g": [50, 0]}
    again = Metrics(tmp_path, read=lambda pid, limit, before: None)
    brief = facts._replace(ended=(0.003, 0.0, 0, 0, 0, 0, 120, 0))  # lived between two rounds
    view = again.compute(Round((brief,), (), 0, 0, 0, frozenset({(9, 300)})))
    assert _faults(view.counters) == (170, 0)


def _tracker_with(make: str) -> tuple[Tracker, int, int]:
    """A tracker with group "g"'s root and one child (pid, start) in the state ``make``:
    "live-thread" (alive, a thread of it ended), "partial" (ended, its thread's record in,
    its own not), "own" (ended, its own record in)."""
    t = Tracker(keep_exited=10.0, clock_offset=lambda: 0, reader=FakeProc())
    t.add_root("g", info(ROOT, 1 * SEC, ("sh", "-c", "serve")))
    t.take_delta()
    pid, start, end = ROOT + 1, 2 * SEC, 3 * SEC
    t.apply([Fork(start, ROOT, ROOT, pid, pid)])
    thread = record(t, pid + 1, start, end, tgid=pid, utime_us=200_000, minflt=30)
    t.apply([thread])
    if make != "live-thread":
        t.apply([Exit(end, pid, pid, 0, ROOT, ROOT)])
    if make == "own":
        t.apply([record(t, pid, start, end, utime_us=800_000, minflt=70)])
    return t, pid, start


def _engine(tracker: Tracker) -> Any:
    """What snapshot_round reads of an engine: a real tracker, no collector."""
    return SimpleNamespace(
        tracker=tracker, counters=SimpleNamespace(lost=0), restarts=0, state=None
    )


def test_snapshot_reads_a_live_member_with_an_ended_thread() -> None:
    tracker, pid, start = _tracker_with("live-thread")
    work = snapshot_round(_engine(tracker))
    assert ("g", (pid, start), True) in work.members  # its /proc figures include its thread's
    (g,) = work.groups
    assert g.ended == NO_ACCOUNT


def test_snapshot_holds_a_member_whose_own_record_is_still_to_come() -> None:
    tracker, pid, start = _tracker_with("partial")
    assert tracker.groups["g"].ended.minflt == 30  # the thread's record, in at the exit
    work = snapshot_round(_engine(tracker))
    assert ("g", (pid, start), False) in work.members and not work.accounted
    (g,) = work.groups
    assert g.ended == NO_ACCOUNT  # the thread's part is in the member's sample, not twice
    tracker, pid, start = _tracker_with("own")
    work = snapshot_round(_engine(tracker))
    assert work.accounted == frozenset({(pid, start)})
    assert all(key != (pid, start) for _g, key, _alive in work.members)
    (g,) = work.groups
    assert g.ended[0] == pytest.approx(1.0) and g.ended[6] == 100


def test_thread_records_then_the_own_one_count_once(tmp_path: Path) -> None:
    """A member sampled live (1.0 s, 100 faults, its thread's included), ended with its
    thread's record in and its own not, then its own: the counters end at the account's,
    never at the sample's plus the thread's."""
    tracker, pid, start = _tracker_with("live-thread")
    reads = {pid: _stats(start, 0.95, minflt=95)}
    metrics = Metrics(tmp_path, read=lambda p, limit, before: reads.get(p))
    seen = []
    for step in ("live", "partial", "own"):
        if step == "partial":
            tracker.apply([Exit(3 * SEC, pid, pid, 0, ROOT, ROOT)])
        elif step == "own":
            tracker.apply([record(tracker, pid, start, 3 * SEC, utime_us=800_000, minflt=70)])
        view = metrics.compute(snapshot_round(_engine(tracker)))
        seen.append((_user(view.counters), _faults(view.counters)[0]))
    assert seen == [(0.95, 95), (0.95, 95), (pytest.approx(1.0), 100)]


def test_a_member_without_a_record_counts_once_when_its_reaper_is_read(tmp_path: Path) -> None:
    """A member sampled at 1.0 s ends with no record (lost, or accounting off): its sample is
    held; then its reaper's reading (1.2 s of it, all it had) settles: in that same round the
    sample goes and the reaper's correction comes, so the counter ends at 1.2 s, not 2.2."""
    tracker, pid, start = _tracker_with("live-thread")
    reads = {pid: _stats(start, 1.0)}
    metrics = Metrics(tmp_path, read=lambda p, limit, before: reads.get(p))
    seen = [_user(metrics.compute(snapshot_round(_engine(tracker))).counters)]
    tracker.apply([Exit(3 * SEC, pid, pid, 0, ROOT, ROOT)])
    seen.append(_user(metrics.compute(snapshot_round(_engine(tracker))).counters))
    root = tracker.procs[tracker.groups["g"].roots[0]]
    account = tracker.procs[(pid, start)].account  # its thread's record alone
    assert account is not None and not tracker.procs[(pid, start)].own_record
    thread_us = account.utime_us
    tracker.unrecorded.pend(Reading(root.key, 4 * SEC, 1_200_000, 0, False))
    tracker.unrecorded.settle(4 * SEC + SETTLE_NS)
    assert tracker.procs[(pid, start)].reaped_read
    work = snapshot_round(_engine(tracker))
    assert (pid, start) in work.accounted
    seen.append(_user(metrics.compute(work).counters))
    assert seen[:2] == [1.0, 1.0]
    # its thread's record, and the rest from the reaper's reading: 1.2 s in all (and half a
    # tick: a reading counts the middle of its tick)
    assert seen[2] == pytest.approx(1.2 + 0.5 / procfs.CLK_TCK), (seen, thread_us)


MS = 1_000_000  # ns


def test_split_follows_the_ratio_all_user_when_no_tick() -> None:
    assert pstats.split(25 * MS, 2, 0, (0, 0)) == (25 * MS, 0)
    assert pstats.split(25 * MS, 0, 2, (0, 0)) == (0, 25 * MS)
    assert pstats.split(30 * MS, 2, 1, (0, 0)) == (20 * MS, 10 * MS)
    assert pstats.split(7 * MS, 0, 0, (0, 0)) == (7 * MS, 0)  # under a tick: user, as the kernel


def test_split_never_lets_a_mode_fall() -> None:
    """The ratio turns from system to user: system holds at its last split, user takes the
    growth; then to system: user holds. The total is always the run time."""
    user, system = pstats.split(20 * MS, 1, 1, (0, 0))
    assert (user, system) == (10 * MS, 10 * MS)
    user, system = pstats.split(22 * MS, 9, 1, (user, system))  # ratio says system 2.2 ms
    assert (user, system) == (12 * MS, 10 * MS)
    user, system = pstats.split(24 * MS, 1, 9, (user, system))  # ratio says user 2.4 ms
    assert (user, system) == (12 * MS, 12 * MS)
    # a run time below the last total (a read that fell back to stat's ticks): kept
    assert pstats.split(20 * MS, 2, 0, (user, system)) == (user, system)


def test_a_members_cpu_is_its_run_time_split_steadily(tmp_path: Path) -> None:
    """The counters take a live member's run time to the ns, not its ticks; a ratio that turns
    moves no mode back, so the two series together grow by the run time's growth alone."""
    base = _stats(100, 0.02)._replace(stime_s=0.01, run_ns=35 * MS)
    reads = {7: base}
    metrics = Metrics(tmp_path, read=lambda pid, limit, before: reads.get(pid))
    facts = GroupFacts("g", NO_ACCOUNT, 1, 0, 0, 0, 0)
    work = Round((facts,), (("g", (7, 100), True),), 0, 0, 0)
    view = metrics.compute(work)
    assert (_user(view.counters), _system(view.counters)) == pytest.approx(
        (0.035 * 2 / 3, 0.035 / 3)
    )
    reads[7] = base._replace(utime_s=0.0, stime_s=0.03, run_ns=36 * MS)  # all system now
    view = metrics.compute(work)
    assert _user(view.counters) == pytest.approx(0.035 * 2 / 3)  # held, not back to 0
    assert _user(view.counters) + _system(view.counters) == pytest.approx(0.036)
    reads[7] = base._replace(run_ns=-1)  # fell back to the ticks (30 ms): nothing falls
    view = metrics.compute(work)
    assert _user(view.counters) + _system(view.counters) == pytest.approx(0.036)


def test_an_account_split_otherwise_than_the_sample_counts_once(tmp_path: Path) -> None:
    """A member's last sample split 20 ms user, 10 ms system; its account (its exit's split)
    gives 22 and 9: the group's counters end at 31 ms in all, not 32 (the system dip of 1 ms
    counted again as user)."""
    reads = {7: _stats(100, 0.02)._replace(stime_s=0.01, run_ns=30 * MS)}
    metrics = Metrics(tmp_path, read=lambda pid, limit, before: reads.get(pid))
    facts = GroupFacts("g", NO_ACCOUNT, 1, 0, 0, 0, 0)
    metrics.compute(Round((facts,), (("g", (7, 100), True),), 0, 0, 0))
    view = metrics.compute(Round((facts,), (("g", (7, 100), False),), 0, 0, 0))
    assert (_user(view.counters), _system(view.counters)) == pytest.approx((0.02, 0.01))
    accounted = facts._replace(ended=(0.022, 0.009, 0, 0, 0, 0, 0, 0), exits=1)
    view = metrics.compute(Round((accounted,), (), 0, 0, 0, frozenset({(7, 100)})))
    assert _user(view.counters) + _system(view.counters) == pytest.approx(0.031)
    assert _system(view.counters) == pytest.approx(0.01)


def test_run_time_of_a_threaded_process_is_within_its_ticks() -> None:
    """This process, with a thread that computed and ended and one that lives: its run time
    is its threads' schedstat, held within its stat's ticks (ended threads are stat's only),
    and no more than its CPU clock read after."""

    def burn(seconds: float) -> None:
        t = time.thread_time()
        while time.thread_time() - t < seconds:
            pass

    ended = threading.Thread(target=burn, args=(0.03,))
    ended.start()
    ended.join()
    stop = threading.Event()
    alive = threading.Thread(target=stop.wait)
    alive.start()
    try:
        stat = procfs.read_stat(os.getpid())
        assert stat is not None and 1 < stat.threads <= pstats.MAX_THREADS
        with open(f"/proc/{os.getpid()}/stat", "rb") as f:
            raw = f.read()
        rest = raw[raw.rindex(b")") + 2 :].split()
        utime, stime = int(rest[11]), int(rest[12])
        run_ns = pstats.run_time_ns(os.getpid(), utime, stime, stat.threads)
        after = time.clock_gettime_ns(time.CLOCK_PROCESS_CPUTIME_ID)
        assert (utime + stime) * procfs.NS_PER_TICK <= run_ns <= after
        assert pstats.run_time_ns(os.getpid(), utime, stime, pstats.MAX_THREADS + 1) == -1
    finally:
        stop.set()
        alive.join()


def test_pstats_run_time_is_this_process_cpu_clock() -> None:
    before = time_ns_cpu()
    stats = pstats.read(os.getpid())
    after = time_ns_cpu()
    assert stats is not None and stats.run_ns >= 0
    low = round((stats.utime_s + stats.stime_s) * procfs.CLK_TCK) * procfs.NS_PER_TICK
    assert max(low, before - 2 * procfs.NS_PER_TICK) <= stats.run_ns <= after


def time_ns_cpu() -> int:
    return time.clock_gettime_ns(time.CLOCK_PROCESS_CPUTIME_ID)


def _system(counters: Counters, group: str = "g") -> float:
    return next(
        v
        for n, labels, v in counters
        if n.endswith("cpu_seconds_total")
        and ("mode", "system") in labels
        and ("groupname", group) in labels
    )


def test_run_time_not_read_again_of_a_process_that_has_not_run() -> None:
    """A sleeping child, read twice: the second read takes the first's run time (a run time
    made up for the first read shows it was not read again); one computing is read again."""
    sleeper = subprocess.Popen(["sleep", "30"])
    burner = subprocess.Popen([sys.executable, "-S", "-c", "while True: pass"])
    try:
        poll = time.monotonic() + 5
        first = None
        while time.monotonic() < poll:
            first = pstats.read(sleeper.pid)
            if first is not None and first.state == "S" and first.run_ns >= 0:
                break
            time.sleep(0.01)
        assert first is not None and first.state == "S"
        made_up = first._replace(run_ns=first.run_ns + 1000)
        again = pstats.read(sleeper.pid, before=made_up)
        assert again is not None and pstats.idle_since(again, made_up)
        assert again.run_ns == first.run_ns + 1000
        assert pstats.read(sleeper.pid).run_ns == first.run_ns  # type: ignore[union-attr]
        busy = pstats.read(burner.pid)
        time.sleep(0.1)
        assert busy is not None
        later = pstats.read(burner.pid, before=busy)
        assert later is not None and not pstats.idle_since(later, busy)
        assert later.run_ns > busy.run_ns
    finally:
        for child in (sleeper, burner):
            child.kill()
            child.wait(timeout=5)
