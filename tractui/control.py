"""Launching programs into groups and signalling processes, through pidfds.

A launched program runs as the user who ran ``sudo tractui`` (unless asked to run as root), in
a session of its own (the TUI's keys never reach it), with stdin from /dev/null and its output
appended to a per-group log file (0600): it never writes on tractui's terminal.
"""

from __future__ import annotations

import errno
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tractui import paths, procfs
from tractui.errors import UserError
from tractui.text import escape, shell_join


@dataclass(slots=True)
class Identity:
    """Who a launched program runs as."""

    uid: int
    gid: int
    groups: list[int] = field(default_factory=list)
    name: str = ""
    home: str = ""

    @property
    def is_self(self) -> bool:
        return self.uid == os.geteuid()

    @classmethod
    def of_uid(cls, uid: int) -> Identity:
        """The user ``uid`` with the groups the password database gives it."""
        try:
            entry = pwd.getpwuid(uid)
        except KeyError:
            raise UserError(f"uid {uid} is not a user on this machine") from None
        groups = os.getgrouplist(entry.pw_name, entry.pw_gid)
        return cls(uid, entry.pw_gid, groups, entry.pw_name, entry.pw_dir)


@dataclass(slots=True)
class LaunchSpec:
    argv: list[str]
    cwd: str | None = None
    env: dict[str, str] | None = None  # added to (and overriding) the environment
    as_root: bool = False
    user: Identity | None = None  # who it runs as; None: the invoking user (see run_as)


def invoking_identity(as_root: bool = False, environ: Mapping[str, str] | None = None) -> Identity:
    """Root under sudo launches as the invoking user (SUDO_UID/SUDO_GID); else as ourselves."""
    environ = os.environ if environ is None else environ
    sudo_uid = environ.get("SUDO_UID", "")
    if os.geteuid() == 0 and not as_root and sudo_uid and not sudo_uid.isdigit():
        raise UserError(
            f"SUDO_UID {sudo_uid!r} is not a number: unset it, or pass --as-root to run as root"
        )
    if os.geteuid() == 0 and not as_root and sudo_uid.isdigit():
        uid = int(environ["SUDO_UID"])
        try:
            entry = pwd.getpwuid(uid)
        except KeyError:
            raise UserError(f"SUDO_UID {uid} is not a user on this machine") from None
        gid = int(environ["SUDO_GID"]) if environ.get("SUDO_GID", "").isdigit() else entry.pw_gid
        return Identity(uid, gid, os.getgrouplist(entry.pw_name, gid), entry.pw_name, entry.pw_dir)
    uid = os.geteuid()
    try:
        entry = pwd.getpwuid(uid)
        name, home = entry.pw_name, entry.pw_dir
    except KeyError:
        name, home = str(uid), os.environ.get("HOME", "/")
    return Identity(uid, os.getegid(), os.getgroups(), name, home)


class CommandNotFound(UserError):
    """argv[0] names no file (a shell's status 127; other refusals are 126)."""


def run_as(
    as_root: bool = False, user: Identity | None = None
) -> tuple[dict[str, str], dict[str, Any]]:
    """The environment and Popen arguments to start a program as ``user``, by default the
    invoking user.

    Under sudo that is the user who ran sudo (unless ``as_root``); the SUDO_* variables are
    dropped, so the program does not take itself for a sudo session. (The daemon passes the
    identity its client sent: its own environment says nothing about who asked.)
    """
    who = user if user is not None else invoking_identity(as_root)
    env = dict(os.environ)
    for var in ("SUDO_UID", "SUDO_GID", "SUDO_USER", "SUDO_COMMAND", "SUDO_HOME"):
        env.pop(var, None)
    kwargs: dict[str, Any] = {}
    if not who.is_self:
        env.update(HOME=who.home, USER=who.name, LOGNAME=who.name)
        kwargs.update(user=who.uid, group=who.gid, extra_groups=who.groups)
    return env, kwargs


def check_command(spec: LaunchSpec, env: Mapping[str, str]) -> str:
    """The path that argv[0] runs, or a UserError that says what is wrong."""
    if not spec.argv or not spec.argv[0].strip():
        raise UserError("no command given: type the program to run and its arguments")
    if spec.cwd is not None and not os.path.isdir(spec.cwd):
        if os.path.exists(spec.cwd):
            raise UserError(f"working directory {spec.cwd!r} is not a directory: give one")
        raise UserError(f"working directory {spec.cwd!r} does not exist: give an existing one")
    program = spec.argv[0]
    if "/" in program:
        path = program if os.path.isabs(program) else os.path.join(spec.cwd or ".", program)
        if not os.path.exists(path):
            raise CommandNotFound(f"{program}: no such file")
        if os.path.isdir(path) or not os.access(path, os.X_OK):
            raise UserError(f"{program}: not an executable file")
        return path
    found = shutil.which(program, path=env.get("PATH", os.defpath))
    if found is None:
        raise CommandNotFound(
            f"{program}: command not found (check the name, or give its full path)"
        )
    return found


def open_log(path: Path) -> int:
    """A group's launch log, to append to (0600; its directory 0700, nobody else's: a link
    planted there would make root chmod and write whatever it names). UserError if unsafe."""
    try:
        paths.check_log_dir(path.parent)
        fd = paths.open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    except OSError as err:
        raise UserError(f"cannot open the log {path}: {err.strerror}") from None
    os.fchmod(fd, 0o600)
    return fd


def launch_banner(spec: LaunchSpec) -> str:
    """The line a group's log gets before each program launched into it: one line, whatever
    the command line holds (``$'…'`` quoting)."""
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    where = f" in {escape(spec.cwd)}" if spec.cwd else ""
    return f"──── {when} tractui launched: {shell_join(spec.argv)}{where} ────\n"


def launch(spec: LaunchSpec, log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``spec`` detached from our terminal; raise UserError if it cannot start."""
    env, kwargs = run_as(spec.as_root, spec.user)
    if spec.env:
        env.update(spec.env)
    check_command(spec, env)
    log_fd = open_log(log_path)
    try:
        os.write(log_fd, launch_banner(spec).encode())  # where one launch's output begins
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            spec.argv,
            cwd=spec.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            start_new_session=True,
            close_fds=True,
            **kwargs,
        )
    except PermissionError:
        who = (spec.user or invoking_identity(spec.as_root)).name
        raise UserError(f"{spec.argv[0]}: permission denied (as user {who})") from None
    except FileNotFoundError:
        raise UserError(f"{spec.argv[0]}: command not found") from None
    except OSError as err:
        raise UserError(f"{spec.argv[0]}: cannot start: {err.strerror}") from None
    finally:
        os.close(log_fd)


# ---- signals ---------------------------------------------------------------------------------


@dataclass(slots=True, frozen=True)
class SignalResult:
    pid: int
    ok: bool
    error: str = ""

    def describe(self) -> str:
        return f"{self.pid}: sent" if self.ok else f"{self.pid}: {self.error}"


def parse_signal(text: str | int) -> signal.Signals:
    """'TERM', 'SIGTERM', 'term' or '15' -> SIGTERM; UserError if no such signal."""
    if isinstance(text, int) or str(text).strip().isdigit():
        try:
            return signal.Signals(int(text))
        except ValueError:
            raise UserError(f"no signal number {text}: see 'kill -l'") from None
    name = str(text).strip().upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    try:
        return signal.Signals[name]
    except KeyError:
        raise UserError(f"no signal named {text!r}: use a name like TERM or a number") from None


def refuse_reason(pid: int, own_pids: Iterable[int]) -> str:
    if pid == 1:
        return "refused: PID 1 is init"
    if pid == os.getpid() or pid in set(own_pids):
        return "refused: that is tractui itself"
    stat = procfs.read_stat(pid)
    if stat is not None and stat.flags & procfs.PF_KTHREAD:
        return "refused: kernel thread"
    return ""


def send_signal(pid: int, start: int, sig: int, own_pids: Iterable[int] = ()) -> SignalResult:
    """Signal the process (pid, start) through a pidfd, so a reused PID is never hit."""
    reason = refuse_reason(pid, own_pids)
    if reason:
        return SignalResult(pid, False, reason)
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return SignalResult(pid, False, "no such process (already exited)")
    except OSError as err:
        return SignalResult(pid, False, err.strerror or str(err))
    try:
        # the pidfd pins one process; check it is still the one we track
        now = procfs.read_start(pid)
        if now is None or not procfs.same_start(now, start):
            return SignalResult(pid, False, "no such process (PID reused)")
        signal.pidfd_send_signal(fd, sig)
    except ProcessLookupError:
        return SignalResult(pid, False, "no such process (already exited)")
    except PermissionError:
        return SignalResult(pid, False, "permission denied (not your process: run as root)")
    except OSError as err:
        if err.errno == errno.ESRCH:
            return SignalResult(pid, False, "no such process (already exited)")
        return SignalResult(pid, False, err.strerror or str(err))
    finally:
        os.close(fd)
    return SignalResult(pid, True)
