"""tmux for programs that must be driven in a real terminal: the UI benchmark and the tests.

:class:`Tmux` is a tmux server of our own, on a socket in a directory of ours (a server shared
with the user's would pass them its environment, and they ours): sessions, keys, screens.
:class:`Pane` is one session on it, driven as a person does (a pause after each key).
With ``control=True``, keys and screen captures go through one control-mode client, with no tmux
process per command: the UI benchmark times keys to the screen on a loaded machine, where a fork
and exec per capture would weigh on the very latencies measured.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

COLS, ROWS = 120, 40
COMMAND_TIMEOUT = 10.0  # a tmux command, or the control client's answer


class TmuxError(RuntimeError):
    """A tmux command failed, or a screen never showed what was waited for."""


class Control:
    """A tmux control-mode client (``tmux -C``): commands and their output over one pipe."""

    def __init__(self, socket: str, session: str) -> None:
        flags = "no-output,ignore-size"
        self.proc = subprocess.Popen(
            ["tmux", "-S", socket, "-C", "attach-session", "-f", flags, "-t", session],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._buffer = b""
        self._reply()  # the attach's own

    def run(self, *args: str) -> tuple[bool, str]:
        """Run one command (simple words only: no quotes); (whether it worked, its output)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write((" ".join(args) + "\n").encode())
        self.proc.stdin.flush()
        return self._reply()

    def _reply(self) -> tuple[bool, str]:
        lines: list[str] = []
        inside = False
        while True:
            line = self._line()
            if line.startswith("%begin"):
                inside, lines = True, []
            elif inside and line.startswith(("%end", "%error")):
                return line.startswith("%end"), "\n".join(lines) + "\n"
            elif inside:
                lines.append(line)

    def _line(self, timeout: float = COMMAND_TIMEOUT) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TmuxError("tmux's control client did not answer")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise TmuxError("tmux's control client ended")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode(errors="replace")

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)


class Tmux:
    """Detached sessions of ``COLS`` x ``ROWS`` on a tmux server of our own, at ``socket``."""

    def __init__(self, socket: Path, control: bool = False) -> None:
        self.socket = str(socket)
        self.sessions: list[str] = []
        self.control = control
        self._control: Control | None = None

    def run(self, *args: str, check: bool = True) -> str:
        """A tmux command to this server; its output. TmuxError if it fails and ``check``."""
        done = subprocess.run(
            ["tmux", "-S", self.socket, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=COMMAND_TIMEOUT,
        )
        if check and done.returncode != 0:
            raise TmuxError(f"tmux {shlex.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def _fast(self, *args: str) -> str:
        """Through the control client (attached to a session of its own that runs ``cat``)."""
        if not self.control:
            return self.run(*args)
        if self._control is None:
            name, _pid = self.start("control", ["cat"], {})
            self._control = Control(self.socket, name)
        ok, out = self._control.run(*args)
        if not ok:
            raise TmuxError(f"tmux {shlex.join(args)}: {out.strip()}")
        return out

    def start(
        self, label: str, argv: list[str], env: dict[str, str], cwd: Path | None = None
    ) -> tuple[str, int]:
        """A new session running ``argv`` (through env(1), so that the pane's PID becomes it),
        in ``cwd`` if given, else in tmux's default directory; its name and that PID."""
        name = f"{label}-{uuid.uuid4().hex[:8]}"
        assigns = [f"{k}={v}" for k, v in env.items()]
        # Textual prefers COLUMNS/LINES to the terminal's size: drop them
        command = shlex.join(["env", "-u", "COLUMNS", "-u", "LINES", *assigns, *argv])
        where = ["-c", str(cwd)] if cwd is not None else []
        self.run("new-session", "-d", "-s", name, *where, "-x", str(COLS), "-y", str(ROWS), command)
        self.sessions.append(name)
        pid = int(self.run("display-message", "-p", "-t", name, "#{pane_pid}").strip())
        return name, pid

    def pane(self, label: str, argv: list[str], env: dict[str, str], pause: float) -> Pane:
        """:meth:`start`, as a :class:`Pane` that pauses ``pause`` s after each key."""
        name, pid = self.start(label, argv, env)
        return Pane(self, name, pid, pause)

    def kill(self, name: str) -> None:
        self.run("kill-session", "-t", name, check=False)
        if name in self.sessions:
            self.sessions.remove(name)

    def keys(self, name: str, *keys: str, literal: bool = False) -> None:
        args = ["send-keys", "-t", name, *(["-l"] if literal else []), *keys]
        if all(re.fullmatch(r"[\w.-]+", k) for k in keys):
            self._fast(*args)
        else:
            self.run(*args)

    def screen(self, name: str) -> str:
        """The pane's text now; "" if the session is gone."""
        try:
            return self._fast("capture-pane", "-p", "-t", name)
        except TmuxError:
            return ""

    def alive(self, name: str) -> bool:
        done = subprocess.run(
            ["tmux", "-S", self.socket, "has-session", "-t", name],
            capture_output=True,
            check=False,
            timeout=COMMAND_TIMEOUT,
        )
        return done.returncode == 0

    def wait_for(
        self, name: str, predicate: Callable[[str], object], what: str, timeout: float = 20.0
    ) -> str:
        """The first screen of which ``predicate`` holds; TmuxError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen(name)
            if predicate(screen):
                return screen
            if time.monotonic() > deadline:
                raise TmuxError(f"timed out waiting for {what}; the screen was:\n{screen}")
            time.sleep(0.1)

    def kill_all(self) -> None:
        """End the control client and every session (the server ends with its last)."""
        if self._control is not None:
            self._control.close()
            self._control = None
        for name in self.sessions:
            self.run("kill-session", "-t", name, check=False)
        self.sessions.clear()
        self.run("kill-server", check=False)


@dataclass
class Pane:
    """One session of a :class:`Tmux`, driven as a person does: ``pause`` s after each key
    (tmux delivers a burst of keys as one read; a person types slower than that)."""

    tmux: Tmux
    name: str
    pid: int
    pause: float = 0.3

    def keys(self, *keys: str, literal: bool = False) -> None:
        self.tmux.keys(self.name, *keys, literal=literal)
        time.sleep(self.pause)

    def screen(self, escapes: bool = False) -> str:
        """The text on screen; with ``escapes``, with its attributes as escape sequences."""
        if escapes:
            return self.tmux.run("capture-pane", "-p", "-e", "-t", self.name)
        return self.tmux.screen(self.name)

    def title(self) -> str:
        return self.tmux.run("display-message", "-p", "-t", self.name, "#{pane_title}")

    def wait_for(
        self, predicate: Callable[[str], object], what: str = "", timeout: float = 10.0
    ) -> str:
        return self.tmux.wait_for(self.name, predicate, what or "the screen", timeout)

    def alive(self) -> bool:
        return self.tmux.alive(self.name)
