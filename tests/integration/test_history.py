"""Ended members kept on disk, against a real daemon: across a restart and a kill -9, under a
cap that drops the oldest (clean exits first) and says so, past a line torn by a kill, and never
through a file another user could have planted.

The daemons keep exited members for 0 s (``--keep-exited 0``): what ``list --all`` shows of an
ended member after a second comes from the files, not from memory. Each test's processes are
short and few (at most ~160 forks); the make_daemon fixture kills what is left.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.common.daemon import Daemon
from tests.integration.support import poll_until
from tractui.model.history import group_history

pytestmark = pytest.mark.kernel

TIMEOUT = 15.0


def listing(daemon: Daemon, group: str) -> tuple[list[dict[str, Any]], str]:
    """``tractui list GROUP --all --format json``: its members, and its stderr."""
    done = daemon.cli("list", group, "--all", "--format", "json")
    return json.loads(done.stdout)["members"], done.stderr


def ended(daemon: Daemon, group: str) -> list[dict[str, Any]]:
    members, _ = listing(daemon, group)
    keys = [(m["pid"], m["start"]) for m in members]
    assert len(keys) == len(set(keys)), f"a member listed twice: {members}"
    return [m for m in members if not m["alive"]]


def keys(members: list[dict[str, Any]]) -> set[tuple[int, int]]:
    return {(m["pid"], m["start"]) for m in members}


def stats(daemon: Daemon) -> dict[str, Any]:
    with daemon.connect() as conn:
        result: dict[str, Any] = conn.request("stats")
        return result


def stopped_log(daemon: Daemon) -> str:
    """Stop the daemon; what it logged (its stderr)."""
    daemon.stop()
    assert daemon.proc is not None
    _, err = daemon.proc.communicate(timeout=10)
    return err


def test_ended_members_survive_a_restart_and_a_kill9_and_follow_a_rename(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon("--keep-exited", "0")
    daemon.cli(
        "add", "web", "--", "sh", "-c", 'sleep 0.3; sh -c "sleep 0.3; exit 7"; exec sleep 100'
    )

    def all_on_disk() -> bool:
        gone = ended(daemon, "web")
        return len(gone) == 3 and all(m.get("history") for m in gone)

    poll_until(all_on_disk, "the 3 ended members, from the files", TIMEOUT)
    before = ended(daemon, "web")
    assert sorted(m["command"] for m in before) == ["sh -c sleep 0.3; exit 7"] + ["sleep 0.3"] * 2
    failed = next(m for m in before if m["exit"] is not None and m["exit"].get("code") == 7)
    assert failed["status"] == "exit 7" and failed["ended"] > failed["start"] > 0
    # wall times near 1.7e9 s are floats good to ~2.4e-7 s: their difference to twice that
    assert failed["ended_wall"] - failed["start_wall"] == pytest.approx(
        (failed["ended"] - failed["start"]) / 1e9, abs=1e-6
    )
    assert abs(failed["ended_wall"] - time.time()) < 60

    daemon.stop()
    daemon.start()
    assert keys(ended(daemon, "web")) == keys(before)

    # two more end, and the daemon is killed as soon as they are listed: on disk already
    daemon.cli("add", "web", "--", "sh", "-c", "sleep 0.2; exit 3")
    poll_until(lambda: len(ended(daemon, "web")) == 5, "the two new ended members", TIMEOUT)
    daemon.kill9()
    on_disk = group_history(daemon.state, "web")
    assert keys(before) < keys(on_disk) and len(on_disk) == 5
    daemon.start()
    after = ended(daemon, "web")
    assert keys(after) == keys(on_disk)
    out = daemon.cli("list", "web", "--all").stdout
    assert "[exit 7, ended " in out and "sleep 0.3  [exit 0, ended " in out
    tree = daemon.cli("list", "web", "--all", "--format", "tree").stdout.splitlines()
    # each ended member once: from the files, or still in memory (the one that ended just
    # before the kill -9 may still be an unreaped zombie: then the restarted daemon holds it)
    listed = [int(line.split()[0]) for line in tree[1:]]
    assert sorted(p for p in listed if p in {m["pid"] for m in after}) == sorted(
        m["pid"] for m in after
    ), tree
    assert sum("[from history, ended " in line for line in tree) >= 4, tree
    assert not any("[exit" in line for line in tree), "the status said once, in its column"

    daemon.cli("rename", "web", "api")
    assert keys(ended(daemon, "api")) == keys(after)
    daemon.cli("remove", "api")
    daemon.cli("add", "api", "--", "sleep", "100")
    assert ended(daemon, "api") == []  # a new group of that name: no history yet


def test_a_member_still_in_memory_is_listed_once_from_there(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon()  # keeps exited members 60 s in memory
    daemon.cli("add", "web", "--", "sh", "-c", "sleep 0.2; exec sleep 100")
    poll_until(lambda: len(group_history(daemon.state, "web")) == 1, "the line on disk", TIMEOUT)
    gone = ended(daemon, "web")  # (which fails on a member listed twice)
    assert len(gone) == 1 and not gone[0].get("history")
    assert gone[0]["pid"] == group_history(daemon.state, "web")[0]["pid"]


def test_the_cap_drops_the_oldest_clean_exits_first_and_failures_outlive_them(
    make_daemon: Callable[..., Daemon],
) -> None:
    cap = 16 << 10
    daemon = make_daemon("--keep-exited", "0", "--history-cap", "16K")
    daemon.cli(
        "add",
        "early",
        "--",
        "sh",
        "-c",
        'for i in 1 2 3; do sh -c "sleep 0.1; exit 9"; sleep 0.1; done; exec sleep 100',
    )
    # each round: a shell that fails, its sleep, and a sleep: 3 failures, 6 clean exits
    poll_until(lambda: len(ended(daemon, "early")) == 9, "3 failures, 6 clean sleeps", TIMEOUT)
    failures = [m for m in ended(daemon, "early") if m["status"] == "exit 9"]
    assert len(failures) == 3
    assert stats(daemon)["history_dropped"] == 0

    # ~150 clean exits, some 60 KB of lines: about four times the cap
    daemon.cli("add", "flood", "--", "sh", "-c", "for i in $(seq 150); do /bin/true; done")

    def loop_on_disk() -> bool:  # the loop's shell ends last; then memory forgets them all
        gone = ended(daemon, "flood")
        return any(m["argv"][:1] == ["sh"] for m in gone) and all(m.get("history") for m in gone)

    poll_until(loop_on_disk, "the loop to end and be forgotten from memory", TIMEOUT)
    now = stats(daemon)
    assert now["history_dropped"] > 0
    assert now["history_bytes"] <= cap and now["history_cap"] == cap

    early, err = listing(daemon, "early")
    shown = [m for m in early if not m["alive"]]
    assert keys(failures) == keys(shown)  # the clean sleeps went; the failures, older, stayed
    assert "the history of 'early' was cut: clean exits that ended until" in err
    flood = ended(daemon, "flood")
    assert 10 < len(flood) < 150  # the newest are kept (the loop's shell, last), not all
    starts = [m["start"] for m in flood]
    assert starts == sorted(starts)  # oldest first
    assert "history: dropped" in stopped_log(daemon)


def test_a_line_torn_by_a_kill9_is_skipped_with_a_warning(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon("--keep-exited", "0")
    daemon.cli("add", "web", "--", "sh", "-c", "sleep 0.2; sleep 0.2; exec sleep 100")
    poll_until(lambda: len(ended(daemon, "web")) == 2, "2 ended members", TIMEOUT)
    before = keys(ended(daemon, "web"))
    daemon.kill9()
    segment = daemon.state / "history.clean.00000001"
    line = segment.read_bytes().splitlines()[-1]
    with open(segment, "ab") as f:
        f.write(line[: len(line) // 2])  # what a kill in the middle of a write leaves

    daemon.start()
    members, err = listing(daemon, "web")
    assert keys([m for m in members if not m["alive"]]) == before
    assert "1 damaged line(s) of the history were skipped" in err
    daemon.cli("add", "web", "--", "sh", "-c", "sleep 0.2; exit 4")  # and it goes on writing
    poll_until(lambda: len(ended(daemon, "web")) == 4, "the new ended members", TIMEOUT)
    assert (daemon.state / "history.clean.00000002").exists()  # never after the torn line
    assert "skipped 1 damaged line(s)" in stopped_log(daemon)


@pytest.mark.parametrize("plant", ["link", "owner", "map-link"])
def test_a_planted_history_file_is_refused_in_one_line(
    make_daemon: Callable[..., Daemon], tmp_path: Path, plant: str
) -> None:
    daemon = make_daemon(start=False)
    daemon.state.mkdir(parents=True, mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("root's file\n")
    path = daemon.state / ("history.groups" if plant == "map-link" else "history.clean.00000001")
    if plant == "owner":
        path.write_text("")
        os.chown(path, 65534, 65534)
        reason = f"{path} belongs to uid 65534, not to uid 0 that runs tractui: remove it"
    else:
        path.symlink_to(victim)
        reason = f"{path} is a symbolic link: tractui does not follow one there; remove it"
    daemon.start()
    error = f"history is off: {reason}"
    assert stats(daemon)["history_error"] == error
    assert error in stats(daemon)["banner"]
    daemon.cli("add", "web", "--", "sh", "-c", "sleep 0.2; exec sleep 100")
    poll_until(lambda: len(ended(daemon, "web")) == 1, "an ended member", TIMEOUT)
    done = daemon.cli("list", "web", "--all")
    assert f"tractui list: {error}\n" in done.stderr and "sleep 0.2" in done.stdout
    assert victim.read_text() == "root's file\n"
    assert os.lstat(path).st_uid == (65534 if plant == "owner" else 0)


def test_a_cap_of_0_keeps_no_history_and_list_says_so(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon("--keep-exited", "0", "--history-cap", "0")
    daemon.cli("add", "web", "--", "sh", "-c", "sleep 0.2; exec sleep 100")
    poll_until(lambda: [m["argv"] for m in listing(daemon, "web")[0]] == [["sleep", "100"]], "")
    _, err = listing(daemon, "web")
    assert err == "tractui list: history is not kept (tractui daemon --history-cap 0)\n"
    assert not [p for p in daemon.state.iterdir() if p.name.startswith("history")]
    assert "history_bytes" not in stats(daemon)


def test_history_only_and_newest_send_the_newest_entries_and_count_the_older(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon("--keep-exited", "0")
    script = "for i in $(seq 10); do /bin/true; done; /bin/false; /bin/true; /bin/true"
    daemon.cli("add", "web", "--", "sh", "-c", f"{script}; exec sleep 100")

    def all_on_disk() -> bool:  # seq, 10 + 3 others
        gone = ended(daemon, "web")
        return len(gone) == 14 and all(m.get("history") for m in gone)

    poll_until(all_on_disk, "the 14 ended members, from the files", TIMEOUT)
    everything = ended(daemon, "web")
    newest = sorted(everything, key=lambda m: m["ended"])[-5:]
    assert "exit 1" in [m["status"] for m in newest]  # both kinds of file are read
    with daemon.connect() as conn:
        result = conn.request("list", group="web", all=True, history_only=True, newest=5)
        full = conn.request("list", group="web", all=True)
    members = result["members"]
    assert all(m.get("history") and not m["alive"] for m in members), members
    assert keys(members) == keys(newest)
    assert [m["start"] for m in members] == sorted(m["start"] for m in members)  # oldest first
    assert result["history"]["older"] == 9 and result["history"]["entries"] == 5
    # without them: everything, the live member too, and nothing said older
    assert any(m["alive"] for m in full["members"]) and full["history"]["older"] == 0
    assert keys(everything) < keys(full["members"])
