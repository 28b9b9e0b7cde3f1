"""The model's JSON form: processes, groups and their events as plain objects.

The daemon's protocol sends them to its clients, and the state file keeps members in the same form,
so a process is written out in one way only.
"""

from __future__ import annotations

import json
from typing import Any

from tractui.events import ExitStatus, ProcInfo
from tractui.model.account import Account
from tractui.model.adopt import Planned
from tractui.model.changes import Key, MemberEvent
from tractui.model.store import UNKNOWN_EXEC_TIME, Group, Proc

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
        "exec_times": list(proc.exec_times),
        "ended": proc.ended,
        "exit": proc.exit.to_json() if proc.exit is not None else None,
        "lost_exit": proc.lost_exit,
        "zombie": proc.zombie,
        "account": proc.account.to_json() if proc.account is not None else None,
    }


def proc_from_wire(m: JsonObject) -> Proc:
    parent = m["parent"]
    exit_ = m["exit"]
    account = m.get("account")  # a daemon of an older tractui has none
    execs = [tuple(a) for a in m["execs"]]
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
        execs=execs,
        exec_times=_exec_times(m.get("exec_times"), len(execs)),
        ended=m["ended"],
        exit=ExitStatus.from_json(exit_) if exit_ is not None else None,
        lost_exit=m["lost_exit"],
        zombie=bool(m.get("zombie", False)),  # a daemon of an older tractui has no such field
        account=Account.from_json(account) if account is not None else None,
    )


def _exec_times(times: object, n: int) -> list[int]:
    """A member's exec times as the wire gives them, checked as the state file does: one
    integer >= 0 (UNKNOWN_EXEC_TIME: not known) per exec; a daemon of an older tractui sends
    none, so each is unknown."""
    if times is None:
        return [UNKNOWN_EXEC_TIME] * n
    if (
        not isinstance(times, list)
        or len(times) != n
        or not all(type(t) is int and t >= 0 for t in times)
    ):
        raise ValueError(f"bad exec_times {times!r:.80}: expected one integer >= 0 per exec")
    return times


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
        "ended": group.ended.to_json(),
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


# one encoder for the JSON text of processes (json.dumps with options builds one per call)
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_PROC_JSON = (
    '{"pid":%d,"start":%d,"group":%s,"parent":%s,"ppid":%d,"comm":%s,"argv":%s,'
    '"exe":%s,"uid":%d,"threads":%d,"peak_threads":%d,"execs":%s,"exec_times":%s,"ended":%s,'
    '"exit":%s,"lost_exit":%s,"zombie":%s,"account":%s}'
)


def proc_json(proc: Proc, texts: dict[object, str] | None = None) -> str:
    """``proc_to_wire(proc)`` as compact JSON text, made twice as fast as by encoding that
    dict: for the state file, which writes every member of a storm. The strings, the argv and
    the exit status that the children of one forker share are encoded once per ``texts``
    (give one dict to a batch); the rest are integers."""
    if texts is None:
        texts = {}

    def text(value: object) -> str:
        out = texts.get(value)
        if out is None:
            out = texts[value] = _ENCODE(list(value) if isinstance(value, tuple) else value)
        return out

    status = proc.exit
    if status is None:
        exit_ = "null"
    else:
        exit_ = texts.get(status) or texts.setdefault(status, _ENCODE(status.to_json()))
    return _PROC_JSON % (
        proc.pid,
        proc.start,
        text(proc.group),
        "null" if proc.parent is None else f"[{proc.parent[0]},{proc.parent[1]}]",
        proc.ppid,
        text(proc.comm),
        text(proc.argv),
        text(proc.exe),
        proc.uid,
        proc.threads,
        proc.peak_threads,
        _ENCODE([list(a) for a in proc.execs]) if proc.execs else "[]",
        f"[{','.join(map(str, proc.exec_times))}]",
        "null" if proc.ended is None else str(proc.ended),
        exit_,
        "true" if proc.lost_exit else "false",
        "true" if proc.zombie else "false",
        "null" if proc.account is None else _ENCODE(proc.account.to_json()),
    )


def planned_to_wire(item: Planned, user: str) -> JsonObject:
    """A process an attach adds (or would add: a dry run), with its user's name."""
    info = item.info
    return {
        "pid": info.pid,
        "start": info.start,
        "ppid": info.ppid,
        "parent": item.parent,
        "uid": info.uid,
        "user": user,
        "comm": info.comm,
        "argv": list(info.argv),
    }


def planned_from_wire(value: JsonObject) -> Planned:
    """:func:`planned_to_wire` read back (KeyError, TypeError or ValueError if it is not)."""
    argv = value["argv"]
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        raise ValueError("'argv' of a planned process is not a list of strings")
    parent = value["parent"]
    info = ProcInfo(
        pid=int(value["pid"]),
        start=int(value["start"]),
        ppid=int(value["ppid"]),
        comm=str(value["comm"]),
        argv=tuple(argv),
        exe="",
        uid=int(value["uid"]),
        threads=1,
        state="S",
        kthread=False,
    )
    return Planned(info, None if parent is None else int(parent))
