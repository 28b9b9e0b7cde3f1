"""Groups saved to disk, and restored at start: what survives a restart, even a kill -9.

The daemon and the TUI's embedded engine both keep their groups in ``groups.json`` in the state
directory (:func:`tractui.paths.state_dir`): names, roots, members by (pid, start time) with
their genealogy, and the programs launched into them. The file is rewritten atomically (a temp
file in the same directory, fsync, rename, fsync of the directory) within ``interval`` of any
change and at exit, so a crash leaves the previous or the next version, never half of one.

Between two saves, every batch that changed a member appends what changed to
``groups.journal``: one JSON line per member as it now is (or "removed"), and per group changed.
A kill -9 loses nothing that was ``write()``-n: the kernel's page cache outlives the process.
The journal is not fsynced: only a machine crash can lose the page cache, and then at most the
changes since the last save (which is fsynced, within ``interval``); an fsync per batch would
hold every batch up for a disk flush. The journal starts with the token of the state file it
follows; each save writes a new token into the state file, then empties the journal and writes
that token at its head. Restore replays a journal only if its token is the state file's: a
crash between the save and the emptying leaves a journal the state already holds, and it is
skipped. Replaying is idempotent (each line sets a member or a group to what it was), so a
crash before the first save after a restart replays the same lines again, harmlessly.

One process at a time owns the directory: an exclusive ``flock`` on its ``lock`` file, which
also names the holder's PID. A lock dies with its process, so a kill -9 leaves none behind.

At start the groups are reconciled with /proc (:meth:`tractui.model.tracker.Tracker.restore`): a
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
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from tractui import paths
from tractui.errors import UserError
from tractui.events import ExitStatus
from tractui.model.account import Account
from tractui.model.changes import Journal, Key
from tractui.model.reaped import Fix
from tractui.model.store import UNKNOWN_EXEC_TIME, Group, Proc, validate_group_name
from tractui.model.tracker import Tracker
from tractui.model.wire import proc_json

log = logging.getLogger(__name__)

VERSION = 1
FILE_NAME = "groups.json"
JOURNAL_NAME = "groups.journal"
LOCK_NAME = "lock"
# while events keep coming, a save waits for a pause up to this many intervals (the journal
# has every change meanwhile: only a machine crash could lose them). bench/ui at 10,000 members
# and 2,000 events/s (py-spy): a save every 5 s took 1.0-1.2 % of a CPU; at 15 s the journal
# peaked at 13.8 MB (40,805 lines, the 10,000 members' first lines among them), replayed in 0.7 s
BUSY_SAVE_INTERVALS = 15
TMP_PREFIX = f".{FILE_NAME}."
TMP_SUFFIX = ".tmp"
BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


NOT_RECORDED = "not recorded"  # the outcome of a launch saved by an older tractui


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
    # how it ended, once its log has the line that says so ("exit 3 after 1.2 s"); "" before
    outcome: str = ""

    @classmethod
    def of(
        cls,
        argv: list[str],
        cwd: str | None,
        as_root: bool,
        proc: Proc,
        log_path: Path,
        now: float | None = None,
    ) -> LaunchRecord:
        return cls(
            argv=tuple(argv),
            cwd=cwd,
            as_root=as_root,
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
    down: float = 0.0  # seconds from the last write of the groups to the restore

    def describe(self) -> str:
        return (
            f"restored {self.groups} group(s): {self.kept} processes still running, "
            f"{self.adopted} new ones adopted, {self.gone} gone"
        )

    def unseen(self) -> str:
        """What was missed while nothing tracked the groups, in one line ("" if we know of
        nothing). Members that ended meanwhile are known (their exit status is not); a process
        forked meanwhile, reparented away from its forker (a double fork) is not: no chain in
        /proc leads to it. So we say it could exist only where we saw that the groups changed."""
        if not (self.gone or self.adopted):
            return ""
        down = _duration(self.down)
        if self.gone:
            return (
                f"{self.gone} member(s) ended while tractui was not running ({down}); "
                "what they forked meanwhile and was reparented away cannot be found"
            )
        return (
            f"{self.adopted} process(es) forked while tractui was not running ({down}) "
            "were adopted; any reparented away meanwhile cannot be found"
        )


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


class Persister:
    """Saves an owner's groups to ``directory/groups.json`` and restores them.

    Use: :meth:`acquire`, :meth:`restore` (after the collector subscribed, so nothing forked
    meanwhile is missed), :meth:`tick` after each poll, :meth:`close` at exit. Nothing is
    written before :meth:`restore` ran: an engine that failed to start never overwrites the
    groups it did not load. The journal between two saves is a :class:`JournalFile`'s; the
    members' JSON kept from save to save, a :class:`Members`'.
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
        self.save_failures = 0  # saves (and journal writes) that failed, since this process began
        self._lock_fd: int | None = None
        self._loaded = False
        self._disabled = False  # the file exists but can't be read: never write over it
        self.saved_revision: int | None = None  # the tracker's revision last written
        self._last_save = -math.inf
        self._members: Members | None = None  # the members' JSON, kept from save to save
        self.journal_path = self.directory / JOURNAL_NAME
        self._journal = JournalFile(self.journal_path)

    @property
    def journaled(self) -> int:
        """Journal lines written since the start."""
        return self._journal.lines

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
        self._journal.close()
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
        saved, written = self._replay(saved)
        restored = self._apply(owner, saved)
        restored = replace(restored, down=max(0.0, time.time() - written))
        if restored.groups or restored.warning:
            log.info("%s (from %s)", restored.describe(), self.path)
        return restored

    def _replay(self, saved: Saved) -> tuple[Saved, float]:
        """The saved groups with the journal's changes made since that save (if it follows
        it), and when they were last written (wall clock)."""
        written = saved.time
        try:
            fd = paths.open_private(self.journal_path, os.O_RDONLY)
        except FileNotFoundError:
            return saved, written
        except (OSError, paths.UnsafePath) as err:
            log.warning("cannot read %s: %s; its changes are lost", self.journal_path, err)
            return saved, written
        with os.fdopen(fd, "rb") as f:
            raw = f.read()
            mtime = os.fstat(f.fileno()).st_mtime
        try:
            replayed, lines = replay(saved, raw)
        except Corrupt as err:
            log.warning("%s %s: restoring the groups as last saved", self.journal_path, err)
            return saved, written
        if lines:
            log.info("replayed %d change(s) from %s", lines, self.journal_path)
            written = max(written, mtime)
        return replayed, written

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
            group.ended = entry.ended
            group.ended_by_you, group.roots_failed = entry.outcomes
            group.last_launch, group.last_outcome, group.last_failed = entry.last_launch
            group.signaled = min(entry.signaled, group.failed)
            group.unrecorded_user_us, group.unrecorded_system_us = entry.unrecorded
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

    def tick(self, owner: Owner, busy: bool = False) -> bool:
        """Save if the groups changed and the last save is ``interval`` old; True if it saved.

        Called after each poll, it puts every change on disk within ``interval`` (a burst of
        changes costs one write per interval), and in between appends what changed to the
        journal. ``busy``: more events are waiting; while the journal works, the save (tens of
        ms with thousands of members) waits for a pause, up to ``BUSY_SAVE_INTERVALS``
        intervals. Nothing changed: one integer comparison."""
        if owner.tracker.revision == self.saved_revision or not self._loaded or self._disabled:
            return False
        now = self.clock()
        appending = self._journal.appending
        wait = self.interval * (BUSY_SAVE_INTERVALS if busy and appending else 1)
        if now - self._last_save < wait and (not appending or self._append(owner)):
            return False  # appended to the journal (or it is off: the save is due soon)
        # the interval is over, or the journal cannot say what changed: save it all now
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
        # the file holds what changed so far; no journal line follows it until it is written
        # (if it is not, what changed is in neither file: no line may follow the old one)
        self._journal.saving(owner.tracker)
        token = secrets.token_hex(8)
        self._write(encode_parts(owner.tracker, owner.launches, self._members, token))
        self.saved_revision = revision
        self._last_save = self.clock()
        self.saves += 1
        if self.error:
            log.info("groups are saved again to %s", self.path)
            self.error = ""
        try:  # after: a journal it cannot start stays the error
            self._journal.start(token, tuple(owner.tracker.groups))
        except (OSError, paths.UnsafePath) as err:
            # what is saved is safe; what changes until the next save is not, if we are killed
            self._failed(err, what=f"cannot write {self.journal_path}")

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

    def _append(self, owner: Owner) -> bool:
        """Append what changed to the journal; False if a full save must be made instead."""
        try:
            return self._journal.append(owner)
        except OSError as err:
            self._failed(err, what=f"cannot write {self.journal_path}")
            return False

    def save_now(self, owner: Owner) -> str:
        """:meth:`save`, for a command that changed the groups: "" if it is on disk, else why
        not (the change stays in memory; :meth:`tick` tries again within ``interval``)."""
        try:
            self.save(owner)
        except StateError as err:
            return str(err)
        except OSError as err:
            self._last_save = self.clock()
            self._failed(err)
            return self.error
        return ""

    def _failed(self, err: OSError | UserError, what: str = "") -> None:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else err
        message = f"{what or f'cannot save groups to {self.path}'}: {reason}"
        self.save_failures += 1
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


class JournalFile:
    """``groups.journal``: the changes made since the last save, a batch at a time.

    :meth:`start` empties it and heads it with the token of the state file just written; each
    :meth:`append` then adds the lines of what its reader of the tracker's changes saw since
    the save or the last append. A write that fails leaves a gap: nothing is appended after it
    until the next start. Its methods raise OSError (or UnsafePath) for the persister to report,
    and leave the file so that a restore never applies what does not follow its state file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self._token = ""  # the state file's, at the journal's head; "": no appending
        self._changes: Journal | None = None  # what changed since the last save or append
        self._order: tuple[str, ...] = ()  # the groups' order, as the files have it
        self.lines = 0  # lines written since the start

    @property
    def appending(self) -> bool:
        """Whether it follows the state file on disk, so that changes may be appended."""
        return bool(self._token)

    def saving(self, tracker: Tracker) -> None:
        """A save of every group is about to be written: it holds what changed so far, and
        nothing may be appended until :meth:`start` heads the journal with its token."""
        if self._changes is None or self._changes.source is not tracker.changes:
            self._changes = tracker.journal()
        self._changes.take_all()
        self._token = ""

    def start(self, token: str, order: tuple[str, ...]) -> None:
        """Empty the journal and head it with ``token``, the state file's, whose groups are in
        ``order``."""
        self._order = order
        try:
            if self._fd is None:
                self._fd = paths.open_private(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            os.ftruncate(self._fd, 0)
            _write_all(self._fd, _dumps({"journal": 1, "state": token}).encode() + b"\n")
        except (OSError, paths.UnsafePath):
            self.close()
            raise
        self._token = token

    def append(self, owner: Owner) -> bool:
        """Append the changes since the last save or append; False if a full save must."""
        changes = self._changes
        fd = self._fd
        if (
            not self._token
            or changes is None
            or changes.source is not owner.tracker.changes
            or fd is None
        ):
            return False
        keys, groups, everything = changes.take_all()
        if everything:
            return False
        lines = journal_lines(owner.tracker, owner.launches, keys, groups)
        order = tuple(owner.tracker.groups)
        if order != self._order:  # a group came, went or was renamed: it keeps its place
            lines.append(b'{"order":%s}\n' % _dumps(order).encode())
        try:
            _write_all(fd, b"".join(lines))
        except OSError:
            self._token = ""  # a gap in the journal: nothing more goes after it
            raise
        self._order = order
        self.lines += len(lines)
        return True

    def close(self) -> None:
        fd, self._fd = self._fd, None
        self._token = ""
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


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
    ended: Account = field(default_factory=Account)  # its ended members' accounts, summed
    outcomes: tuple[int, int] = (0, 0)  # ended_by_you, roots_failed (0 in older files)
    # last_launch, last_outcome, last_failed (none in older files)
    last_launch: tuple[Key | None, str, bool] = (None, "", False)
    signaled: int = 0  # of its failed members, those ended by a signal (0 in older files)
    unrecorded: tuple[int, int] = (0, 0)  # Group.unrecorded_*_us (0 in older files)


@dataclass(slots=True)
class Saved:
    boot_id: str
    groups: list[SavedGroup]
    journal: str = ""  # the token a journal that follows this file starts with
    time: float = 0.0  # when it was written (wall clock)


def boot_id() -> str:
    """This boot's random id: start times (ns since boot) mean nothing in another boot."""
    try:
        with open(BOOT_ID_PATH) as f:
            return f.read().strip()
    except OSError:
        return ""


# one encoder for every save and journal line: json.dumps with options builds one per call
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _dumps(value: object) -> str:
    return _ENCODE(value)


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
        shared: dict[object, str] = {}  # the JSON of texts members share (see proc_json)
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
                            members[key] = proc_json(procs[key], shared).encode()
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
    journal: str = "",
) -> list[bytes]:
    """:func:`encode`'s file in pieces, to write one after the other: the members' runs as
    they are kept, not copied into one string of megabytes. ``journal``: the token of the
    journal that will follow it."""
    by_group = (members or Members(tracker)).by_group()
    head = _dumps(
        {
            "version": VERSION,
            "saved": time.time(),
            "boot_id": boot_id(),
            "writer": os.getpid(),
            "journal": journal,
        }
    )
    parts = [f'{head[:-1]},"groups":['.encode()]
    for i, group in enumerate(tracker.groups.values()):
        head = _dumps(_group_head(group, launches))
        parts.append(f'{"," if i else ""}{head[:-1]},"members":['.encode())
        runs = by_group[group.name]
        for j, run in enumerate(runs):
            if j:
                parts.append(b",")
            parts.append(run)
        parts.append(b"]}")
    parts.append(b"]}\n")
    return parts


def _group_head(group: Group, launches: Mapping[str, Sequence[LaunchRecord]]) -> dict[str, Any]:
    return {
        "name": group.name,
        "created": group.created,
        "forks": group.forks,
        "execs": group.execs,
        "exits": group.exits,
        "failed": group.failed,
        "signaled": group.signaled,
        "ended": group.ended.to_json(),
        "roots": [list(key) for key in group.roots],
        "launches": [_encode_launch(r) for r in launches.get(group.name, ())],
        "ended_by_you": group.ended_by_you,
        "roots_failed": group.roots_failed,
        "last_launch": None if group.last_launch is None else list(group.last_launch),
        "last_outcome": group.last_outcome,
        "last_failed": group.last_failed,
        "unrecorded": [group.unrecorded_user_us, group.unrecorded_system_us],
    }


def journal_lines(
    tracker: Tracker,
    launches: Mapping[str, Sequence[LaunchRecord]],
    keys: set[Key],
    groups: set[str],
) -> list[bytes]:
    """The journal's lines for these changes: groups first (a member's group is there before
    it), then the members as they are now, then what was removed."""
    lines: list[bytes] = []
    dropped: list[str] = []
    for name in sorted(groups):
        group = tracker.groups.get(name)
        if group is None:
            dropped.append(name)
        else:
            lines.append(b'{"group":%s}\n' % _dumps(_group_head(group, launches)).encode())
    procs = tracker.procs
    removed: list[Key] = []
    texts: dict[object, str] = {}
    # by start time: a parent before the children it forked in the same batch
    for key in sorted(keys, key=lambda k: (k[1], k[0])):
        proc = procs.get(key)
        if proc is None:
            removed.append(key)
        else:
            lines.append(_member_line(proc, texts))
    lines.extend(b'{"removed":[%d,%d]}\n' % key for key in removed)
    lines.extend(b'{"dropped":%s}\n' % _dumps(name).encode() for name in dropped)
    return lines


def _member_line(proc: Proc, texts: dict[object, str]) -> bytes:
    """A journal line: the member as the protocol sends it (:func:`proc_json`)."""
    return b'{"member":%s}\n' % proc_json(proc, texts).encode()


def replay(saved: Saved, raw: bytes) -> tuple[Saved, int]:
    """``saved`` with the journal ``raw``'s changes made, and how many lines it applied.

    A journal that does not start with ``saved``'s token follows another save: nothing to do.
    A torn last line (killed while writing it) ends the replay there; a line that is whole but
    wrong raises Corrupt."""
    lines = raw.split(b"\n")
    try:
        head = json.loads(lines[0])
    except (UnicodeDecodeError, ValueError):
        return saved, 0
    if (
        not saved.journal
        or not isinstance(head, dict)
        or head.get("journal") != 1
        or head.get("state") != saved.journal
    ):
        return saved, 0
    groups = {g.name: g for g in saved.groups}
    members = {g.name: {p.key: p for p in g.members} for g in saved.groups}
    where: dict[Key, str] = {p.key: g.name for g in saved.groups for p in g.members}
    applied = 0
    for n, line in enumerate(lines[1:], start=2):
        if not line:
            continue
        try:
            record = json.loads(line)
        except (UnicodeDecodeError, ValueError):
            if n == len(lines):  # the last one, with no newline: cut by a kill
                break
            raise Corrupt(f"line {n} is not valid JSON") from None
        doc = _Fields(record, f"line {n}")
        if "member" in record:
            fields = _Fields(doc.value("member"), f"line {n}")
            group = fields.text("group")
            if group not in members:
                raise Corrupt(f"line {n}: no group {group!r}")
            proc = _decode_proc(fields, group)
            old = where.get(proc.key)
            if old is not None:
                del members[old][proc.key]
            members[group][proc.key] = proc
            where[proc.key] = group
        elif "removed" in record:
            key = _key(doc.value("removed"), f"line {n}")
            old = where.pop(key, None)
            if old is not None:
                del members[old][key]
        elif "group" in record:
            entry = _decode_group_head(_Fields(doc.value("group"), f"line {n}"))
            groups[entry.name] = entry
            members.setdefault(entry.name, {})
        elif "dropped" in record:
            name = doc.text("dropped")
            groups.pop(name, None)
            for key in members.pop(name, {}):
                del where[key]
        elif "order" in record:
            names = _strings(doc.value("order"), f"line {n}")
            place = {name: i for i, name in enumerate(names)}
            groups = dict(sorted(groups.items(), key=lambda g: place.get(g[0], len(place))))
        else:
            raise Corrupt(f"line {n}: not a change tractui writes")
        applied += 1
    out: list[SavedGroup] = []
    for name, entry in groups.items():
        procs = members[name]
        roots = [k for k in entry.roots if k in procs and procs[k].parent is None]
        ordered = _parents_first(list(procs.values()), f"group {name!r}")
        out.append(replace(entry, members=ordered, roots=roots))  # ``saved`` stays as it was
    return Saved(saved.boot_id, out, saved.journal, saved.time), applied


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _encode_launch(record: LaunchRecord) -> dict[str, Any]:
    return {
        "argv": list(record.argv),
        "cwd": record.cwd,
        "as_root": record.as_root,
        "pid": record.pid,
        "start": record.start,
        "log": record.log,
        "time": record.time,
        "outcome": record.outcome,
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
    token = doc.data.get("journal", "")  # not in files of before the journal
    if not isinstance(token, str):
        raise Corrupt(f"'journal' should be a string, not {token!r}")
    groups = [_decode_group(_Fields(g, f"group {i}")) for i, g in enumerate(doc.items("groups"))]
    names = [g.name for g in groups]
    if len(set(names)) != len(names):
        raise Corrupt("names a group twice")
    keys = [p.key for g in groups for p in g.members]
    if len(set(keys)) != len(keys):
        raise Corrupt("lists a process twice")
    written: Any = doc.data.get("saved")
    if type(written) not in (int, float) or not math.isfinite(written):
        written = 0.0  # only says how long nothing watched: not worth refusing the file for
    return Saved(boot, groups, token, float(written))


def _decode_group(doc: _Fields) -> SavedGroup:
    entry = _decode_group_head(doc)
    where = doc.where
    members = [
        _decode_proc(_Fields(m, f"{where}, member {i}"), entry.name)
        for i, m in enumerate(doc.items("members"))
    ]
    by_key = {p.key: p for p in members}
    for key in entry.roots:
        root = by_key.get(key)
        if root is None or root.parent is not None:
            raise Corrupt(f"{where}: root {key[0]} is not a member without a parent")
    entry.members = _parents_first(members, where)
    return entry


def _decode_group_head(doc: _Fields) -> SavedGroup:
    """A group's fields but its members (``members`` is left empty)."""
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
    roots = [_key(r, f"{where}, roots") for r in doc.items("roots")]
    if len(set(roots)) != len(roots):
        raise Corrupt(f"{where}: a root is listed twice")
    launches = [
        _decode_launch(_Fields(r, f"{where}, launch {i}"))
        for i, r in enumerate(doc.items("launches"))
    ]
    return SavedGroup(
        name=name,
        created=doc.number("created"),
        counters=counters,
        roots=roots,
        members=[],
        launches=launches,
        ended=_account(doc, "ended") or Account(),  # a file of an older tractui has none
        outcomes=(_optional_int(doc, "ended_by_you"), _optional_int(doc, "roots_failed")),
        last_launch=_last_launch(doc),
        signaled=doc.integer("signaled") if "signaled" in doc.data else 0,
        unrecorded=_unrecorded(doc),
    )


def _unrecorded(doc: _Fields) -> tuple[int, int]:
    """A group's CPU no record holds, µs user and system (none in a file of an older tractui)."""
    value = doc.data.get("unrecorded")
    if value is None:
        return (0, 0)
    if not (
        isinstance(value, list)
        and len(value) == 2
        and all(type(v) is int and 0 <= v < 1 << 63 for v in value)
    ):
        raise Corrupt(
            f"{doc.where}: 'unrecorded' should be [user µs, system µs], not {value!r:.80}"
        )
    return (value[0], value[1])


def _optional_int(doc: _Fields, name: str) -> int:
    """A counter a file of an older tractui has not: 0 then."""
    return doc.integer(name) if name in doc.data else 0


def _last_launch(doc: _Fields) -> tuple[Key | None, str, bool]:
    """A group's last launch and its outcome (none in a file of an older tractui)."""
    key = doc.data.get("last_launch")
    if key is None:
        return (None, "", False)
    outcome = doc.text("last_outcome") if "last_outcome" in doc.data else ""
    failed = doc.flag("last_failed") if "last_failed" in doc.data else False
    return (_key(key, f"{doc.where}, last_launch"), outcome, failed)


def _account(doc: _Fields, name: str) -> Account | None:
    """An optional account field (absent or null: None)."""
    value = doc.data.get(name)
    if value is None:
        return None
    try:
        return Account.from_json(value)
    except ValueError as err:
        raise Corrupt(f"{doc.where}: {err}") from None


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
        account=_account(doc, "account"),
    )
    signalled = doc.data.get("signalled")  # [signal, ns since boot]; absent: none
    if signalled is not None:
        if not (
            isinstance(signalled, list)
            and len(signalled) == 2
            and all(type(v) is int and v >= 0 for v in signalled)
        ):
            raise Corrupt(f"{doc.where}: 'signalled' should be [signal, time], not {signalled!r}")
        proc.signalled, proc.signalled_at = signalled
    fix = doc.data.get("cpu_fix")  # absent: none (tractui.model.reaped)
    if fix is not None:
        try:
            proc.fix = Fix.from_wire(fix)
        except ValueError as err:
            raise Corrupt(f"{doc.where}: {err}") from None
    if "exec_times" in doc.data:
        times = doc.items("exec_times")
        if len(times) != len(proc.execs) or not all(type(t) is int and t >= 0 for t in times):
            raise Corrupt(f"{doc.where}: 'exec_times' should be one integer >= 0 per exec")
        proc.exec_times = times
    else:  # the file of an older tractui: each exec's time unknown, one per exec still
        proc.exec_times = [UNKNOWN_EXEC_TIME] * len(proc.execs)
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
        # a file of an older tractui has none: no line is owed to its log
        outcome=doc.text("outcome") if "outcome" in doc.data else NOT_RECORDED,
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
