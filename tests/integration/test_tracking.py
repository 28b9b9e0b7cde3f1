"""The engine follows real process trees: reparenting, setsid, threads, exec, exits, attach."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tractui.control import LaunchSpec
from tractui.engine import Engine
from tractui.errors import UserError
from tractui.events import ExitStatus
from tractui.kernel import procfs
from tractui.model.store import Proc
from tractui.session import Session

from .support import (
    UNREAPED,
    alive_with_argv,
    daemon_of,
    members,
    poll_until,
    running,
    session_of,
    wait_until,
)

pytestmark = pytest.mark.kernel

Spawn = Callable[..., subprocess.Popen[bytes]]


def _ended(engine: Engine, proc: Proc, what: str) -> ExitStatus:
    wait_until(engine, lambda: not proc.alive, what)
    assert proc.exit is not None, f"{what}: ended without a decoded status"
    return proc.exit


def _our_ancestors() -> set[int]:
    """Our ancestors: the only processes that can be subreapers above what we start."""
    out: set[int] = set()
    pid = os.getpid()
    while pid > 1 and (stat := procfs.read_stat(pid)) is not None:
        pid = stat.ppid
        out.add(pid)
    return out


def test_double_forked_daemon_stays_in_group_under_its_forker(engine: Engine) -> None:
    root = engine.launch("daemons", LaunchSpec(["sh", "-c", "(sleep 30 &); sleep 30"]))
    wait_until(
        engine,
        lambda: (d := daemon_of(engine, "daemons", root)) is not None and d.reparented,
        "the double-forked sleep, reparented",
    )
    daemon = daemon_of(engine, "daemons", root)
    assert daemon is not None
    forker = engine.tracker.procs[daemon.parent]  # type: ignore[index]
    assert forker.parent == root.key
    assert forker.exit == ExitStatus(code=0), "the intermediate subshell exits at once"
    assert forker.argv == ("sh", "-c", "(sleep 30 &); sleep 30") and forker.execs == []
    assert daemon.argv == ("sleep", "30")
    assert daemon.group == "daemons"
    assert daemon.key in engine.tracker.groups["daemons"].members
    assert daemon.reparented
    stat = procfs.read_stat(daemon.pid)
    assert stat is not None and stat.ppid == daemon.ppid != forker.pid
    assert daemon.ppid == 1 or daemon.ppid in _our_ancestors(), "reparented to init or a subreaper"
    assert running(daemon.pid, daemon.start)


def test_setsid_child_stays_in_group(engine: Engine) -> None:
    root = engine.launch("setsid", LaunchSpec(["sh", "-c", "setsid sleep 30 & sleep 30"]))

    def escaped() -> Proc | None:
        for proc in alive_with_argv(engine, "setsid", ("sleep", "30")):
            if proc.pid != root.pid and running(proc.pid) and session_of(proc.pid) == proc.pid:
                return proc
        return None

    wait_until(engine, lambda: escaped() is not None, "a sleep in a session of its own")
    proc = escaped()
    assert proc is not None
    assert session_of(proc.pid) != session_of(root.pid)
    assert proc.group == "setsid"
    # its forker is the root sh (or a child of it): the genealogy reaches the root
    ancestor = proc
    while ancestor.parent is not None:
        ancestor = engine.tracker.procs[ancestor.parent]
    assert ancestor is root


THREADS_PROGRAM = """
import threading, time
stop = threading.Event()
threads = [threading.Thread(target=stop.wait) for _ in range(4)]
for t in threads:
    t.start()
time.sleep(30)
"""


def test_threads_are_not_processes(engine: Engine) -> None:
    root = engine.launch("threads", LaunchSpec([sys.executable, "-c", THREADS_PROGRAM]))
    wait_until(engine, lambda: root.peak_threads >= 5, "the program's 4 threads")
    tids = {int(t) for t in os.listdir(f"/proc/{root.pid}/task")}
    assert len(tids) == 5
    engine.drain(quiet=0.2, limit=0.5)
    group = members(engine, "threads")
    assert [p.key for p in group] == [root.key], "a thread showed up as a process"
    assert root.alive and root.threads == 5 and root.peak_threads == 5
    for tid in tids - {root.pid}:
        assert tid not in engine.tracker.live
        assert not any(p.pid == tid for p in engine.tracker.procs.values())


EXEC_FROM_THREAD = """
import os, threading, time
threading.Thread(target=lambda: os.execv("/bin/sleep", ["sleep", "5"])).start()
time.sleep(30)
"""


def test_exec_from_a_non_leader_thread_keeps_the_process(engine: Engine) -> None:
    root = engine.launch("thread-exec", LaunchSpec([sys.executable, "-c", EXEC_FROM_THREAD]))
    wait_until(engine, lambda: root.argv == ("sleep", "5"), "the exec from the thread")
    engine.drain(quiet=0.3, limit=0.6)
    assert running(root.pid, root.start)
    assert root.alive, "the leader's exit during the exec was taken for the process's end"
    assert root.exit is None
    assert root.argv == ("sleep", "5")
    assert root.execs[-1] == ("sleep", "5")
    group = engine.tracker.groups["thread-exec"]
    assert group.live == 1 and group.exits == 0 and group.failed == 0
    assert engine.tracker.live.get(root.pid) is root
    assert [p.key for p in members(engine, "thread-exec")] == [root.key]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("exit 3", ExitStatus(code=3)),
        ("kill -TERM $$", ExitStatus(signal=signal.SIGTERM)),
        ("kill -KILL $$", ExitStatus(signal=signal.SIGKILL)),
    ],
    ids=["exit-3", "sigterm", "sigkill"],
)
def test_exit_status_is_decoded(engine: Engine, script: str, expected: ExitStatus) -> None:
    root = engine.launch("exits", LaunchSpec(["sh", "-c", script]))
    assert _ended(engine, root, script) == expected


def test_abort_with_core_dump_is_decoded(engine: Engine, tmp_path: Path) -> None:
    with open("/proc/sys/kernel/core_pattern") as f:
        pattern = f.read().strip()
    if pattern.startswith("|") or "/" in pattern:
        pytest.skip(f"core_pattern is {pattern!r}: no core file in the working directory")
    root = engine.launch(
        "cores",
        LaunchSpec(["sh", "-c", "ulimit -c unlimited && kill -ABRT $$"], cwd=str(tmp_path)),
    )
    status = _ended(engine, root, "the abort")
    if not status.core and not list(tmp_path.glob("core*")):
        pytest.skip("the kernel wrote no core file here (RLIMIT_CORE or core_pattern)")
    assert status == ExitStatus(signal=signal.SIGABRT, core=True)
    assert list(tmp_path.glob("core*")), "the status says core, but no core file was written"


def _wait_for_children(pid: int, argv: tuple[str, ...], n: int) -> list[int]:
    found: list[int] = []

    def ready() -> bool:
        found[:] = [c for c in procfs.descendants(pid) if procfs.read_argv(c) == argv]
        return len(found) >= n

    poll_until(ready, f"{n} children {argv} of {pid}")
    return found


def test_attach_adopts_a_running_tree(engine: Engine, spawn: Spawn) -> None:
    sh = spawn(["sh", "-c", "sleep 30 & sleep 30 & wait"])
    sleeps = _wait_for_children(sh.pid, ("sleep", "30"), 2)
    adopted = engine.attach("grp", [sh.pid])
    assert [p.pid for p in adopted] == [sh.pid]
    root = adopted[0]
    group = members(engine, "grp")
    assert {p.pid for p in group} == {sh.pid, *sleeps}
    assert all(p.alive for p in group)
    for proc in group:
        if proc is not root:
            assert proc.parent == root.key
            assert proc.argv == ("sleep", "30")
    assert root.argv == ("sh", "-c", "sleep 30 & sleep 30 & wait")
    assert engine.tracker.groups["grp"].roots == [root.key]


def test_attached_tree_keeps_growing_through_events(engine: Engine, spawn: Spawn) -> None:
    sh = spawn(["sh", "-c", "sleep 0.5; sleep 30 & wait"])
    root = engine.attach("later", [sh.pid])[0]
    assert not alive_with_argv(engine, "later", ("sleep", "30")), "forked before the attach"
    wait_until(
        engine,
        lambda: any(
            p.parent == root.key for p in alive_with_argv(engine, "later", ("sleep", "30"))
        ),
        "the sleep 30 forked after the attach",
    )


def test_attach_of_a_thread_id_never_tracks_a_thread(engine: Engine, spawn: Spawn) -> None:
    program = spawn([sys.executable, "-c", THREADS_PROGRAM])
    poll_until(lambda: len(os.listdir(f"/proc/{program.pid}/task")) == 5, "the 4 threads")
    tid = max(int(t) for t in os.listdir(f"/proc/{program.pid}/task"))
    assert tid != program.pid
    try:
        adopted = engine.attach("by-tid", [tid])
    except UserError as err:
        assert "thread" in str(err)
        assert "by-tid" not in engine.tracker.groups
        return
    # or it adopts the thread's process
    assert [p.pid for p in adopted] == [program.pid]
    assert tid not in engine.tracker.live


def _missing_pid() -> int:
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    live = set(procfs.pids())
    return next(pid for pid in range(pid_max - 1, 1, -1) if pid not in live)


def test_attach_errors_are_clear(engine: Engine, spawn: Spawn) -> None:
    tracker = engine.tracker
    sh = spawn(["sleep", "30"])
    fresh = spawn(["sleep", "30"])
    kthread = 2
    assert procfs.read_info(kthread) is not None and procfs.read_info(kthread).kthread  # type: ignore[union-attr]
    cases = [
        (_missing_pid(), "no process"),
        (0, "bad PID"),
        (1, "PID 1"),
        (kthread, "kernel thread"),
        (os.getpid(), "tractui itself"),
        (engine.collector.pid, "tractui itself"),
    ]
    for pid, message in cases:
        with pytest.raises(UserError, match=message):
            engine.attach("grp", [pid])
        assert "grp" not in tracker.groups, f"attaching {pid} left a group behind"
    with pytest.raises(UserError, match="bad group name"):
        engine.attach("bad name!", [sh.pid])
    assert not tracker.groups
    engine.attach("grp", [sh.pid])
    with pytest.raises(UserError, match="already in group 'grp'"):
        engine.attach("other", [sh.pid])
    assert "other" not in tracker.groups
    # all or none: one bad PID in the list adopts nothing
    with pytest.raises(UserError, match="PID 1"):
        engine.attach("mixed", [fresh.pid, 1])
    assert "mixed" not in tracker.groups
    assert fresh.pid not in tracker.live


def _unreaped_child(engine: Engine) -> tuple[Proc, Proc]:
    """A launched parent, and its child that has exited and that it does not reap (until its
    SIGUSR1): a zombie."""
    parent = engine.launch("z", LaunchSpec([sys.executable, "-c", UNREAPED]))
    wait_until(
        engine,
        lambda: any(p.parent == parent.key and not p.alive for p in members(engine, "z")),
        "the child's exit",
    )
    return parent, next(p for p in members(engine, "z") if p.parent == parent.key)


def _shown(session: Session, proc: Proc, state: str, status: str) -> bool:
    row = session.snapshot.procs.get(proc.key)
    return row is not None and (row.state, row.status) == (state, status)


def test_a_zombie_stays_with_state_z_past_keep_exited_until_it_is_reaped(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine(keep_exited=0.3)
    parent, child = _unreaped_child(engine)
    assert procfs.read_stat(child.pid).state == "Z"  # type: ignore[union-attr]
    session = Session(engine, snapshot_interval=0.05)
    session.start()
    try:
        poll_until(
            lambda: _shown(session, child, "Z", "exit 0, zombie"),
            "the zombie shown with state Z (it was pruned after keep_exited)",
        )
        time.sleep(1.0)  # two more upkeeps: it stays as long as its parent has not reaped it
        assert child.key in session.snapshot.procs
        os.kill(parent.pid, signal.SIGUSR1)
        poll_until(lambda: child.key not in session.snapshot.procs, "the reaped zombie to go")
    finally:
        session.stop()


def test_a_zombie_shows_state_z_long_before_keep_exited_and_an_exit_once_reaped(
    make_engine: Callable[..., Engine],
) -> None:
    """As ps does: Z from about a second after the exit (not only once keep-exited passed),
    then, reaped, a plain exit kept for the rest of keep-exited."""
    engine = make_engine(keep_exited=30.0)
    parent, child = _unreaped_child(engine)
    session = Session(engine, snapshot_interval=0.05)
    session.start()
    try:
        poll_until(
            lambda: _shown(session, child, "Z", "exit 0, zombie"),
            "the zombie shown with state Z well within keep-exited (it showed only an exit)",
            timeout=5,
        )
        os.kill(parent.pid, signal.SIGUSR1)
        poll_until(
            lambda: _shown(session, child, "-", "exit 0"),
            "the reaped zombie shown as an exit, still kept",
            timeout=5,
        )
    finally:
        session.stop()
