"""The UI's view of the kernel's accounts: a group's CPU time counts its ended members' exact
accounts beside its live members' TIME+, an ended row's TIME+ is its account, and the details
say what the account holds (or why there is none)."""

from __future__ import annotations

import dataclasses
import time

from tractui.kernel import procfs
from tractui.kernel.sample import Sample
from tractui.model.tracker import Tracker
from tractui.screens.details import (
    account_pairs,
    clock_text,
    details_content,
    lifetime_text,
    wall_text,
)
from tractui.snapshot import Details, lifetime_s, proc_row

from .fakeproc import FakeProc
from .test_snapshot_rows import USERS, fresh
from .test_tracker import ROOT, SEC, info
from .test_tracker_accounts import child_runs, exit_ev, record


def _tracker() -> Tracker:
    t = Tracker(keep_exited=10.0, clock_offset=lambda: 0, reader=FakeProc())
    t.add_root("web", info(ROOT, 1 * SEC, ("sh", "-c", "serve")))
    t.take_delta()
    return t


def _ended_child(t: Tracker) -> int:
    pid, start, end = ROOT + 1, 2 * SEC, 3 * SEC
    child_runs(t, pid, start)
    rec = record(t, pid, start, end, utime_us=250_000, stime_us=40_000, rss=5000)
    t.apply([rec, exit_ev(end, pid)])
    return pid


def test_group_cpu_time_is_live_time_plus_ended_accounts_even_once_pruned() -> None:
    t = _tracker()
    pid = _ended_child(t)
    root = t.live[ROOT]
    samples = {root.key: Sample("S", 0.0, 1000, 2 * procfs.CLK_TCK, 1, 0)}  # 2 s of TIME+
    snap = fresh(t, samples)
    (group,) = snap.groups
    assert group.cpu_time_s == 2.29
    child = next(r for r in snap.procs.values() if r.pid == pid)
    assert child.ticks == 29 * procfs.CLK_TCK // 100  # its exact account, as TIME+
    t.prune(now=100 * SEC)  # the child is forgotten; its CPU time is not
    assert all(r.pid != pid for r in fresh(t, samples).procs.values())
    assert fresh(t, samples).groups[0].cpu_time_s == 2.29


def _details(t: Tracker, pid: int, accounting: str = "") -> Details:
    proc = next(p for p in t.procs.values() if p.pid == pid)
    row = proc_row(proc, 0, (), None, None, USERS)
    return Details(
        row, proc.argv, "", "", 0, 0.0, "", "", 1, (), account=proc.account, accounting=accounting
    )


def test_details_show_an_ended_process_s_account() -> None:
    t = _tracker()
    pid = _ended_child(t)
    shown = dict(account_pairs(_details(t, pid)))
    assert shown["CPU time"] == "0.290 s: 0.250 user, 0.040 system"
    assert shown["peak RSS"] == "5000K"


def test_details_say_why_an_ended_process_has_no_account() -> None:
    t = _tracker()
    pid, start, end = ROOT + 1, 2 * SEC, 3 * SEC
    child_runs(t, pid, start)
    t.apply([exit_ev(end, pid)])
    shown = dict(account_pairs(_details(t, pid, accounting="needs CAP_NET_ADMIN")))
    assert shown["accounting"] == "unavailable (needs CAP_NET_ADMIN)"
    assert "no record" in dict(account_pairs(_details(t, pid)))["accounting"]


def test_details_place_each_exec_after_the_start() -> None:
    t = _tracker()
    pid = _ended_child(t)
    d = _details(t, pid)
    d = dataclasses.replace(d, execs=(("make", "-j2"), ()), exec_after=(0.0042, 0.5))
    text = details_content(d).plain
    assert "+0.004s make -j2" in text
    assert "+0.500s (unknown: not read in time)" in text


def test_details_of_an_exited_process_say_when_it_ended_and_how_long_it_lived() -> None:
    t = _tracker()
    pid = _ended_child(t)
    proc = next(p for p in t.procs.values() if p.pid == pid)
    started = time.mktime((2026, 11, 29, 23, 59, 59, 0, 0, -1)) + 0.75
    d = dataclasses.replace(_details(t, pid), started=started, lifetime=lifetime_s(proc))
    shown = dict(line.split(None, 1) for line in details_content(d).plain.splitlines()[:9])
    assert d.lifetime is not None and d.lifetime > 0
    assert shown["lifetime"] == "1.000 s"  # started at 2 s, exited at 3 s (kernel times)
    assert shown["started"] == "2026-11-29 23:59:59.750"
    assert shown["ended"] == "2026-11-30 00:00:00.750"  # a day past its start: dated
    assert wall_text(started + 0.1, same_day=started) == "23:59:59.850"
    assert clock_text(started + 1.0) == "00:00:00.750", "the clock alone, even a day on"
    assert lifetime_text(3723.5) == "3723 s (1h02m03s)"
    live = dataclasses.replace(d, lifetime=None)
    assert "ended" not in details_content(live).plain


def test_details_of_a_running_process_have_no_end() -> None:
    t = _tracker()
    proc = next(iter(t.procs.values()))
    assert proc.alive and lifetime_s(proc) is None


def test_details_of_a_live_process_name_a_record_as_its_ended_threads_account() -> None:
    """A record while the process runs is an ended thread's: not read as the process's CPU."""
    t = _tracker()
    d = _details(t, _ended_child(t))
    live_row = dataclasses.replace(d.row, alive=True, ticks=12 * procfs.CLK_TCK // 100)
    shown = dict(account_pairs(dataclasses.replace(d, row=live_row)))
    assert shown["CPU time"] == "0.12 s so far (from /proc)"
    assert "peak RSS" not in shown
    thread = shown["thread exits"]
    assert thread.startswith("the kernel's account of its ended threads: CPU 0.290 s")
    assert thread.endswith("peak RSS 5000K")
