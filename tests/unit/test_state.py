"""Saved groups: the file format, atomic writes, corrupt files, the lock, when saves happen.

Processes with PIDs above any pid_max are synthetic: no real process has them, so a restore
finds them gone. The few real ones (``sleep``, ``sh``) run in sessions of their own and are
killed at teardown.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tractui.control import LaunchSpec
from tractui.engine import Engine, log_path_for
from tractui.errors import UserError
from tractui.events import Exec, Exit, ExitStatus, Fork, Loss, ProcInfo
from tractui.kernel import procfs
from tractui.model import state
from tractui.model.adopt import ProcFS, ProcReader
from tractui.model.state import LaunchRecord, Persister, StateError, StateLocked
from tractui.model.tracker import Tracker
from tractui.model.wire import proc_to_wire

from .fakeproc import FakeProc
from .histories import ROOT as HISTORY_ROOT
from .histories import History, op

SEC = 1_000_000_000
# The trackers here read an empty FakeProc unless a test runs real processes (and says so):
# a member saved alive is restored as gone, whatever its PID.
ROOT = 5_000_000


@dataclass
class Owner:
    tracker: Tracker
    launches: dict[str, list[LaunchRecord]] = field(default_factory=dict)


def new_owner(reader: ProcReader | None = None) -> Owner:
    """An owner whose tracker reads ``reader``: an empty FakeProc unless given."""
    reader = FakeProc() if reader is None else reader
    return Owner(Tracker(keep_exited=60.0, clock_offset=lambda: 0, reader=reader))


def info(pid: int, start: int, argv: tuple[str, ...] = ("sh",)) -> ProcInfo:
    return ProcInfo(pid, start, 1, argv[0], argv, "/bin/" + argv[0], 1000, 1, "S", False)


def record(pid: int, start: int, log: str = "/tmp/web.log") -> LaunchRecord:
    return LaunchRecord(("sh", "-c", "serve"), "/srv", False, pid, start, log, 1_700_000_000.5)


def synthetic(owner: Owner) -> None:
    """web: root -> child (exec'd, alive) -> grandchild (exit 3); root 2 exited by SIGKILL."""
    t = owner.tracker
    t.add_root("web", info(ROOT, 1 * SEC, ("sh", "-c", "serve")))
    t.apply(
        [
            Fork(2 * SEC, ROOT, ROOT, ROOT + 1, ROOT + 1),
            Exec(3 * SEC, ROOT + 1, ROOT + 1, info(ROOT + 1, 2 * SEC, ("python3", "app.py"))),
            Fork(4 * SEC, ROOT + 1, ROOT + 1, ROOT + 2, ROOT + 2),
            Exit(5 * SEC, ROOT + 2, ROOT + 2, 3 << 8, 17, 17),
        ]
    )
    t.add_root("web", info(ROOT + 10, 6 * SEC, ("sleep", "9")))
    t.apply([Exit(7 * SEC, ROOT + 10, ROOT + 10, signal.SIGKILL, 17, 17)])
    t.create_group("empty")
    owner.launches["web"] = [record(ROOT, 1 * SEC)]


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "state"


def saved(directory: Path, owner: Owner) -> Persister:
    """A persister that restored from (an empty) ``directory`` and saved ``owner``'s groups."""
    persister = Persister(directory)
    persister.restore(new_owner())
    persister.save(owner)
    return persister


def restore(directory: Path, reader: ProcReader | None = None) -> tuple[Owner, state.Restored]:
    owner = new_owner(reader)
    persister = Persister(directory)
    restored = persister.restore(owner)
    persister.release()
    return owner, restored


def test_round_trip_keeps_groups_genealogy_counters_and_launches(directory: Path) -> None:
    before = new_owner()
    synthetic(before)
    saved(directory, before).release()
    after, restored = restore(directory)
    t0, t1 = before.tracker, after.tracker
    assert list(t1.groups) == ["web", "empty"]
    web0, web1 = t0.groups["web"], t1.groups["web"]
    assert web1.roots == web0.roots == [(ROOT, 1 * SEC), (ROOT + 10, 6 * SEC)]
    assert web1.members == web0.members
    assert web1.created == web0.created
    child = t1.procs[(ROOT + 1, 2 * SEC)]
    assert child.parent == (ROOT, 1 * SEC)
    assert child.argv == ("python3", "app.py") and child.exe == "/bin/python3"
    assert child.execs == [("python3", "app.py")] and child.uid == 1000
    grandchild = t1.procs[(ROOT + 2, 4 * SEC)]
    assert grandchild.parent == child.key
    assert grandchild.exit == ExitStatus(code=3) and grandchild.ended == 5 * SEC
    assert t1.procs[(ROOT + 10, 6 * SEC)].exit == ExitStatus(signal=signal.SIGKILL)
    assert [p.key for p in t1.members("web")] == [p.key for p in t0.members("web")]
    # the synthetic PIDs run nowhere: the two that were alive ended while nothing watched
    assert not t1.live
    for key in [(ROOT, 1 * SEC), (ROOT + 1, 2 * SEC)]:
        assert t1.procs[key].status_text() == "gone" and t1.procs[key].lost_exit
    assert (restored.groups, restored.kept, restored.gone, restored.adopted) == (2, 0, 2, 0)
    assert restored.warning == ""
    assert (web1.forks, web1.execs, web1.failed) == (web0.forks, web0.execs, web0.failed)
    assert web1.exits == web0.exits + 2 and web1.live == 0
    assert after.launches == {"web": [record(ROOT, 1 * SEC)]}
    assert list(t1.exited) == sorted(t1.exited, key=lambda k: t1.procs[k].ended or 0)
    assert t1.revision > 0


def test_a_running_member_is_kept_and_what_it_forked_meanwhile_adopted(
    directory: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    sh = spawn(["sh", "-c", "read x; sleep 30 & wait"], stdin=subprocess.PIPE)
    before = new_owner(ProcFS())  # the real /proc
    root = before.tracker.attach("jobs", sh.pid)[0]
    before.tracker.apply([Fork(0, sh.pid, sh.pid, ROOT, ROOT)])  # a child that is gone by now
    saved(directory, before).release()
    assert sh.stdin is not None
    sh.stdin.write(b"go\n")
    sh.stdin.flush()
    deadline = time.monotonic() + 5
    while not procfs.descendants(sh.pid):
        assert time.monotonic() < deadline, "sh never forked its sleep"
        time.sleep(0.02)
    after, restored = restore(directory, ProcFS())
    t = after.tracker
    kept = t.live[sh.pid]
    assert kept.key == root.key and kept.alive and kept.group == "jobs"
    (sleep,) = [p for p in t.members("jobs") if p.parent == root.key and p.alive]
    assert sleep.pid == procfs.descendants(sh.pid)[0]
    gone = t.procs[(ROOT, 0)]
    assert not gone.alive and gone.status_text() == "gone"
    assert (restored.kept, restored.adopted, restored.gone) == (1, 1, 1)
    assert t.groups["jobs"].live == 2


def test_after_a_reboot_no_member_is_kept(
    directory: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    sleep = spawn(["sleep", "30"])
    before = new_owner(ProcFS())  # the real /proc
    before.tracker.attach("jobs", sleep.pid)
    saved(directory, before).release()
    path = directory / "groups.json"
    data = json.loads(path.read_bytes())
    data["boot_id"] = "another-boot"
    path.write_text(json.dumps(data))
    after, restored = restore(directory, ProcFS())
    assert not after.tracker.live, "a (pid, start) of another boot matched a process"
    assert restored.gone == 1


def test_save_is_atomic_private_and_leaves_no_temp_file(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    owner = new_owner()
    persister = Persister(directory, clock=clock)
    persister.restore(new_owner())
    synthetic(owner)
    persister.save(owner)
    path = directory / "groups.json"
    assert sorted(p.name for p in directory.iterdir()) == ["groups.journal", "groups.json", "lock"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((directory / "groups.journal").stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    good = path.read_bytes()
    owner.tracker.create_group("later")

    def crash(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        persister.save(owner)
    assert path.read_bytes() == good, "a failed save touched the state file"
    assert sorted(p.name for p in directory.iterdir()) == ["groups.journal", "groups.json", "lock"]
    clock.now += 2
    assert not persister.tick(owner)
    assert "No space left" in persister.error
    monkeypatch.undo()
    persister.release()


def test_a_temp_file_left_by_a_killed_writer_is_removed_and_the_state_kept(
    directory: Path,
) -> None:
    owner = new_owner()
    synthetic(owner)
    saved(directory, owner).release()
    (directory / ".groups.json.x1y2.tmp").write_text('{"half": ')
    after, restored = restore(directory)
    assert list(after.tracker.groups) == ["web", "empty"] and not restored.warning
    assert not list(directory.glob("*.tmp"))


def _doc(directory: Path) -> dict[str, Any]:
    owner = new_owner()
    synthetic(owner)
    saved(directory, owner).release()
    doc: dict[str, Any] = json.loads((directory / "groups.json").read_bytes())
    return doc


def _member(doc: dict[str, Any], n: int) -> dict[str, Any]:
    member: dict[str, Any] = doc["groups"][0]["members"][n]
    return member


CORRUPTIONS: dict[str, tuple[Callable[[dict[str, Any]], Any], str]] = {
    "not-an-object": (lambda d: [], "expected an object"),
    "no-groups": (lambda d: d.pop("groups"), "no 'groups'"),
    "pid-a-string": (lambda d: _member(d, 0).update(pid="12"), "'pid' should be an integer"),
    "pid-a-bool": (lambda d: _member(d, 0).update(pid=True), "'pid' should be an integer"),
    "negative-start": (lambda d: _member(d, 1).update(start=-1), "'start' should be"),
    "bad-parent": (lambda d: _member(d, 1).update(parent=[1]), "not a [pid, start] pair"),
    "bad-exit": (lambda d: _member(d, 2).update(exit={"code": 300}), "bad exit status"),
    "exit-but-alive": (
        lambda d: _member(d, 0).update(exit={"code": 1}),
        "an exit status without an end time",
    ),
    "argv-not-strings": (lambda d: _member(d, 0).update(argv=["sh", 1]), "a list of strings"),
    "root-not-a-member": (
        lambda d: d["groups"][0]["roots"].append([ROOT + 99, 1]),
        "is not a member",
    ),
    "bad-name": (lambda d: d["groups"][0].update(name="no spaces"), "bad group name"),
    "same-name-twice": (lambda d: d["groups"][1].update(name="web"), "names a group twice"),
    "process-twice": (
        lambda d: d["groups"][0]["members"].append(_member(d, 2)),
        "lists a process twice",
    ),
    "parent-cycle": (
        lambda d: _member(d, 0).update(parent=[ROOT + 2, 4 * SEC]),
        "root",  # the root now has a parent; without the root the links form a cycle
    ),
    "empty-launch": (
        lambda d: d["groups"][0]["launches"][0].update(argv=[]),
        "an empty command line",
    ),
    "counter-negative": (lambda d: d["groups"][0].update(forks=-2), "'forks' should be"),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS), ids=list(CORRUPTIONS))
def test_a_malformed_file_is_moved_aside_with_a_warning(
    directory: Path, corruption: str, caplog: pytest.LogCaptureFixture
) -> None:
    doc = _doc(directory)
    change, message = CORRUPTIONS[corruption]
    result = change(doc)
    if corruption == "not-an-object":
        doc = result
    raw = json.dumps(doc).encode()
    (directory / "groups.json").write_bytes(raw)
    owner, restored = restore(directory)
    assert not owner.tracker.groups and not owner.launches
    assert message in restored.warning
    (aside,) = directory.glob("groups.json.corrupt-*")
    assert aside.read_bytes() == raw, "the corrupt file was not kept as it was"
    assert aside.name in restored.warning and "starting with no groups" in restored.warning
    assert not (directory / "groups.json").exists()
    assert restored.warning in caplog.text


def test_a_parent_cycle_is_corrupt(directory: Path) -> None:
    doc = _doc(directory)
    _member(doc, 1).update(parent=[ROOT + 2, 4 * SEC])  # child <-> grandchild
    (directory / "groups.json").write_text(json.dumps(doc))
    _, restored = restore(directory)
    assert "the parent links form a cycle" in restored.warning


@pytest.mark.parametrize(
    "raw", [b"", b"{", b'{"version": 1, "groups": [', b"\xff\xfe garbage", b"null"]
)
def test_truncated_or_garbage_files_are_moved_aside(directory: Path, raw: bytes) -> None:
    directory.mkdir(mode=0o700)
    (directory / "groups.json").write_bytes(raw)
    owner = new_owner()
    persister = Persister(directory)
    restored = persister.restore(owner)
    assert "starting with no groups" in restored.warning
    assert [p.read_bytes() for p in directory.glob("groups.json.corrupt-*")] == [raw]
    owner.tracker.create_group("fresh")
    persister.save(owner)  # and saving goes on, from a clean file
    persister.release()
    assert list(restore(directory)[0].tracker.groups) == ["fresh"]


def test_two_corrupt_files_in_one_second_are_both_kept(directory: Path) -> None:
    directory.mkdir(mode=0o700)
    for raw in (b"first", b"second"):
        (directory / "groups.json").write_bytes(raw)
        restore(directory)
    kept = sorted(p.read_bytes() for p in directory.glob("groups.json.corrupt-*"))
    assert kept == [b"first", b"second"]


def test_a_file_from_a_newer_tractui_is_moved_aside_and_says_so(directory: Path) -> None:
    doc = _doc(directory)
    doc["version"] = state.VERSION + 1
    (directory / "groups.json").write_text(json.dumps(doc))
    owner, restored = restore(directory)
    assert "newer tractui" in restored.warning
    assert f"format version {state.VERSION + 1}" in restored.warning
    assert not owner.tracker.groups
    assert len(list(directory.glob("groups.json.corrupt-*"))) == 1


def test_an_unreadable_file_is_never_written_over(directory: Path) -> None:
    (directory / "groups.json").mkdir(parents=True)  # reading it fails (even as root)
    owner = new_owner()
    persister = Persister(directory)
    restored = persister.restore(owner)
    assert "cannot read" in restored.warning and "not saved" in restored.warning
    owner.tracker.create_group("web")
    assert not persister.tick(owner)
    with pytest.raises(StateError):
        persister.save(owner)
    persister.close(owner)
    assert (directory / "groups.json").is_dir()


def test_nothing_is_written_before_a_restore(directory: Path) -> None:
    owner = new_owner()
    synthetic(owner)
    saved(directory, owner).release()
    good = (directory / "groups.json").read_bytes()
    empty = new_owner()
    persister = Persister(directory)
    persister.acquire()  # e.g. the TUI takes the lock, then the engine fails to start
    assert not persister.tick(empty)
    with pytest.raises(StateError):
        persister.save(empty)
    persister.close(empty)
    assert (directory / "groups.json").read_bytes() == good


LOCK_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
os.write(fd, f"{os.getpid()}\\n".encode())
print("locked", flush=True)
time.sleep(60)
"""


def test_a_directory_held_by_another_process_is_refused_until_it_dies(
    directory: Path, spawn: Callable[..., subprocess.Popen[bytes]]
) -> None:
    directory.mkdir(mode=0o700)
    holder = spawn(
        [sys.executable, "-c", LOCK_HOLDER, str(directory / "lock")], stdout=subprocess.PIPE
    )
    assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
    persister = Persister(directory)
    with pytest.raises(StateLocked) as caught:
        persister.acquire()
    message = str(caught.value)
    assert f"PID {holder.pid}" in message and str(directory) in message
    assert "quit it" in message and "TRACTUI_STATE_DIR" in message and "\n" not in message
    assert not persister.locked
    holder.kill()  # a kill -9 leaves no stale lock behind
    holder.wait(timeout=5)
    persister.acquire()
    assert persister.locked
    assert (directory / "lock").read_text() == f"{os.getpid()}\n"
    persister.release()


def test_a_second_persister_in_the_same_process_is_refused(directory: Path) -> None:
    first = Persister(directory)
    first.acquire()
    first.acquire()  # again: a no-op
    with pytest.raises(StateLocked, match=f"PID {os.getpid()}"):
        Persister(directory).acquire()
    first.release()
    second = Persister(directory)
    second.acquire()
    second.release()


def test_an_unusable_directory_is_a_state_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(StateError, match="cannot use the state directory"):
        Persister(tmp_path / "file" / "state").acquire()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_tick_saves_within_the_interval_of_a_change_and_only_after_one(directory: Path) -> None:
    clock = Clock()
    owner = new_owner()
    persister = Persister(directory, interval=1.0, clock=clock)
    assert not persister.tick(owner), "nothing is saved before the restore"
    persister.restore(owner)
    assert persister.tick(owner) and persister.saves == 1, "the reconciled start is saved"
    saves = persister.saves
    for _ in range(3):
        clock.now += 5
        assert not persister.tick(owner), "saved with nothing changed"
    assert persister.saves == saves
    owner.tracker.create_group("a")
    assert persister.tick(owner), "the first change after a quiet spell is saved at once"
    clock.now += 0.3
    owner.tracker.create_group("b")
    assert not persister.tick(owner), "two saves within one interval"
    clock.now += 0.69
    assert not persister.tick(owner)
    clock.now += 0.01  # one interval after the last save: the change is at most 1 s old
    assert persister.tick(owner)
    assert list(restore_copy(directory).tracker.groups) == ["a", "b"]
    clock.now += 10
    assert not persister.tick(owner)
    persister.close(owner)


def restore_copy(directory: Path) -> Owner:
    """The groups on disk, read without the lock (the persister still holds it)."""
    owner = new_owner()
    saved_ = state.decode((directory / "groups.json").read_bytes())
    for group in saved_.groups:
        owner.tracker.create_group(group.name)
    return owner


def test_close_saves_the_last_changes_and_unlocks(directory: Path) -> None:
    clock = Clock()
    owner = new_owner()
    persister = Persister(directory, clock=clock)
    persister.restore(owner)
    owner.tracker.create_group("a")
    persister.tick(owner)
    owner.tracker.create_group("b")
    assert not persister.tick(owner)
    persister.close(owner)
    assert not persister.locked
    assert list(restore(directory)[0].tracker.groups) == ["a", "b"]
    owner.tracker.create_group("c")
    clock.now += 10
    assert not persister.tick(owner), "a closed persister saved (and took the lock again)"


def _shape(owner: Owner) -> dict[str, Any]:
    """What a restore must give back: groups with counters and roots, members by key."""
    t = owner.tracker
    return {
        "groups": {
            g.name: (g.roots, g.forks, g.execs, g.failed, sorted(g.members))
            for g in t.groups.values()
        },
        "members": {k: (p.group, p.parent, p.argv, p.exit) for k, p in sorted(t.procs.items())},
        "launches": owner.launches,
    }


def _changes_after_the_save(owner: Owner) -> None:
    """Forks, an exec, an exit, a rename, a new group, a removed one: every kind of line."""
    t = owner.tracker
    t.apply(
        [
            Fork(8 * SEC, ROOT + 1, ROOT + 1, ROOT + 3, ROOT + 3),
            Fork(9 * SEC, ROOT + 3, ROOT + 3, ROOT + 4, ROOT + 4),
            Exec(10 * SEC, ROOT + 4, ROOT + 4, info(ROOT + 4, 9 * SEC, ("sleep", "100"))),
            Exit(11 * SEC, ROOT + 3, ROOT + 3, 0, 17, 17),  # the double fork's middle
        ]
    )
    t.rename_group("web", "www")
    t.add_root("db", info(ROOT + 20, 12 * SEC, ("postgres",)))
    owner.launches["db"] = [record(ROOT + 20, 12 * SEC, "/tmp/db.log")]
    t.note_group("db")
    t.remove_group("empty")


def test_what_changed_after_the_last_save_is_in_the_journal_and_restored(
    directory: Path,
) -> None:
    clock = Clock()
    owner = new_owner()
    persister = Persister(directory, interval=1.0, clock=clock)
    persister.restore(owner)
    synthetic(owner)
    assert persister.tick(owner)
    good = (directory / "groups.json").read_bytes()
    # one interval has not passed: each batch goes to the journal, not the state file
    _changes_after_the_save(owner)
    owner.launches["www"] = owner.launches.pop("web")
    assert not persister.tick(owner)
    assert (directory / "groups.json").read_bytes() == good
    assert persister.journaled > 0
    owner.tracker.apply([Fork(13 * SEC, ROOT + 20, ROOT + 20, ROOT + 21, ROOT + 21)])
    assert not persister.tick(owner)
    persister.release()  # a kill -9: no final save
    want = _shape(owner)
    for _ in range(2):  # a second start before any save replays the same journal again
        after, restored = restore(directory)
        assert _shape(after) == want
        assert restored.warning == ""
    assert list(after.tracker.groups) == ["www", "db"]
    assert after.tracker.procs[(ROOT + 4, 9 * SEC)].parent == (ROOT + 3, 8 * SEC)


def test_while_events_keep_coming_the_journal_holds_them_and_the_save_waits(
    directory: Path,
) -> None:
    clock = Clock()
    owner = new_owner()
    persister = Persister(directory, interval=1.0, clock=clock)
    persister.restore(owner)
    assert persister.tick(owner)
    for n in range(1, state.BUSY_SAVE_INTERVALS * 2):
        clock.now += 0.5
        owner.tracker.add_root("web", info(ROOT + n, n * SEC))
        assert not persister.tick(owner, busy=True), f"saved during a burst, after {n / 2} s"
    clock.now += 0.5
    owner.tracker.add_root("web", info(ROOT + 99, 99 * SEC))
    assert persister.tick(owner, busy=True), "a burst put the save off for ever"
    persister.release()
    assert len(restore(directory)[0].tracker.groups["web"].members) == state.BUSY_SAVE_INTERVALS * 2


def test_a_journal_that_cannot_be_started_is_reported_until_a_save_starts_one(
    directory: Path,
) -> None:
    clock = Clock()
    owner = new_owner()
    persister = Persister(directory, interval=1.0, clock=clock)
    persister.restore(owner)
    (directory / "groups.journal").mkdir()  # what a save writes next cannot be written
    synthetic(owner)
    assert persister.tick(owner)
    assert "groups.journal" in persister.error  # saved, but a kill -9 would lose what follows
    (directory / "groups.journal").rmdir()
    clock.now += 1.0
    owner.tracker.add_root("web", info(ROOT + 99, 99 * SEC))
    assert persister.tick(owner)
    assert persister.error == ""


def test_a_journal_line_is_the_members_json() -> None:
    """The journal's fast encoder says what proc_to_wire says, whatever the member holds."""
    owner = new_owner()
    synthetic(owner)
    t = owner.tracker
    t.add_root("web", info(ROOT + 30, 8 * SEC, ("sh", "-c", 'echo "\\ \x1b[41m é \ufffd"')))
    t.apply([Fork(9 * SEC, ROOT + 30, ROOT + 30, ROOT + 31, ROOT + 31), Loss(10 * SEC, 1)])
    lines = state.journal_lines(t, owner.launches, set(t.procs), set())
    wire = [json.loads(line)["member"] for line in lines]
    assert wire == [proc_to_wire(t.procs[k]) for k in sorted(t.procs, key=lambda k: (k[1], k[0]))]
    assert any(w["lost_exit"] for w in wire) and any(w["exit"] for w in wire)
    assert any(w["execs"] for w in wire) and any(w["parent"] is None for w in wire)


def _saved_then_db_journaled(directory: Path) -> tuple[Owner, Persister]:
    """The synthetic groups saved, then a group "db" added: in the journal only."""
    owner = new_owner()
    persister = Persister(directory, interval=1.0, clock=Clock())
    persister.restore(owner)
    synthetic(owner)
    assert persister.tick(owner)
    owner.tracker.add_root("db", info(ROOT + 20, 12 * SEC, ("postgres",)))
    assert not persister.tick(owner)
    return owner, persister


def test_a_journal_the_state_file_already_holds_is_skipped(directory: Path) -> None:
    """Killed after a save's rename, before the journal was emptied: the old journal is not
    applied over the newer file (it would bring back a group removed since)."""
    owner, persister = _saved_then_db_journaled(directory)
    stale = (directory / "groups.journal").read_bytes()
    assert b'"db"' in stale
    owner.tracker.remove_group("db")
    persister.save(owner)
    persister.release()
    (directory / "groups.journal").write_bytes(stale)
    after, _ = restore(directory)
    assert list(after.tracker.groups) == ["web", "empty"]


def test_a_torn_last_journal_line_is_ignored_and_a_bad_one_ignores_the_journal(
    directory: Path,
) -> None:
    _, persister = _saved_then_db_journaled(directory)
    persister.release()
    journal = directory / "groups.journal"
    whole = journal.read_bytes()
    journal.write_bytes(whole + b'{"member":{"pid":')  # killed in the middle of a write
    assert list(restore(directory)[0].tracker.groups) == ["web", "empty", "db"]
    journal.write_bytes(whole + b'{"member":{"pid":1}}\n')
    after, _ = restore(directory)
    assert list(after.tracker.groups) == ["web", "empty"], "a wrong line was half applied"


def test_every_tracker_change_moves_the_revision() -> None:
    t = Tracker(keep_exited=1.0, clock_offset=lambda: 0, reader=FakeProc())
    seen = [t.revision]

    def changed(what: str) -> None:
        assert t.revision > seen[-1], f"{what} did not move the revision"
        seen.append(t.revision)

    t.add_root("web", info(ROOT, 1 * SEC))
    changed("add_root")
    t.apply([Fork(2 * SEC, ROOT, ROOT, ROOT + 1, ROOT + 1)])
    changed("fork")
    t.apply([Exec(3 * SEC, ROOT + 1, ROOT + 1, info(ROOT + 1, 2 * SEC, ("ls",)))])
    changed("exec")
    t.apply([Exit(4 * SEC, ROOT + 1, ROOT + 1, 0, 17, 17)])
    changed("exit")
    t.prune(now=100 * SEC)
    changed("prune")
    t.rename_group("web", "www")
    changed("rename")
    t.remove_group("www")
    changed("remove")
    t.apply([Fork(5 * SEC, 42, 42, 43, 43)])
    assert t.revision == seen[-1], "a fork outside every group moved the revision"


def test_the_revision_is_the_stores_alone() -> None:
    """No caller bumps it by hand (it cannot), and what a saved state does not restore (a
    thread count) is in the delta without moving it: no save for that alone."""
    t = Tracker(keep_exited=1.0, clock_offset=lambda: 0, reader=FakeProc())
    t.add_root("web", info(ROOT, 1 * SEC))
    with pytest.raises(AttributeError):
        t.revision += 1  # type: ignore[misc]
    before = t.revision
    delta = t.apply([Fork(2 * SEC, ROOT, ROOT, ROOT + 9, ROOT)])  # a thread
    assert delta.changed == {(ROOT, 1 * SEC)} and t.revision == before
    t.note_group("web")  # what the engine says of a launch record
    assert t.revision > before


def test_a_failed_launch_leaves_no_group_and_drops_no_other_change(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRACTUI_STATE_DIR", str(tmp_path))
    engine = Engine()  # never started: no collector
    engine.tracker.add_root("web", info(ROOT, 1 * SEC))  # another command, since the last poll
    with pytest.raises(UserError):
        engine.launch("new", LaunchSpec([str(tmp_path / "no-such-program")]))
    assert list(engine.tracker.groups) == ["web"]
    delta = engine.tracker.take_delta()
    assert (ROOT, 1 * SEC) in delta.added  # what a daemon publishes to its subscribers next


def test_engine_rename_and_remove_keep_launch_records_and_the_log(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TRACTUI_STATE_DIR", str(tmp_path))
    engine = Engine()  # never started: no collector
    engine.tracker.add_root("web", info(ROOT, 1 * SEC))
    old_log = log_path_for("web")
    old_log.parent.mkdir(parents=True)
    old_log.write_text("output\n")
    engine.launches["web"] = [record(ROOT, 1 * SEC, str(old_log))]
    engine.rename_group("web", "www")
    assert list(engine.launches) == ["www"]
    assert engine.launches["www"][0].log == str(log_path_for("www"))
    assert log_path_for("www").read_text() == "output\n" and not old_log.exists()
    # a name whose log exists already: each keeps its own
    engine.tracker.add_root("api", info(ROOT + 1, 1 * SEC))
    log_path_for("api").write_text("api\n")
    engine.launches["api"] = [record(ROOT + 1, 1 * SEC, str(log_path_for("api")))]
    log_path_for("svc").write_text("svc\n")
    engine.rename_group("api", "svc")
    assert engine.launches["svc"][0].log == str(log_path_for("api"))
    assert log_path_for("svc").read_text() == "svc\n"
    assert engine.remove_group("svc") == [(ROOT + 1, 1 * SEC)]
    assert "svc" not in engine.launches and "svc" not in engine.tracker.groups


def test_the_embedded_engines_banner_says_the_groups_are_not_saved_until_they_are(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The TUI without a daemon: its banner is the engine's (the daemon's case: test_lost)."""
    clock = Clock()
    persister = Persister(directory, clock=clock)
    engine = Engine(state=persister)  # never started: no collector
    engine.restored = persister.restore(engine)
    assert engine.banner == ""
    engine.tracker.add_root("web", info(ROOT, 1 * SEC))

    def full(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    assert not persister.tick(engine)
    assert engine.banner.startswith("state not saved: ") and "No space left" in engine.banner
    monkeypatch.undo()
    clock.now += 0.5
    assert not persister.tick(engine) and "state not saved" in engine.banner, "retried at once"
    clock.now += 0.5
    assert persister.tick(engine) and engine.banner == ""
    persister.release()


def test_the_engines_banner_says_once_what_restore_found_and_why_nothing_is_saved(
    directory: Path,
) -> None:
    """A state file that cannot be read is both restore's warning and the reason no save
    happens: the banner (the UI's, and a daemon's through stats and hello) says it once."""
    (directory / "groups.json").mkdir(parents=True)  # not a regular file: unreadable as one
    persister = Persister(directory)
    engine = Engine(state=persister)  # never started: no collector
    engine.restored = persister.restore(engine)
    assert "groups.json" in engine.restored.warning and persister.error
    assert engine.banner == engine.restored.warning
    persister.release()


# ---- the members' JSON, kept from save to save ------------------------------------------------


def _groups(raw: bytes) -> Any:
    """The groups of a state file, each one's members in one order (the decoder's is its own)."""
    groups = json.loads(raw)["groups"]
    for group in groups:
        group["members"].sort(key=lambda m: (m["start"], m["pid"]))
    return groups


@settings(max_examples=100, deadline=None)
@given(st.lists(op, max_size=40), st.lists(st.booleans(), max_size=40), st.integers(1, 4))
def test_kept_member_json_equals_json_encoded_anew(
    ops: list[Any], saves: list[bool], run: int
) -> None:
    """Saves that re-encode only the members the journal names (and re-join only their runs)
    write what a save from nothing writes, whenever they happen in a random history."""
    history = History()
    t = history.tracker
    members = state.Members(t, run=run)
    for i, step in enumerate([None, *ops]):
        history.step(i, step)
        t.prune()  # as the engine does twice a second: runs thin out, and merge
        if i >= len(saves) or saves[i]:
            kept = state.encode(t, {}, members)
            assert _groups(kept) == _groups(state.encode(t, {})), f"after step {i}: {step}"
            loaded = state.decode(kept)
            assert [g.name for g in loaded.groups] == list(t.groups)


def test_thin_runs_merge_and_their_members_stay_up_to_date() -> None:
    history = History()
    t = history.tracker
    members = state.Members(t, run=2)
    steps: list[Any] = [("fork", 0, n) for n in range(1, 7)]  # runs [0 1] [2 3] [4 5] [6]
    steps += [("exit", 1, 0), *[None] * 6, ("prune",)]  # [0] [2 3] [4 5] [6]: too full
    steps += [("exit", 3, 0), *[None] * 6, ("prune",)]  # [0] [2]: merge into [0], as it was
    steps += [("exit", 2, 9), ("exit", 6, 1)]  # members of merged runs change
    for i, step in enumerate(steps):
        history.step(i, step)
        kept = state.encode(t, {}, members)
        assert _groups(kept) == _groups(state.encode(t, {})), f"after step {i}: {step}"
    runs = [[key[0] - HISTORY_ROOT for key in run.members] for run in members._runs["web"]]
    assert runs == [[0, 2], [4, 5], [6]]


def test_the_cpu_the_records_lack_is_saved_and_journaled(directory: Path) -> None:
    """A group's unrecorded CPU and a member's correction (tractui.model.reaped) come back
    from the state file, and from the journal after a kill -9."""
    clock = Clock()
    owner = new_owner()
    persister = Persister(directory, interval=1.0, clock=clock)
    persister.restore(owner)
    synthetic(owner)
    t = owner.tracker
    ended = t.procs[(ROOT + 2, 4 * SEC)]
    t.unrecorded.add(ended, 1_500, 700, 0)
    assert (t.groups["web"].unrecorded_user_us, t.groups["web"].unrecorded_system_us) == (
        1_500,
        700,
    )
    assert persister.tick(owner)
    saved_doc = json.loads((directory / "groups.json").read_text())
    web = next(g for g in saved_doc["groups"] if g["name"] == "web")
    assert web["unrecorded"] == [1_500, 700]
    t.unrecorded.add(ended, 500, 300, 0)  # after the save: in the journal only
    assert not persister.tick(owner)
    persister.release()  # a kill -9: no final save
    after, _ = restore(directory)
    group = after.tracker.groups["web"]
    assert (group.unrecorded_user_us, group.unrecorded_system_us) == (2_000, 1_000)
    fix = after.tracker.procs[(ROOT + 2, 4 * SEC)].fix
    assert fix is not None and (fix.user_us, fix.system_us) == (2_000, 1_000)


@pytest.mark.parametrize("bad", [[1], [-1, 0], [1.5, 0], "x", [True, 0]])
def test_a_bad_unrecorded_cpu_is_corrupt(directory: Path, bad: object) -> None:
    owner = new_owner()
    synthetic(owner)
    saved(directory, owner).release()
    path = directory / "groups.json"
    doc = json.loads(path.read_text())
    doc["groups"][0]["unrecorded"] = bad
    path.write_text(json.dumps(doc))
    _after, restored = restore(directory)
    assert "unrecorded" in restored.warning
