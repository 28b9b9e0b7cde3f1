"""systemd's notification protocol (Type=notify, WatchdogSec=): the daemon says READY=1 once
it serves, pings the watchdog from its loop, and says STOPPING=1 on SIGTERM. The socket is a
real UNIX datagram socket, as systemd's."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

from bench.common.daemon import Daemon


def _messages(sock: socket.socket, until: float) -> list[str]:
    out = []
    while time.monotonic() < until:
        sock.settimeout(max(0.01, until - time.monotonic()))
        try:
            out.append(sock.recv(4096).decode())
        except TimeoutError:
            break
    return out


def test_ready_watchdog_and_stopping(make_daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        daemon = make_daemon(start=False)
        daemon.env["NOTIFY_SOCKET"] = str(path)
        daemon.env["WATCHDOG_USEC"] = "400000"  # a ping every 0.2 s
        daemon.start()
        heard = _messages(sock, time.monotonic() + 1.5)
        assert heard and heard[0].startswith("READY=1\n"), heard
        assert "STATUS=serving" in heard[0]
        assert heard.count("WATCHDOG=1\n") >= 3, heard  # about 7 in 1.5 s
        daemon.stop()
        assert "STOPPING=1\n" in _messages(sock, time.monotonic() + 2)


def test_no_notify_socket_no_message(make_daemon: Callable[..., Daemon], tmp_path: Path) -> None:
    """Outside systemd (no NOTIFY_SOCKET) nothing is sent, and a bad one is only logged."""
    daemon = make_daemon(start=False)
    daemon.env["NOTIFY_SOCKET"] = str(tmp_path / "nobody-listens")
    daemon.env["WATCHDOG_USEC"] = "100000"
    daemon.start()
    with daemon.connect() as conn:
        assert conn.request("groups") == []
