"""The daemon's protocol: JSON lines over a UNIX socket, and a client's mirror of the model.

On connect the daemon sends ``{"t": "hello", "protocol": 1, ...}``. A client sends requests,
one JSON object per line, ``{"id": 7, "op": "list", "group": "web"}``; each gets one reply,
``{"t": "reply", "id": 7, "ok": true, "result": ...}`` or ``{..., "ok": false, "error": "..."}``.
After ``subscribe`` the daemon also sends ``{"t": "snapshot", ...}`` once, then
``{"t": "delta", ...}`` as the groups change. A request line is at most :data:`MAX_MESSAGE`
bytes, nested at most :data:`MAX_DEPTH` deep; a longer or deeper one, malformed JSON, an
unknown request or a field of the wrong type (:class:`Request`) gets an error reply and the
connection goes on. Any request's reply can be encoded (:func:`encode`).

The wire form of processes and groups (``tractui.model.wire``, which the state file shares) lets a
client keep a mirror of the daemon's tracker (:class:`Mirror`), so the TUI draws a daemon's groups
with the same code as its own.
No Textual here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tractui.errors import UserError
from tractui.model.account import Account
from tractui.model.changes import Delta
from tractui.model.store import NO_GROUP_NAME, Group, Proc, Store

# the protocol speaks JSON objects: importers take the type from here
from tractui.model.wire import JsonObject as JsonObject
from tractui.model.wire import (
    key_from_wire,
    key_to_wire,
    proc_from_wire,
    proc_to_wire,
    unrecorded_from_wire,
)

PROTOCOL = 1
MAX_MESSAGE = 1 << 20  # a request line, newline excluded
MAX_REPLY = 256 << 20  # what a client accepts from the daemon (a snapshot can be large)
MAX_DEPTH = 32  # how deep arrays and objects may nest in a line (requests need 3)


class ProtocolError(Exception):
    """A line that is not a request: too long, not JSON, not an object."""


def encode(message: JsonObject) -> bytes:
    """One line of JSON. Text that UTF-8 cannot carry (a lone surrogate, which a JSON escape in
    a request can make) is sent as JSON escapes: no string makes a message unencodable."""
    try:
        return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
    except UnicodeEncodeError:
        return json.dumps(message, separators=(",", ":")).encode() + b"\n"


@dataclass(slots=True)
class LineReader:
    """Splits a byte stream into JSON objects, one per line, each at most ``limit`` bytes.

    A line over the limit is reported once as a :class:`ProtocolError` and skipped up to its
    newline, without being held in memory.
    """

    limit: int = MAX_MESSAGE
    depth: int | None = MAX_DEPTH  # None: no scan (json's recursion limit still holds)
    _buffer: bytearray | None = None
    _skipping: bool = False

    def feed(self, data: bytes) -> Iterator[JsonObject | ProtocolError]:
        if self._buffer is None:
            self._buffer = bytearray()
        buffer = self._buffer
        buffer += data
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = bytes(buffer[start:end])
            start = end + 1
            if self._skipping:
                self._skipping = False
                continue
            if len(line) > self.limit:
                yield ProtocolError(_too_long(self.limit))
                continue
            if line.strip():
                yield _parse(line, self.depth)
        del buffer[:start]
        if len(buffer) > self.limit:
            buffer.clear()
            if not self._skipping:
                self._skipping = True
                yield ProtocolError(_too_long(self.limit))


def _too_long(limit: int) -> str:
    return f"message longer than {limit // 1024} KiB: send smaller requests"


def _parse(line: bytes, depth: int | None = MAX_DEPTH) -> JsonObject | ProtocolError:
    # json recurses once per level: bound the depth before it starts (RecursionError otherwise)
    if depth is not None and line.count(b"[") + line.count(b"{") > depth and too_deep(line, depth):
        return ProtocolError(
            f"arrays and objects nested deeper than {depth} levels: send a flat request"
        )
    try:
        message = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        return ProtocolError(f"malformed JSON ({err}): send one JSON object per line")
    if not isinstance(message, dict):
        return ProtocolError("a request is a JSON object with an 'op' field")
    return message


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_PARENS = bytes.maketrans(b"[{]}", b"(())")


def too_deep(line: bytes, limit: int) -> bool:
    """Whether a JSON text's arrays and objects nest deeper than ``limit`` (brackets in strings
    are text). All in C and linear (a regex for strings was quadratic on a run of escaped
    quotes): a 1 MiB line takes a few ms, 0.1 s at worst (32 levels, all 32 passes). Each pass
    drops the innermost pairs; whatever is left
    after ``limit`` passes is unbalanced, and json reads it (and fails) safely if it holds at
    most ``limit`` opening brackets."""
    # escapes first, as JSON reads them (a backslash outside a string ends json's reading there)
    unescaped = line.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(unescaped.split(b'"')[::2])  # every other piece is inside a string
    brackets = outside.translate(_PARENS, _NOT_BRACKETS)
    run = b"(" * (limit + 1)  # so many opening brackets in a row: too deep, found at once
    for _ in range(limit):
        if run in brackets:
            return True
        inner = brackets.replace(b"()", b"")
        if len(inner) == len(brackets):
            break
        brackets = inner
    return b"()" in brackets or brackets.count(b"(") > limit


# ---- a request's fields ----------------------------------------------------------------------

PID_MAX = 1 << 22  # the kernel's PID_MAX_LIMIT: no PID is larger
ID_MAX = 0xFFFF_FFFE  # a uid or gid (-1 as unsigned means "unchanged" to the kernel)


class BadRequest(UserError):
    """A request field of the wrong type or out of range: the message names it and what it
    should be."""


class Request:
    """A request's fields, each read with its type checked. JSON's booleans are only booleans,
    its numbers integers only where an integer is meant (``true`` and ``1.0`` are not 1), its
    strings free of NUL and of lone surrogates where they reach the OS. An absent field, or null,
    is the default."""

    __slots__ = ("fields", "prefix")

    def __init__(self, fields: JsonObject, prefix: str = "") -> None:
        self.fields = fields
        self.prefix = prefix

    def bad(
        self, name: str, expected: str, fits: Callable[[Any], bool] | None = None
    ) -> BadRequest:
        """The error for a field that is not ``expected`` (for a list: items that ``fit``)."""
        value = self.fields.get(name)
        return BadRequest(f"'{self.prefix}{name}' must be {expected}, not {_kind(value, fits)}")

    def flag(self, name: str, default: bool = False) -> bool:
        value = self.fields.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.bad(name, "true or false")
        return value

    def integer(self, name: str, low: int, high: int, what: str = "") -> int | None:
        value = self.fields.get(name)
        if value is None:
            return None
        if not _integer(value, low, high):
            raise self.bad(name, what or f"an integer from {low} to {high}")
        return int(value)

    def integers(
        self, name: str, low: int, high: int, what: str, empty: bool = False
    ) -> list[int] | None:
        """A list of integers (not empty unless ``empty``)."""
        value = self.fields.get(name)
        if value is None:
            return None

        def fits(v: Any) -> bool:
            return _integer(v, low, high)

        if not isinstance(value, list) or not (value or empty) or not all(map(fits, value)):
            raise self.bad(name, f"a list of {what} (integers from {low} to {high})", fits)
        return list(value)

    def text(self, name: str) -> str | None:
        """A string for the OS (a path, an argument): no NUL, no lone surrogate."""
        value = self.fields.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.bad(name, "a string")
        _check_text(value, f"{self.prefix}{name}")
        return value

    def texts(self, name: str) -> list[str] | None:
        """A non-empty list of strings for the OS (a command line)."""
        value = self.fields.get(name)
        if value is None:
            return None

        def fits(v: Any) -> bool:
            return isinstance(v, str)

        if not isinstance(value, list) or not value or not all(map(fits, value)):
            raise self.bad(name, "a list of strings", fits)
        for i, item in enumerate(value):
            _check_text(item, f"{self.prefix}{name}[{i}]")
        return list(value)

    def text_map(self, name: str) -> dict[str, str] | None:
        """An object of strings for the OS (environment variables)."""
        value = self.fields.get(name)
        if value is None:
            return None

        def fits(v: Any) -> bool:
            return isinstance(v, str)

        if not isinstance(value, dict) or not all(map(fits, value.values())):
            raise self.bad(name, "an object of strings", fits)
        for key, item in value.items():
            _check_text(key, f"{self.prefix}{name}")
            if not key or "=" in key:
                raise BadRequest(f"'{self.prefix}{name}' has a bad variable name {key!r}")
            _check_text(item, f"{self.prefix}{name}[{key!r}]")
        return dict(value)

    def record(self, name: str) -> Request | None:
        """An object, whose fields are read as a request's."""
        value = self.fields.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.bad(name, "an object")
        return Request(value, f"{self.prefix}{name}.")

    def group(self, name: str = "group") -> str:
        """A group's name ("group", "old", "new"); required."""
        value = self.fields.get(name)
        if value is not None and not isinstance(value, str):
            raise self.bad(name, "a string: the group's name")
        if not value or not value.strip():
            raise BadRequest(NO_GROUP_NAME)
        return value

    def signal(self, name: str = "signal") -> str | int | None:
        """A signal's name or number."""
        value = self.fields.get(name)
        if value is None or isinstance(value, str) or _integer(value, 0, 1 << 31):
            return value  # type: ignore[no-any-return]
        raise self.bad(name, "a signal's name or number")


def _integer(value: object, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def is_utf8(value: str) -> bool:
    """Whether UTF-8 can carry ``value``: no lone surrogate (which a JSON escape can make, and
    ``surrogateescape`` makes of bytes that were not UTF-8)."""
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _check_text(value: str, where: str) -> None:
    if "\0" in value:
        raise BadRequest(f"'{where}' contains a NUL character, which no program can be given")
    if not is_utf8(value):
        raise BadRequest(
            f"'{where}' contains a lone surrogate (\\ud800-\\udfff), which is not text: send "
            "UTF-8 text"
        )


def _kind(value: object, fits: Callable[[Any], bool] | None = None) -> str:
    """What a JSON value is, said without quoting it (it may be long, or not printable); of a
    list or an object, its first item that does not ``fit``, if any."""
    if isinstance(value, list) and fits is not None:
        if not value:
            return "an empty list"
        for item in value:
            if not fits(item):
                return f"a list holding {_kind(item)}"
    if isinstance(value, dict) and fits is not None:
        for item in value.values():
            if not fits(item):
                return f"an object holding {_kind(item)}"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**30 else "a huge integer"
    if isinstance(value, float):
        return repr(value)  # 1.0, nan, inf: digits only
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def procs_in_tree_order(tracker: Store, groups: Iterable[Group]) -> Iterator[Proc]:
    """Every process of ``groups``, each parent before its children, siblings in order."""
    for group in groups:
        yield from tracker.tree_order(group)


def delta_message(
    tracker: Store,
    delta: Delta,
    events: list[JsonObject],
    group_wire: Callable[[Group], JsonObject],
    stats: JsonObject,
    only: str | None = None,
) -> JsonObject | None:
    """What a subscriber (to every group, or ``only`` one) is sent for ``delta``; None: nothing.

    ``events`` are the delta's log entries already in wire form (:func:`event_to_wire`)."""
    keys = dict.fromkeys((*delta.added, *delta.changed, *delta.exited))
    procs = [p for k in keys if (p := tracker.procs.get(k)) is not None]
    names = sorted(delta.groups)
    if only is not None:
        procs = [p for p in procs if p.group == only]
        events = [e for e in events if e["tractui.group"] == only]
        names = [n for n in names if n == only]
        if not (procs or events or names or delta.removed):
            return None
    return {
        "t": "delta",
        "procs": [proc_to_wire(p) for p in procs],
        "removed": [key_to_wire(k) for k in delta.removed],
        "groups": [group_wire(tracker.groups[n]) for n in names if n in tracker.groups],
        "gone_groups": [n for n in names if n not in tracker.groups],
        "log": events,
        "stats": stats,
    }


def snapshot_message(
    tracker: Store,
    groups: list[Group],
    events: list[JsonObject],
    group_wire: Callable[[Group], JsonObject],
    stats: JsonObject,
) -> JsonObject:
    """What a new subscriber is sent first: the groups, their processes, their recent events."""
    return {
        "t": "snapshot",
        "groups": [group_wire(g) for g in groups],
        "procs": [proc_to_wire(p) for p in procs_in_tree_order(tracker, groups)],
        "log": events,
        "stats": stats,
    }


# ---- a client's mirror -----------------------------------------------------------------------


class Mirror:
    """Keeps a store equal to the daemon's tracker, from its snapshot and deltas.

    The store (a tracker that never sees kernel events) changes through its own
    primitives only, which note each change for its next delta and journals; its queries
    (members, subtree, walk) work unchanged.
    """

    def __init__(self, tracker: Store) -> None:
        self.tracker = tracker
        self.logs: dict[str, str] = {}
        self.launched: set[str] = set()  # the groups the daemon launched programs into

    def load(self, snapshot: JsonObject) -> None:
        t = self.tracker
        t.clear()  # says "everything changed" to its readers
        self.logs.clear()
        self.launched.clear()
        for g in snapshot["groups"]:
            self._group(g)
        self._procs(snapshot["procs"])
        for g in snapshot["groups"]:
            self._group(g)  # roots again, now that the processes are known

    def apply(self, delta: JsonObject) -> None:
        """Apply a delta; the tracker's next delta (and its journals) tell what it changed."""
        t = self.tracker
        moving = {(m["pid"], m["start"]) for m in delta.get("procs", ())}
        for name in delta.get("gone_groups", ()):
            group = t.drop_group(name)
            self.logs.pop(name, None)
            self.launched.discard(name)
            if group is not None:
                for key in list(group.members):
                    if key not in moving:  # else renamed: it comes back in another group
                        t.remove(key)
        for key in delta.get("removed", ()):
            t.remove(key_from_wire(key))
        for g in delta.get("groups", ()):
            self._group(g)
        self._procs(delta.get("procs", ()))
        for g in delta.get("groups", ()):
            self._group(g)

    def _group(self, g: JsonObject) -> None:
        t = self.tracker
        group = t.groups.get(g["name"])
        if group is None:
            group = t.add_group(Group(g["name"], created=g["created"]))
        group.roots = [k for k in map(key_from_wire, g["roots"]) if k in t.procs]
        group.live = g["live"]
        group.forks = g["forks"]
        group.execs = g["execs"]
        group.exits = g["exits"]
        group.failed = g["failed"]
        # a daemon of an older tractui sends none of these
        group.ended_by_you = int(g.get("ended_by_you", 0))
        group.roots_failed = int(g.get("roots_failed", 0))
        last = g.get("last_launch")
        group.last_launch = key_from_wire(last) if last is not None else None
        group.last_outcome = str(g.get("last_outcome", ""))
        group.last_failed = bool(g.get("last_failed", False))
        signaled = g.get("signaled", 0)  # a daemon of an older tractui sends none
        group.signaled = signaled if isinstance(signaled, int) else 0
        ended = g.get("ended")  # a daemon of an older tractui sends none
        group.ended = Account.from_json(ended) if ended is not None else Account()
        unrecorded_from_wire(group, g.get("unrecorded"))  # a daemon of an older tractui: none
        self.logs[group.name] = str(g.get("log", ""))
        if g.get("launched"):
            self.launched.add(group.name)
        else:
            self.launched.discard(group.name)

    def _procs(self, wire: Iterable[JsonObject]) -> None:
        t = self.tracker
        for m in wire:
            new = proc_from_wire(m)
            old = t.procs.get(new.key)
            if old is None:
                if new.group not in t.groups:
                    t.add_group(Group(new.group))
                parent = t.procs.get(new.parent) if new.parent is not None else None
                t.insert(new, parent)
                continue
            was_alive = old.alive
            if old.group != new.group:
                t.regroup(old, new.group)
            for name in _COPIED:
                setattr(old, name, getattr(new, name))
            if was_alive and not old.alive:
                t.end(old)
            elif not was_alive and old.alive:
                t.revive(old)
            else:
                t.changes.note_changed(old.key)


# what a member's update from the daemon sets; its key, group and children are the store's
_COPIED = tuple(
    name
    for name in Proc.__slots__  # type: ignore[attr-defined]
    if name not in ("key", "group", "children")
)
