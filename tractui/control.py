"""Launching programs into groups and signalling processes, through pidfds.

A launched program runs as the user who ran ``sudo tractui`` (unless asked to run as root), in
a session of its own (the TUI's keys never reach it), with stdin from /dev/null and its output
appended to a per-group log file (0600): it never writes on tractui's terminal.

It gets the context of the client that asked for it (the environment, umask and working
directory of the UI or the CLI), never the daemon's: across a user switch the environment is
cleaned as sudo's ``env_reset`` cleans it (see :func:`launch_environment`), and the working
directory is entered with the user's own permissions (see :func:`enter_directory`).
"""

from __future__ import annotations

import codecs
import errno
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tractui import paths
from tractui.errors import UserError
from tractui.kernel import feed, procfs
from tractui.text import escape, shell_join


@dataclass(slots=True)
class Identity:
    """Who a launched program runs as."""

    uid: int
    gid: int
    groups: list[int] = field(default_factory=list)
    name: str = ""
    home: str = ""
    shell: str = ""

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
        return cls(uid, entry.pw_gid, groups, entry.pw_name, entry.pw_dir, entry.pw_shell)


@dataclass(slots=True)
class LaunchSpec:
    """A program to launch, and the context of the client that asks for it.

    ``env``, ``umask`` and ``cwd`` are the client's; None means this process's own (the UI or
    CLI that runs its own engine is its own client). The daemon always fills them from the
    request: its own context is never a program's."""

    argv: list[str]
    cwd: str | None = None
    env: Mapping[str, str] | None = None  # cleaned by launch_environment, not used as it is
    as_root: bool = False
    user: Identity | None = None  # who it runs as; None: the invoking user (see run_as)
    umask: int | None = None
    client_uid: int | None = None  # who asked (the daemon's peer); None: this process
    # leading VAR=value assignments of the command line (PORT=8000 python3 ...): set after
    # the environment is cleaned, over it, as a shell sets them for the one program
    assign: Mapping[str, str] | None = None


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
        groups = os.getgrouplist(entry.pw_name, gid)
        return Identity(uid, gid, groups, entry.pw_name, entry.pw_dir, entry.pw_shell)
    uid = os.geteuid()
    try:
        entry = pwd.getpwuid(uid)
        name, home, shell = entry.pw_name, entry.pw_dir, entry.pw_shell
    except KeyError:
        name, home, shell = str(uid), os.environ.get("HOME", "/"), ""
    return Identity(uid, os.getegid(), os.getgroups(), name, home, shell)


class CommandNotFound(UserError):
    """argv[0] names no file (a shell's status 127; other refusals are 126)."""


# ---- the program's context -------------------------------------------------------------------

# What a program launched for another user keeps of its client's environment: sudo's env_reset
# list (its env_keep and env_check defaults), less what a program without a terminal or a prompt
# has no use for (PS1, PS2, HOSTNAME) and the client's Kerberos ticket cache (KRB5CCNAME).
KEPT_ACROSS_USERS = frozenset(
    {"PATH", "TERM", "COLORTERM", "COLORS", "LS_COLORS", "DISPLAY", "XAUTHORITY"}
    | {"LANG", "LANGUAGE", "LINGUAS", "TZ"}
)
# sudo's env_check: kept only if the value names no file ('/') and holds no format ('%')
_CHECKED = frozenset({"TERM", "COLORTERM", "LANG", "LANGUAGE", "LINGUAS"})
# tractui's own settings (TRACTUI_SOCKET...) and sudo's: never a launched program's
_NEVER_PASSED = ("TRACTUI_", "SUDO_")
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # when none is given
DEFAULT_UMASK = 0o022  # for a client that sends none (older ones)
ZONEINFO = "/usr/share/zoneinfo/"
PROBE_TIMEOUT = 5.0  # to enter a working directory as the user (a hung network mount...)


def launch_environment(client: Mapping[str, str], who: Identity, same_user: bool) -> dict[str, str]:
    """The environment of a program launched for ``who`` by a client with environment ``client``.

    Across a user switch (root launching for the user who ran sudo), as sudo's env_reset does:
    only :data:`KEPT_ACROSS_USERS` and ``LC_*`` pass (TERM, LANG, LC_* and friends only if their
    value names no file; TZ only a zone), so no ``LD_*``, ``PYTHONPATH``, ``BASH_ENV`` or secret
    of the client reaches the user's program; HOME, USER, LOGNAME, SHELL and MAIL are the
    user's. For the client's own user (no switch) the program gets the client's environment
    as it is: nothing crosses a boundary. Either way, never ``TRACTUI_*`` or ``SUDO_*``, and
    a PATH (:data:`SAFE_PATH` if the client has none).
    """
    if same_user:
        env = {k: v for k, v in client.items() if not k.startswith(_NEVER_PASSED)}
        for key, value in _identity_variables(who).items():
            env.setdefault(key, value)
    else:
        env = {k: v for k, v in client.items() if _kept_across_users(k, v)}
        env.update(_identity_variables(who))
    if not env.get("PATH"):
        env["PATH"] = SAFE_PATH
    return env


def _kept_across_users(name: str, value: str) -> bool:
    if name.startswith("LC_") or name in _CHECKED:
        return "/" not in value and "%" not in value
    if name == "TZ":
        return _sane_zone(value)
    return name in KEPT_ACROSS_USERS


def _sane_zone(value: str) -> bool:
    """A TZ that names a zone, not any file (as sudo checks it)."""
    zone = value[1:] if value.startswith(":") else value
    if zone.startswith("/") and not zone.startswith(ZONEINFO):
        return False
    return ".." not in zone.split("/") and "%" not in zone and len(zone) < 256


def _identity_variables(who: Identity) -> dict[str, str]:
    return {
        "HOME": who.home or "/",
        "USER": who.name,
        "LOGNAME": who.name,
        "SHELL": who.shell or "/bin/sh",
        "MAIL": f"/var/mail/{who.name}",
    }


def current_umask() -> int:
    """This process's umask, read without changing it (os.umask would, for every thread)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(DEFAULT_UMASK)
    os.umask(mask)
    return mask


def working_directory(cwd: str | None) -> str:
    """``cwd`` made absolute (it is relative to this process), else this process's working
    directory; a UserError if that was removed."""
    if cwd:
        return os.path.abspath(cwd)
    try:
        return os.getcwd()
    except FileNotFoundError:
        raise UserError(
            "the current directory no longer exists: cd to another, or give a working directory"
        ) from None


def run_as(
    as_root: bool = False,
    user: Identity | None = None,
    client_env: Mapping[str, str] | None = None,
    client_uid: int | None = None,
) -> tuple[dict[str, str], dict[str, Any]]:
    """The environment and Popen arguments to start a program as ``user``, by default the
    invoking user, for a client with ``client_env`` and ``client_uid`` (by default this
    process: the UI or CLI that runs its own engine).

    Under sudo that is the user who ran sudo (unless ``as_root``). (The daemon passes the
    identity and the environment its client sent: its own say nothing about who asked.)
    """
    who = user if user is not None else invoking_identity(as_root)
    asker = os.geteuid() if client_uid is None else client_uid
    env = launch_environment(
        os.environ if client_env is None else client_env, who, same_user=asker == who.uid
    )
    kwargs: dict[str, Any] = {}
    if not who.is_self:
        kwargs.update(user=who.uid, group=who.gid, extra_groups=who.groups)
    return env, kwargs


# A shell run as the user enters the directory with the user's own permissions (every kind: modes,
# groups, ACLs, security modules), then waits while we take the directory it entered.
_ENTER = """
cd -P -- "$1" 2>/dev/null && { echo entered; read -r _; exit 0; }
if [ ! -e "$1" ]; then echo missing; elif [ ! -d "$1" ]; then echo notdir; else echo denied; fi
"""


def enter_directory(path: str, who: Identity) -> int:
    """A descriptor of the directory ``path`` as ``who`` enters it, or a UserError.

    subprocess enters a program's working directory before it drops privileges (CPython's
    _posixsubprocess: chdir, then setgroups/setgid/setuid), so as root: a program could start
    in a directory its user may not enter. Instead a shell running as the user enters it; we
    open what it entered (/proc/PID/cwd) and the program's fork enters that very directory
    through /proc/self/fd/N. No path is resolved twice (a symlink swapped meanwhile changes
    nothing), no Python runs between fork and exec (a preexec_fn is unsafe in the threaded UI),
    and the program's own exec stays the only one its group sees."""
    try:
        probe = subprocess.Popen(
            ["/bin/sh", "-c", _ENTER, "tractui-cwd", path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd="/",
            env={"PATH": SAFE_PATH},
            start_new_session=True,
            close_fds=True,
            user=who.uid,
            group=who.gid,
            extra_groups=who.groups,
        )
    except OSError as err:
        raise UserError(f"cannot check the working directory as user {who.name}: {err}") from None
    assert probe.stdin is not None and probe.stdout is not None
    answer = b"timeout"
    try:
        if feed.readable(probe.stdout.fileno(), PROBE_TIMEOUT):
            answer = probe.stdout.readline().strip()
        if answer == b"entered":
            return os.open(f"/proc/{probe.pid}/cwd", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise UserError(f"working directory {path!r}: {err.strerror}") from None
    finally:
        probe.stdin.close()
        probe.stdout.close()
        if answer != b"entered":
            probe.kill()
        probe.wait()
    if answer == b"notdir":
        raise UserError(f"working directory {path!r} is not a directory: give one")
    if answer == b"missing":
        raise UserError(
            f"working directory {path!r} does not exist, or user {who.name} cannot reach it: "
            "give a directory they can enter"
        )
    if answer == b"timeout":
        raise UserError(
            f"working directory {path!r}: user {who.name} could not enter it within "
            f"{PROBE_TIMEOUT:g} s (a hung mount?)"
        )
    raise UserError(
        f"working directory {path!r}: permission denied for user {who.name}: "
        "give a directory they can enter"
    )


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


def append_log(path: Path, line: str) -> None:
    """Append ``line`` to a group's launch log (UserError if it cannot be)."""
    fd = open_log(path)
    try:
        os.write(fd, line.encode())
    except OSError as err:
        raise UserError(f"cannot write the log {path}: {err.strerror}") from None
    finally:
        os.close(fd)


def launch_banner(spec: LaunchSpec) -> str:
    """The line a group's log gets before each program launched into it: one line, whatever
    the command line holds (``$'…'`` quoting)."""
    when = time.strftime("%Y-%m-%d %H:%M:%S")
    where = f" in {escape(spec.cwd)}" if spec.cwd else ""
    assign = "".join(f"{k}={shell_join([v])} " for k, v in (spec.assign or {}).items())
    return f"──── {when} tractui launched: {assign}{shell_join(spec.argv)}{where} ────\n"


LOG_CHUNK = 256 << 10  # the most of a launch log one read returns


@dataclass(frozen=True, slots=True)
class LogChunk:
    """Part of a group's launch log: ``text`` is the bytes from ``start`` to ``offset``."""

    text: str  # UTF-8, undecodable bytes replaced; never half a character
    start: int  # where it begins in the file (a tail may skip the beginning)
    offset: int  # where the next read goes on
    size: int  # the file's size when it was read
    exists: bool = True  # False: nothing was launched into the group yet

    def to_wire(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "start": self.start,
            "offset": self.offset,
            "size": self.size,
            "exists": self.exists,
        }

    @classmethod
    def from_wire(cls, m: Mapping[str, Any]) -> LogChunk:
        return cls(
            str(m["text"]), int(m["start"]), int(m["offset"]), int(m["size"]), bool(m["exists"])
        )


def read_log(
    path: Path, offset: int | None = None, lines: int | None = None, limit: int = LOG_CHUNK
) -> LogChunk:
    """At most ``limit`` bytes of the log at ``path``: from ``offset`` on, or else its tail
    (the last ``lines`` lines, if given), beginning at a whole line.

    A log that shrank below ``offset`` (removed and launched into again) is read from its
    start. Only a regular file of ours is read (:func:`paths.open_private`): what is read here
    goes to a client of the daemon."""
    try:
        fd = paths.open_private(path, os.O_RDONLY)
    except FileNotFoundError:
        return LogChunk("", 0, 0, 0, exists=False)
    except OSError as err:
        raise UserError(f"cannot read the log {path}: {err.strerror}") from None
    try:
        size = os.fstat(fd).st_size
        if offset is None:
            start = max(0, size - limit)
        elif offset <= size:
            start = offset
        else:
            start = 0  # it shrank: a new log
        data = os.pread(fd, min(limit, size - start), start)
    except OSError as err:
        raise UserError(f"cannot read the log {path}: {err.strerror}") from None
    finally:
        os.close(fd)
    if offset is None:
        skip = _last_lines(data, lines) if lines is not None else 0
        if start > 0 and skip == 0:
            skip = data.find(b"\n") + 1  # the window began inside a line
        data = data[skip:]
        start += skip
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text = decoder.decode(data)
    unfinished = len(decoder.getstate()[0])  # a character's first bytes: read again next time
    return LogChunk(text, start, start + len(data) - unfinished, size)


def _last_lines(data: bytes, n: int) -> int:
    """Where the last ``n`` lines of ``data`` begin (an unfinished last line counts)."""
    if n <= 0:
        return len(data)
    pos = len(data) - 1 if data.endswith(b"\n") else len(data)
    for _ in range(n):
        pos = data.rfind(b"\n", 0, pos)
        if pos < 0:
            return 0
    return pos + 1


def launch(spec: LaunchSpec, log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``spec`` detached from our terminal; raise UserError if it cannot start."""
    who = spec.user or invoking_identity(spec.as_root)
    env, kwargs = run_as(spec.as_root, who, spec.env, spec.client_uid)
    cwd = working_directory(spec.cwd)
    env["PWD"] = cwd
    env.update(spec.assign or {})  # a PATH=... among them finds the program, as in a shell
    check_command(replace(spec, cwd=cwd), env)
    # across a user switch the user enters it (see enter_directory), before the log is touched:
    # a launch that cannot start leaves nothing behind
    dir_fd = enter_directory(cwd, who) if kwargs else None
    try:
        log_fd = open_log(log_path)
    except BaseException:
        _close(dir_fd)
        raise
    try:
        os.write(log_fd, launch_banner(spec).encode())  # where one launch's output begins
        return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
            spec.argv,
            # the fork enters it before it drops privileges: through our descriptor, still
            # open there (close_fds and exec close it later), never by its path again
            cwd=cwd if dir_fd is None else f"/proc/self/fd/{dir_fd}",
            env=env,
            umask=-1 if spec.umask is None else spec.umask,
            stdin=subprocess.DEVNULL,
            stdout=log_fd,
            stderr=log_fd,
            start_new_session=True,
            close_fds=True,
            **kwargs,
        )
    except PermissionError:
        raise UserError(f"{spec.argv[0]}: permission denied (as user {who.name})") from None
    except FileNotFoundError:
        raise UserError(f"{spec.argv[0]}: command not found") from None
    except OSError as err:
        raise UserError(f"{spec.argv[0]}: cannot start: {err.strerror}") from None
    finally:
        os.close(log_fd)
        _close(dir_fd)


def _close(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


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
