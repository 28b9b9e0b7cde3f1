"""For every test: no daemon of the machine's (a test that wants one starts its own, on a socket
it names; the rest must not reach a daemon someone left running: the UI would connect to it),
and ``spawn`` for the real helper processes a test starts."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

WAIT_TIMEOUT = 5.0


@pytest.fixture(autouse=True)
def _no_machine_daemon(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    socket_dir: Path = tmp_path_factory.mktemp("sock")
    monkeypatch.setenv("TRACTUI_SOCKET", str(socket_dir / "no-daemon.sock"))


def kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def wait_for(popen: subprocess.Popen[Any], timeout: float = WAIT_TIMEOUT) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        popen.wait(timeout=timeout)


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start helper processes in sessions of their own; kill each one's group at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        popen = subprocess.Popen(argv, start_new_session=True, **kwargs)
        started.append(popen)
        return popen

    yield start
    for popen in started:
        kill_group(popen.pid)
    for popen in started:
        wait_for(popen)
