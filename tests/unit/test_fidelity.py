"""Never a wrong fact, on synthetic events: a /proc read made after the process exec'd again
leaves that exec unknown, each exec keeps its time, and a child forked by a renamed thread
takes the thread's name. (The same shapes against the real kernel: the integration tests.)"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tractui import perfetto
from tractui.commands.events import GONE, SUPERSEDED, Printer
from tractui.commands.export import member_as_report
from tractui.daemon.ops import members_wire
from tractui.events import EXEC_SETUP_NS, Comm, Exec, Exit, Fork, ProcInfo
from tractui.model import state
from tractui.model import tracker as tracker_module
from tractui.model.history import entry_wire
from tractui.model.state import Corrupt
from tractui.model.store import SUPERSEDED_EXEC, UNKNOWN_EXEC_TIME, Proc
from tractui.model.tracker import Tracker
from tractui.model.wire import proc_from_wire, proc_json, proc_to_wire

from .fakeproc import FakeProc, stat_line

SEC = 1_000_000_000
MS = 1_000_000
ROOT = 5_000_000  # read from a FakeProc: no process need run at these PIDs
CHILD = ROOT + 1


def info(pid: int, start: int, argv: tuple[str, ...], read_ns: int = 0) -> ProcInfo:
    name = argv[0] if argv else "x"
    return ProcInfo(pid, start, 1, name, argv, "/bin/" + name, 0, 1, "S", False, read_ns)


@pytest.fixture
def tracker() -> Tracker:
    t = Tracker(keep_exited=10.0, clock_offset=lambda: 0, reader=FakeProc())
    t.add_root("web", info(ROOT, 1 * SEC, ("sh", "-c", "serve")))
    t.apply([Fork(2 * SEC, ROOT, ROOT, CHILD, CHILD)])
    t.take_delta()
    return t


def exec_(ts: int, argv: tuple[str, ...], read_ns: int) -> Exec:
    return Exec(ts, CHILD, CHILD, info(CHILD, 2 * SEC, argv, read_ns))


A = ("sh", "-c", 'exec sh -c "exit 4"')
B = ("sh", "-c", "exit 4")


def test_a_read_that_ended_after_the_next_exec_leaves_its_exec_unknown(tracker: Tracker) -> None:
    # the read for the first exec ended at 3.002 s; the second exec is stamped 3.001 s: the
    # read may have shown B (here it did), so what the first ran is not known
    delta = tracker.apply([exec_(3 * SEC, B, 3 * SEC + 2 * MS), exec_(3 * SEC + MS, B, 4 * SEC)])
    child = tracker.live[CHILD]
    assert child.execs == [(), B]
    assert child.argv == B and child.comm == "sh"
    assert child.exec_times == [3 * SEC, 3 * SEC + MS]
    details = [e.detail for e in delta.log if e.kind == "exec"]
    assert details == [SUPERSEDED_EXEC, " ".join(B)]  # the log says so too
    assert tracker.groups["web"].execs == 2


def test_a_read_that_ended_before_the_next_exec_is_kept(tracker: Tracker) -> None:
    later = 3 * SEC + 2 * MS + EXEC_SETUP_NS + 1
    tracker.apply([exec_(3 * SEC, A, 3 * SEC + 2 * MS), exec_(later, B, 4 * SEC)])
    assert tracker.live[CHILD].execs == [A, B]


def test_a_read_just_before_the_next_exec_is_suspect_too(tracker: Tracker) -> None:
    # the kernel stamps an exec once the new program is in place: a read this close before
    # the stamp may show the new program's comm and exe
    read = 3 * SEC + 2 * MS
    tracker.apply([exec_(3 * SEC, A, read), exec_(read + EXEC_SETUP_NS, B, 4 * SEC)])
    assert tracker.live[CHILD].execs == [(), B]


def test_each_exec_is_judged_by_its_own_read(tracker: Tracker) -> None:
    c = ("true",)
    tracker.apply(
        [
            exec_(3 * SEC, A, 3 * SEC + MS),  # fine: read long before the next
            exec_(4 * SEC, B, 5 * SEC),  # read after the third exec: unknown
            exec_(4 * SEC + MS, c, 4 * SEC + 2 * MS),
        ]
    )
    assert tracker.live[CHILD].execs == [A, (), c]


def test_a_later_batch_still_unsets_the_exec_but_leaves_its_sent_log(tracker: Tracker) -> None:
    first = tracker.apply([exec_(3 * SEC, B, 3 * SEC + 2 * MS)])
    assert [e.detail for e in first.log] == [" ".join(B)]
    second = tracker.apply([exec_(3 * SEC + MS, B, 4 * SEC)])
    assert tracker.live[CHILD].execs == [(), B]
    assert [e.detail for e in second.log] == [" ".join(B)]
    assert CHILD in {key[0] for key in second.changed}


def test_an_unread_exec_time_is_trusted_as_before(tracker: Tracker) -> None:
    tracker.apply([exec_(3 * SEC, A, 0), exec_(3 * SEC + MS, B, 4 * SEC)])
    assert tracker.live[CHILD].execs == [A, B]


def test_a_launched_program_keeps_the_argv_it_was_launched_with(tracker: Tracker) -> None:
    tracker.expect_exec(tracker.live[CHILD], A)
    tracker.apply([exec_(3 * SEC, B, 3 * SEC + 2 * MS), exec_(3 * SEC + MS, B, 4 * SEC)])
    assert tracker.live[CHILD].execs == [A, B]


def test_an_exit_forgets_the_last_read(tracker: Tracker) -> None:
    tracker.apply([exec_(3 * SEC, A, 5 * SEC), Exit(4 * SEC, CHILD, CHILD, 0, ROOT, ROOT)])
    assert tracker.procs[(CHILD, 2 * SEC)].execs == [A]
    assert not tracker._last_exec


def test_exec_times_travel_on_the_wire_and_in_the_state_file(tracker: Tracker) -> None:
    tracker.apply([exec_(3 * SEC, A, 3 * SEC + MS), exec_(4 * SEC, B, 4 * SEC + MS)])
    child = tracker.live[CHILD]
    wire = proc_to_wire(child)
    assert wire["exec_times"] == [3 * SEC, 4 * SEC]
    assert json.loads(proc_json(child)) == wire
    assert proc_from_wire(wire).exec_times == [3 * SEC, 4 * SEC]
    del wire["exec_times"]  # a daemon of an older tractui: each time unknown, one per exec
    assert proc_from_wire(wire).exec_times == [UNKNOWN_EXEC_TIME, UNKNOWN_EXEC_TIME]
    for bad in ([], [3 * SEC], ["3", 4], [-1, 4], [True, 4], "34", 3):
        wire["exec_times"] = bad
        with pytest.raises(ValueError, match="exec_times"):
            proc_from_wire(wire)


def _decoded(member: dict[str, object]) -> Proc:
    return state._decode_proc(state._Fields(member, "member 0"), "web")


def test_the_state_file_keeps_exec_times_and_loads_files_without_them(
    tracker: Tracker, tmp_path: Path
) -> None:
    tracker.apply([exec_(3 * SEC, A, 3 * SEC + MS)])
    member = json.loads(proc_json(tracker.live[CHILD]))
    assert _decoded(member).exec_times == [3 * SEC]
    del member["exec_times"]
    old = _decoded(member)
    assert old.execs == [A] and old.exec_times == [UNKNOWN_EXEC_TIME]
    for bad in ([], [3 * SEC, 4 * SEC], ["3"], [-1], None):
        member["exec_times"] = bad
        with pytest.raises(Corrupt, match="exec_times"):
            _decoded(member)


def test_an_exec_after_loading_an_older_file_keeps_each_time_with_its_exec(
    tracker: Tracker,
) -> None:
    # the file of an older tractui: A with no time; B exec'd since: its time is B's, never A's
    tracker.apply([exec_(3 * SEC, A, 3 * SEC + MS)])
    member = json.loads(proc_json(tracker.live[CHILD]))
    del member["exec_times"]
    old = _decoded(member)
    child = tracker.live[CHILD]
    child.execs, child.exec_times = old.execs, old.exec_times  # as restored
    tracker.apply([exec_(9 * SEC, B, 9 * SEC + MS)])
    assert child.execs == [A, B] and child.exec_times == [UNKNOWN_EXEC_TIME, 9 * SEC]
    assert proc_from_wire(proc_to_wire(child)).exec_times == child.exec_times
    assert _decoded(json.loads(proc_json(child))).exec_times == child.exec_times
    (listed,) = [m for m in members_wire(tracker, tracker.groups["web"]) if m["pid"] == CHILD]
    assert listed["exec_times"] == [None, 9 * SEC], "list: null, not known"
    report = member_as_report(listed, 0.0)
    assert report["exec_times"] == [None, 9.0]
    out = io.StringIO()
    perfetto.write([report], out, end=100.0)
    events = json.loads(out.getvalue())["traceEvents"]
    instants = [(e["ts"], e["args"]["argv"]) for e in events if e["ph"] == "i"]
    assert instants == [(9_000_000, list(B))], "B at its time; A at none"
    (slice_,) = [e for e in events if e["ph"] == "X"]
    assert slice_["args"]["execs"] == [list(A)], "A unplaced, in the slice's args"


def test_a_history_line_with_fewer_times_than_execs_has_the_first_ones_unknown() -> None:
    # written by a daemon that had loaded an older file: [B's time] for [A, B]
    proc = {"pid": CHILD, "start": 2 * SEC, "ended": 10 * SEC, "parent": None}
    proc |= {"execs": [list(A), list(B)], "exec_times": [9 * SEC]}
    entry = {"proc": proc, "boot": "b", "off": 0}
    assert entry_wire(entry, "web", "b", 0)["exec_times"] == [None, 9 * SEC]
    proc["exec_times"] = [0, 9 * SEC]
    assert entry_wire(entry, "web", "b", 0)["exec_times"] == [None, 9 * SEC]
    assert entry_wire(entry, "web", "c", -SEC)["exec_times"] == [None, 10 * SEC]


# ---- the names of the children of renamed threads ----------------------------------------------

THREAD = ROOT + 7


def test_a_child_forked_by_a_renamed_thread_takes_the_threads_name(tracker: Tracker) -> None:
    tracker.apply(
        [
            Fork(3 * SEC, ROOT, ROOT, THREAD, ROOT),  # a thread of the root
            Comm(3 * SEC + 1, THREAD, ROOT, "worker-a"),
            Fork(4 * SEC, THREAD, ROOT, ROOT + 20, ROOT + 20),  # that thread forks
            Fork(4 * SEC + 1, ROOT, ROOT, ROOT + 21, ROOT + 21),  # the main thread forks
        ]
    )
    assert tracker.live[ROOT + 20].comm == "worker-a"
    assert tracker.live[ROOT + 21].comm == "sh"
    assert tracker.live[ROOT].comm == "sh"  # a thread's name is not its process's


def test_a_thread_name_is_dropped_at_the_threads_exit(tracker: Tracker) -> None:
    tracker.apply(
        [
            Fork(3 * SEC, ROOT, ROOT, THREAD, ROOT),
            Comm(3 * SEC + 1, THREAD, ROOT, "worker-a"),
            Exit(3 * SEC + 2, THREAD, ROOT, 0, ROOT, ROOT),
        ]
    )
    assert tracker.thread_comms == {}
    # the tid reused by a new thread that was never renamed: named as its process
    tracker.apply(
        [
            Fork(4 * SEC, ROOT, ROOT, THREAD, ROOT),
            Fork(4 * SEC + 1, THREAD, ROOT, ROOT + 20, ROOT + 20),
        ]
    )
    assert tracker.live[ROOT + 20].comm == "sh"


def test_a_thread_made_by_a_renamed_thread_is_read_from_its_childs_proc(
    tracker: Tracker,
) -> None:
    # a thread starts with its maker's name, and its fork event names the process's parent,
    # not the maker: the child of such a thread is named from /proc
    reader = tracker.reader
    assert isinstance(reader, FakeProc)
    child = stat_line(ROOT + 20, 4 * SEC, "S")
    child.comm = "worker-a"
    reader.stats[ROOT + 20] = child
    tracker.apply(
        [
            Fork(3 * SEC, ROOT, ROOT, THREAD, ROOT),
            Comm(3 * SEC + 1, THREAD, ROOT, "worker-a"),
            Fork(3 * SEC + 2, 1, 1, THREAD + 1, ROOT),  # made by THREAD, as the kernel says it
            Fork(4 * SEC, THREAD + 1, ROOT, ROOT + 20, ROOT + 20),
            Fork(4 * SEC + 1, THREAD + 1, ROOT, ROOT + 21, ROOT + 21),  # gone: not read
        ]
    )
    assert tracker.live[ROOT + 20].comm == "worker-a"
    assert tracker.live[ROOT + 21].comm == "sh"


def test_the_children_of_threads_of_processes_with_none_renamed_are_not_read(
    tracker: Tracker,
) -> None:
    reader = tracker.reader
    assert isinstance(reader, FakeProc)
    child = stat_line(ROOT + 20, 4 * SEC, "S")
    child.comm = "what /proc says"
    reader.stats[ROOT + 20] = child
    tracker.apply(
        [
            Fork(3 * SEC, ROOT, ROOT, THREAD, ROOT),
            Fork(4 * SEC, THREAD, ROOT, ROOT + 20, ROOT + 20),
        ]
    )
    assert tracker.live[ROOT + 20].comm == "sh"


def test_an_ended_process_is_no_longer_one_with_renamed_threads(tracker: Tracker) -> None:
    tracker.apply([Comm(3 * SEC, THREAD, ROOT, "worker-a")])
    assert tracker.renamed_threads == {ROOT}
    tracker.apply([Exit(4 * SEC, ROOT, ROOT, 0, 1, 1)])
    assert tracker.renamed_threads == set()


def test_thread_names_of_non_members_are_not_kept(tracker: Tracker) -> None:
    tracker.apply([Comm(3 * SEC, 43, 42, "other")])
    assert tracker.thread_comms == {}


def test_thread_names_are_bounded_oldest_first(
    tracker: Tracker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tracker_module, "THREAD_COMMS_MAX", 3)
    tracker.apply([Comm(3 * SEC + i, ROOT + 100 + i, ROOT, f"w{i}") for i in range(5)])
    tracker.apply([Comm(4 * SEC, ROOT + 102, ROOT, "w2b")])  # renamed: now the newest
    assert tracker.thread_comms == {ROOT + 103: "w3", ROOT + 104: "w4", ROOT + 102: "w2b"}


# ---- tractui events ----------------------------------------------------------------------------


def test_events_prints_an_exec_read_after_the_next_one_as_unknown() -> None:
    lines: list[str] = []
    printer = Printer(as_json=True, show_all=False, write=lines.append)
    printer.batch(
        [
            exec_(3 * SEC, B, 3 * SEC + 2 * MS),  # read after the next exec: shows B
            Exec(3 * SEC + MS, ROOT + 9, ROOT + 9, info(ROOT + 9, SEC, ("x",), 3 * SEC + MS)),
            exec_(3 * SEC + MS, B, 4 * SEC),
            exec_(5 * SEC, A, 5 * SEC + MS),
        ]
    )
    records = [json.loads(line) for line in lines]
    assert [
        (r["process.pid"], r["process.executable.name"], r["process.command_args"]) for r in records
    ] == [
        (CHILD, None, []),
        (ROOT + 9, "x", ["x"]),
        (CHILD, "sh", list(B)),
        (CHILD, "sh", list(A)),
    ]
    text: list[str] = []
    Printer(as_json=False, show_all=False, write=text.append).batch(
        [exec_(3 * SEC, B, 3 * SEC + 2 * MS), exec_(3 * SEC + MS, B, 4 * SEC)]
    )
    assert text[0].endswith(f" ?          {SUPERSEDED}\n")


def test_events_names_an_unread_exec_and_its_exit_null_not_as_before_the_exec() -> None:
    """/bin/true exec'd by bash, ended before its /proc was read: neither the exec nor the exit
    names it (no prose in a name field, and never bash, what the pid was before the exec)."""
    bash = ("bash", "/dev/fd/3")
    events = [
        Exec(SEC, ROOT, ROOT, info(ROOT, SEC, bash, SEC + MS)),
        Fork(2 * SEC, ROOT, ROOT, CHILD, CHILD),
        Exec(3 * SEC, CHILD, CHILD, None),
        Exit(4 * SEC, CHILD, CHILD, 0, ROOT, ROOT),
    ]
    lines: list[str] = []
    Printer(as_json=True, show_all=True, write=lines.append).batch(events)
    records = [json.loads(line) for line in lines]
    assert [
        (r["tractui.event"], r["process.executable.name"], r["process.command_args"])
        for r in records
    ] == [
        ("exec", "bash", list(bash)),
        ("fork", "bash", list(bash)),
        ("exec", None, []),
        ("exit", None, []),
    ]
    assert records[2]["process.executable.path"] is None
    text: list[str] = []
    Printer(as_json=False, show_all=True, write=text.append).batch(events)
    assert text[2].endswith(f" ?          {GONE}\n")
    assert text[3].endswith(f" exit 0     {GONE}\n")
