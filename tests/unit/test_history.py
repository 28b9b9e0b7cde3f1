"""The history journal on its own: what it writes, what the cap drops and in which order,
damaged lines, renamed and removed groups, another boot's lines. Members are synthetic (PIDs
above any pid_max, a tracker reading an empty FakeProc): no process runs here."""

from __future__ import annotations

import json
import logging
import os
import signal
from pathlib import Path

import pytest

from tractui.cli import build_parser
from tractui.events import Exit, ProcInfo
from tractui.model.history import History, entry_wire, group_history, wire_lines
from tractui.model.tracker import Tracker

from .fakeproc import FakeProc

SEC = 1_000_000_000
BASE = 5_000_000


def new_tracker() -> Tracker:
    return Tracker(keep_exited=60.0, clock_offset=lambda: 0, reader=FakeProc())


class Box:
    """A tracker with a history in ``directory``; :meth:`end` makes ended members."""

    def __init__(self, directory: Path, cap: int = 64 << 10) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.tracker = new_tracker()
        self.history = History(directory, cap)
        self.history.open(self.tracker)
        self.history.collect(self.tracker)  # the first take: every ended member kept (none)
        self.next = BASE

    def end(self, group: str, status: int = 0, n: int = 1, argv: tuple[str, ...] = ("true",)):
        keys = []
        for _ in range(n):
            pid = self.next
            self.next += 1
            start = (pid - BASE + 1) * SEC
            info = ProcInfo(pid, start, 1, argv[0], argv, "/bin/" + argv[0], 0, 1, "S", False)
            self.tracker.add_root(group, info)
            self.tracker.apply([Exit(start + SEC // 2, pid, pid, status, 1, 1)])
            keys.append((pid, start))
        self.history.collect(self.tracker)
        self.history.flush()
        return keys

    def pids(self, group: str) -> list[int]:
        return [e["proc"]["pid"] for e in self.history.read(group).entries]


def test_ended_members_are_read_back_oldest_first_and_once(tmp_path: Path) -> None:
    box = Box(tmp_path)
    keys = box.end("web", n=3) + box.end("web", status=3 << 8)
    assert box.pids("web") == [k[0] for k in keys]
    # changed after it ended (a late account, say): written again, still listed once
    proc = box.tracker.procs[keys[0]]
    proc.comm = "renamed"
    box.tracker.changes.note_changed(proc.key)
    box.history.collect(box.tracker)
    entries = box.history.read("web").entries
    assert [e["proc"]["pid"] for e in entries] == [k[0] for k in keys]
    assert entries[0]["proc"]["comm"] == "renamed"
    # an unchanged member is not written again
    size = box.history.stats()["history_bytes"]
    box.tracker.changes.note_changed(keys[1])
    box.history.collect(box.tracker)
    box.history.flush()
    assert box.history.stats()["history_bytes"] == size
    # those listed from memory are left out
    assert [e["proc"]["pid"] for e in box.history.read("web", kept={keys[0]}).entries] == [
        k[0] for k in keys[1:]
    ]
    failed = [p.name for p in tmp_path.iterdir() if p.name.startswith("history.failed.")]
    assert len(failed) == 1
    box.history.close()
    # another process (a restarted daemon, the UI) reads the same
    again = History(tmp_path)
    again.open(new_tracker())
    assert [e["proc"]["pid"] for e in again.read("web").entries] == [k[0] for k in keys]
    assert [m["pid"] for m in group_history(tmp_path, "web")] == [k[0] for k in keys]
    assert all(m["history"] and not m["alive"] for m in group_history(tmp_path, "web"))


def test_the_cap_drops_the_oldest_clean_exits_first_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tractui.model.history")
    cap = 16 << 10
    box = Box(tmp_path, cap=cap)
    failures = box.end("web", status=signal.SIGKILL, n=4)
    first = box.end("web", n=4)
    for _ in range(40):  # ~100 KB of clean exits: six times the cap
        last = box.end("web", n=5)
    stats = box.history.stats()
    assert stats["history_bytes"] <= cap
    assert stats["history_dropped"] > 0
    pids = box.pids("web")
    assert all(k[0] in pids for k in failures)  # the failures outlive every older clean exit
    assert not any(k[0] in pids for k in first)  # the oldest clean exits went first
    assert all(k[0] in pids for k in last)  # the newest are there
    assert pids == sorted(pids)
    assert "history: dropped" in caplog.text and "clean exit(s)" in caplog.text
    assert "was cut" in box.history.read("web").cut
    assert box.history.read("web", created=4e9).cut == ""  # a group created since: not its cut
    files = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("history.clean."))
    assert len(files) <= 17 and files[0] != "history.clean.00000001"  # unlinked, oldest first
    # the counts survive a restart
    box.history.close()
    again = History(tmp_path, cap)
    again.open(new_tracker())
    assert again.stats()["history_dropped"] == stats["history_dropped"]


def test_a_batch_bigger_than_the_cap_keeps_its_newest(tmp_path: Path) -> None:
    cap = 16 << 10
    box = Box(tmp_path, cap=cap)
    keys = box.end("web", n=200)  # ~80 KB in one batch: a storm's
    assert box.history.stats()["history_bytes"] <= cap
    pids = box.pids("web")
    assert len(pids) > 20 and pids == [k[0] for k in keys[-len(pids) :]]


def test_failures_are_dropped_once_they_fill_three_quarters_of_the_cap(tmp_path: Path) -> None:
    cap = 16 << 10
    box = Box(tmp_path, cap=cap)
    for _ in range(30):
        box.end("web", status=1 << 8, n=5)
        box.end("web", n=1)
    clean, failed = box.history.sets["clean"], box.history.sets["failed"]
    assert clean.bytes + failed.bytes <= cap
    assert failed.bytes > cap // 2  # failures hold most of it...
    assert clean.bytes > 0  # ...and clean exits keep some


def test_a_torn_last_line_is_skipped_with_a_warning_and_never_appended_to(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    box = Box(tmp_path)
    keys = box.end("web", n=2)
    box.history.close()
    segment = tmp_path / "history.clean.00000001"
    whole = segment.read_bytes()
    with open(segment, "ab") as f:  # a kill -9 in the middle of a write
        f.write(whole.splitlines()[0][:40])
    again = History(tmp_path)
    tracker = new_tracker()
    again.open(tracker)
    found = again.read("web")
    assert [e["proc"]["pid"] for e in found.entries] == [k[0] for k in keys]
    assert found.damaged == 1 and "damaged line" in caplog.text
    # what comes next goes to a new segment: the torn line stays the last of its file
    info = ProcInfo(BASE + 99, 99 * SEC, 1, "true", ("true",), "/bin/true", 0, 1, "S", False)
    tracker.add_root("web", info)
    tracker.apply([Exit(100 * SEC, BASE + 99, BASE + 99, 0, 1, 1)])
    again.collect(tracker)
    again.flush()
    assert (tmp_path / "history.clean.00000002").exists()
    assert len(again.read("web").entries) == 3


def test_a_renamed_group_keeps_its_history_and_a_removed_one_loses_it(tmp_path: Path) -> None:
    box = Box(tmp_path)
    keys = box.end("web", n=2)
    box.tracker.rename_group("web", "api")
    box.history.rename("web", "api")
    assert box.pids("api") == [k[0] for k in keys]
    assert box.pids("web") == []
    box.tracker.remove_group("api")
    box.history.forget("api")
    box.end("api", n=1)  # a new group of the same name: a history of its own
    assert len(box.pids("api")) == 1
    ids = json.loads((tmp_path / "history.groups").read_text())["groups"]
    assert list(ids) == ["api"]


def test_a_line_of_another_boot_is_rebased_through_its_wall_time(tmp_path: Path) -> None:
    box = Box(tmp_path)
    box.end("web", n=1)
    entry = box.history.read("web").entries[0]
    same = entry_wire(entry, "web", box.history.boot, off_now=0)
    assert same["start"] == entry["proc"]["start"]
    # read in a boot that began an hour later: its clock is an hour behind
    later = entry_wire(entry, "web", "otherboot", off_now=entry["off"] + 3600 * SEC)
    assert later["start"] == entry["proc"]["start"] - 3600 * SEC
    wall = (entry["proc"]["start"] + entry["off"]) / 1e9
    assert later["start_wall"] == same["start_wall"] == wall
    assert later["ended"] - later["start"] == SEC // 2


def test_a_link_among_the_history_files_turns_history_off_with_one_line(tmp_path: Path) -> None:
    tmp_path.chmod(0o700)
    victim = tmp_path / "victim"
    victim.write_text("keep me\n")
    os.symlink(victim, tmp_path / "history.clean.00000001")
    history = History(tmp_path)
    tracker = new_tracker()
    history.open(tracker)
    assert not history.on
    assert history.error == (
        f"history is off: {tmp_path / 'history.clean.00000001'} is a symbolic link: "
        "tractui does not follow one there; remove it"
    )
    history.collect(tracker)
    history.flush()
    assert victim.read_text() == "keep me\n"


@pytest.mark.parametrize(
    ("text", "size"),
    [("64M", 64 << 20), ("16k", 16 << 10), ("1G", 1 << 30), ("20000", 20000), ("0", 0)],
)
def test_the_cap_option_takes_a_size(text: str, size: int) -> None:
    assert build_parser().parse_args(["daemon", "--history-cap", text]).history_cap == size


@pytest.mark.parametrize("text", ["", "1.5G", "12T", "-1", "4K", "M"])
def test_a_bad_cap_is_refused_in_one_line(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["daemon", "--history-cap", text])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--history-cap" in err and ("give a size" in err or "at least 16K" in err)


def test_a_temp_file_of_a_killed_writer_is_removed(tmp_path: Path) -> None:
    (tmp_path / ".history.groups.abc.tmp").write_text("{")
    Box(tmp_path)
    assert not (tmp_path / ".history.groups.abc.tmp").exists()


def test_the_newest_are_read_across_segments_and_the_older_counted(tmp_path: Path) -> None:
    box = Box(tmp_path, cap=256 << 10)  # segments of 16 KiB: ~40 lines each
    keys = []
    for _ in range(30):  # interleaved: a failure every 10, another group's lines between
        keys += box.end("web", n=9) + box.end("web", status=1 << 8)
        box.end("db", n=2)
    # the first one, changed after it ended: written twice (and counted twice among the older)
    proc = box.tracker.procs[keys[0]]
    proc.comm = "renamed"
    box.tracker.changes.note_changed(proc.key)
    box.history.collect(box.tracker)
    box.history.flush()
    assert box.history.stats()["history_dropped"] == 0
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("history.clean.")]) > 3
    full = box.history.read("web").entries
    assert len(full) == 300
    assert full[0]["proc"]["comm"] == "renamed"
    # the newest: written last, that is, that ended last, but the first, written again last
    by_writing = [keys[0], *keys[1:][::-1]]
    for n in (1, 7, 45, 269, 270, 299, 300, 1000):
        found = box.history.read("web", newest=n)
        got = [(e["proc"]["pid"], e["proc"]["start"]) for e in found.entries]
        assert got == sorted(by_writing[:n], key=lambda k: k[1]), n
        assert found.entries == [e for e in full if (e["proc"]["pid"], e["proc"]["start"]) in got]
        # by lines: the first's older line too, unless the clean files were parsed to the end
        assert found.older == 300 - min(n, 300) + (n <= 270), n
        assert found.damaged == 0
    # those listed from memory are left out, and not counted
    found = box.history.read("web", kept={keys[0], keys[-1]}, newest=2)
    assert [(e["proc"]["pid"], e["proc"]["start"]) for e in found.entries] == keys[-3:-1]


@pytest.mark.parametrize(
    "change",
    [{"exit": "bogus"}, {"exit": {"code": 999}}, {"parent": [1]}, {"exec_times": 5}, {"argv": 7}],
)
def test_a_line_wrong_inside_is_damaged_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, change: dict[str, object]
) -> None:
    """A line whose pid, start and times are numbers but whose other fields are wrong is one
    damaged line: the rest of the group's history is still listed (list --all, the UI)."""
    box = Box(tmp_path)
    keys = box.end("web", n=2)
    segment = next(p for p in sorted(tmp_path.iterdir()) if p.name.startswith("history.clean."))
    line = json.loads(segment.read_bytes().splitlines()[0])
    line["proc"].update(change, pid=BASE + 50)
    with open(segment, "a") as f:
        f.write(json.dumps(line, separators=(",", ":")) + "\n")
    found = box.history.read("web")
    assert len(found.entries) == 3, "read_lines checks only what it turns into ints"
    with caplog.at_level(logging.WARNING):
        wired, damaged = wire_lines(found.entries, "web", box.history.boot, 0)
    assert damaged == 1 and "damaged line" in caplog.text
    assert [m["pid"] for m in wired] == [k[0] for k in keys]
    assert [m["pid"] for m in group_history(tmp_path, "web")] == [k[0] for k in keys]
