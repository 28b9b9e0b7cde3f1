"""The arithmetic of the CPU the records lack (tractui.model.reaped): corrections only grow,
never below 0, and the order in which a reading, a child's exit, its record and a wait4 come
does not count anything twice."""

from __future__ import annotations

from tractui.kernel import procfs
from tractui.model.account import Account
from tractui.model.reaped import (
    MARGIN_NS,
    SETTLE_NS,
    US_PER_TICK,
    Fix,
    Unrecorded,
    raise_to,
    within_tick,
)
from tractui.model.store import Group, Proc, Store

S = 1_000_000_000  # ns
T0 = 100 * S


def test_raise_to_grows_the_total_never_a_mode_down() -> None:
    assert raise_to(0, 0, 300, 100) == (300, 100)
    assert raise_to(300, 100, 200, 100) == (300, 100)  # lower: kept
    assert raise_to(300, 100, -50, -50) == (300, 100)  # negative: kept
    # the user part reads lower, the system part higher, the total 100 higher: each mode
    # stays or grows, and the total is the reading's
    user, system = raise_to(300, 100, 250, 250)
    assert (user, system) == (300, 200)
    user, system = raise_to(100, 100, 400, 200)  # both up: the total, split as they grew
    assert user + system == 600 and user >= 100 and system >= 100


def test_a_reading_counts_the_middle_of_its_tick() -> None:
    tick = US_PER_TICK
    assert within_tick(9 * tick) == 9 * tick + tick // 2  # cut down by half a tick, mean
    assert within_tick(0) == 0  # nothing in that mode: nothing


def corr(read_ms: int, given_us: int) -> int:
    """The correction a reading of ``read_ms`` (whole ticks) gives over ``given_us``."""
    return max(0, within_tick(read_ms * 1000) - given_us)


class Stat:
    """What Unrecorded reads of a reaper: its start and cutime, cstime (ticks)."""

    def __init__(self, start: int, cutime: int, cstime: int) -> None:
        self.start, self.cutime, self.cstime = start, cutime, cstime


class Reader:
    def __init__(self) -> None:
        self.stats: dict[int, Stat] = {}

    def stat(self, pid: int) -> procfs.Stat | None:
        return self.stats.get(pid)  # type: ignore[return-value]


def _store() -> tuple[Store, Unrecorded, Group]:
    store = Store()
    group = store.add_group(Group("g"))
    return store, Unrecorded(store), group


def _proc(store: Store, pid: int, parent: Proc | None = None) -> Proc:
    proc = Proc(pid, T0 + pid, "g", parent.key if parent else None, parent.pid if parent else 1)
    store.insert(proc, parent)
    return proc


def _end(store: Store, u: Unrecorded, proc: Proc, at: int, reaper: Proc | None,
         user: int = 0, system: int = 0) -> None:  # fmt: skip
    """``proc`` ends at ``at`` with a record of (user, system) µs (0, 0: none yet)."""
    proc.ended = at
    if user or system:
        proc.account = Account(utime_us=user, stime_us=system, processes=1)
        store.groups["g"].ended.merge(proc.account)
    u.ended(proc, reaper, at)
    store.end(proc)


def _record(u: Unrecorded, proc: Proc, user: int, system: int, now: int) -> None:
    """A record that comes after its process's exit event."""
    proc.account = Account(utime_us=user, stime_us=system, processes=1)
    u.grown(proc, user, system, now)


def _read(u: Unrecorded, reader: Reader, reaper: Proc, at: int, cut_ms: int, cst_ms: int) -> None:
    reader.stats[reaper.pid] = Stat(reaper.start, cut_ms * 1000 // US_PER_TICK,
                                    cst_ms * 1000 // US_PER_TICK)  # fmt: skip
    assert u.read(reader, at) == 1


def test_a_reaper_gets_what_its_children_records_lack() -> None:
    store, u, group = _store()
    reader = Reader()
    parent = _proc(store, 10)
    kids = [_proc(store, 11 + i, parent) for i in range(3)]
    # each child ran 30 ms user + 10 ms system; its record holds 28 + 9
    for i, kid in enumerate(kids):
        _end(store, u, kid, T0 + i * S // 10, parent, 28_000, 9_000)
    _read(u, reader, parent, T0 + S, 90, 30)
    u.settle(T0 + S + SETTLE_NS - 1)
    assert parent.fix is not None and parent.fix.user_us == 0  # not settled yet
    u.settle(T0 + S + SETTLE_NS)
    want = (corr(90, 84_000), corr(30, 27_000))
    assert want == (11_000, 8_000)  # 6 and 3 ms lacking, and half a tick each
    assert (parent.fix.user_us, parent.fix.system_us) == want
    assert (group.unrecorded_user_us, group.unrecorded_system_us) == want
    # read again, the same: nothing more
    _read(u, reader, parent, T0 + 3 * S, 90, 30)
    u.settle(T0 + 5 * S)
    assert (group.unrecorded_user_us, group.unrecorded_system_us) == want


def test_a_child_not_reaped_yet_or_ended_after_the_reading_counts_nothing_twice() -> None:
    store, u, group = _store()
    reader = Reader()
    parent = _proc(store, 10)
    a, b = _proc(store, 11, parent), _proc(store, 12, parent)
    _end(store, u, a, T0, parent, 28_000, 9_000)
    _read(u, reader, parent, T0 + S, 30, 10)  # a reaped: 30 + 10
    # b ended after the reading (reaped after it too), its exit applied before it settled
    _end(store, u, b, T0 + S + MARGIN_NS + 1, parent, 50_000, 0)
    u.settle(T0 + 3 * S)
    want = (corr(30, 28_000), corr(10, 9_000))  # b is not in that reading
    assert (parent.fix.user_us, parent.fix.system_us) == want  # type: ignore[union-attr]
    # a reading with b ended but not reaped yet (a zombie): lower, kept as it was
    _read(u, reader, parent, T0 + 4 * S, 30, 10)
    u.settle(T0 + 6 * S)
    assert (group.unrecorded_user_us, group.unrecorded_system_us) == want


def test_a_record_after_the_exit_event_within_the_settling_is_not_counted_twice() -> None:
    store, u, group = _store()
    reader = Reader()
    parent = _proc(store, 10)
    kid = _proc(store, 11, parent)
    _end(store, u, kid, T0, parent)  # its exit event, no record yet
    _read(u, reader, parent, T0 + S // 10, 30, 10)
    _record(u, kid, 28_000, 9_000, T0 + S // 5)  # its record, before the reading settled
    u.settle(T0 + 2 * S)
    want = (corr(30, 28_000), corr(10, 9_000))
    assert (group.unrecorded_user_us, group.unrecorded_system_us) == want


def test_a_sigchld_ignoring_parent_never_goes_negative() -> None:
    store, u, group = _store()
    reader = Reader()
    parent = _proc(store, 10)
    for i in range(3):
        _end(store, u, _proc(store, 11 + i, parent), T0, parent, 1_000, 500)
    _read(u, reader, parent, T0 + S, 0, 0)  # the kernel reaped them: its cutime is 0
    u.settle(T0 + 3 * S)
    assert parent.fix is not None and (parent.fix.user_us, parent.fix.system_us) == (0, 0)
    assert (group.unrecorded_user_us, group.unrecorded_system_us) == (0, 0)


def test_an_attached_reaper_counts_from_its_base() -> None:
    store, u, group = _store()
    reader = Reader()
    parent = _proc(store, 10)
    u.joined(parent, (50, 20))  # it had reaped 0.5 s + 0.2 s before it joined
    kid = _proc(store, 11, parent)
    _end(store, u, kid, T0, parent, 28_000, 9_000)
    base_ms = (50 * US_PER_TICK // 1000, 20 * US_PER_TICK // 1000)
    _read(u, reader, parent, T0 + S, base_ms[0] + 30, base_ms[1] + 10)
    u.settle(T0 + 3 * S)
    want = (corr(30, 28_000), corr(10, 9_000))  # what it reaped before is not in it
    assert (group.unrecorded_user_us, group.unrecorded_system_us) == want


def test_wait4_in_any_order_with_the_roots_exit_and_record() -> None:
    """The engine's wait4 of a launched root may come before its exit event is applied, and
    its record after that: the reading waits for both, then takes the root's own record and its
    children's totals off the rusage."""
    store, u, group = _store()
    root = _proc(store, 10)
    kid = _proc(store, 11, root)
    _end(store, u, kid, T0, root, 28_000, 9_000)
    # wait4 first: 30 + 10 of the child, 100 + 50 of the root itself
    u.waited(root.key, T0 + S // 10, 130_000, 60_000)
    assert u.waiting(root.key)
    _end(store, u, root, T0 + S // 20, None)  # its exit event (the engine is no member)
    _record(u, root, 97_000, 48_000, T0 + S // 5)  # its record, late
    u.settle(T0 + 2 * S)
    assert not u.waiting(root.key)
    # 130 - 97 - 28 = 5 user, 60 - 48 - 9 = 3 system
    assert (group.unrecorded_user_us, group.unrecorded_system_us) == (5_000, 3_000)


def test_a_middle_process_gone_unread_rolls_up_to_its_reaper() -> None:
    """A shell that reaped two children and ended before anyone read it: its reaper's cutime
    holds all of it, and the corrections add up to the truth."""
    store, u, group = _store()
    reader = Reader()
    top = _proc(store, 10)
    sh = _proc(store, 11, top)
    a, b = _proc(store, 12, sh), _proc(store, 13, sh)
    _end(store, u, a, T0, sh, 9_000, 0)  # truth 10 + 0
    _end(store, u, b, T0 + 1, sh, 0, 18_000)  # truth 0 + 20
    _end(store, u, sh, T0 + 2, top, 4_000, 4_000)  # truth 10 + 10
    _read(u, reader, top, T0 + S, 20, 30)  # top's cutime: sh's own and what sh reaped
    u.settle(T0 + 3 * S)
    recorded = group.ended.cpu_s
    # the truth, 50 ms, to half a tick a mode (the readings count the middle of their tick)
    assert 50_000 <= round((recorded + group.unrecorded_s) * 1e6) <= 50_000 + US_PER_TICK


def test_a_growing_correction_of_an_ended_child_reaches_its_reaper() -> None:
    """A child's own correction (settled after its end) is part of its total: its reaper's
    later reading does not count it again."""
    store, u, group = _store()
    reader = Reader()
    top = _proc(store, 10)
    mid = _proc(store, 11, top)
    leaf = _proc(store, 12, mid)
    _end(store, u, leaf, T0, mid, 18_000, 0)  # truth 20
    _read(u, reader, mid, T0 + 1, 20, 0)  # mid read: it reaped leaf's 20
    _end(store, u, mid, T0 + 2, top, 8_000, 0)  # truth 10
    u.settle(T0 + SETTLE_NS + 1)  # mid's correction: 2 ms and half a tick, after its end
    mid_corr = corr(20, 18_000)
    assert mid.fix is not None and mid.fix.user_us == mid_corr
    # mid's record, its correction and what it reaped (leaf's record)
    assert top.fix is not None and top.fix.reaped_user_us == 8_000 + mid_corr + 18_000
    _read(u, reader, top, T0 + 2 * S, 30, 0)  # mid's 10 and its cutime's 20
    u.settle(T0 + 4 * S)
    # mid's half tick is in top's sum: top's reading, in the middle of its own tick, takes
    # it off again (the count is top's reading: the truth to half a tick)
    total = round((group.ended.cpu_s + group.unrecorded_s) * 1e6)
    assert total == 30_000 + US_PER_TICK // 2, total


def test_fix_wire_round_trip_and_bad_values() -> None:
    fix = Fix(1, 2, 3, 4, 5, 6)
    assert Fix.from_wire(fix.to_wire()) == fix
    for bad in (None, [1, 2], [1, 2, 3, 4, 5, -6], [1, 2, 3, 4, 5, True], "x"):
        try:
            Fix.from_wire(bad)
        except ValueError as err:
            assert "cpu_fix" in str(err)
        else:
            raise AssertionError(f"{bad!r} was taken")


def test_a_child_with_no_record_is_marked_reaped_once_its_reapers_reading_settles() -> None:
    """The metrics drop an ended member's held sample once its CPU is in its reaper's
    correction: a child with no record of its own, ended before the reading, is marked; one
    that ended after it, or whose record came, is not."""
    store, u, _group = _store()
    reader = Reader()
    parent = _proc(store, 10)
    before, after, recorded = (_proc(store, 11 + i, parent) for i in range(3))
    _end(store, u, before, T0, parent)
    _end(store, u, recorded, T0, parent)
    recorded.own_record = True  # its record came after the exit event
    _read(u, reader, parent, T0 + S, 30, 10)
    _end(store, u, after, T0 + S + MARGIN_NS + 1, parent)
    u.settle(T0 + 3 * S)
    assert before.reaped_read and not after.reaped_read and not recorded.reaped_read
    _read(u, reader, parent, T0 + 4 * S, 40, 10)
    u.settle(T0 + 6 * S)
    assert after.reaped_read
