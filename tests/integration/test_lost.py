"""Nothing the daemon has seen is lost: a kill -9 just after members were forked, a save on a
full disk, members that ended while no daemon ran, and kernel event loss during fork storms.

Each test's daemon is a real ``tractui daemon`` on its own socket and state directory
(``make_daemon`` of conftest.py), the storm test's engine a real one (``make_engine``);
everything launched is killed by process group at teardown.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.common.daemon import Daemon
from tests.integration.support import poll_until, running, wait_until
from tractui.control import LaunchSpec
from tractui.daemon.client import Connection
from tractui.engine import Engine
from tractui.kernel import procfs
from tractui.model import state

pytestmark = pytest.mark.kernel

# Double-forks MEMBERS sleeps at staggered times (each child forks its sleep and exits at once,
# so the sleep is reparented away and no /proc rescan can trace it back), writes their PIDs,
# then a line "done" when the last one is forked, and waits.
FORKER = """
import os, sys, time
out = open(sys.argv[1], "w")
for i in range({members}):
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        grandchild = os.fork()
        if grandchild == 0:
            os.execvp("sleep", ["sleep", "100"])
        os.write(w, str(grandchild).encode())
        os._exit(0)
    os.close(w)
    out.write(os.read(r, 32).decode() + "\\n")
    os.close(r)
    os.waitpid(child, 0)
    time.sleep({gap})
out.write("done\\n")
out.flush()
time.sleep(100)
"""

MEMBERS = 50


def _listed(daemon: Daemon, group: str) -> set[int]:
    out = daemon.cli("list", group, "--format", "pids").stdout
    return {int(pid) for pid in out.split()}


def test_kill_9_loses_no_member_forked_100_ms_before(
    make_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    daemon = make_daemon()
    pids_file = tmp_path / "pids"
    program = FORKER.format(members=MEMBERS, gap=0.02)
    daemon.cli("add", "burst", "--", sys.executable, "-c", program, str(pids_file))

    def done() -> bool:
        return pids_file.exists() and pids_file.read_text().endswith("done\n")

    poll_until(done, "the program to fork its members", timeout=20)
    forked_at = time.monotonic()
    pids = {int(line) for line in pids_file.read_text().split()[:-1]}
    assert len(pids) == MEMBERS
    time.sleep(max(0.0, forked_at + 0.1 - time.monotonic()))
    daemon.kill9()
    assert all(running(pid) for pid in pids)

    daemon.start()
    missing = pids - _listed(daemon, "burst")
    assert not missing, f"{len(missing)} of {MEMBERS} members lost by a kill -9: {sorted(missing)}"


# ---- a full disk -----------------------------------------------------------------------------


@pytest.fixture
def small_state(tmp_path: Path) -> Iterator[Path]:
    """A daemon root whose state directory is a 64 KiB tmpfs (unmounted at teardown, after the
    daemon: this fixture is set up before ``make_daemon``)."""
    root = tmp_path / "small"
    state = root / "state"
    state.mkdir(parents=True, mode=0o700)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(state)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(state)], check=False)


def _fill(directory: Path) -> Path:
    """A file that takes every free byte of ``directory``'s file system."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        chunk = b"x" * 4096
        while True:
            os.write(fd, chunk)
    except OSError as err:
        assert err.errno == errno.ENOSPC, err
    finally:
        os.close(fd)
    return filler


def _stats_messages(conn: Connection, want: Callable[[str], bool], timeout: float = 5.0) -> str:
    """The banner of the first subscription message whose stats' banner ``want`` accepts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = conn.receive()
        banner = str((message.get("stats") or {}).get("banner", ""))
        if message.get("t") in ("delta", "snapshot") and want(banner):
            return banner
    raise AssertionError("no subscriber message carried the expected banner")


def test_a_save_that_fails_is_never_acknowledged_as_done(
    small_state: Path, make_daemon: Callable[..., Daemon], spawn: Callable[..., Any]
) -> None:
    daemon = make_daemon(root=small_state)
    sleeps = [spawn(["sleep", "100"]) for _ in range(3)]
    daemon.cli("attach", "g0", "--create", str(sleeps[0].pid))
    subscriber = daemon.connect()
    subscriber.request("subscribe")  # as the UI follows the daemon: its banner is the stats'
    filler = _fill(daemon.state)

    done = daemon.cli("attach", "g1", "--create", str(sleeps[1].pid), check=False)
    assert done.returncode == 1, done
    assert "attached" in done.stdout
    assert "state not saved: " in done.stderr and "No space left" in done.stderr, done.stderr
    with daemon.connect() as conn:
        stats = conn.request("stats")
    assert "No space left" in stats["not_saved"]
    assert "state not saved: " in stats["banner"]
    banner = _stats_messages(subscriber, lambda b: "state not saved: " in b)
    assert "No space left" in banner
    groups = daemon.cli("groups")
    assert "state not saved: " in groups.stderr and "g1" in groups.stdout
    on_disk = state.decode((daemon.state / "groups.json").read_bytes())
    assert [g.name for g in on_disk.groups] == ["g0"]

    filler.unlink()  # space comes back: the daemon saves again by itself, within a second or so
    _stats_messages(subscriber, lambda b: "state not saved" not in b)
    with daemon.connect() as conn:
        stats = conn.request("stats")
    assert stats["not_saved"] == "" and "state not saved" not in stats["banner"]
    on_disk = state.decode((daemon.state / "groups.json").read_bytes())
    assert [g.name for g in on_disk.groups] == ["g0", "g1"]
    assert daemon.cli("attach", "g2", "--create", str(sleeps[2].pid)).returncode == 0
    subscriber.close()


# ---- down time -------------------------------------------------------------------------------


def test_members_that_ended_while_the_daemon_was_down_are_reported(
    make_daemon: Callable[..., Daemon], spawn: Callable[..., Any]
) -> None:
    daemon = make_daemon()
    victim, survivor = spawn(["sleep", "100"]), spawn(["sleep", "100"])
    daemon.cli("attach", "svc", "--create", str(victim.pid), str(survivor.pid))
    daemon.kill9()
    victim.kill()
    victim.wait()
    daemon.start()
    with daemon.connect() as conn:
        stats = conn.request("stats")
    said = "1 member(s) ended while tractui was not running"
    assert said in stats["unseen"] and "reparented away cannot be found" in stats["unseen"]
    assert said in stats["banner"]
    assert said in daemon.cli("groups").stderr
    assert _listed(daemon, "svc") == {survivor.pid}


# ---- event loss ------------------------------------------------------------------------------

STORM_SOURCE = Path(__file__).resolve().parents[2] / "bench" / "storm" / "storm.c"


@pytest.fixture(scope="module")
def storm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bench/storm's bounded vfork storm, compiled (each child exits at once; it ends itself)."""
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        pytest.skip("no C compiler to build bench/storm/storm.c")
    binary = tmp_path_factory.mktemp("storm") / "storm"
    subprocess.run([cc, "-O2", "-o", str(binary), str(STORM_SOURCE)], check=True)
    return binary


def test_event_loss_never_ends_a_live_member(
    make_engine: Callable[..., Engine], spawn: Callable[..., Any], storm: Path, tmp_path: Path
) -> None:
    """200 members; the collector stopped while vfork storms cycle the PID space and members
    fork 100 more: the kernel drops events, the tracker rescans /proc, and the forks still
    queued (of storm children whose PIDs members have since) must not end those members."""
    engine = make_engine()
    go = tmp_path / "go"
    os.mkfifo(go)
    engine.launch("many", LaunchSpec(["sh", "-c", "for i in $(seq 200); do sleep 60 & done; wait"]))
    done = tmp_path / "done"
    # forks spread over the storms: some get PIDs whose older forks are still queued
    more = f"read x < {go}; for i in $(seq 100); do sleep 60 & sleep 0.04; done; touch {done}; wait"
    engine.launch("many", LaunchSpec(["sh", "-c", more]))
    group = engine.tracker.groups["many"]
    wait_until(engine, lambda: group.live == 202, "the 200 members", timeout=10)
    collector = engine.collector.pid
    assert collector is not None
    # the kernel queues the storms' first ~20,000 events (the collector's buffer), drops the
    # rest: by the time those are read, after the rescan, their PIDs are the members' again
    os.kill(collector, signal.SIGSTOP)
    try:
        with open(go, "w") as f:
            f.write("go\n")
        for _ in range(3):
            spawn([str(storm), "20000"]).wait(timeout=30)
        poll_until(done.exists, "the 100 more members", timeout=20)
    finally:
        os.kill(collector, signal.SIGCONT)
    engine.drain(quiet=0.3)
    assert engine.tracker.lost > 0, "no event was lost: the test did not test anything"

    tracker = engine.tracker
    table = {pid: s for pid, s in procfs.scan().items() if not s.ended and s.state != "Z"}
    wrongly_gone = [
        p.pid
        for p in tracker.procs.values()
        if p.lost_exit and p.pid in table and procfs.same_start(table[p.pid].start, p.start)
    ]
    assert not wrongly_gone, f"{len(wrongly_gone)} live members marked gone: {wrongly_gone[:10]}"

    # and no member listed alive is a phantom: a fork from the backlog whose exit was dropped
    phantoms = [
        p.pid
        for p in tracker.live.values()
        if p.pid not in table or not procfs.same_start(table[p.pid].start, p.start)
    ]
    assert not phantoms, f"{len(phantoms)} listed alive, but /proc has no such process: {phantoms}"

    def listed(pid: int) -> bool:
        member = tracker.live.get(pid)
        return member is not None and procfs.same_start(member.start, table[pid].start)

    def reaches_a_member(pid: int) -> bool:
        seen: set[int] = set()
        while pid > 1 and pid not in seen and pid in table:
            if listed(pid):
                return True
            seen.add(pid)
            pid = table[pid].ppid
        return False

    unlisted = [pid for pid in table if reaches_a_member(pid) and not listed(pid)]
    assert not unlisted, f"{len(unlisted)} descendants of live members not listed: {unlisted[:10]}"
    roots = {tracker.procs[key].pid for key in tracker.groups["many"].roots}
    sleeps = [pid for pid, stat in table.items() if stat.ppid in roots]
    assert len(sleeps) == 300 and all(listed(pid) for pid in sleeps)
