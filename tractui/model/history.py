"""Ended processes kept on disk: each group's history, bounded, across restarts.

Beside the state file (:mod:`tractui.model.state`), in the same directory and under the same
lock, the engine appends one JSON line per ended member to a journal of segment files:

    history.clean.00000001 ...   members that exited 0, or whose status is unknown
    history.failed.00000001 ...  members that exited non-zero or were killed by a signal
                                 (not those ended by a signal sent from tractui: clean)

A line is ``{"g": ID, "group": NAME, "boot": BOOT, "off": OFF, "at": AT, "proc": {...}}``:
``proc`` is the member as the protocol sends it (:func:`tractui.model.wire.proc_to_wire`, so
every field added there comes along: the account, the exec times), less its group name and
zombie flag (written by ``proc_json(..., ended=True)``: the same object, encoded faster);
``group`` is the name the group had when it was written. ``boot`` is the start of
this boot's id: ``start`` and ``ended`` are ns since boot, which mean nothing in another boot;
``off`` (epoch ns minus boot-clock ns when written) turns them into wall time, and ``at`` is when
the line was written (epoch ns). A reader of another boot rebases them to its own boot clock.

**When.** Lines are written at each batch (:meth:`History.collect` gathers the members that
ended or changed since; :meth:`History.flush` writes them), after the batch's delta is published,
with one ``write()`` per segment and no fsync, as ``groups.journal``: a kill -9 loses nothing that
was written. A member whose line changes after it ended (its kernel account came after its exit
event) is written again: readers keep the last line of a (boot, pid, start).

**Groups.** Each group has a random id, kept in ``history.groups`` (a small JSON file, rewritten
atomically when a group first ends a member, is renamed or removed). Lines carry the id, not the
name: a renamed group keeps its history; a removed group's id is forgotten (its lines stay until
their segment is dropped, but no group reaches them), and a new group of the same name starts a
history of its own.

**Bounds.** A cap (``tractui daemon --history-cap``, default 64 MiB) bounds the segments of both
kinds together. A segment is closed at a sixteenth of the cap; when the total passes the cap, the
oldest closed segment is unlinked (never rewritten): a clean one while clean exits hold more than
a quarter of the cap, else a failed one. So failures keep up to three quarters of the cap, and
outlive clean exits unless they come three times as fast. Each drop is logged, counted in the
daemon's ``stats`` (``history_dropped``) and remembered in ``history.groups`` (what was dropped,
ending when), so that ``list --all`` says a group's history was cut.

**Trust.** Every file is opened through :func:`tractui.paths.open_private` (no symbolic link, a
regular file of ours); one that is not is refused with its one-line reason, and history is off
(said in the engine's notices) until it is removed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tractui import paths
from tractui.events import ExitStatus
from tractui.model.changes import Journal, Key
from tractui.model.store import Proc, aligned_exec_times, command_text
from tractui.model.tracker import Tracker
from tractui.model.wire import proc_json

log = logging.getLogger(__name__)

HISTORY_CAP = 64 << 20  # bytes, both kinds together
MIN_CAP = 16 << 10
SEGMENTS = 16  # a segment is closed at cap / SEGMENTS
CLEAN_SHARE = 4  # clean exits are dropped first while they hold more than cap / CLEAN_SHARE
MAP_NAME = "history.groups"
KINDS = ("clean", "failed")
SEGMENT_NAME = re.compile(r"history\.(clean|failed)\.(\d{8})")
BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"

_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_LINE = '{"g":"%s","group":%s,"boot":"%s","off":%d,"at":%d,"proc":%s}\n'


def boot_tag() -> str:
    """The first 8 hex digits of this boot's id ("" if unknown)."""
    try:
        with open(BOOT_ID_PATH) as f:
            return f.read().strip().replace("-", "")[:8]
    except OSError:
        return ""


def format_size(n: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


@dataclass(slots=True)
class Segment:
    number: int
    size: int


@dataclass(slots=True)
class Dropped:
    """What the cap dropped of one kind, all told: entries, bytes, and the latest end (epoch s)."""

    entries: int = 0
    bytes: int = 0
    until: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"entries": self.entries, "bytes": self.bytes, "until": self.until}


class SegmentSet:
    """The segment files of one kind, oldest first; the last one is the one appended to."""

    def __init__(self, directory: Path, kind: str, segments: list[Segment]) -> None:
        self.directory = directory
        self.kind = kind
        self.segments = segments or [Segment(1, 0)]
        self.bytes = sum(s.size for s in self.segments)
        self._fd: int | None = None

    def path(self, number: int) -> Path:
        return self.directory / f"history.{self.kind}.{number:08d}"

    @property
    def closed(self) -> int:
        return len(self.segments) - 1

    def write(self, lines: list[bytes], limit: int) -> None:
        """Append ``lines`` to the current segment, a new one each time it is ``limit`` big: a
        batch bigger than the cap still leaves its newest lines in the newest segments."""
        start = 0
        while start < len(lines):
            room = limit - self.segments[-1].size
            end = start
            size = 0
            while end < len(lines) and (end == start or size < room):
                size += len(lines[end])
                end += 1
            self._append(b"".join(lines[start:end]))
            if self.segments[-1].size >= limit:
                self.rotate()
            start = end

    def _append(self, data: bytes) -> None:
        current = self.segments[-1]
        if self._fd is None:
            self._fd = paths.open_private(
                self.path(current.number), os.O_WRONLY | os.O_APPEND | os.O_CREAT
            )
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]
            current.size += n
            self.bytes += n

    def rotate(self) -> None:
        """Close the current segment; the next write starts a new one."""
        self.close()
        self.segments.append(Segment(self.segments[-1].number + 1, 0))

    def drop_oldest(self) -> Dropped:
        """Unlink the oldest closed segment; what it held."""
        segment = self.segments.pop(0)
        self.bytes -= segment.size
        path = self.path(segment.number)
        dropped = Dropped(bytes=segment.size)
        with contextlib.suppress(OSError, paths.UnsafePath):
            with os.fdopen(paths.open_private(path, os.O_RDONLY), "rb") as f:
                raw = f.read()
            dropped.entries = raw.count(b"\n")
            last = raw.rstrip(b"\n").rpartition(b"\n")[2]
            with contextlib.suppress(ValueError, KeyError, TypeError):
                dropped.until = _ended_wall(json.loads(last))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return dropped

    def close(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _ended_wall(line: dict[str, Any]) -> float:
    proc = line["proc"]
    return float(proc["ended"] + line["off"]) / 1e9


@dataclass(slots=True)
class GroupHistory:
    """What :meth:`History.read` found for a group: its ended members (the stored lines, oldest
    start first, one per process), what the cap cut, and damaged lines skipped."""

    entries: list[dict[str, Any]] = field(default_factory=list)
    cut: str = ""  # one line saying the group's history was cut, or ""
    damaged: int = 0  # lines skipped: torn by a kill, or not ours
    error: str = ""  # why there is no history to read ("" when it is kept)
    older: int = 0  # lines of older entries not read (a read of the newest only)

    def info(self) -> dict[str, Any]:
        """What 'list' replies about it, besides the entries."""
        return {
            "entries": len(self.entries),
            "older": self.older,
            "cut": self.cut,
            "damaged": self.damaged,
            "error": self.error,
        }


class History:
    """The history journal of an engine's groups (see the module). Used from the engine's
    thread: :meth:`open` after the state was restored, :meth:`collect` at each batch (and before
    a prune), :meth:`flush` after the batch was published, :meth:`close` at exit. ``error``
    says why history is off or failed ("" when all is well)."""

    def __init__(self, directory: Path | None = None, cap: int = HISTORY_CAP) -> None:
        self.directory = paths.state_dir() if directory is None else Path(directory)
        self.cap = cap
        self.segment_size = max(1024, cap // SEGMENTS)
        self.error = ""
        self.dropped_now = 0  # entries dropped by this process
        self.dropped: dict[str, Dropped] = {kind: Dropped() for kind in KINDS}
        self.sets: dict[str, SegmentSet] = {}
        self.ids: dict[str, str] = {}  # group name -> id
        self.boot = boot_tag()
        self._journal: Journal | None = None
        self._written: dict[Key, int] = {}  # hash of the last line written, for kept members
        self._pending: dict[str, list[bytes]] = {kind: [] for kind in KINDS}
        self._map_dirty = False

    @property
    def on(self) -> bool:
        return self._journal is not None

    # ---- opening -----------------------------------------------------------------------------

    def open(self, tracker: Tracker) -> None:
        """Find the segments (each checked as a file of ours), the group ids and what was
        dropped; from now on, every member that ends in ``tracker`` is collected."""
        if self._journal is not None:
            return
        try:
            found = self._scan()
            self._load_map()
        except (OSError, paths.UnsafePath) as err:
            self._fail(err, "history is off")
            return
        for kind in KINDS:
            segments = found.get(kind, [])
            self.sets[kind] = SegmentSet(self.directory, kind, segments)
            if segments and not self._ends_whole(kind):
                self.sets[kind].rotate()  # its last line was cut by a kill: never append to it
        self._journal = tracker.journal()  # its first take: every ended member kept now

    def _scan(self) -> dict[str, list[Segment]]:
        found: dict[str, list[Segment]] = {}
        with os.scandir(self.directory) as entries:
            names = [e.name for e in entries]
        for name in sorted(names):
            if name.startswith(f".{MAP_NAME}.") and name.endswith(".tmp"):
                with contextlib.suppress(OSError):  # of a writer killed before its rename
                    os.unlink(self.directory / name)
                continue
            match = SEGMENT_NAME.fullmatch(name)
            if match is None:
                continue
            fd = paths.open_private(self.directory / name, os.O_RDONLY)  # refuses a link
            try:
                size = os.fstat(fd).st_size
            finally:
                os.close(fd)
            found.setdefault(match[1], []).append(Segment(int(match[2]), size))
        return found

    def _ends_whole(self, kind: str) -> bool:
        segments = self.sets[kind]
        last = segments.segments[-1]
        if last.size == 0:
            return True
        fd = paths.open_private(segments.path(last.number), os.O_RDONLY)
        try:
            return os.pread(fd, 1, last.size - 1) == b"\n"
        finally:
            os.close(fd)

    def _load_map(self) -> None:
        path = self.directory / MAP_NAME
        try:
            with os.fdopen(paths.open_private(path, os.O_RDONLY), "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            return
        try:
            data = json.loads(raw)
            ids = data["groups"]
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in ids.items()):
                raise ValueError("group ids are not strings")
            dropped = data.get("dropped", {})
            for kind in KINDS:
                d = dropped.get(kind, {})
                self.dropped[kind] = Dropped(
                    int(d.get("entries", 0)), int(d.get("bytes", 0)), float(d.get("until", 0))
                )
        except (ValueError, TypeError, AttributeError, KeyError) as err:
            log.warning("%s is damaged (%s): the history of existing groups is lost", path, err)
            self._map_dirty = True
            return
        self.ids = dict(ids)

    def _save_map(self) -> None:
        data = {
            "history": 1,
            "groups": self.ids,
            "dropped": {kind: d.to_json() for kind, d in self.dropped.items()},
        }
        fd, tmp = tempfile.mkstemp(prefix=f".{MAP_NAME}.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_ENCODE(data).encode() + b"\n")
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.directory / MAP_NAME)  # replaces a link there, never follows it
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._map_dirty = False

    # ---- writing -----------------------------------------------------------------------------

    def collect(self, tracker: Tracker) -> int:
        """Encode the members that ended (or changed since they ended) since the last call;
        how many. Cheap when none did: one look at the tracker's changes."""
        journal = self._journal
        if journal is None or journal.source is not tracker.changes:
            return 0
        keys, everything = journal.take()
        if not keys and not everything:
            return 0
        procs = tracker.procs
        written = self._written
        if everything:
            for key in [k for k in written if k not in procs]:
                del written[key]
            candidates: Iterable[Proc] = list(tracker.exited.values())
        else:
            found = []
            for key in keys:
                proc = procs.get(key)
                if proc is None:
                    written.pop(key, None)
                elif proc.ended is not None:
                    found.append(proc)
            candidates = sorted(found, key=lambda p: (p.ended or 0, p.start))
        at = time.time_ns()
        off = at - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
        n = 0
        texts: dict[object, str] = {}  # the strings that members share, encoded once
        for proc in candidates:
            name = proc.group
            text = proc_json(proc, texts, ended=True)
            digest = hash(text)
            if written.get(proc.key) == digest:
                continue
            written[proc.key] = digest
            line = _LINE % (
                self._id(name),
                _ENCODE(name),
                self.boot,
                off,
                at,
                text,
            )
            # an end caused by a signal from tractui is no failure: kept as the clean ones
            failed = proc.counted_failed()
            self._pending[KINDS[failed]].append(line.encode())
            n += 1
        return n

    def _id(self, name: str) -> str:
        hid = self.ids.get(name)
        if hid is None:
            hid = self.ids[name] = secrets.token_hex(6)
            self._map_dirty = True
        return hid

    def flush(self) -> None:
        """Write what :meth:`collect` gathered, then drop the oldest segments over the cap."""
        if self._journal is None:
            return
        pending = self._pending
        if not (pending["clean"] or pending["failed"] or self._map_dirty):
            return
        try:
            if self._map_dirty:
                self._save_map()  # before the lines: their group ids are in it
            for kind in KINDS:
                if pending[kind]:
                    lines = pending[kind][:]
                    pending[kind].clear()
                    self.sets[kind].write(lines, self.segment_size)
            self._bound()
        except (OSError, paths.UnsafePath) as err:
            for lines in pending.values():
                lines.clear()  # never more than a batch held: what failed is lost, and said
            self._fail(err, "history not written")
            return
        if self.error:
            log.info("history is written again to %s", self.directory)
            self.error = ""

    def _bound(self) -> None:
        """Unlink the oldest segments while both kinds hold more than the cap (see module)."""
        clean, failed = self.sets["clean"], self.sets["failed"]
        changed = False
        while clean.bytes + failed.bytes > self.cap:
            if clean.closed and (clean.bytes > self.cap // CLEAN_SHARE or not failed.closed):
                victim = clean
            elif failed.closed:
                victim = failed
            else:
                break  # only the segments being written: each under cap / SEGMENTS
            dropped = victim.drop_oldest()
            total = self.dropped[victim.kind]
            total.entries += dropped.entries
            total.bytes += dropped.bytes
            total.until = max(total.until, dropped.until)
            self.dropped_now += dropped.entries
            changed = True
            until = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(dropped.until))
            log.info(
                "history: dropped %d %s exit(s) that ended until %s (%s, oldest first) to stay "
                "under the cap of %s",
                dropped.entries,
                victim.kind,
                until,
                format_size(dropped.bytes),
                format_size(self.cap),
            )
        if changed:
            self._save_map()

    def _fail(self, err: OSError | paths.UnsafePath, what: str) -> None:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        where = f" ({err.filename})" if isinstance(err, OSError) and err.filename else ""
        message = f"{what}: {reason}{where}"
        if message != self.error:
            log.warning("%s", message)
        self.error = message

    # ---- groups ------------------------------------------------------------------------------

    def rename(self, old: str, new: str) -> None:
        """The group ``old`` is now ``new``: its history follows it."""
        if self._journal is None or old == new or old not in self.ids:
            return
        self.ids[new] = self.ids.pop(old)
        self._save_map_now()

    def forget(self, name: str) -> None:
        """The group was removed: its history is no longer reachable (a new group of that
        name starts its own)."""
        if self._journal is None or self.ids.pop(name, None) is None:
            return
        self._save_map_now()

    def _save_map_now(self) -> None:
        try:
            self._save_map()
        except OSError as err:
            self._map_dirty = True  # tried again at the next flush
            self._fail(err, "history not written")

    def close(self) -> None:
        for segments in self.sets.values():
            segments.close()
        self._journal = None

    # ---- reading -----------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return {
            "history_bytes": sum(s.bytes for s in self.sets.values()),
            "history_cap": self.cap,
            "history_dropped": sum(d.entries for d in self.dropped.values()),
            "history_error": self.error,
        }

    def read(
        self,
        name: str,
        created: float = 0.0,
        kept: Container[Key] = (),
        newest: int | None = None,
    ) -> GroupHistory:
        """The ended members of group ``name`` on disk (see :class:`GroupHistory`), but those
        of this boot whose key is in ``kept`` (listed from memory). ``created``: when the group
        was created (epoch s): a cut before then is not this group's. ``newest``: only the
        ``newest`` that ended last (segments read newest first, the rest only counted)."""
        self.flush()
        hid = self.ids.get(name)
        out = GroupHistory(cut=cut_line(name, created, self.dropped, self.cap), error=self.error)
        if hid is None or not self.sets:
            return out
        if newest is not None:
            kinds = [[s.path(seg.number) for seg in s.segments] for s in self.sets.values()]
            out.entries, out.damaged, out.older = read_newest(kinds, hid, self.boot, kept, newest)
        else:
            files = [s.path(seg.number) for s in self.sets.values() for seg in s.segments]
            out.entries, out.damaged = read_lines(files, hid, self.boot, kept)
        if out.damaged:
            log.warning(
                "history of %r: skipped %d damaged line(s) (cut by a kill, or not tractui's)",
                name,
                out.damaged,
            )
        return out


def cut_line(name: str, created: float, dropped: dict[str, Dropped], cap: int) -> str:
    """One line saying what the cap dropped that group ``name`` (created at ``created``, epoch
    s) may have lost, or "": a cut before the group was created is not its."""
    parts = []
    for kind in KINDS:
        d = dropped[kind]
        if d.entries and d.until >= created:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d.until))
            parts.append(f"{kind} exits that ended until {when}")
    if not parts:
        return ""
    return (
        f"the history of {name!r} was cut: {' and '.join(parts)} were dropped, oldest first, "
        f"to stay under the history cap of {format_size(cap)} (tractui daemon --history-cap)"
    )


def read_newest(
    kinds: Iterable[list[Path]], hid: str, boot: str, kept: Container[Key], newest: int
) -> tuple[list[dict[str, Any]], int, int]:
    """The ``newest`` entries of group id ``hid`` written last (that is, that ended last, but
    one changed since is written again), as :func:`read_lines` gives them, from ``kinds`` (each
    kind's files, oldest first): each kind is read newest segment and line first until it gave
    ``newest`` processes, the rest of its lines only counted. Also the damaged lines skipped of
    those parsed, and the group's lines not returned (counted by lines: a process written twice
    counts twice, unless both lines were parsed)."""
    prefix = b'{"g":"%s"' % hid.encode()
    best: dict[tuple[str, int, int], tuple[int, dict[str, Any]]] = {}
    damaged = older = 0
    for files in kinds:
        taken: set[tuple[str, int, int]] = set()
        for path in reversed(files):
            try:
                with os.fdopen(paths.open_private(path, os.O_RDONLY), "rb") as f:
                    raw = f.read()
            except FileNotFoundError:
                continue
            if len(taken) >= newest:
                older += raw.count(b"\n" + prefix) + raw.startswith(prefix)
                continue
            lines = raw.split(b"\n")
            for i in range(len(lines) - 1, -1, -1):
                line = lines[i]
                if len(taken) >= newest:
                    older += sum(1 for rest in lines[: i + 1] if rest.startswith(prefix))
                    break
                if not line.startswith(prefix):
                    damaged += bool(line) and not line.startswith(b'{"g":"')
                    continue
                parsed = _parse(line)
                if parsed is None:
                    damaged += 1
                    continue
                key, at, entry = parsed
                if (key[0] == boot and key[1:] in kept) or key in taken:
                    continue  # listed from memory, or a later line of it was taken
                taken.add(key)
                old = best.get(key)
                if old is None or old[0] <= at:
                    best[key] = (at, entry)
    # the kinds merged: those written last (a line is written when its process ended, again if
    # it changed later), at the same time those that ended last
    found = sorted(
        best.values(), key=lambda f: (f[0], f[1]["proc"]["ended"] + f[1]["off"]), reverse=True
    )
    older += max(0, len(found) - newest)
    entries = [e for _, e in found[:newest]]
    entries.sort(key=lambda e: (e["proc"]["start"] + e["off"], e["proc"]["pid"]))
    return entries, damaged, older


def _parse(line: bytes) -> tuple[tuple[str, int, int], int, dict[str, Any]] | None:
    """A history line: its key, when it was written, the entry; None for a damaged one."""
    try:
        entry = json.loads(line)
        proc = entry["proc"]
        key = (str(entry["boot"]), int(proc["pid"]), int(proc["start"]))
        at = int(entry["at"])
        int(entry["off"]) + int(proc["ended"])
    except (ValueError, KeyError, TypeError):
        return None
    return key, at, entry


def read_lines(
    files: Iterable[Path], hid: str, boot: str, kept: Container[Key] = ()
) -> tuple[list[dict[str, Any]], int]:
    """The lines of group id ``hid`` in ``files`` (one per process: the last written), oldest
    start first, without those of boot ``boot`` whose (pid, start) is in ``kept``; and how many
    damaged lines were skipped. A file that is gone (dropped meanwhile) is skipped."""
    prefix = b'{"g":"%s"' % hid.encode()
    best: dict[tuple[str, int, int], tuple[int, dict[str, Any]]] = {}
    damaged = 0
    for path in files:
        try:
            with os.fdopen(paths.open_private(path, os.O_RDONLY), "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            continue
        for line in raw.split(b"\n"):
            if not line.startswith(prefix):
                if line and not line.startswith(b'{"g":"'):
                    damaged += 1
                continue
            parsed = _parse(line)
            if parsed is None:
                damaged += 1
                continue
            key, at, entry = parsed
            if key[0] == boot and key[1:] in kept:
                continue
            old = best.get(key)
            if old is None or old[0] <= at:
                best[key] = (at, entry)
    entries = [e for _, e in best.values()]
    entries.sort(key=lambda e: (e["proc"]["start"] + e["off"], e["proc"]["pid"]))
    return entries, damaged


def entry_wire(entry: dict[str, Any], group: str, boot: str, off_now: int) -> dict[str, Any]:
    """A history line as ``list`` replies a member (``members_wire``'s fields, and the
    process's own: exit, ended, comm, execs, account...), marked ``"history": true``.

    ``start`` and ``ended`` are ns on this boot's clock: a line of another boot is rebased
    through its wall time (before this boot: negative). ``start_wall`` and ``ended_wall`` are
    epoch seconds; ``boot`` is the boot id's start it was written in."""
    proc = dict(entry["proc"])
    shift = 0 if entry["boot"] == boot else entry["off"] - off_now
    parent = proc.get("parent")
    status = proc.get("exit")
    exit_ = ExitStatus.from_json(status) if status is not None else None
    argv = proc.get("argv") or []
    comm = proc.get("comm") or ""
    execs = proc.get("execs") or []
    proc.update(
        {
            "group": group,
            "start": proc["start"] + shift,
            "ended": proc["ended"] + shift,
            # null: not known (one per exec, as list gives them)
            "exec_times": [
                t + shift if t is not None else None
                for t in aligned_exec_times(proc.get("exec_times") or [], len(execs))
            ],
            "parent": parent[0] if isinstance(parent, list) else None,
            "parent_start": parent[1] + shift if isinstance(parent, list) else None,
            "depth": 0,
            "command": command_text(argv, comm, execs),
            "alive": False,
            "status": exit_.describe() if exit_ is not None else "gone",
            "by_you": _by_you(proc.get("signalled"), exit_, proc["ended"], proc["start"]),
            "reparented": False,
            "history": True,
            "boot": entry["boot"],
            "start_wall": (entry["proc"]["start"] + entry["off"]) / 1e9,
            "ended_wall": (entry["proc"]["ended"] + entry["off"]) / 1e9,
        }
    )
    return proc


def _by_you(signalled: object, status: ExitStatus | None, ended: int, start: int) -> bool:
    """A kept member's end was caused by a signal sent from tractui (see Proc.by_you)."""
    if not (isinstance(signalled, list) and len(signalled) == 2):
        return False
    proc = Proc(1, start, "", None, 0, ended=ended, exit=status)
    proc.signalled, proc.signalled_at = int(signalled[0]), int(signalled[1])
    return proc.by_you()


def wire_lines(
    entries: Iterable[dict[str, Any]], group: str, boot: str, off_now: int
) -> tuple[list[dict[str, Any]], int]:
    """The entries as :func:`entry_wire` gives them, and how many were damaged: a line whose
    fields :func:`read_lines` did not check is wrong (``"exit": "bogus"``) is skipped, with a
    warning, never failing the whole read."""
    out = []
    damaged = 0
    for entry in entries:
        try:
            out.append(entry_wire(entry, group, boot, off_now))
        except (ValueError, TypeError, LookupError, AttributeError):
            damaged += 1
    if damaged:
        log.warning("history of %r: skipped %d damaged line(s) (not tractui's)", group, damaged)
    return out, damaged


def group_history(directory: Path, name: str) -> list[dict[str, Any]]:
    """The history of group ``name`` in the state ``directory``, as ``list --all`` gives it
    (:func:`entry_wire`): for a UI or a session to show, without a daemon's help. Read only
    (no lock); [] if there is none. UnsafePath for a file that is not ours."""
    try:
        with os.fdopen(paths.open_private(directory / MAP_NAME, os.O_RDONLY), "rb") as f:
            hid = json.loads(f.read())["groups"][name]
    except (FileNotFoundError, KeyError, ValueError, TypeError):
        return []
    files = []
    for entry in sorted(os.listdir(directory)):
        match = SEGMENT_NAME.fullmatch(entry)
        if match is not None:
            files.append((match[2], directory / entry))
    files.sort()  # by number: each kind's oldest first (the order between kinds is the start's)
    boot = boot_tag()
    off = time.time_ns() - time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    entries, _ = read_lines([p for _, p in files], str(hid), boot)
    return wire_lines(entries, name, boot, off)[0]
