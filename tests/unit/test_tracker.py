"""The tracker model on synthetic event lists: genealogy, threads, exits, PID reuse, pruning."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tractui.errors import UserError
from tractui.events import Comm, Exec, Exit, ExitStatus, Fork, Loss, ProcInfo
from tractui.kernel import procfs
from tractui.model.adopt import stat_if_present
from tractui.model.store import UNREAD_EXEC, Group
from tractui.model.tracker import Tracker

from .fakeproc import FakeProc, stat_line
from .histories import History, ops

SEC = 1_000_000_000
# Each tracker here reads a FakeProc, never /proc: these PIDs need not be free on the machine.
# (They are above any pid_max all the same, so that none is this test's own, which the
# tracker refuses to attach.)
ROOT = 5_000_000


def info(pid: int, start: int, argv: tuple[str, ...] = ("sh",), ppid: int = 1) -> ProcInfo:
    return ProcInfo(pid, start, ppid, argv[0], argv, "/bin/" + argv[0], 0, 1, "S", False)


@pytest.fixture
def tracker() -> Tracker:
    t = Tracker(keep_exited=10.0, clock_offset=lambda: 0, reader=FakeProc())
    t.add_root("web", info(ROOT, 1 * SEC, ("sh", "-c", "serve")))
    t.take_delta()
    return t


def fork(ts: int, parent: int, child: int, thread_of: int | None = None) -> Fork:
    if thread_of is not None:
        return Fork(ts, parent, thread_of, child, thread_of)
    return Fork(ts, parent, parent, child, child)


def exit_(ts: int, pid: int, status: int = 0, tgid: int | None = None) -> Exit:
    return Exit(ts, pid, pid if tgid is None else tgid, status, 1, 1)


def test_forked_child_joins_its_parents_group(tracker: Tracker) -> None:
    delta = tracker.apply([fork(2 * SEC, ROOT, ROOT + 1)])
    child = tracker.live[ROOT + 1]
    assert child.group == "web"
    assert child.parent == (ROOT, 1 * SEC)
    assert child.argv == ("sh", "-c", "serve")  # runs its forker's program until it execs
    assert delta.added == [child.key]
    assert tracker.groups["web"].forks == 1
    assert tracker.groups["web"].live == 2


def test_forks_by_non_members_are_ignored(tracker: Tracker) -> None:
    delta = tracker.apply([fork(2 * SEC, 42, 43)])
    assert 43 not in tracker.live
    assert not delta.added


def test_double_forked_daemon_stays_under_its_forker(tracker: Tracker) -> None:
    mid, daemon = ROOT + 1, ROOT + 2
    tracker.apply([fork(2 * SEC, ROOT, mid), fork(3 * SEC, mid, daemon), exit_(4 * SEC, mid)])
    proc = tracker.live[daemon]
    assert proc.group == "web"
    assert proc.parent is not None and proc.parent[0] == mid
    assert not tracker.procs[proc.parent].alive
    assert [p.pid for p in tracker.members("web")] == [ROOT, mid, daemon]
    assert tracker.depth(proc) == 2


def test_reparented_is_current_ppid_differs_from_forker(tracker: Tracker) -> None:
    tracker.apply([fork(2 * SEC, ROOT, ROOT + 1)])
    proc = tracker.live[ROOT + 1]
    assert not proc.reparented
    proc.ppid = 1
    assert proc.reparented


def test_threads_fold_into_their_process(tracker: Tracker) -> None:
    tracker.apply([fork(2 * SEC, ROOT, ROOT + 10, thread_of=ROOT)] * 1)
    tracker.apply([fork(2 * SEC, ROOT, ROOT + 11, thread_of=ROOT)])
    root = tracker.live[ROOT]
    assert root.threads == 3 and root.peak_threads == 3
    assert ROOT + 10 not in tracker.live and ROOT + 11 not in tracker.live
    tracker.apply([exit_(3 * SEC, ROOT + 10, tgid=ROOT)])
    assert root.threads == 2 and root.alive and root.peak_threads == 3
    assert tracker.groups["web"].exits == 0


def test_exec_updates_the_command_and_records_it(tracker: Tracker) -> None:
    tracker.apply([fork(2 * SEC, ROOT, ROOT + 1)])
    new = info(ROOT + 1, 2 * SEC, ("sleep", "30"), ppid=ROOT)
    delta = tracker.apply([Exec(2 * SEC + 5, ROOT + 1, ROOT + 1, new)])
    proc = tracker.live[ROOT + 1]
    assert proc.argv == ("sleep", "30") and proc.comm == "sleep"
    assert proc.execs == [("sleep", "30")]
    assert proc.key in delta.changed
    assert tracker.groups["web"].execs == 1


def test_exec_info_of_another_process_with_the_pid_is_not_absorbed(tracker: Tracker) -> None:
    tracker.apply([fork(2 * SEC, ROOT, ROOT + 1)])
    stale = info(ROOT + 1, 9 * SEC, ("other",))  # /proc already showed a later process
    tracker.apply([Exec(2 * SEC + 5, ROOT + 1, ROOT + 1, stale)])
    proc = tracker.live[ROOT + 1]
    assert proc.argv == () and proc.command() == UNREAD_EXEC  # neither "other" nor its forker's
    assert proc.execs == [()]


def test_an_exec_that_ended_before_it_was_read_does_not_show_its_forkers_command(
    tracker: Tracker,
) -> None:
    tracker.apply([fork(2 * SEC, ROOT, ROOT + 1)])
    delta = tracker.apply([Exec(2 * SEC + 5, ROOT + 1, ROOT + 1, None)])
    proc = tracker.live[ROOT + 1]
    assert proc.command() == UNREAD_EXEC and proc.exe == ""
    assert [(e.kind, e.detail) for e in delta.log] == [("exec", UNREAD_EXEC)]
    tracker.apply([exit_(3 * SEC, ROOT + 1)])
    assert tracker.procs[proc.key].command() == UNREAD_EXEC  # and so it stays, exited


def test_a_launched_program_that_ended_before_it_was_read_keeps_its_command_line() -> None:
    """tractui started it: what it exec'd is known even when /proc showed only a zombie."""
    t = Tracker(keep_exited=10.0, clock_offset=lambda: 0, reader=FakeProc())
    zombie = ProcInfo(ROOT, 1 * SEC, 1, "sh", (), "", 0, 1, "Z", False)  # cmdline empty
    proc = t.add_root("brief", zombie)
    t.expect_exec(proc, ("sh", "-c", "exit 7"))
    assert proc.command() == "sh -c exit 7"
    t.apply([Exec(1 * SEC + 5, ROOT, ROOT, zombie), exit_(1 * SEC + 9, ROOT, 7 << 8)])
    assert proc.command() == "sh -c exit 7" and proc.execs == [("sh", "-c", "exit 7")]
    # its next exec is its own: read from /proc, or unknown, never the launched one again
    t.add_root("again", info(ROOT + 1, 2 * SEC))
    again = t.live[ROOT + 1]
    t.expect_exec(again, ("sh", "-c", "exec sleep 1"))
    t.apply([Exec(2 * SEC + 5, ROOT + 1, ROOT + 1, info(ROOT + 1, 2 * SEC))])
    t.apply([Exec(2 * SEC + 9, ROOT + 1, ROOT + 1, None)])
    assert again.command() == UNREAD_EXEC and not t._launched_argv


def test_exec_from_a_non_leader_thread_keeps_the_process(tracker: Tracker) -> None:
    # the kernel reports the leader's exit, then an exec with the leader's pid
    tracker.apply([fork(2 * SEC, ROOT, ROOT + 7, thread_of=ROOT)])
    new = info(ROOT, 1 * SEC, ("sleep", "5"))
    tracker.apply([exit_(3 * SEC, ROOT), Exec(3 * SEC + 1000, ROOT, ROOT, new)])
    root = tracker.live[ROOT]
    assert root.alive and root.exit is None
    assert root.argv == ("sleep", "5")
    group = tracker.groups["web"]
    assert (group.exits, group.failed, group.live) == (0, 0, 1)


def test_exit_status_is_decoded_and_counted(tracker: Tracker) -> None:
    tracker.apply([fork(2 * SEC, ROOT, ROOT + 1), fork(2 * SEC, ROOT, ROOT + 2)])
    delta = tracker.apply([exit_(3 * SEC, ROOT + 1, 768), exit_(3 * SEC, ROOT + 2, 134)])
    one, two = tracker.procs[(ROOT + 1, 2 * SEC)], tracker.procs[(ROOT + 2, 2 * SEC)]
    assert one.exit == ExitStatus(code=3) and one.status_text() == "exit 3"
    assert two.exit == ExitStatus(signal=6, core=True) and two.status_text() == "SIGABRT (core)"
    assert one.ended == 3 * SEC
    assert delta.exited == [one.key, two.key]
    group = tracker.groups["web"]
    assert (group.exits, group.failed, group.live) == (2, 2, 1)


def test_a_reused_pid_is_a_new_process(tracker: Tracker) -> None:
    child = ROOT + 1
    tracker.apply([fork(2 * SEC, ROOT, child), exit_(3 * SEC, child), fork(4 * SEC, ROOT, child)])
    old, new = tracker.procs[(child, 2 * SEC)], tracker.procs[(child, 4 * SEC)]
    assert not old.alive and new.alive
    assert tracker.live[child] is new
    assert len(tracker.live[ROOT].children) == 2


def test_fork_onto_a_live_pid_means_its_exit_was_lost(tracker: Tracker) -> None:
    child = ROOT + 1
    tracker.apply([fork(2 * SEC, ROOT, child), fork(5 * SEC, ROOT, child)])
    old = tracker.procs[(child, 2 * SEC)]
    assert not old.alive and old.lost_exit and old.status_text() == "gone"
    assert tracker.live[child].start == 5 * SEC
    assert tracker.unrecovered == 1


def test_a_late_fork_of_a_pids_previous_owner_never_ends_its_live_member(
    tracker: Tracker,
) -> None:
    """After a loss the rescan adopts a member; forks still in the backlog name its PID when
    it belonged to an earlier process (the PID was reused since): the member lives on."""
    child = ROOT + 1
    tracker.apply([fork(5 * SEC, ROOT, child)])  # as the rescan adopts it: started at 5 s
    delta = tracker.apply([fork(2 * SEC, ROOT, child), exit_(3 * SEC, child)])
    member = tracker.live[child]
    assert member.alive and member.start == 5 * SEC
    assert not delta.exited and tracker.unrecovered == 0
    assert tracker.groups["web"].live == 2


def test_a_fork_never_ends_a_member_proc_shows_alive_with_its_start() -> None:
    fake = FakeProc()
    sleep = info(ROOT + 5, 3 * SEC, ("sleep", "30"))
    fake.run(sleep)
    t = Tracker(keep_exited=10.0, clock_offset=lambda: 0, reader=fake)
    t.add_root("web", info(ROOT, 1 * SEC))
    t.add_root("web", sleep)
    delta = t.apply([fork(sleep.start + 5 * SEC, ROOT, sleep.pid)])
    assert t.live[sleep.pid].start == sleep.start
    assert not delta.exited and t.unrecovered == 0


def test_duplicate_fork_of_an_adopted_process_is_ignored(tracker: Tracker) -> None:
    tracker.apply([fork(2 * SEC, ROOT, ROOT + 1)])
    delta = tracker.apply([fork(2 * SEC + 1000, ROOT, ROOT + 1)])
    assert not delta.added and tracker.groups["web"].forks == 1


def test_late_exit_of_the_pids_previous_owner_is_ignored(tracker: Tracker) -> None:
    tracker.apply([fork(5 * SEC, ROOT, ROOT + 1)])
    tracker.apply([exit_(2 * SEC, ROOT + 1, 9)])
    assert tracker.live[ROOT + 1].alive


def test_comm_change_renames_the_process(tracker: Tracker) -> None:
    delta = tracker.apply([Comm(2 * SEC, ROOT, ROOT, "worker")])
    assert tracker.live[ROOT].comm == "worker"
    assert (ROOT, 1 * SEC) in delta.changed
    tracker.apply([Comm(2 * SEC, ROOT + 9, ROOT, "thread-name")])
    assert tracker.live[ROOT].comm == "worker"


def test_prune_forgets_old_exits_but_keeps_parents_of_live_children(tracker: Tracker) -> None:
    mid, daemon, quick = ROOT + 1, ROOT + 2, ROOT + 3
    tracker.apply(
        [
            fork(2 * SEC, ROOT, mid),
            fork(2 * SEC, mid, daemon),
            fork(2 * SEC, ROOT, quick),
            exit_(3 * SEC, mid),
            exit_(3 * SEC, quick),
        ]
    )
    tracker.take_delta()
    tracker.prune(now=12 * SEC)  # 9 s after the exits: kept
    assert (quick, 2 * SEC) in tracker.procs
    tracker.prune(now=14 * SEC)
    delta = tracker.take_delta()
    assert (quick, 2 * SEC) not in tracker.procs
    assert delta.removed == [(quick, 2 * SEC)]
    assert (mid, 2 * SEC) in tracker.procs  # its child lives on
    tracker.apply([exit_(15 * SEC, daemon)])
    tracker.prune(now=30 * SEC)
    assert (mid, 2 * SEC) not in tracker.procs and (daemon, 2 * SEC) not in tracker.procs
    assert [p.pid for p in tracker.members("web")] == [ROOT]


def test_a_zombie_stays_past_keep_exited_until_it_is_reaped() -> None:
    fake = FakeProc()
    proc_table = fake.stats
    tracker = Tracker(keep_exited=10.0, clock_offset=lambda: 0, reader=fake)
    tracker.add_root("web", info(ROOT, 1 * SEC))
    child, quick = ROOT + 1, ROOT + 2
    tracker.apply([fork(2 * SEC, ROOT, child), fork(2 * SEC, ROOT, quick), exit_(3 * SEC, child)])
    tracker.apply([exit_(3 * SEC, quick)])
    tracker.take_delta()
    proc_table[child] = stat_line(child, 2 * SEC, "Z")  # not reaped by its parent yet
    proc_table[quick] = stat_line(quick, 9 * SEC, "Z")  # the PID of another process now
    tracker.prune(now=20 * SEC)
    delta = tracker.take_delta()
    key = (child, 2 * SEC)
    assert key in tracker.procs and (quick, 2 * SEC) not in tracker.procs
    assert delta.changed == {key} and delta.removed == [(quick, 2 * SEC)]
    zombie = tracker.procs[key]
    assert zombie.zombie and not zombie.alive
    assert zombie.status_text() == "exit 0, zombie"
    tracker.prune(now=30 * SEC)
    assert key in tracker.procs and not tracker.take_delta()  # still one: nothing new
    del proc_table[child]  # reaped
    tracker.prune(now=31 * SEC)
    assert key not in tracker.procs
    assert tracker.take_delta().removed == [key]


def test_a_zombie_shows_as_one_a_second_after_its_exit_and_no_longer_once_reaped() -> None:
    """Not only past keep-exited: ps shows it Z, and so does tractui, until it is reaped."""
    fake = FakeProc()
    proc_table = fake.stats
    tracker = Tracker(keep_exited=10.0, clock_offset=lambda: 0, reader=fake)
    tracker.add_root("web", info(ROOT, 1 * SEC))
    child = ROOT + 1
    tracker.apply([fork(2 * SEC, ROOT, child), exit_(3 * SEC, child)])
    key = (child, 2 * SEC)
    proc_table[child] = stat_line(child, 2 * SEC, "Z")
    tracker.take_delta()
    tracker.prune(now=3 * SEC + SEC // 2)  # too soon: its parent may be reaping it right now
    assert not tracker.procs[key].zombie
    tracker.prune(now=4 * SEC + SEC // 10)
    assert tracker.procs[key].zombie and tracker.take_delta().changed == {key}
    tracker.prune(now=5 * SEC)
    assert tracker.procs[key].zombie and not tracker.take_delta()
    del proc_table[child]  # reaped
    tracker.prune(now=6 * SEC)
    proc = tracker.procs[key]  # an exit like any other, kept for keep-exited
    assert not proc.zombie and proc.status_text() == "exit 0"
    assert tracker.take_delta().changed == {key}
    tracker.prune(now=14 * SEC)
    assert key not in tracker.procs and not tracker.zombies.zombies and not tracker.zombies.to_check


def test_an_exit_that_is_not_a_zombie_is_pruned_as_before() -> None:
    fake = FakeProc()
    proc_table = fake.stats
    tracker = Tracker(keep_exited=10.0, clock_offset=lambda: 0, reader=fake)
    tracker.add_root("web", info(ROOT, 1 * SEC))
    tracker.apply([fork(2 * SEC, ROOT, ROOT + 1), exit_(3 * SEC, ROOT + 1)])
    proc_table[ROOT + 1] = stat_line(ROOT + 1, 2 * SEC, "S")  # a new owner, same start
    tracker.prune(now=14 * SEC)
    assert (ROOT + 1, 2 * SEC) not in tracker.procs


def test_the_default_reader_reads_only_pids_that_exist() -> None:
    own = stat_if_present(os.getpid())
    assert own is not None and procfs.same_start(own.start, procfs.read_start(os.getpid()) or 0)
    assert stat_if_present(ROOT) is None  # above any pid_max


def test_loss_rescans_and_marks_vanished_members_gone(tracker: Tracker) -> None:
    delta = tracker.apply([Loss(2 * SEC, 7)])
    root = tracker.procs[(ROOT, 1 * SEC)]
    assert not root.alive and root.lost_exit  # no such PID in /proc
    assert tracker.lost == 7 and delta.lost == 7
    assert tracker.unrecovered == 1


def test_a_fork_from_a_losss_backlog_joins_only_if_proc_shows_it_running() -> None:
    """Events queued before a loss arrive after its rescan: a fork among them may be of a child
    whose exit was dropped. It joins if /proc shows it running, never as a phantom."""
    fake = FakeProc()
    root = info(ROOT, 1 * SEC)
    fake.run(root)  # a running member, so that the rescan keeps it
    t = Tracker(keep_exited=10.0, clock_offset=lambda: 0, reader=fake)
    t.add_root("self", root)
    t.apply([Loss(1 * SEC, 5)])
    assert t.live[ROOT].alive
    running, ended, later = ROOT + 1, ROOT + 2, ROOT + 3
    fake.stats[running] = stat_line(running, 1 * SEC, "S")  # ended: no /proc entry
    now = time.monotonic_ns()
    backlog = [fork(1 * SEC, ROOT, running), fork(1 * SEC, ROOT, ended)]
    t.apply([*backlog, fork(now + SEC, ROOT, later)])
    assert t.procs[(running, 1 * SEC)].alive  # reparented away, found by its fork alone
    assert ended not in t.live and all(p.pid != ended for p in t.procs.values())
    assert later in t.live  # a fork after the rescan is as before: no /proc read


def test_group_names_are_validated_and_unique(tracker: Tracker) -> None:
    with pytest.raises(UserError, match="no group name given: type one"):
        tracker.create_group("")
    with pytest.raises(UserError, match="bad group name"):
        tracker.create_group("has space")
    with pytest.raises(UserError, match="already exists"):
        tracker.create_group("web")
    assert tracker.create_group("web", exist_ok=True) is tracker.groups["web"]


def test_rename_moves_every_member(tracker: Tracker) -> None:
    tracker.apply([fork(2 * SEC, ROOT, ROOT + 1)])
    with pytest.raises(UserError, match="no group name given"):
        tracker.rename_group("web", " ")
    tracker.create_group("db")
    with pytest.raises(UserError, match="already exists"):
        tracker.rename_group("web", "db")
    tracker.rename_group("web", "api")
    assert list(tracker.groups) == ["api", "db"]  # in its place, not moved to the end
    assert {p.group for p in tracker.members("api")} == {"api"}
    tracker.apply([fork(3 * SEC, ROOT + 1, ROOT + 2)])
    assert tracker.live[ROOT + 2].group == "api"


def test_remove_stops_tracking_but_leaves_processes(tracker: Tracker) -> None:
    tracker.apply([fork(2 * SEC, ROOT, ROOT + 1)])
    removed = tracker.remove_group("web")
    assert set(removed) == {(ROOT, 1 * SEC), (ROOT + 1, 2 * SEC)}
    assert not tracker.live and not tracker.procs
    assert not tracker.apply([fork(3 * SEC, ROOT, ROOT + 2)]).added
    with pytest.raises(UserError, match=r"no group named 'web' \(there are no groups yet\)"):
        tracker.group("web")


def test_an_unknown_group_s_error_names_the_groups_there_are(tracker: Tracker) -> None:
    with pytest.raises(UserError, match=r"^no group named 'nope' \(the groups: web\)$"):
        tracker.group("nope")
    for n in range(9):
        tracker.add_group(Group(f"g{n}"))
    every = ", ".join(["web"] + [f"g{n}" for n in range(9)])
    with pytest.raises(UserError, match=rf"^no group named 'nope' \(the groups: {every}\)$"):
        tracker.group("nope")
    tracker.add_group(Group("g9"))
    tracker.add_group(Group("g10"))
    with pytest.raises(
        UserError, match=rf"\(the groups: {every} and 2 more: tractui groups lists them\)$"
    ):
        tracker.group("nope")


def test_attach_refuses_what_cannot_be_tracked(tracker: Tracker) -> None:
    with pytest.raises(UserError, match="PID 1 is init"):
        tracker.check_attachable(1)
    with pytest.raises(UserError, match="tractui itself"):
        tracker.check_attachable(next(iter(tracker.own_pids)))
    with pytest.raises(UserError, match="no process with PID"):
        tracker.check_attachable(ROOT + 99)
    with pytest.raises(UserError, match="positive"):
        tracker.check_attachable(0)


def test_attach_says_why_a_process_cannot_be_tracked_and_adopts_its_descendants() -> None:
    fake = FakeProc()
    t = Tracker(keep_exited=10.0, clock_offset=lambda: 0, reader=fake)
    fake.run(ProcInfo(ROOT + 1, 1 * SEC, 2, "kworker/0:1", (), "", 0, 1, "I", True))
    fake.run(ProcInfo(ROOT + 2, 1 * SEC, 1, "sh", (), "", 0, 1, "Z", False))
    fake.run(info(ROOT + 3, 1 * SEC))
    fake.tgids[ROOT + 3] = ROOT + 4
    with pytest.raises(UserError, match="is a kernel thread"):
        t.check_attachable(ROOT + 1)
    with pytest.raises(UserError, match="has already exited"):
        t.check_attachable(ROOT + 2)
    assert t.check_attachable(ROOT + 2, allow_zombie=True).pid == ROOT + 2
    with pytest.raises(UserError, match=f"thread of process {ROOT + 4}"):
        t.check_attachable(ROOT + 3)
    fake.run(info(ROOT, 1 * SEC, ("make",)))
    fake.run(info(ROOT + 5, 2 * SEC, ("cc",), ppid=ROOT))
    fake.run(info(ROOT + 6, 3 * SEC, ("as",), ppid=ROOT + 5))
    adopted = t.attach("build", ROOT)
    assert [(p.pid, p.argv) for p in adopted] == [
        (ROOT, ("make",)),
        (ROOT + 5, ("cc",)),
        (ROOT + 6, ("as",)),
    ]
    assert adopted[2].parent == adopted[1].key and t.groups["build"].forks == 2
    with pytest.raises(UserError, match="already in group 'build'"):
        t.check_attachable(ROOT + 5)


def test_delta_log_has_member_events_in_kernel_order_with_their_times(tracker: Tracker) -> None:
    child = ROOT + 1
    delta = tracker.apply(
        [
            fork(2 * SEC, ROOT, child),
            fork(2 * SEC, 42, 43),  # not a member: not logged
            Exec(3 * SEC, child, child, info(child, 2 * SEC, ("sleep", "5"), ppid=ROOT)),
            exit_(4 * SEC, child, status=3 << 8),
        ]
    )
    assert [(e.ts, e.kind, e.key[0], e.group, e.detail) for e in delta.log] == [
        (2 * SEC, "fork", child, "web", str(ROOT)),
        (3 * SEC, "exec", child, "web", "sleep 5"),
        (4 * SEC, "exit", child, "web", "exit 3"),
    ]
    assert not tracker.apply([]).log


@settings(max_examples=200, deadline=None)
@given(st.lists(ops(pids=4), max_size=60))
def test_children_are_tracked_members_whose_parent_is_the_process(ops: list[Any]) -> None:
    """What the UI's rows rely on (they copy a process's children unfiltered): after any
    history, each child of a member is a member, forked by it, in the same group."""
    history = History()
    t = history.tracker
    for i, step in enumerate(ops):
        history.step(i, step)
        for key, proc in t.procs.items():
            for child in proc.children:
                assert child in t.procs, f"after step {i} {step}: {child} of {key} untracked"
                assert t.procs[child].parent == key and t.procs[child].group == proc.group
