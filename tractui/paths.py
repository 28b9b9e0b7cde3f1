"""Where tractui keeps its state and logs."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from tractui.errors import UserError


def state_dir() -> Path:
    """``TRACTUI_STATE_DIR``, else /var/lib/tractui as root, else $XDG_STATE_HOME/tractui."""
    override = os.environ.get("TRACTUI_STATE_DIR")
    if override:
        return Path(override)
    if os.geteuid() == 0:
        return Path("/var/lib/tractui")
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local/state")
    return Path(base) / "tractui"


def log_dir() -> Path:
    return state_dir() / "logs"


def runtime_dir() -> Path:
    """/run/tractui as root, else $XDG_RUNTIME_DIR (or /tmp/tractui-UID without one)."""
    if os.geteuid() == 0:
        return Path("/run/tractui")
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base:
        return Path(base)
    return fallback_runtime_dir()


def fallback_runtime_dir() -> Path:
    """A name anyone can predict: made 0700 by the daemon, which refuses another user's."""
    return Path(f"/tmp/tractui-{os.geteuid()}")


def socket_path() -> Path:
    """The daemon's socket: ``TRACTUI_SOCKET``, else tractui.sock in :func:`runtime_dir`."""
    override = os.environ.get("TRACTUI_SOCKET")
    if override:
        return Path(override)
    return runtime_dir() / "tractui.sock"


# ---- trust: what another user could plant in our way ------------------------------------------
#
# tractui runs as root and writes where these functions point. A directory on the way that
# another user can write lets them swap what we open for a symbolic link (root then truncates or
# chmods whatever it names) or our socket for theirs. So every directory from / down to ours must
# be root's or ours, and writable by nobody else unless it is sticky (/tmp: others may not rename
# or remove what we put there); ours must be ours and writable by us alone. Files in it are
# opened without following a link, in case one was put there before.

STATE_REMEDY = "choose another with TRACTUI_STATE_DIR"
SOCKET_REMEDY = "choose another socket with TRACTUI_SOCKET"
FALLBACK_REMEDY = "set XDG_RUNTIME_DIR, or choose another socket with TRACTUI_SOCKET"
MAX_LINKS = 40  # as the kernel's path walk


class UnsafePath(UserError):
    """A directory or file of tractui's that another user could turn against it."""


def check_state_dir(directory: Path) -> Path:
    return private_dir(directory, "state directory", STATE_REMEDY)


def check_log_dir(directory: Path) -> Path:
    return private_dir(directory, "log directory", STATE_REMEDY)


def check_socket_dir(socket: Path) -> Path:
    """The directory the daemon's socket ``socket`` is made in."""
    fallback = socket.parent == fallback_runtime_dir()
    return private_dir(
        socket.parent, "socket directory", FALLBACK_REMEDY if fallback else SOCKET_REMEDY
    )


def private_dir(path: Path, what: str, remedy: str) -> Path:
    """Check ``path`` (a directory, created 0700 if missing) and every directory above it.

    UnsafePath, saying what to do (``remedy`` last), if another user could write in it or
    replace it; OSError (ENOTDIR, EACCES...) if it can't be made or reached. Returns the
    directory with links resolved."""
    uid = os.geteuid()
    current = Path("/")
    above: set[Path] = set()  # checked as a directory we go through
    pending = list(Path(path).absolute().parts[1:])  # ".." is the kernel's to resolve: kept
    links = 0
    while pending:
        name = pending.pop(0)
        if name == "..":
            current = current.parent  # gone through on the way down: checked
            continue
        if current not in above:  # before we look inside it, or make anything there
            _check_above(current, what, path, remedy)
            above.add(current)
        step = current / name
        try:
            st = os.lstat(step)
        except FileNotFoundError:
            # mkdir never follows a link that a faster user planted meanwhile: it fails
            with contextlib.suppress(FileExistsError):
                os.mkdir(step, 0o755 if pending else 0o700)
            st = os.lstat(step)
        if stat.S_ISLNK(st.st_mode):
            if st.st_uid not in (0, uid):
                where = "is" if step == Path(path).absolute() else f"goes through {step},"
                raise UnsafePath(
                    f"{what} {path} {where} a symbolic link of uid {st.st_uid}: {remedy}"
                )
            links += 1
            if links > MAX_LINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))
            target = Path(os.readlink(step))
            if target.is_absolute():
                current = Path("/")
                pending[:0] = target.parts[1:]
            else:
                pending[:0] = target.parts
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(step))
        current = step
    st = os.lstat(current)
    mode = stat.S_IMODE(st.st_mode)
    shown = "" if current == Path(path).absolute() else f" (that is {current})"
    if st.st_uid != uid:
        raise UnsafePath(
            f"{what} {path}{shown} belongs to uid {st.st_uid}, not to uid {uid} that runs "
            f"tractui: {remedy}"
        )
    if mode & 0o022 and mode & stat.S_ISVTX:  # /tmp itself: ours to share, not to change
        raise UnsafePath(f"{what} {path}{shown} is shared with others (mode {mode:04o}): {remedy}")
    if mode & 0o022:
        raise UnsafePath(
            f"{what} {path}{shown} is writable by others (mode {mode:04o}): "
            f"chmod go-w {current}, or {remedy}"
        )
    return current


def _check_above(directory: Path, what: str, path: Path, remedy: str) -> None:
    """A directory on the way to ours: root's or ours, and writable by others only if sticky."""
    st = os.lstat(directory)
    if st.st_uid not in (0, os.geteuid()):
        raise UnsafePath(
            f"{what} {path} is inside {directory}, which belongs to uid {st.st_uid}: {remedy}"
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o022 and not mode & stat.S_ISVTX:
        raise UnsafePath(
            f"{what} {path} is inside {directory}, which others can write (mode {mode:04o}): "
            f"chmod go-w {directory}, or {remedy}"
        )


def open_private(path: Path, flags: int, mode: int = 0o600) -> int:
    """``os.open`` for a file of ours: never through a symbolic link, only a regular file of
    our uid (a new one gets ``mode``). UnsafePath if ``path`` is something else."""
    try:
        # O_NONBLOCK: a FIFO planted there must not hang us (cleared below for a regular file)
        fd = os.open(path, flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, mode)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnsafePath(
                f"{path} is a symbolic link: tractui does not follow one there; remove it"
            ) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafePath(f"{path} is not a regular file: remove it")
        if st.st_uid != os.geteuid():
            raise UnsafePath(
                f"{path} belongs to uid {st.st_uid}, not to uid {os.geteuid()} that runs "
                "tractui: remove it"
            )
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd
