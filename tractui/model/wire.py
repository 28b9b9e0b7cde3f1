"""The model's JSON form: processes, groups and their events as plain objects.

The daemon's protocol sends them to its clients, and the state file keeps members in the same form,
so a process is written out in one way only.
"""

from __future__ import annotations

from typing import Any

from tractui.events import ExitStatus
from tractui.model.changes import Key, MemberEvent
from tractui.model.store import Group, Proc

JsonObject = dict[str, Any]


def key_to_wire(key: Key | None) -> list[int] | None:
    return None if key is None else [key[0], key[1]]


def key_from_wire(value: Any) -> Key:
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"bad process key {value!r}: expected [pid, start]")
    return (value[0], value[1])


def proc_to_wire(proc: Proc) -> JsonObject:
    return {
        "pid": proc.pid,
        "start": proc.start,
        "group": proc.group,
        "parent": key_to_wire(proc.parent),
        "ppid": proc.ppid,
        "comm": proc.comm,
        "argv": list(proc.argv),
        "exe": proc.exe,
        "uid": proc.uid,
        "threads": proc.threads,
        "peak_threads": proc.peak_threads,
        "execs": [list(a) for a in proc.execs],
        "ended": proc.ended,
        "exit": proc.exit.to_json() if proc.exit is not None else None,
        "lost_exit": proc.lost_exit,
        "zombie": proc.zombie,
    }


def proc_from_wire(m: JsonObject) -> Proc:
    parent = m["parent"]
    exit_ = m["exit"]
    return Proc(
        pid=m["pid"],
        start=m["start"],
        group=m["group"],
        parent=key_from_wire(parent) if parent is not None else None,
        ppid=m["ppid"],
        comm=m["comm"],
        argv=tuple(m["argv"]),
        exe=m["exe"],
        uid=m["uid"],
        threads=m["threads"],
        peak_threads=m["peak_threads"],
        execs=[tuple(a) for a in m["execs"]],
        ended=m["ended"],
        exit=ExitStatus.from_json(exit_) if exit_ is not None else None,
        lost_exit=m["lost_exit"],
        zombie=bool(m.get("zombie", False)),  # a daemon of an older tractui has no such field
    )


def group_to_wire(group: Group, launched: bool = False, log: str = "") -> JsonObject:
    return {
        "name": group.name,
        "roots": [key_to_wire(k) for k in group.roots],
        "live": group.live,
        "total": len(group.members),
        "forks": group.forks,
        "execs": group.execs,
        "exits": group.exits,
        "failed": group.failed,
        "created": group.created,
        "launched": launched,
        "log": log,
    }


def event_to_wire(ev: MemberEvent, wall: float) -> JsonObject:
    return {
        "wall": round(wall, 6),
        "ts": ev.ts,
        "kind": ev.kind,
        "pid": ev.key[0],
        "start": ev.key[1],
        "group": ev.group,
        "detail": ev.detail,
    }


def event_from_wire(m: JsonObject) -> MemberEvent:
    return MemberEvent(m["ts"], m["kind"], (m["pid"], m["start"]), m["group"], m["detail"])
