"""The proc connector and the collector process against the real kernel."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tractui.control import LaunchSpec
from tractui.engine import Engine
from tractui.events import Event, Exec, Exit, ExitStatus, Fork, Loss, ProcConnector
from tractui.kernel.collector import BATCH_MAX, CollectorProcess
from tractui.model.store import Proc

from .support import alive_with_argv, poll_until, running, wait_until

pytestmark = pytest.mark.kernel


def _events_until(
    read: Callable[[list[Event]], None], done: Callable[[list[Event]], bool], timeout: float = 5.0
) -> list[Event]:
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    while not done(events):
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out; saw {len(events)} events")
        read(events)
    return events


def _exit_of(pid: int) -> Callable[[list[Event]], bool]:
    return lambda events: any(type(e) is Exit and e.pid == pid for e in events)


def _kinds_for(events: list[Event], pid: int) -> list[Event]:
    """The process-level events about ``pid`` (not its threads), in order."""

    def about(event: Event) -> bool:
        if isinstance(event, Fork):
            return event.child_pid == pid and not event.is_thread
        if isinstance(event, (Exec, Exit)):
            return event.pid == event.tgid == pid
        return False

    return [event for event in events if about(event)]


def test_exit_3_yields_fork_exec_exit_with_code_3() -> None:
    with ProcConnector() as connector:

        def read(out: list[Event]) -> None:
            select.select([connector.fileno()], [], [], 0.1)
            connector.read_into(out, 1024)

        child = subprocess.Popen(["sh", "-c", "exit 3"])
        try:
            events = _events_until(read, _exit_of(child.pid))
        finally:
            child.wait(timeout=5)
    assert child.returncode == 3
    seen = _kinds_for(events, child.pid)
    assert [type(e) for e in seen] == [Fork, Exec, Exit]
    fork, _exec, exit_ = seen
    assert isinstance(fork, Fork) and fork.parent_tgid == os.getpid()
    assert isinstance(exit_, Exit)
    assert exit_.status == 3 << 8
    assert exit_.decoded() == ExitStatus(code=3)
    assert connector.lost == 0


def test_collector_reads_argv_from_proc_at_exec() -> None:
    collector = CollectorProcess()
    collector.start()
    try:

        def read(out: list[Event]) -> None:
            select.select([collector.fileno()], [], [], 0.1)
            assert collector.reader is not None
            for message in collector.reader.read():
                if message[0] == "batch":
                    out.extend(message[1])

        # sleep so the process is still there whatever the collector's pace
        child = subprocess.Popen(["sh", "-c", "sleep 0.3; exit 3"])
        try:
            events = _events_until(read, _exit_of(child.pid))
        finally:
            child.wait(timeout=5)
    finally:
        collector.stop()
    seen = _kinds_for(events, child.pid)
    assert [type(e) for e in seen] == [Fork, Exec, Exit]
    exec_ = seen[1]
    assert isinstance(exec_, Exec) and exec_.info is not None
    assert exec_.info.argv == ("sh", "-c", "sleep 0.3; exit 3")
    assert exec_.info.ppid == os.getpid()
    assert exec_.info.comm == "sh"
    exit_ = seen[2]
    assert isinstance(exit_, Exit) and exit_.decoded() == ExitStatus(code=3)


BURST = 3000


def test_loss_is_reported_and_tracking_goes_on(
    make_engine: Callable[..., Engine],
    spawn: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    engine = make_engine(collector_args=["--rcvbuf", "4096"])
    fifo = tmp_path / "go"
    os.mkfifo(fifo)
    # a member that forks on demand, after the burst: the open blocks until we write
    root = engine.launch(
        "after-loss", LaunchSpec(["sh", "-c", f"read line < {fifo}; sleep 30 & wait"])
    )
    # each delta tells its own losses: every one the engine gives is counted, this one too
    # (with a 4 KiB buffer, a box busy forking overflows it before the burst)
    lost_seen = engine.drain(quiet=0.1, limit=1.0).lost
    assert root.alive

    burst = spawn(["sh", "-c", f"for i in $(seq {BURST}); do /bin/true; done"])
    lost_in_burst = 0
    deadline = time.monotonic() + 30
    # stop the burst once a loss is counted: the rest would only cost time
    while burst.poll() is None and not lost_in_burst and time.monotonic() < deadline:
        lost_in_burst = engine.poll(0.05).lost
    with contextlib.suppress(ProcessLookupError):  # it may have finished on its own
        os.killpg(burst.pid, signal.SIGKILL)
    burst.wait(timeout=5)
    lost_seen += lost_in_burst + engine.drain(quiet=0.2, limit=2.0).lost
    if engine.counters.lost == 0:
        pytest.skip(f"the kernel dropped nothing of {BURST} processes with a 4 KiB buffer here")
    assert engine.tracker.lost > 0, "the collector counted a loss the tracker never got"
    assert lost_seen == engine.tracker.lost
    assert root.alive, "the rescan after the loss dropped a live member"

    with open(fifo, "w") as f:
        f.write("go\n")
    wait_until(
        engine,
        lambda: any(
            p.parent == root.key for p in alive_with_argv(engine, "after-loss", ("sleep", "30"))
        ),
        "the member's fork after the loss",
    )


def test_loss_event_from_an_undrained_socket() -> None:
    with ProcConnector(rcvbuf=4096) as connector:
        # nobody reads while these run: the tiny queue must overflow
        for _ in range(20):
            subprocess.run(["/bin/true"], check=True)
        events: list[Event] = []
        while connector.read_into(events, 1024):
            pass
        connector.check_drops(events)
    losses = [e for e in events if type(e) is Loss]
    assert losses, f"no Loss among {len(events)} events"
    assert sum(e.dropped for e in losses) == connector.lost > 0  # type: ignore[union-attr]


REAP_LATER = """
import os, sys
child = os.fork()
if child == 0:
    open(sys.argv[1]).read()
    os._exit(7)
open(sys.argv[2]).read()
os.waitpid(child, 0)
"""


def test_member_whose_exit_event_was_lost_does_not_stay_alive(
    make_engine: Callable[..., Engine],
    spawn: Callable[..., subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    # 1 MiB: drained, the machine's own activity rarely overflows it (a later loss and rescan
    # would hide what this tests); 1,000 processes while the collector is stopped do
    engine = make_engine(collector_args=["--rcvbuf", str(1 << 20)])
    end_child, reap_child = tmp_path / "end", tmp_path / "reap"
    os.mkfifo(end_child)
    os.mkfifo(reap_child)
    argv = [sys.executable, "-c", REAP_LATER, str(end_child), str(reap_child)]
    root = engine.launch("lost-exit", LaunchSpec(argv))
    children: list[Proc] = []

    def forked() -> bool:
        children[:] = [p for p in engine.tracker.members("lost-exit") if p.parent == root.key]
        return bool(children)

    wait_until(engine, forked, "the child's fork")
    child = children[0]
    collector = engine.collector.pid
    assert collector is not None
    os.kill(collector, signal.SIGSTOP)  # nobody drains: the kernel drops what does not fit
    try:
        burst = spawn(["sh", "-c", "for i in $(seq 1000); do /bin/true; done"])
        assert burst.wait(timeout=20) == 0
        with open(end_child, "w") as f:
            f.write("go\n")
        poll_until(lambda: not running(child.pid), "the child's end (a zombie: not reaped yet)")
    finally:
        os.kill(collector, signal.SIGCONT)
    # the loss is seen, and /proc rescanned, while the child is still a zombie
    wait_until(engine, lambda: engine.tracker.lost > 0, "the loss")
    assert child.exit is None and root.alive, "an exit event came through: no loss to test"
    with open(reap_child, "w") as f:
        f.write("go\n")
    wait_until(engine, lambda: not root.alive, "the parent's exit")
    wait_until(engine, lambda: not child.alive, "the child to be seen gone", timeout=3.0)
    assert child.lost_exit or child.exit == ExitStatus(code=7)
    assert engine.tracker.groups["lost-exit"].live == 0


def test_a_collector_with_a_quiet_gap_sends_fewer_batches_and_still_reads_each_exec() -> None:
    """``--quiet-gap`` (the UI's engine: it polls every 50 ms) spaces a quiet host's batches;
    the reads of /proc at each exec stay as prompt."""
    gap = 0.25
    # a batch waits batch-interval at most, whatever the gap: both spaced here
    collector = CollectorProcess(["--quiet-gap", str(gap), "--batch-interval", str(gap)])
    collector.start()
    batches = 0
    try:

        def read(out: list[Event]) -> None:
            nonlocal batches
            select.select([collector.fileno()], [], [], 0.1)
            assert collector.reader is not None
            for message in collector.reader.read():
                if message[0] == "batch":
                    # a full batch is a storm's (the host's events: another program's), sent
                    # at once whatever the gap
                    batches += len(message[1]) < BATCH_MAX
                    out.extend(message[1])

        started = time.monotonic()
        child = subprocess.Popen(["sh", "-c", "for i in 1 2 3 4 5 6; do sleep 0.1; done"])
        try:
            events = _events_until(read, _exit_of(child.pid))
        finally:
            child.wait(timeout=5)
        elapsed = time.monotonic() - started
    finally:
        collector.stop()
    # six forks, execs and exits over 0.6 s: with the default gap (4 ms), a batch or more each
    assert batches <= elapsed / gap + 2, (batches, elapsed)
    sleeps = [
        e for e in events if isinstance(e, Exec) and e.info is not None and e.info.ppid == child.pid
    ]
    assert len(sleeps) == 6
    assert all(e.info is not None and e.info.argv == ("sleep", "0.1") for e in sleeps)
