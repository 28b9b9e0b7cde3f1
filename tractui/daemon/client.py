"""A blocking client of the daemon: connect, say hello, send requests, read replies and deltas.

Used by the scripting CLI (``tractui list``, ``add``, ...) and by the TUI when a daemon runs.
No Textual here.
"""

from __future__ import annotations

import itertools
import os
import shlex
import socket
import struct
import sys
from collections import deque
from pathlib import Path
from typing import Any

from tractui import control, paths
from tractui.control import LaunchSpec
from tractui.daemon.protocol import (
    MAX_REPLY,
    PROTOCOL,
    JsonObject,
    LineReader,
    ProtocolError,
    encode,
    is_utf8,
)
from tractui.errors import UserError
from tractui.text import escape

EXIT_NO_DAEMON = 3


class NoDaemon(UserError):
    """Nothing answers on the socket."""

    exit_code = EXIT_NO_DAEMON


class DaemonError(UserError):
    """The daemon answered a request with an error."""


class Connection:
    """One connection to the daemon. Not thread-safe: use it from one thread."""

    def __init__(self, path: Path | None = None, timeout: float | None = 10.0) -> None:
        self.path = path or paths.socket_path()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.settimeout(timeout)
        # no depth scan of the daemon's lines: a snapshot's would cost more than its parse (a
        # deep line still fails, as malformed, at json's recursion limit)
        self.reader = LineReader(limit=MAX_REPLY, depth=None)
        self.pending: deque[JsonObject] = deque()
        self._ids = itertools.count(1)
        try:
            self.sock.connect(str(self.path))
        except (FileNotFoundError, ConnectionRefusedError):
            self.sock.close()
            raise NoDaemon(no_daemon_message(self.path)) from None
        except PermissionError:
            self.sock.close()
            raise UserError(
                f"permission denied on {self.path}: the daemon is another user's (try sudo)"
            ) from None
        except OSError as err:
            self.sock.close()
            raise NoDaemon(f"cannot reach the daemon on {self.path}: {err.strerror}") from None
        try:
            check_server(self.sock, self.path)  # before anything is sent, or believed
            self.hello = self.receive()
        except BaseException:
            self.sock.close()
            raise
        if self.hello.get("t") == "error":
            self.sock.close()
            raise UserError(str(self.hello.get("error")))
        if self.hello.get("t") != "hello" or self.hello.get("protocol") != PROTOCOL:
            self.sock.close()
            raise UserError(
                f"the daemon on {self.path} speaks protocol {self.hello.get('protocol')!r}, "
                f"this tractui speaks {PROTOCOL}: restart the daemon from this installation"
            )

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.sock.close()

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, op: str, **fields: Any) -> int:
        """Send a request; return its id (the reply comes through :meth:`receive`)."""
        rid = next(self._ids)
        self.sock.sendall(encode({"id": rid, "op": op, **fields}))
        return rid

    def request(self, op: str, **fields: Any) -> Any:
        """Send a request and wait for its reply; its result, or DaemonError with the reason.

        Subscription messages that arrive meanwhile are kept for :meth:`receive`."""
        rid = self.send(op, **fields)
        held: list[JsonObject] = []
        try:
            while True:
                message = self.receive()
                if message.get("t") == "reply" and message.get("id") in (rid, None):
                    if message.get("ok"):
                        return message.get("result")
                    raise DaemonError(str(message.get("error")))
                if message.get("t") == "error":
                    raise DaemonError(str(message.get("error")))
                held.append(message)
        finally:
            self.pending.extendleft(reversed(held))

    def receive(self) -> JsonObject:
        """The next message from the daemon (blocking, within the socket's timeout)."""
        while not self.pending:
            try:
                data = self.sock.recv(1 << 20)
            except TimeoutError:
                raise UserError(f"the daemon on {self.path} did not answer in time") from None
            except OSError as err:
                raise UserError(f"lost the daemon on {self.path}: {err.strerror}") from None
            if not data:
                raise UserError(f"the daemon on {self.path} closed the connection")
            for message in self.reader.feed(data):
                if isinstance(message, ProtocolError):
                    raise UserError(f"the daemon sent something unreadable: {message}")
                self.pending.append(message)
        return self.pending.popleft()


class ForeignServer(UserError):
    """The socket is served by a user who is neither root nor us: not our daemon."""


_PEERCRED = struct.Struct("3i")


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a UNIX socket (the daemon checks
    its clients with it, a client its daemon)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    pid, uid, gid = _PEERCRED.unpack(raw)
    return pid, uid, gid


def check_server(sock: socket.socket, path: Path) -> None:
    """ForeignServer unless root or our own uid serves ``sock``: in a directory another user
    can write, theirs may stand where the daemon's was, to read what we would send."""
    uid, me = peer_credentials(sock)[1], os.geteuid()
    if uid in (0, me):
        return
    whom = "root" if me == 0 else f"root or you (uid {me})"
    raise ForeignServer(
        f"refusing {path}: it is served by uid {uid}, not by {whom}, so nothing was sent; "
        "set TRACTUI_SOCKET to the daemon's socket"
    )


def add_request(group: str, spec: LaunchSpec) -> JsonObject:
    """The fields of an ``add`` request for ``spec``, with this client's context: the program
    gets our environment (cleaned by the daemon for a user switch), umask and working
    directory, never the daemon's."""
    for n, arg in enumerate(spec.argv):
        if not is_utf8(arg):
            raise UserError(
                f"argument {n} ({escape(arg)}) is not UTF-8, and a daemon is sent text only: "
                "let a shell make those bytes (sh -c '... \"$(printf \\377)\"')"
            )
    who = spec.user or control.invoking_identity(spec.as_root)
    env = os.environ if spec.env is None else spec.env
    return {
        "group": group,
        "argv": spec.argv,
        "cwd": control.working_directory(spec.cwd),
        # a variable that is not UTF-8 cannot travel as JSON text: the program goes without
        "env": {k: v for k, v in env.items() if is_utf8(k) and is_utf8(v)},
        "umask": control.current_umask() if spec.umask is None else spec.umask,
        "as_root": spec.as_root,
        "assign": dict(spec.assign or {}),
        "user": {"uid": who.uid, "gid": who.gid, "groups": who.groups},
    }


def no_daemon_message(path: Path) -> str:
    return (
        f"no tractui daemon is running on {path}: start one with "
        f"'sudo {_this_command()} daemon --detach', or set TRACTUI_SOCKET"
    )


def _this_command() -> str:
    """How this tractui was run, as a user could type it again (a venv's path, say)."""
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0.endswith("__main__.py") or not argv0:
        return "python3 -m tractui"
    if "/" in argv0:
        return shlex.quote(os.path.abspath(argv0))
    return shlex.quote(argv0)
