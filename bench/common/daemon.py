"""A real ``tractui daemon`` on a socket and state directory of its own: for the daemon
benchmark and for the tests that drive one.

Whatever it launched is ended by :meth:`Daemon.cleanup`: every live member SIGKILLed through the
daemon itself, the daemon stopped (SIGTERM, then SIGKILL), then each launched program's process
group SIGKILLed (each leads a session of its own), so that nothing outlives a run or a test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from tractui.daemon.client import Connection

STOP_TIMEOUT = 10.0  # SIGTERM, then SIGKILL


class DaemonFailed(RuntimeError):
    """The daemon exited, or did not answer, as it was started."""


class Daemon:
    """One ``python -m tractui daemon`` process (``wrapper`` before it, ``extra`` after) and the
    environment its clients use. Its output goes to ``log`` if given, else to pipes (read them
    with ``proc.communicate()``)."""

    start_timeout = 15.0  # it answers on its socket

    def __init__(
        self,
        root: Path,
        extra: list[str] | None = None,
        log: Path | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.root = root
        self.socket = root / "run" / "tractui.sock"
        self.state = root / "state"
        self.env = {
            **os.environ,
            "TRACTUI_SOCKET": str(self.socket),
            "TRACTUI_STATE_DIR": str(self.state),
        }
        for var in ("SUDO_UID", "SUDO_GID", "SUDO_USER"):
            self.env.pop(var, None)
        self.extra = extra or []
        self.wrapper: list[str] = []  # a command that runs the daemon (unshare ...)
        self.log = log
        self.cwd = cwd
        self.proc: subprocess.Popen[str] | None = None
        self.collector = 0  # its collector process, once it answered
        self.roots: set[int] = set()  # launched programs: each leads a session of its own

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, wait: bool = True) -> subprocess.Popen[str]:
        out: TextIO | int = subprocess.PIPE
        if self.log is not None:
            out = open(self.log, "w")  # noqa: SIM115  (the child holds it; closed below)
        try:
            self.proc = subprocess.Popen(
                [*self.wrapper, sys.executable, "-m", "tractui", "daemon", *self.extra],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT if self.log is not None else subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        finally:
            if not isinstance(out, int):
                out.close()
        if wait:
            deadline = time.monotonic() + self.start_timeout
            while not self.answers():
                if time.monotonic() > deadline:
                    raise DaemonFailed(
                        f"the daemon did not answer within {self.start_timeout:.0f} s"
                        + (f":\n{self.log_tail()}" if self.log is not None else "")
                    )
                time.sleep(0.02)
        return self.proc

    def answers(self) -> bool:
        """It accepts a connection (and says which of its PIDs is its collector)."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            said = self.log_tail() if self.log is not None else self.proc.communicate()[1]
            raise DaemonFailed(f"the daemon exited: {said}")
        try:
            with Connection(self.socket, timeout=2) as conn:
                own = [p for p in conn.hello.get("own_pids", []) if p != self.proc.pid]
                self.collector = own[0] if own else 0
                return True
        except Exception:
            return False

    def connect(self, timeout: float = 10.0) -> Connection:
        return Connection(self.socket, timeout=timeout)

    def cli(
        self, *args: str, check: bool = True, env: dict[str, str] | None = None, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        """``tractui ARGS`` as a client (with the daemon's environment, unless ``env``);
        ``kwargs`` go to subprocess.run (cwd, umask...)."""
        done = subprocess.run(
            [sys.executable, "-m", "tractui", *args],
            env=self.env if env is None else env,
            capture_output=True,
            text=True,
            timeout=30,
            **kwargs,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"tractui {' '.join(args)}: {done.returncode} {done.stderr}")
        if args[0] == "add" and done.returncode == 0:
            self.roots.add(int(done.stdout.split()[1]))
        return done

    def add(self, conn: Connection, group: str, argv: list[str]) -> int:
        """Launch ``argv`` into ``group`` with an ``add`` request on ``conn`` (in ``root``, with
        the default PATH); its PID."""
        env = {"PATH": os.defpath}
        result = conn.request("add", group=group, argv=argv, cwd=str(self.root), env=env)
        pid = int(result["pid"])
        self.roots.add(pid)
        return pid

    def log_tail(self, lines: int = 20) -> str:
        if self.log is None:
            return ""
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=STOP_TIMEOUT)
        # its collector notices its parent is gone and exits by itself

    def stop(self) -> bool:
        """SIGTERM, and SIGKILL after STOP_TIMEOUT s. Whether it needed the SIGKILL."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
            return False
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=STOP_TIMEOUT)
            return True

    def kill_members(self) -> None:
        """SIGKILL every live member of every group, through the daemon."""
        with contextlib.suppress(Exception), self.connect(timeout=5) as conn:
            for group in conn.request("groups"):
                if group["live"]:
                    with contextlib.suppress(Exception):
                        conn.request("signal", group=group["name"], signal="KILL")

    def cleanup(self) -> bool:
        """End the members, the daemon, and what it launched (see the module). Whether the
        daemon needed a SIGKILL to stop."""
        if self.proc is not None and self.proc.poll() is None:
            self.kill_members()
        killed = self.stop()
        for pid in self.roots:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired, ValueError):
                self.proc.communicate(timeout=STOP_TIMEOUT)
        return killed
