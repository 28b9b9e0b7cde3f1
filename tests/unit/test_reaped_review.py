"""Review: cases where the CPU the records lack is counted twice (tractui.model.reaped)."""

from __future__ import annotations

from tractui.events import Exit, Fork
from tractui.kernel import procfs
from tractui.model.account import Account
from tractui.model.reaped import SETTLE_NS, US_PER_TICK, Unrecorded
from tractui.model.store import Group, Proc, Store
from tractui.model.tracker import Tracker

from .fakeproc import FakeProc
from .test_tracker import ROOT, SEC, info
from .test_tracker_accounts import record

MS = 1_000_000


def _stat(pid: int, start: int, cutime: int, ppid: int = 1) -> procfs.Stat:
    fields = ["S", str(ppid), *["0"] * 11, str(cutime), "0", "0", "0", "1", "0",
              str(start // procfs.NS_PER_TICK), "0", "0"]  # fmt: skip
    return procfs.Stat(f"{pid} (sh) {' '.join(fields)}".encode())


def test_a_middle_process_ended_unseen_does_not_hand_its_reaped_kids_to_its_parent_twice() -> None:
    """R forks C, C forks G; G's exit and record come (100 ms), C's exit is lost (gone).
    R reaped C: its cutime holds C's CPU and what C reaped (G). G's record is in the
    group already: R's correction must not hold it again."""
    reader = FakeProc()
    t = Tracker(keep_exited=10.0, clock_offset=lambda: 0, reader=reader)
    t.add_root("g", info(ROOT, 1 * SEC))
    c, g, d = ROOT + 1, ROOT + 2, ROOT + 3
    t.apply([Fork(2 * SEC, ROOT, ROOT, c, c), Fork(3 * SEC, c, c, g, g)])
    t.apply([Exit(4 * SEC, g, g, 0, c, c),
             record(t, g, 3 * SEC, 4 * SEC, utime_us=100_000, ppid=c)])  # fmt: skip
    # a child of R's that ends as usual, exact record: R is a reaper now
    t.apply([Fork(5 * SEC, ROOT, ROOT, d, d), Exit(6 * SEC, d, d, 0, ROOT, ROOT),
             record(t, d, 5 * SEC, 6 * SEC, utime_us=10_000)])  # fmt: skip
    t.gone(t.live[c])  # its exit event was lost; R reaped it (it did nothing itself)
    reader.stats[ROOT] = _stat(ROOT, 1 * SEC, cutime=110 * 1000 // US_PER_TICK)
    assert t.read_reapers() == 1
    t.unrecorded.settle(t.now() + SETTLE_NS)
    group = t.groups["g"]
    assert group.ended.utime_us == 110_000
    # the truth is 110 ms (to a tick): the records have it all
    assert group.ended.utime_us + group.unrecorded_user_us <= 110_000 + US_PER_TICK


def test_a_launched_root_with_no_record_counts_through_its_wait4_alone() -> None:
    """No record (accounting off): the root's rusage gives its whole CPU to its correction,
    so its held /proc sample must be dropped (reaped_read), as its children's are."""
    store = Store()
    store.add_group(Group("g"))
    u = Unrecorded(store)
    root = Proc(10, 10 * SEC, "g", None, 1)
    store.insert(root, None)
    root.ended = 20 * SEC
    store.end(root)
    u.waited(root.key, 20 * SEC, 50_000, 10_000)
    u.settle(20 * SEC + SETTLE_NS)
    assert store.groups["g"].unrecorded_user_us == 50_000  # its whole CPU, in the correction
    assert root.reaped_read  # else metrics adds its last sample to it


def test_a_record_later_than_the_settling_is_not_counted_twice() -> None:
    store = Store()
    group = store.add_group(Group("g"))
    u = Unrecorded(store)
    parent = Proc(10, 1 * SEC, "g", None, 1)
    store.insert(parent, None)
    kid = Proc(11, 2 * SEC, "g", parent.key, 10)
    store.insert(kid, parent)
    kid.ended = 3 * SEC
    u.ended(kid, parent, 3 * SEC)
    store.end(kid)

    class R:
        def stat(self, pid: int) -> procfs.Stat:
            return _stat(10, 1 * SEC, cutime=30 * 1000 // US_PER_TICK)

    u.read(R(), 4 * SEC)  # type: ignore[arg-type]
    u.settle(4 * SEC + SETTLE_NS)
    # its record comes 2 s late (a loaded machine, the collector behind): 28 ms
    kid.account = Account(utime_us=28_000, processes=1)
    group.ended.merge(kid.account)
    u.recorded(kid, 28_000, 0, 6 * SEC)
    u.read(R(), 7 * SEC)  # type: ignore[arg-type]
    u.settle(7 * SEC + SETTLE_NS)
    assert group.ended.utime_us + group.unrecorded_user_us <= 30_000 + US_PER_TICK


def test_a_launched_roots_record_after_its_wait4_reading_is_not_counted_twice() -> None:
    store = Store()
    group = store.add_group(Group("g"))
    u = Unrecorded(store)
    root = Proc(10, 10 * SEC, "g", None, 1)
    store.insert(root, None)
    root.ended = 20 * SEC
    store.end(root)
    u.waited(root.key, 20 * SEC, 50_000, 10_000)
    u.settle(20 * SEC + SETTLE_NS)
    # its record comes 2 s late: 48 + 9 ms
    root.account = Account(utime_us=48_000, stime_us=9_000, processes=1)
    root.own_record = True
    group.ended.merge(root.account)
    u.recorded(root, 48_000, 9_000, 22 * SEC)
    assert group.ended.utime_us + group.unrecorded_user_us == 50_000
    assert group.ended.stime_us + group.unrecorded_system_us == 10_000


def test_an_exit_taken_back_by_an_exec_leaves_nothing_for_a_pending_reading() -> None:
    """A leader "ends" when another thread execs (its exit event names its parent), then
    lives on (unended): a reading of the parent taken just before must not take its sum off
    a second time."""
    store = Store()
    group = store.add_group(Group("g"))
    u = Unrecorded(store)
    parent = Proc(10, 1 * SEC, "g", None, 1)
    store.insert(parent, None)
    other = Proc(12, 2 * SEC, "g", parent.key, 10)  # a child that ended before: exact
    store.insert(other, parent)
    other.ended = 3 * SEC
    other.account = Account(utime_us=20_000, processes=1)
    group.ended.merge(other.account)
    u.ended(other, parent, 3 * SEC)
    kid = Proc(11, 2 * SEC, "g", parent.key, 10)
    store.insert(kid, parent)

    class R:
        def stat(self, pid: int) -> procfs.Stat:
            return _stat(10, 1 * SEC, cutime=20 * 1000 // US_PER_TICK)

    u.read(R(), 4 * SEC)  # type: ignore[arg-type]
    kid.ended = 4 * SEC + SETTLE_NS // 5  # its leader's exit, its threads' 40 ms in it
    kid.account = Account(utime_us=40_000, processes=1)
    u.ended(kid, parent, kid.ended)
    u.unended(kid)  # the exec: it lives on
    kid.ended = None
    u.settle(4 * SEC + SETTLE_NS)
    assert group.unrecorded_user_us <= US_PER_TICK


def test_a_grandchild_with_no_record_is_marked_by_the_reading_of_its_reapers_reaper() -> None:
    """No records (accounting off): sh reaps its child, then ends before any reading of it;
    its reaper's reading holds the child's CPU (in sh's cutime): the child is marked then,
    else metrics adds its last sample to that."""
    store = Store()
    store.add_group(Group("g"))
    u = Unrecorded(store)
    top = Proc(10, 1 * SEC, "g", None, 1)
    store.insert(top, None)
    sh = Proc(11, 2 * SEC, "g", top.key, 10)
    store.insert(sh, top)
    kid = Proc(12, 3 * SEC, "g", sh.key, 11)
    store.insert(kid, sh)
    for proc, reaper, at in ((kid, sh, 4 * SEC), (sh, top, 4 * SEC + 1)):
        proc.ended = at
        u.ended(proc, reaper, at)
        store.end(proc)

    class R:
        def stat(self, pid: int) -> procfs.Stat:
            return _stat(10, 1 * SEC, cutime=20 * 1000 // US_PER_TICK)

    u.read(R(), 5 * SEC)  # type: ignore[arg-type]
    u.settle(5 * SEC + SETTLE_NS)
    assert store.groups["g"].unrecorded_user_us == 20_000 + US_PER_TICK // 2
    assert sh.reaped_read and kid.reaped_read
