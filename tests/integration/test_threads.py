"""Thread rows (the UI's H): the threads of a real multi-threaded process read from /proc,
their names and CPU%, the per-pass bound, through the session embedded and over a daemon
(whose UI reads /proc itself); and signals to a tagged set of real processes by their keys."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

import pytest

from bench.common.daemon import Daemon
from tests.integration.support import poll_until
from tractui.control import LaunchSpec
from tractui.daemon.link import DaemonEngine
from tractui.engine import Engine
from tractui.kernel import procfs
from tractui.kernel.threads import ThreadSampler
from tractui.session import Session

T = TypeVar("T")
TIMEOUT = 15.0
NAMES = ("idle-a", "idle-b", "spinner")
# three named threads (the name is the thread's comm, as ps and htop show it); one spins for
# at most 20 s, and the process ends by itself after 30 s if the test's cleanup missed it
THREADS = f"""
import threading, time
def work(name, spin):
    with open(f"/proc/self/task/{{threading.get_native_id()}}/comm", "w") as f:
        f.write(name)
    end = time.monotonic() + 20
    while time.monotonic() < end:
        if not spin:
            time.sleep(0.2)
for name in {NAMES!r}:
    threading.Thread(target=work, args=(name, name == "spinner"), daemon=True).start()
time.sleep(30)
"""


def result(future: Future[T]) -> T:
    return future.result(timeout=TIMEOUT)


def key_of(pid: int) -> tuple[int, int]:
    start = procfs.read_start(pid)
    assert start is not None
    return (pid, start)


def threads_started(pid: int) -> bool:
    try:
        return len(os.listdir(f"/proc/{pid}/task")) == 1 + len(NAMES)
    except OSError:
        return False


def test_the_sampler_reads_each_threads_name_state_and_cpu(
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    popen = spawn([sys.executable, "-c", THREADS])
    poll_until(lambda: threads_started(popen.pid), "the threads", TIMEOUT)
    key = key_of(popen.pid)
    sampler = ThreadSampler(interval=0.0)
    poll_until(
        lambda: (
            sampler.read([(key, 4)]) is not None
            and sorted(t.comm for t in sampler.threads.get(key, ())) == sorted(NAMES)
        ),
        "each thread named",
        TIMEOUT,
    )
    tids = {int(t) for t in os.listdir(f"/proc/{popen.pid}/task")} - {popen.pid}
    assert {t.tid for t in sampler.threads[key]} == tids  # the main thread is the process
    time.sleep(0.5)
    sampler.read([(key, 4)])
    by_name = {t.comm: t for t in sampler.threads[key]}
    assert by_name["spinner"].cpu > 10.0  # a busy loop, even on a loaded machine
    assert by_name["spinner"].state in ("R", "S")
    assert by_name["idle-a"].cpu < by_name["spinner"].cpu
    assert by_name["spinner"].ticks > by_name["idle-a"].ticks
    # a single-threaded process has no thread rows; a reused PID (another start) neither
    sampler.read([(key, 1)])
    assert key not in sampler.threads
    sampler.read([((popen.pid, key[1] + 10**10), 4)])
    assert sampler.threads == {}
    popen.kill()
    popen.wait(TIMEOUT)
    sampler.read([(key, 4)])
    assert sampler.threads == {}


def test_a_pass_reads_at_most_its_limit_and_the_rest_come_first_next(
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    first = spawn([sys.executable, "-c", THREADS])
    second = spawn([sys.executable, "-c", THREADS])
    for p in (first, second):
        poll_until(lambda p=p: threads_started(p.pid), "the threads", TIMEOUT)
    a, b = key_of(first.pid), key_of(second.pid)
    sampler = ThreadSampler(interval=0.0, limit=2)
    sampler.read([(a, 4), (b, 4)])
    assert set(sampler.threads) == {a}  # 3 threads: over the limit, b waits
    sampler.read([(a, 4), (b, 4)])
    assert set(sampler.threads) == {a, b}  # b first this time (a keeps its rows)


def show_threads_and_tag(session: Session, pid: int) -> None:
    """The threads in the snapshots once asked for; then the tagged set signalled by key."""
    assert session.snapshot.threads == {}
    result(session.show_threads(True))
    poll_until(
        lambda: (
            sorted(
                t.comm
                for k, threads in session.snapshot.threads.items()
                if k[0] == pid
                for t in threads
            )
            == sorted(NAMES)
        ),
        "the thread rows in a snapshot",
        TIMEOUT,
    )
    result(session.show_threads(False))
    poll_until(lambda: session.snapshot.threads == {}, "no thread rows once hidden", TIMEOUT)
    key = next(k for k in session.snapshot.procs if k[0] == pid)
    stale = (pid, key[1] - 10**10)  # the same PID, another start: never signalled
    assert result(session.tagged_targets([key, stale])) == [pid]
    results = result(session.signal_keys([key, stale], signal.SIGTERM))
    assert [(r.pid, r.ok) for r in results] == [(pid, True)]
    poll_until(lambda: not procfs.read_start(pid), "the tagged process ended", TIMEOUT)
    # the session learns of the end from the exit event, which may come after /proc is gone
    poll_until(
        lambda: not any(r.alive for k, r in session.snapshot.procs.items() if k == key),
        "the session saw the end",
        TIMEOUT,
    )
    with pytest.raises(Exception, match="none of them is alive any more"):
        result(session.signal_keys([key], signal.SIGTERM))


@pytest.mark.kernel
def test_thread_rows_and_tagged_signals_embedded(engine: Engine) -> None:
    session = Session(engine, watch_collector=False)
    session.start()
    try:
        started = result(session.launch("th", LaunchSpec([sys.executable, "-c", THREADS])))
        poll_until(lambda: threads_started(started), "the threads", TIMEOUT)
        show_threads_and_tag(session, started)
    finally:
        session.stop()


@pytest.mark.kernel
def test_thread_rows_and_tagged_signals_over_a_daemon(
    make_daemon: Callable[..., Daemon],
) -> None:
    daemon = make_daemon()
    daemon.cli("add", "th", "--", sys.executable, "-c", THREADS)
    engine = DaemonEngine(daemon.socket)
    engine.start()
    session = Session(engine, watch_collector=False)
    session.start()
    try:
        poll_until(
            lambda: any(r.alive for r in session.snapshot.procs.values()), "the member", TIMEOUT
        )
        pid = next(r.pid for r in session.snapshot.procs.values() if r.alive)
        poll_until(lambda: threads_started(pid), "the threads", TIMEOUT)
        show_threads_and_tag(session, pid)
    finally:
        session.stop()
