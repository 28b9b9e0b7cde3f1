"""Groups saved to disk, and restored at start: what survives a restart, even a kill -9.

The daemon and the TUI's embedded engine both keep their groups in ``groups.json`` in the state
directory (:func:`tractui.paths.state_dir`): names, roots, members by (pid, start time) with
their genealogy, and the programs launched into them. The file is rewritten atomically (a temp
file in the same directory, fsync, rename, fsync of the directory) within ``interval`` of any
change and at exit, so a crash leaves the previous or the next version, never half of one.

One process at a time owns the directory: an exclusive ``flock`` on its ``lock`` file, which
also names the holder's PID. A lock dies with its process, so a kill -9 leaves none behind.

At start the groups are reconciled with /proc (:meth:`tractui.tracker.Tracker.restore`): a
member still running with the same start time is kept; one that ended while nothing watched is
marked gone; what the kept ones forked meanwhile is adopted. A file that can't be parsed is kept
aside as ``groups.json.corrupt-YYYYmmdd-HHMMSS``, never deleted, and we start with no groups.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tractui import paths
from tractui.control import LaunchSpec
from tractui.errors import UserError
from tractui.events import ExitStatus
from tractui.protocol import proc_to_wire
from tractui.tracker import Key, Proc, Tracker, validate_group_name

log = logging.getLogger(__name__)

VERSION = 1
FILE_NAME = "groups.json"
LOCK_NAME = "lock"
TMP_PREFIX = f".{FILE_NAME}."
TMP_SUFFIX = ".tmp"
BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


class StateError(UserError):
    """The state directory can't be used: groups would not be saved."""


class StateLocked(StateError):
    """Another tractui process (the daemon, or a TUI) holds the state directory."""


@dataclass(frozen=True, slots=True)
class LaunchRecord:
    """A program launched into a group: what was run, and the process it became.

    The environment given at launch is not kept: it may hold secrets, and it is not ours."""

    argv: tuple[str, ...]
    cwd: str | None
    as_root: bool
    pid: int
    start: int  # ns since boot
    log: str  # where its output goes
    time: float  # wall clock, when it was launched

    @classmethod
    def of(
        cls, spec: LaunchSpec, proc: Proc, log_path: Path, now: float | None = None
    ) -> LaunchRecord:
        return cls(
            argv=tuple(spec.argv),
            cwd=spec.cwd,
            as_root=spec.as_root,
            pid=proc.pid,
            start=proc.start,
            log=str(log_path),
            time=time.time() if now is None else now,
        )


class Owner(Protocol):
    """What is saved and restored: an engine's tracker and its launch records by group."""

    tracker: Tracker
    launches: dict[str, list[LaunchRecord]]


@dataclass(frozen=True, slots=True)
class Restored:
    """What :meth:`Persister.restore` found. ``warning``: a one-line problem to show, or ""."""

    groups: int = 0
    kept: int = 0  # members still running with the same start time
    adopted: int = 0  # processes the kept ones forked while nothing watched
    gone: int = 0  # members that ended while nothing watched
    warning: str = ""

    def describe(self) -> str:
        return (
            f"restored {self.groups} group(s): {self.kept} processes still running, "
            f"{self.adopted} new ones adopted, {self.gone} gone"
        )


class Persister:
    """Saves an owner's groups to ``directory/groups.json`` and restores them.

    Use: :meth:`acquire`, :meth:`restore` (after the collector subscribed, so nothing forked
    meanwhile is missed), :meth:`tick` after each poll, :meth:`close` at exit. Nothing is
    written before :meth:`restore` ran: an engine that failed to start never overwrites the
    groups it did not load.
    """

    def __init__(
        self,
        directory: Path | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = paths.state_dir() if directory is None else Path(directory)
        self.path = self.directory / FILE_NAME
        self.interval = interval
        self.clock = clock
        self.error = ""  # why saving is off or the last save failed; "" when all is well
        self.saves = 0
        self._lock_fd: int | None = None
        self._loaded = False
        self._disabled = False  # the file exists but can't be read: never write over it
        self.saved_revision: int | None = None  # the tracker's revision last written
        self._last_save = -math.inf
        self._members: Members | None = None  # the members' JSON, kept from save to save

    # ---- the lock ----------------------------------------------------------------------------

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    def acquire(self) -> None:
        """Own the state directory (created 0700 if new); StateLocked if another process does,
        StateError if another user could write in it."""
        if self._lock_fd is not None:
            return
        lock_path = self.directory / LOCK_NAME
        try:
            paths.check_state_dir(self.directory)  # made 0700 if new
            fd = paths.open_private(lock_path, os.O_RDWR | os.O_CREAT)
        except paths.UnsafePath as err:
            raise StateError(str(err)) from None
        except OSError as err:
            raise StateError(
                f"cannot use the state directory {self.directory}: {err.strerror} "
                "(set TRACTUI_STATE_DIR to a directory you can write)"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise StateLocked(
                f"the groups in {self.directory} are in use by {holder}: "
                "quit it, or set TRACTUI_STATE_DIR to another directory"
            ) from None
        except OSError as err:
            os.close(fd)
            raise StateError(f"cannot lock {lock_path}: {err.strerror}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd
        self._remove_stale_temps()

    def release(self) -> None:
        """Give the directory up without saving."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # the flock goes with the last descriptor

    def _remove_stale_temps(self) -> None:
        """Temp files of a writer killed between write and rename: never the state itself."""
        for tmp in self.directory.glob(f"{TMP_PREFIX}*{TMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                tmp.unlink()

    # ---- restoring ---------------------------------------------------------------------------

    def restore(self, owner: Owner) -> Restored:
        """Load the saved groups into ``owner`` and reconcile them with /proc.

        A malformed file is moved aside and we start with no groups (the warning says where).
        An unreadable one (permissions) turns saving off, so it is never written over.
        """
        self.acquire()
        self._loaded = True
        try:
            with os.fdopen(paths.open_private(self.path, os.O_RDONLY), "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return Restored()
        except (OSError, paths.UnsafePath) as err:
            self._disabled = True
            reason = err.strerror if isinstance(err, OSError) else str(err)
            self.error = f"cannot read {self.path}: {reason}; groups are not saved"
            log.warning("%s", self.error)
            return Restored(warning=self.error)
        try:
            saved = decode(raw)
        except Corrupt as err:
            return Restored(warning=self._set_aside(err))
        restored = self._apply(owner, saved)
        if restored.groups or restored.warning:
            log.info("%s (from %s)", restored.describe(), self.path)
        return restored

    def _set_aside(self, err: Corrupt) -> str:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{FILE_NAME}.corrupt-{stamp}")
        n = 1
        while os.path.lexists(aside):
            n += 1
            aside = self.path.with_name(f"{FILE_NAME}.corrupt-{stamp}-{n}")
        try:
            os.rename(self.path, aside)
        except OSError as move_err:
            self._disabled = True
            self.error = (
                f"{self.path} is unusable ({err}) and could not be moved aside "
                f"({move_err.strerror}): groups are not saved; move it away yourself"
            )
            log.warning("%s", self.error)
            return self.error
        warning = f"{self.path} {err}: kept it as {aside.name}; starting with no groups"
        log.warning("%s", warning)
        return warning

    def _apply(self, owner: Owner, saved: Saved) -> Restored:
        tracker = owner.tracker
        procs: list[Proc] = []
        skipped: list[str] = []
        for entry in saved.groups:
            if entry.name in tracker.groups:
                skipped.append(entry.name)
                continue
            group = tracker.create_group(entry.name)
            group.created = entry.created
            group.forks, group.execs, group.exits, group.failed = entry.counters
            group.roots = list(entry.roots)
            procs.extend(entry.members)
            if entry.launches:
                owner.launches[entry.name] = list(entry.launches)
        same_boot = bool(saved.boot_id) and saved.boot_id == boot_id()
        kept, gone, adopted = tracker.restore(procs, same_boot=same_boot)
        warning = ""
        if skipped:
            warning = f"groups already present, not restored from {self.path}: {', '.join(skipped)}"
            log.warning("%s", warning)
        return Restored(
            len(saved.groups) - len(skipped), len(kept), len(adopted), len(gone), warning
        )

    # ---- saving ------------------------------------------------------------------------------

    def tick(self, owner: Owner) -> bool:
        """Save if the groups changed and the last save is ``interval`` old; True if it saved.

        Called after each poll, it puts every change on disk within ``interval`` (a burst of
        changes costs one write per interval). Nothing changed: one integer comparison."""
        if owner.tracker.revision == self.saved_revision or not self._loaded or self._disabled:
            return False
        now = self.clock()
        if now - self._last_save < self.interval:
            return False
        try:
            self.save(owner)
        except OSError as err:
            self._last_save = now  # retry in one interval, not at every poll
            self._failed(err)
            return False
        return True

    def save(self, owner: Owner) -> None:
        """Write the groups now, atomically, mode 0600. OSError if the disk refuses."""
        if not self._loaded or self._disabled:
            raise StateError(f"{self.path}: not saved (restore first, and it must be readable)")
        self.acquire()
        revision = owner.tracker.revision
        if self._members is None or self._members.tracker is not owner.tracker:
            self._members = Members(owner.tracker)
        self._write(encode_parts(owner.tracker, owner.launches, self._members))
        self.saved_revision = revision
        self._last_save = self.clock()
        self.saves += 1
        if self.error:
            log.info("groups are saved again to %s", self.path)
            self.error = ""

    def _write(self, parts: list[bytes]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=TMP_SUFFIX, dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.writelines(parts)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)  # the rename itself survives a power cut
        finally:
            os.close(dir_fd)

    def _failed(self, err: OSError) -> None:
        message = f"cannot save groups to {self.path}: {err.strerror or err}"
        if message != self.error:
            log.warning("%s", message)
        self.error = message

    def close(self, owner: Owner) -> None:
        """The final save (if we restored and own the directory), then unlock."""
        if self._lock_fd is not None and self._loaded and not self._disabled:
            try:
                self.save(owner)
            except OSError as err:
                self._failed(err)
        self._loaded = False  # closed: no later tick writes (or takes the lock again)
        self.release()


# ---- the file format -------------------------------------------------------------------------


class Corrupt(Exception):
    """The state file is not one we can load; ``str()`` says why, after its path."""


@dataclass(slots=True)
class SavedGroup:
    name: str
    created: float
    counters: tuple[int, int, int, int]  # forks, execs, exits, failed
    roots: list[Key]
    members: list[Proc]  # parents before children
    launches: list[LaunchRecord] = field(default_factory=list)


@dataclass(slots=True)
class Saved:
    boot_id: str
    groups: list[SavedGroup]


def boot_id() -> str:
    """This boot's random id: start times (ns since boot) mean nothing in another boot."""
    try:
        with open(BOOT_ID_PATH) as f:
            return f.read().strip()
    except OSError:
        return ""


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


RUN = 256  # members per run of kept JSON


class _Run:
    """Some members of one group, in the order they came: each one's JSON (None: to encode)
    and, once joined, the run's text."""

    __slots__ = ("group", "members", "text")

    def __init__(self, group: str) -> None:
        self.group = group
        self.members: dict[Key, bytes | None] = {}
        self.text: bytes | None = None


class Members:
    """Each member's JSON, kept from one save to the next, in runs joined ahead.

    A tracker of thousands of members changes a few of them between two saves: a save encodes
    only those its journal names, and re-joins only the runs they are in. A group's members
    are listed in the order they came (for the ones that came together, by start time: a
    parent before its children); the decoder puts parents first in any case."""

    def __init__(self, tracker: Tracker, run: int = RUN) -> None:
        self.tracker = tracker
        self.journal = tracker.journal()
        self.run = run  # members per run, at most
        self._runs: dict[str, list[_Run]] = {}  # by group
        self._where: dict[Key, _Run] = {}

    def by_group(self) -> dict[str, list[bytes]]:
        """Every group's members' JSON (UTF-8), as runs to join with commas."""
        procs = self.tracker.procs
        keys, everything = self.journal.take()
        if everything:
            self._runs.clear()
            self._where.clear()
            keys = set(procs)
        came: list[Key] = []
        for key in keys:
            proc = procs.get(key)
            run = self._where.get(key)
            if run is not None:
                run.text = None
                if proc is not None and proc.group == run.group:
                    run.members[key] = None  # changed: encoded anew, where it was
                    continue
                del run.members[key]  # gone, or moved to another group (a rename)
                del self._where[key]
            if proc is not None:
                came.append(key)
        for key in sorted(came, key=lambda k: (k[1], k[0])):
            self._append(procs[key].group, key)
        out: dict[str, list[bytes]] = {name: [] for name in self.tracker.groups}
        for name, runs in list(self._runs.items()):
            texts = out.get(name)
            if texts is None:  # a group gone: its members went with it
                del self._runs[name]
                continue
            kept: list[_Run] = []
            for run in runs:
                if not run.members:
                    continue
                if kept and len(kept[-1].members) + len(run.members) <= self.run:
                    self._merge(kept[-1], run)  # two thin runs make one
                    continue
                kept.append(run)
            for run in kept:
                if run.text is None:
                    members = run.members
                    for key, text in members.items():
                        if text is None:
                            members[key] = _dumps(proc_to_wire(procs[key])).encode()
                    run.text = b",".join(members.values())  # type: ignore[arg-type]
                texts.append(run.text)
            runs[:] = kept
        return out

    def _append(self, group: str, key: Key) -> None:
        runs = self._runs.setdefault(group, [])
        if not runs or len(runs[-1].members) >= self.run:
            runs.append(_Run(group))
        run = runs[-1]
        run.members[key] = None
        run.text = None
        self._where[key] = run

    def _merge(self, into: _Run, run: _Run) -> None:
        into.members.update(run.members)
        into.text = None
        for key in run.members:
            self._where[key] = into


def encode(
    tracker: Tracker,
    launches: Mapping[str, Sequence[LaunchRecord]],
    members: Members | None = None,
) -> bytes:
    """The file for the tracker's groups (format :data:`VERSION`): one line of JSON."""
    return b"".join(encode_parts(tracker, launches, members))


def encode_parts(
    tracker: Tracker,
    launches: Mapping[str, Sequence[LaunchRecord]],
    members: Members | None = None,
) -> list[bytes]:
    """:func:`encode`'s file in pieces, to write one after the other: the members' runs as
    they are kept, not copied into one string of megabytes."""
    by_group = (members or Members(tracker)).by_group()
    head = _dumps(
        {"version": VERSION, "saved": time.time(), "boot_id": boot_id(), "writer": os.getpid()}
    )
    parts = [f'{head[:-1]},"groups":['.encode()]
    for i, group in enumerate(tracker.groups.values()):
        head = _dumps(
            {
                "name": group.name,
                "created": group.created,
                "forks": group.forks,
                "execs": group.execs,
                "exits": group.exits,
                "failed": group.failed,
                "roots": [list(key) for key in group.roots],
                "launches": [_encode_launch(r) for r in launches.get(group.name, ())],
            }
        )
        parts.append(f'{"," if i else ""}{head[:-1]},"members":['.encode())
        runs = by_group[group.name]
        for j, run in enumerate(runs):
            if j:
                parts.append(b",")
            parts.append(run)
        parts.append(b"]}")
    parts.append(b"]}\n")
    return parts


def _encode_launch(record: LaunchRecord) -> dict[str, Any]:
    return {
        "argv": list(record.argv),
        "cwd": record.cwd,
        "as_root": record.as_root,
        "pid": record.pid,
        "start": record.start,
        "log": record.log,
        "time": record.time,
    }


def decode(raw: bytes) -> Saved:
    """Parse and check a state file; Corrupt saying what is wrong (or from a newer tractui)."""
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as err:
        raise Corrupt(f"is not valid JSON ({err})") from None
    doc = _Fields(data, "the file")
    version = doc.value("version")
    if type(version) is int and version > VERSION:
        raise Corrupt(
            f"was written by a newer tractui (format version {version}; this one reads {VERSION})"
        )
    if version != VERSION:
        raise Corrupt(f"has an unknown format version {version!r}")
    boot = doc.text("boot_id")
    groups = [_decode_group(_Fields(g, f"group {i}")) for i, g in enumerate(doc.items("groups"))]
    names = [g.name for g in groups]
    if len(set(names)) != len(names):
        raise Corrupt("names a group twice")
    keys = [p.key for g in groups for p in g.members]
    if len(set(keys)) != len(keys):
        raise Corrupt("lists a process twice")
    return Saved(boot, groups)


def _decode_group(doc: _Fields) -> SavedGroup:
    try:
        name = validate_group_name(doc.text("name"))
    except UserError as err:
        raise Corrupt(f"has a {err}") from None
    where = f"group {name!r}"
    doc.where = where
    counters = (
        doc.integer("forks"),
        doc.integer("execs"),
        doc.integer("exits"),
        doc.integer("failed"),
    )
    members = [
        _decode_proc(_Fields(m, f"{where}, member {i}"), name)
        for i, m in enumerate(doc.items("members"))
    ]
    by_key = {p.key: p for p in members}
    roots = [_key(r, f"{where}, roots") for r in doc.items("roots")]
    if len(set(roots)) != len(roots):
        raise Corrupt(f"{where}: a root is listed twice")
    for key in roots:
        root = by_key.get(key)
        if root is None or root.parent is not None:
            raise Corrupt(f"{where}: root {key[0]} is not a member without a parent")
    launches = [
        _decode_launch(_Fields(r, f"{where}, launch {i}"))
        for i, r in enumerate(doc.items("launches"))
    ]
    return SavedGroup(
        name=name,
        created=doc.number("created"),
        counters=counters,
        roots=roots,
        members=_parents_first(members, where),
        launches=launches,
    )


def _decode_proc(doc: _Fields, group: str) -> Proc:
    parent = doc.value("parent")
    ended = doc.value("ended")
    status = doc.value("exit")
    proc = Proc(
        pid=doc.integer("pid", minimum=1),
        start=doc.integer("start"),
        group=group,
        parent=None if parent is None else _key(parent, f"{doc.where}, parent"),
        ppid=0,
        comm=doc.text("comm"),
        argv=_strings(doc.value("argv"), f"{doc.where}, argv"),
        exe=doc.text("exe"),
        uid=doc.integer("uid", minimum=-1),
        peak_threads=doc.integer("peak_threads", minimum=1),
        execs=[_strings(a, f"{doc.where}, execs") for a in doc.items("execs")],
        ended=None if ended is None else doc.integer("ended"),
        lost_exit=doc.flag("lost_exit"),
    )
    if status is not None:
        try:
            proc.exit = ExitStatus.from_json(status)
        except ValueError as err:
            raise Corrupt(f"{doc.where}: {err}") from None
    if proc.ended is None and (proc.exit is not None or proc.lost_exit):
        raise Corrupt(f"{doc.where}: an exit status without an end time")
    if proc.parent == proc.key:
        raise Corrupt(f"{doc.where}: its own parent")
    if proc.ended is not None:
        proc.threads = 0
    return proc


def _decode_launch(doc: _Fields) -> LaunchRecord:
    cwd = doc.value("cwd")
    argv = _strings(doc.value("argv"), f"{doc.where}, argv")
    if not argv:
        raise Corrupt(f"{doc.where}: an empty command line")
    return LaunchRecord(
        argv=argv,
        cwd=None if cwd is None else doc.text("cwd"),
        as_root=doc.flag("as_root"),
        pid=doc.integer("pid", minimum=1),
        start=doc.integer("start"),
        log=doc.text("log"),
        time=doc.number("time"),
    )


def _parents_first(members: list[Proc], where: str) -> list[Proc]:
    """The members with each parent before its children (the file's order when it is so)."""
    keys = {p.key for p in members}
    children: dict[Key, list[Proc]] = {}
    tops: list[Proc] = []
    for proc in members:
        if proc.parent is not None and proc.parent in keys:
            children.setdefault(proc.parent, []).append(proc)
        else:
            tops.append(proc)
    out: list[Proc] = []
    stack = list(reversed(tops))
    while stack:
        proc = stack.pop()
        out.append(proc)
        stack.extend(reversed(children.get(proc.key, ())))
    if len(out) != len(members):
        raise Corrupt(f"{where}: the parent links form a cycle")
    return out


class _Fields:
    """One JSON object of the file, read with type checks that raise Corrupt saying where."""

    def __init__(self, value: object, where: str) -> None:
        if not isinstance(value, dict):
            raise Corrupt(f"{where}: expected an object, found {_kind(value)}")
        self.data: dict[str, Any] = value
        self.where = where

    def value(self, name: str) -> Any:
        try:
            return self.data[name]
        except KeyError:
            raise Corrupt(f"{self.where}: no {name!r}") from None

    def _bad(self, name: str, expected: str) -> Corrupt:
        return Corrupt(f"{self.where}: {name!r} should be {expected}, not {self.data[name]!r}")

    def integer(self, name: str, minimum: int = 0) -> int:
        value = self.value(name)
        if type(value) is not int or value < minimum:
            raise self._bad(name, f"an integer >= {minimum}")
        return value

    def number(self, name: str) -> float:
        value = self.value(name)
        if type(value) not in (int, float) or not math.isfinite(value) or value < 0:
            raise self._bad(name, "a number >= 0")
        return float(value)

    def text(self, name: str) -> str:
        value = self.value(name)
        if not isinstance(value, str):
            raise self._bad(name, "a string")
        return value

    def flag(self, name: str) -> bool:
        value = self.value(name)
        if not isinstance(value, bool):
            raise self._bad(name, "true or false")
        return value

    def items(self, name: str) -> list[Any]:
        value = self.value(name)
        if not isinstance(value, list):
            raise self._bad(name, "a list")
        return value


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _key(value: object, where: str) -> Key:
    if (
        isinstance(value, list)
        and len(value) == 2
        and all(type(v) is int and v >= 0 for v in value)
        and value[0] > 0
    ):
        return (value[0], value[1])
    raise Corrupt(f"{where}: {value!r} is not a [pid, start] pair")


def _strings(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise Corrupt(f"{where}: expected a list of strings")


def _holder(fd: int) -> str:
    """Who holds the lock, from the PID it wrote: "tractui PID 123 (tractui daemon)"."""
    try:
        text = os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        text = ""
    if not text.isdigit():
        return "another tractui process"
    pid = int(text)
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().rstrip(b"\0").split(b"\0")
    except OSError:
        return f"tractui PID {pid}"
    words = [a.decode(errors="replace") for a in argv[:4]]
    command = " ".join(os.path.basename(w) if w.startswith("/") else w for w in words)
    command = " ".join(command.split())  # one line, whatever the arguments hold
    return f"tractui PID {pid} ({command[:60]})"
