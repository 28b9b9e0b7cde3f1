"""Saved groups against the real kernel: a kill -9 and a restart lose no live member.

The state directory is the test's own (``make_engine`` sets TRACTUI_STATE_DIR under tmp_path).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tractui.control import LaunchSpec
from tractui.engine import Engine
from tractui.events import ExitStatus
from tractui.kernel import procfs
from tractui.model.changes import Key
from tractui.model.state import Persister, StateLocked

from .support import daemon_of, poll_until, running, wait_until

pytestmark = pytest.mark.kernel

Spawn = Callable[..., subprocess.Popen[bytes]]
MakeEngine = Callable[..., Engine]

# An engine that saves its groups, launches a double fork, attaches the PIDs it is given,
# waits until all of that is on disk, says what it tracks, and polls until it is killed.
ENGINE_PROGRAM = """
import json, sys, time
from tractui.control import LaunchSpec
from tractui.engine import Engine
from tractui.model.state import Persister

engine = Engine(keep_exited=60, state=Persister(interval=0.2))
engine.start()
engine.launch("web", LaunchSpec(["sh", "-c", "(sleep 100 &); sleep 100"]))
engine.attach("others", [int(pid) for pid in sys.argv[1:]])
deadline = time.monotonic() + 10
def sleeps():
    return [p for p in engine.tracker.members("web", alive_only=True) if p.argv == ("sleep", "100")]
while len(sleeps()) < 2 and time.monotonic() < deadline:
    engine.poll(0.05)
while engine.state.saved_revision != engine.tracker.revision and time.monotonic() < deadline:
    engine.poll(0.05)
members = {
    name: [[p.pid, p.start, p.parent, p.alive] for p in engine.tracker.members(name)]
    for name in engine.tracker.groups
}
print(json.dumps({"collector": engine.collector.pid, "members": members}), flush=True)
while True:
    engine.poll(0.1)
"""


@pytest.fixture
def engine_process() -> Iterator[Callable[..., tuple[subprocess.Popen[bytes], dict[str, Any]]]]:
    """Run ENGINE_PROGRAM; return it and what it printed. At teardown its collector, the group
    it launched and itself are killed (each started in a session of its own)."""
    started: list[subprocess.Popen[bytes]] = []
    groups: list[int] = []

    def run(*pids: int) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
        popen = subprocess.Popen(
            [sys.executable, "-c", ENGINE_PROGRAM, *map(str, pids)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        started.append(popen)
        assert popen.stdout is not None
        ready, _, _ = select.select([popen.stdout], [], [], 20)
        line = popen.stdout.readline() if ready else b""
        assert line, "the engine process said nothing (it failed, or hung)"
        report: dict[str, Any] = json.loads(line)
        groups.append(report["collector"])
        groups.extend(m[0] for m in report["members"]["web"] if m[2] is None)  # the roots
        return popen, report

    yield run
    for pgid in [p.pid for p in started] + groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    for popen in started:
        popen.wait(timeout=5)


def _keys(rows: list[list[Any]]) -> dict[Key, Key | None]:
    """Each live member's key -> its parent's key, from the engine process's report."""
    return {(r[0], r[1]): tuple(r[2]) if r[2] else None for r in rows if r[3]}  # type: ignore[misc]


def test_kill_9_and_restart_lose_no_live_member(
    make_engine: MakeEngine,
    engine_process: Callable[..., tuple[subprocess.Popen[bytes], dict[str, Any]]],
    spawn: Spawn,
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    victim = spawn(["sleep", "100"])
    forker = spawn(["sh", "-c", f"read x < {fifo}; sleep 100 & wait"])
    first, report = engine_process(victim.pid, forker.pid)
    web, others = _keys(report["members"]["web"]), _keys(report["members"]["others"])
    sleeps = [k for k in web if procfs.read_argv(k[0]) == ("sleep", "100")]
    assert len(sleeps) == 2 and len(web) == 3, f"not the launched tree: {report}"
    # kill -9: no final save, no clean exit; then, with no engine running, one member
    # dies and another forks
    first.kill()
    first.wait()
    victim.kill()
    victim.wait()
    with open(fifo, "w") as f:
        f.write("go\n")
    poll_until(lambda: procfs.descendants(forker.pid), "the sleep forked with no engine running")
    (late,) = procfs.descendants(forker.pid)

    engine = make_engine(state=Persister())
    restored = engine.restored
    assert restored is not None and restored.warning == ""
    tracker = engine.tracker
    for key, parent in {**web, **others}.items():
        proc = tracker.procs[key]
        if key[0] == victim.pid:
            assert not proc.alive and proc.status_text() == "gone"
            continue
        assert proc.alive, f"{key} was alive and is lost"
        assert proc.parent == parent and tracker.live[key[0]] is proc
        assert running(*key)
    forker_proc = tracker.live[forker.pid]
    adopted = tracker.live[late]
    assert adopted.parent == forker_proc.key and adopted.group == "others"
    assert (restored.groups, restored.kept, restored.gone, restored.adopted) == (2, 4, 1, 1)
    # the double-forked sleep is still under its forker, the subshell that exited
    root = tracker.procs[tracker.groups["web"].roots[0]]
    daemon = daemon_of(engine, "web", root)
    assert daemon is not None and daemon.reparented
    assert tracker.procs[daemon.parent].exit == ExitStatus(code=0)  # type: ignore[index]
    assert [r.pid for r in engine.launches["web"]] == [root.pid]
    # and the engine goes on following them
    os.kill(late, signal.SIGTERM)
    wait_until(engine, lambda: not adopted.alive, "the adopted sleep's exit")
    assert adopted.exit == ExitStatus(signal=signal.SIGTERM)


def test_a_clean_restart_restores_groups_launches_and_exits(make_engine: MakeEngine) -> None:
    first = make_engine(state=Persister())
    root = first.launch("job", LaunchSpec(["sh", "-c", "sleep 100 & exit 3"]))
    wait_until(first, lambda: not root.alive, "the launched sh's exit")
    sleep = next(p for p in first.tracker.members("job") if p.alive)
    counters = vars_of(first, "job")
    first.stop()  # the final save
    second = make_engine(state=Persister())
    tracker = second.tracker
    assert second.restored is not None and second.restored.kept == 1
    assert tracker.procs[root.key].exit == ExitStatus(code=3)
    assert tracker.live[sleep.pid].key == sleep.key
    assert tracker.live[sleep.pid].parent == root.key
    assert vars_of(second, "job") == counters
    (launch,) = second.launches["job"]
    assert (launch.pid, launch.start, launch.argv) == (
        root.pid,
        root.start,
        ("sh", "-c", "sleep 100 & exit 3"),
    )
    assert Path(launch.log).exists()


def vars_of(engine: Engine, name: str) -> tuple[int, ...]:
    g = engine.tracker.groups[name]
    return (g.live, g.forks, g.execs, g.exits, g.failed, len(g.members))


def test_a_second_engine_on_the_same_state_is_refused_and_leaves_nothing_running(
    make_engine: MakeEngine,
) -> None:
    first = make_engine(state=Persister())
    assert first.state is not None and first.state.locked
    second = Engine(state=Persister())
    with pytest.raises(StateLocked, match=f"PID {os.getpid()}"):
        second.start()
    assert second.collector.proc is None, "the refused engine left its collector running"
