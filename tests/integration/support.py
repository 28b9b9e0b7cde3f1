"""Helpers for the real-kernel tests: waiting on the engine, and looking at /proc."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from tractui.engine import Engine
from tractui.kernel import procfs
from tractui.model.store import Proc

TIMEOUT = 5.0

# forks a child that exits at once; reaps it only when sent SIGUSR1
UNREAPED = (
    "import os, signal, time; "
    "signal.signal(signal.SIGUSR1, lambda *_: os.waitpid(-1, 0)); "
    "os.fork() or os._exit(0); time.sleep(30)"
)


def wait_until(
    engine: Engine, condition: Callable[[], object], what: str, timeout: float = TIMEOUT
) -> None:
    """Apply events until ``condition()`` holds; fail, saying ``what``, after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        engine.poll(0.05)
        if condition():
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def poll_until(condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    """Like :func:`wait_until`, without an engine."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def free_port() -> int:
    """A TCP port of the loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(url: str, timeout: float = 5.0) -> bool:
    """``url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


def start_server(
    spawn: Callable[..., subprocess.Popen[bytes]],
    argv: list[str],
    log: Path,
    url: str,
    timeout: float,
) -> None:
    """Start a server (Prometheus, process-exporter) with ``spawn``, so that its process group
    is killed at teardown, its stderr in ``log``; return once ``url`` answers."""
    with open(log, "wb") as stderr:  # the server writes to its own copy
        spawn(argv, stdout=subprocess.DEVNULL, stderr=stderr)
    poll_until(lambda: answers(url), f"{argv[0]} to answer at {url} (its log: {log})", timeout)


def running(pid: int, start: int | None = None) -> bool:
    """The process ``pid`` (started at ``start``, if given) exists and is not a zombie."""
    stat = procfs.read_stat(pid)
    if stat is None or stat.state in ("Z", "X"):
        return False
    return start is None or procfs.same_start(stat.start, start)


def session_of(pid: int) -> int:
    return os.getsid(pid)


def real_ids(pid: int) -> tuple[int, int]:
    """The real uid and gid of ``pid`` from /proc/PID/status."""
    uid = gid = -1
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                uid = int(line.split()[1])
            elif line.startswith("Gid:"):
                gid = int(line.split()[1])
    return uid, gid


def members(engine: Engine, group: str) -> list[Proc]:
    return engine.tracker.members(group)


def alive_with_argv(engine: Engine, group: str, argv: tuple[str, ...]) -> list[Proc]:
    return [p for p in engine.tracker.members(group, alive_only=True) if p.argv == argv]


def daemon_of(engine: Engine, group: str, root: Proc) -> Proc | None:
    """The double-forked ``sleep``: alive, forked by a child of the root (not the root itself)."""
    for proc in engine.tracker.members(group, alive_only=True):
        if proc.argv[:1] != ("sleep",) or proc.parent is None or proc.parent == root.key:
            continue
        forker = engine.tracker.procs.get(proc.parent)
        if forker is not None and forker.parent == root.key:
            return proc
    return None
