"""How members end, on synthetic events: ended by you vs failed (roots apart), the last launch's
outcome and the failed launch kept from pruning; saved and restored (older files too), on the
wire and in a mirror (an older daemon's groups too)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from tractui.daemon.protocol import Mirror
from tractui.events import Exec, Exit, Fork, ProcInfo
from tractui.model import state
from tractui.model.state import LaunchRecord, Persister
from tractui.model.store import BY_YOU_WINDOW_NS, Proc, duration_text, outcome_text
from tractui.model.tracker import Tracker
from tractui.model.wire import group_to_wire, proc_from_wire, proc_json, proc_to_wire

from .fakeproc import FakeProc

SEC = 1_000_000_000
ROOT = 5_000_000  # above any pid_max: no process of this machine


def info(pid: int, start: int, argv: tuple[str, ...] = ("sh",)) -> ProcInfo:
    return ProcInfo(pid, start, 1, argv[0], argv, "/bin/" + argv[0], 0, 1, "S", False)


def exit_(ts: int, pid: int, status: int = 0) -> Exit:
    return Exit(ts, pid, pid, status, 1, 1)


def fork(ts: int, parent: int, child: int) -> Fork:
    return Fork(ts, parent, parent, child, child)


@pytest.fixture
def tracker() -> Tracker:
    t = Tracker(keep_exited=10.0, clock_offset=lambda: 0, reader=FakeProc())
    t.add_root("web", info(ROOT, 1 * SEC, ("sh", "-c", "serve")))
    t.apply([fork(2 * SEC, ROOT, ROOT + i) for i in range(1, 6)])
    return t


def signalled(t: Tracker, pid: int, sig: int, at: int) -> Proc:
    proc = t.live[pid]
    proc.signalled, proc.signalled_at = int(sig), at
    return proc


def test_ends_after_a_signal_from_tractui_are_counted_apart(tracker: Tracker) -> None:
    t = tracker
    signalled(t, ROOT + 1, signal.SIGTERM, 3 * SEC)  # dies of it
    signalled(t, ROOT + 2, signal.SIGTERM, 3 * SEC)  # its handler exits 1, soon after
    signalled(t, ROOT + 3, signal.SIGHUP, 3 * SEC)  # reloads; crashes long after
    signalled(t, ROOT + 4, signal.SIGCONT, 3 * SEC)  # ends nothing: its exit 2 is its own
    late = 3 * SEC + BY_YOU_WINDOW_NS + 1
    t.apply(
        [
            exit_(4 * SEC, ROOT + 1, signal.SIGTERM),
            exit_(5 * SEC, ROOT + 2, 1 << 8),
            exit_(late, ROOT + 3, signal.SIGSEGV),
            exit_(5 * SEC, ROOT + 4, 2 << 8),
            exit_(5 * SEC, ROOT + 5, 1 << 8),  # no signal from us: a descendant's failure
            exit_(6 * SEC, ROOT, signal.SIGKILL),  # the root, killed by someone else
        ]
    )
    g = t.groups["web"]
    assert (g.exits, g.ended_by_you, g.failed, g.roots_failed) == (6, 2, 4, 1)
    by_you = {p.pid for p in t.procs.values() if p.by_you()}
    assert by_you == {ROOT + 1, ROOT + 2}
    assert not t.procs[(ROOT + 1, 2 * SEC)].counted_failed()
    assert t.procs[(ROOT + 3, 2 * SEC)].counted_failed()


def test_a_signal_that_kills_it_is_yours_whenever_it_dies(tracker: Tracker) -> None:
    signalled(tracker, ROOT + 1, signal.SIGTERM, 3 * SEC)
    tracker.apply([exit_(3 * SEC + 5 * BY_YOU_WINDOW_NS, ROOT + 1, signal.SIGTERM)])
    assert tracker.groups["web"].ended_by_you == 1 and tracker.groups["web"].failed == 0


def test_a_revived_leader_takes_back_what_its_end_counted(tracker: Tracker) -> None:
    # its leader "exits" when a non-leader thread execs: undone, counters and all
    proc = signalled(tracker, ROOT + 1, signal.SIGTERM, 3 * SEC)
    tracker.apply([exit_(4 * SEC, ROOT + 1, signal.SIGTERM)])
    assert tracker.groups["web"].ended_by_you == 1
    tracker.apply([Exec(4 * SEC + 1000, ROOT + 1, ROOT + 1, info(ROOT + 1, 2 * SEC))])
    assert proc.alive and tracker.groups["web"].ended_by_you == 0
    tracker.apply([exit_(6 * SEC, ROOT, 3 << 8)])
    tracker.apply([Exec(6 * SEC + 1000, ROOT, ROOT, info(ROOT, 1 * SEC))])
    g = tracker.groups["web"]
    assert (g.failed, g.roots_failed, g.exits) == (0, 0, 0)


def test_the_last_launch_says_how_it_ended_and_a_failed_one_is_not_pruned(
    tracker: Tracker,
) -> None:
    t = tracker
    g = t.groups["web"]
    g.last_launch = (ROOT, 1 * SEC)
    t.apply([exit_(int(2.5 * SEC), ROOT, 3 << 8)])
    assert g.last_outcome == "exit 3 after 1.5 s" and g.last_failed
    t.apply([exit_(3 * SEC, ROOT + i) for i in range(1, 6)])
    t.prune(now=100 * SEC)
    assert list(t.procs) == [(ROOT, 1 * SEC)]  # its children went; it stays
    g.last_launch, g.last_failed = (ROOT + 99, 9 * SEC), False  # the next launch
    t.prune(now=101 * SEC)
    assert not t.procs


def test_an_exit_0_launch_is_pruned_as_any_member(tracker: Tracker) -> None:
    tracker.groups["web"].last_launch = (ROOT, 1 * SEC)
    tracker.apply([exit_(3 * SEC, ROOT + i) for i in range(6)])
    assert tracker.groups["web"].last_outcome == "exit 0 after 2.0 s"
    tracker.prune(now=100 * SEC)
    assert not tracker.procs


def test_outcome_and_duration_texts() -> None:
    assert [duration_text(s) for s in (0.0042, 1.25, 64, 7500)] == [
        "0.004 s",
        "1.2 s",
        "1 min 4 s",
        "2 h 5 min",
    ]
    proc = Proc(1, 1 * SEC, "g", None, 1)
    assert outcome_text(proc) == "running"
    proc.ended = 3 * SEC
    assert outcome_text(proc) == "gone (ended unseen) after 2.0 s"


# ---- saved, on the wire, mirrored --------------------------------------------------------------


def test_the_counters_the_last_launch_and_a_signal_are_saved_and_restored(
    tracker: Tracker, tmp_path: Path
) -> None:
    t = tracker
    g = t.groups["web"]
    g.last_launch = (ROOT, 1 * SEC)
    signalled(t, ROOT + 1, signal.SIGTERM, 3 * SEC)
    signalled(t, ROOT + 2, signal.SIGUSR1, 3 * SEC)  # alive: remembered for its end to come
    t.apply([exit_(4 * SEC, ROOT + 1, signal.SIGTERM), exit_(5 * SEC, ROOT, 3 << 8)])

    class Owner:
        tracker = t
        launches = {"web": [LaunchRecord(("sh",), None, False, ROOT, 1 * SEC, "/l", 1.0, "x")]}

    persister = Persister(tmp_path)
    persister.restore(type("Empty", (), {"tracker": Tracker(), "launches": {}})())
    persister.save(Owner)
    persister.release()
    after = Tracker(keep_exited=10.0, clock_offset=lambda: 0, reader=FakeProc())

    class Again:
        tracker = after
        launches: dict[str, list[LaunchRecord]] = {}

    Persister(tmp_path).restore(Again)
    g2 = after.groups["web"]
    assert (g2.ended_by_you, g2.roots_failed, g2.failed) == (1, 1, 1)
    assert (g2.last_launch, g2.last_outcome, g2.last_failed) == (
        (ROOT, 1 * SEC),
        "exit 3 after 4.0 s",
        True,
    )
    assert after.procs[(ROOT + 1, 2 * SEC)].by_you()
    kept = after.procs[(ROOT + 2, 2 * SEC)]
    assert (kept.signalled, kept.signalled_at) == (signal.SIGUSR1, 3 * SEC)
    assert Again.launches["web"][0].outcome == "x"


def test_a_state_file_of_an_older_tractui_reads_with_nothing_owed(tmp_path: Path) -> None:
    """No new field: counters 0, no last launch, and its launches' ends not owed to a log."""
    old = {
        "version": 1,
        "boot_id": "",
        "groups": [
            {
                "name": "web",
                "created": 1.0,
                "forks": 0,
                "execs": 0,
                "exits": 1,
                "failed": 1,
                "roots": [],
                "members": [],
                "launches": [
                    {
                        "argv": ["sh"],
                        "cwd": None,
                        "as_root": False,
                        "pid": 7,
                        "start": 1,
                        "log": "/l",
                        "time": 1.0,
                    }
                ],
            }
        ],
    }
    saved = state.decode(json.dumps(old).encode())
    (entry,) = saved.groups
    assert entry.outcomes == (0, 0) and entry.last_launch == (None, "", False)
    assert entry.launches[0].outcome == state.NOT_RECORDED


def test_a_bad_signalled_field_is_corrupt() -> None:
    proc = Proc(ROOT, 1 * SEC, "web", None, 1)
    line = json.loads(proc_json(proc))
    line["signalled"] = [15]
    doc = {
        "version": 1,
        "boot_id": "",
        "groups": [
            {
                "name": "web",
                "created": 1.0,
                "forks": 0,
                "execs": 0,
                "exits": 0,
                "failed": 0,
                "roots": [[ROOT, 1 * SEC]],
                "members": [line],
                "launches": [],
            }
        ],
    }
    with pytest.raises(state.Corrupt, match="'signalled' should be"):
        state.decode(json.dumps(doc).encode())


def test_the_wire_carries_them_and_a_mirror_keeps_them(tracker: Tracker) -> None:
    t = tracker
    g = t.groups["web"]
    g.last_launch = (ROOT, 1 * SEC)
    proc = signalled(t, ROOT + 1, signal.SIGTERM, 3 * SEC)
    t.apply([exit_(4 * SEC, ROOT + 1, signal.SIGTERM), exit_(5 * SEC, ROOT + 2, 1 << 8)])
    wire = proc_to_wire(proc)
    assert wire["signalled"] == [signal.SIGTERM, 3 * SEC]
    assert json.loads(proc_json(proc)) == wire
    back = proc_from_wire(wire)
    assert (back.signalled, back.signalled_at) == (signal.SIGTERM, 3 * SEC) and back.by_you()
    quiet = t.procs[(ROOT + 2, 2 * SEC)]
    assert "signalled" not in proc_to_wire(quiet) and "signalled" not in proc_json(quiet)
    gw = group_to_wire(g)
    assert (gw["ended_by_you"], gw["failed"], gw["last_launch"]) == (1, 1, [ROOT, 1 * SEC])
    procs = [proc_to_wire(p) for p in t.procs.values()]
    mirror = Mirror(Tracker())
    mirror.load({"groups": [gw], "procs": procs})
    m = mirror.tracker.groups["web"]
    assert (m.ended_by_you, m.last_launch, m.last_outcome) == (1, (ROOT, 1 * SEC), "")
    assert mirror.tracker.procs[proc.key].by_you()
    # an older daemon's groups and members: none of the new fields
    for name in ("ended_by_you", "roots_failed", "last_launch", "last_outcome", "last_failed"):
        del gw[name]
    for p in procs:
        p.pop("signalled", None)
    older = Mirror(Tracker())
    older.load({"groups": [gw], "procs": procs})
    o = older.tracker.groups["web"]
    assert (o.ended_by_you, o.last_launch, o.failed) == (0, None, 1)
    assert not older.tracker.procs[proc.key].by_you()


def test_the_history_keeps_an_end_by_you_as_no_failure(tmp_path: Path) -> None:
    from tractui.model.history import History, wire_lines
    from tractui.snapshot import ended_entries

    tmp_path.mkdir(exist_ok=True, mode=0o700)
    t = Tracker(keep_exited=60.0, clock_offset=lambda: 0, reader=FakeProc())
    history = History(tmp_path)
    history.open(t)
    history.collect(t)
    for pid in (ROOT, ROOT + 1):
        t.add_root("web", info(pid, 1 * SEC, ("sleep", "9")))
    signalled(t, ROOT, signal.SIGTERM, 2 * SEC)
    t.apply([exit_(3 * SEC, ROOT, signal.SIGTERM), exit_(3 * SEC, ROOT + 1, signal.SIGTERM)])
    history.collect(t)
    history.flush()
    kinds = sorted(
        p.name.split(".")[1] for p in tmp_path.iterdir() if p.name.startswith("history.")
    )
    assert kinds.count("clean") == 1 and kinds.count("failed") == 1
    entries, damaged = wire_lines(history.read("web").entries, "web", history.boot, 0)
    assert damaged == 0
    by_pid = {e["pid"]: e for e in entries}
    assert by_pid[ROOT]["by_you"] and not by_pid[ROOT + 1]["by_you"]
    rows = {r.pid: r for r in ended_entries(entries)}
    assert (rows[ROOT].failed, rows[ROOT].by_you) == (False, True)
    assert (rows[ROOT + 1].failed, rows[ROOT + 1].by_you) == (True, False)
    history.close()


def test_an_exited_rows_subtree_is_found_by_its_key_not_its_reused_pid() -> None:
    """The signal dialog on an exited row reaches that process's live descendants by key
    (Session.live_below): a later member of the same group with its PID is not one of them."""
    t = Tracker(keep_exited=1e9, clock_offset=lambda: 0, reader=FakeProc())
    t.add_root("web", info(ROOT, 1 * SEC, ("sh", "-c", "serve")))
    old, grandchild, other = ROOT + 1, ROOT + 2, ROOT + 3
    t.apply([fork(2 * SEC, ROOT, old), fork(3 * SEC, old, grandchild), fork(3 * SEC, ROOT, other)])
    t.apply([exit_(4 * SEC, old, 3 << 8)])  # the exited row the user presses k on
    t.apply([fork(9 * SEC, other, old)])  # its PID, reused by a new member of the same group
    exited = next(p for p in t.procs.values() if p.pid == old and not p.alive)
    below = [p.key for p in t.subtree(exited.key) if p.alive]  # what Session.live_below gives
    assert [k[0] for k in below] == [grandchild]
