"""The model's JSON form: processes, groups and their events as plain objects.

The daemon's protocol sends them to its clients, and the state file keeps members in the same form,
so a process is written out in one way only.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from tractui.events import ExitStatus, ProcInfo
from tractui.model.account import Account
from tractui.model.adopt import Planned
from tractui.model.changes import Key, MemberEvent
from tractui.model.reaped import Fix
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
    wire = _proc_wire(proc)
    if proc.signalled:  # only then, as proc_json writes it
        wire["signalled"] = [proc.signalled, proc.signalled_at]
    if proc.fix is not None:  # likewise
        wire["cpu_fix"] = proc.fix.to_wire()
    return wire


def _proc_wire(proc: Proc) -> JsonObject:
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


def _signalled(value: object) -> tuple[int, int]:
    """A member's last signal from tractui and when, as the wire gives them ([sig, ns] or
    null; a daemon of an older tractui sends none)."""
    if value is None:
        return (0, 0)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(type(v) is int and v >= 0 for v in value)
    ):
        raise ValueError(f"bad signalled {value!r:.80}: expected [signal, ns since boot]")
    return (value[0], value[1])


def proc_from_wire(m: JsonObject) -> Proc:
    parent = m["parent"]
    exit_ = m["exit"]
    account = m.get("account")  # a daemon of an older tractui has none
    execs = [tuple(a) for a in m["execs"]]
    signalled, signalled_at = _signalled(m.get("signalled"))
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
        signalled=signalled,
        signalled_at=signalled_at,
        fix=Fix.from_wire(fix) if (fix := m.get("cpu_fix")) is not None else None,
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
        "signaled": group.signaled,
        "ended": group.ended.to_json(),
        "created": group.created,
        "launched": launched,
        "log": log,
        "ended_by_you": group.ended_by_you,
        "roots_failed": group.roots_failed,
        "last_launch": key_to_wire(group.last_launch),
        "last_outcome": group.last_outcome,
        "last_failed": group.last_failed,
        "unrecorded": unrecorded_to_wire(group),
    }


def unrecorded_to_wire(group: Group) -> JsonObject:
    """A group's CPU that no exit record holds, recovered from its reapers (seconds)."""
    return {
        "cpu_user_s": group.unrecorded_user_us / 1e6,
        "cpu_system_s": group.unrecorded_system_us / 1e6,
    }


def unrecorded_from_wire(group: Group, value: object) -> None:
    """:func:`unrecorded_to_wire` read back into ``group`` (absent, from an older tractui: 0);
    ValueError saying what for anything else."""
    if value is None:
        group.unrecorded_user_us = group.unrecorded_system_us = 0
        return
    if not isinstance(value, dict):
        raise ValueError(f"bad unrecorded {value!r:.80}: expected an object")
    out = []
    for name in ("cpu_user_s", "cpu_system_s"):
        v = value.get(name, 0)
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < 1e12:
            raise ValueError(f"bad unrecorded field {name!r}: {v!r:.40}: expected seconds >= 0")
        out.append(round(v * 1e6))
    group.unrecorded_user_us, group.unrecorded_system_us = out


def iso_time(epoch: float) -> str:
    """Epoch seconds as OpenTelemetry writes a time: ISO 8601 in UTC, to the microsecond."""
    when = datetime.fromtimestamp(epoch, timezone.utc)
    return when.isoformat(timespec="microseconds").replace("+00:00", "Z")


def event_to_wire(ev: MemberEvent, wall: float, boot_wall: float) -> JsonObject:
    """A member's event as the daemon's ``subscribe`` stream and ``tractui events --group
    --json`` give it: OpenTelemetry's process attribute names where one exists (README, "The
    event stream"), ``tractui.*`` for the rest. ``wall``: the event's time, epoch seconds;
    ``boot_wall``: the wall clock at boot, one value for every event, so that a process's
    creation time is the same string in each of its events."""
    out: JsonObject = {
        "time": round(wall, 6),
        "tractui.event": ev.kind,
        "tractui.group": ev.group,
        "process.pid": ev.key[0],
        "process.creation.time": iso_time(boot_wall + ev.key[1] / 1e9),
    }
    if ev.ppid:
        out["process.parent_pid"] = ev.ppid
    if ev.kind in ("exec", "root", "adopt"):
        out["process.command_args"] = list(ev.argv)
        out["process.executable.name"] = ev.comm
        out["process.executable.path"] = ev.exe
    elif ev.kind == "exit":
        out["process.exit.time"] = iso_time(wall)
        out["process.exit.code"] = ev.code
        out["tractui.exit.signal"] = ev.signal
    out["tractui.detail"] = ev.detail  # what tractui shows of it: the command line, the status
    out["tractui.start"] = ev.key[1]  # with process.pid, the key: ns since boot
    out["tractui.ts"] = ev.ts  # the kernel's time of the event, ns since boot
    return out


def event_from_wire(m: JsonObject) -> MemberEvent:
    """The inverse of :func:`event_to_wire` (also the older form, before the OpenTelemetry names:
    ``kind``, ``pid``... ); KeyError or TypeError if a field is missing."""
    if "tractui.event" not in m:
        return MemberEvent(m["ts"], m["kind"], (m["pid"], m["start"]), m["group"], m["detail"])
    argv = m.get("process.command_args") or ()
    return MemberEvent(
        int(m["tractui.ts"]),
        str(m["tractui.event"]),
        (int(m["process.pid"]), int(m["tractui.start"])),
        str(m["tractui.group"]),
        str(m["tractui.detail"]),
        int(m.get("process.parent_pid") or 0),
        tuple(str(a) for a in argv),
        str(m.get("process.executable.name") or ""),
        str(m.get("process.executable.path") or ""),
        m.get("process.exit.code"),
        m.get("tractui.exit.signal"),
    )


# one encoder for the JSON text of processes (json.dumps with options builds one per call)
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

_PROC_JSON = (
    '{"pid":%d,"start":%d,"group":%s,"parent":%s,"ppid":%d,"comm":%s,"argv":%s,'
    '"exe":%s,"uid":%d,"threads":%d,"peak_threads":%d,"execs":%s,"exec_times":%s,"ended":%s,'
    '"exit":%s,"lost_exit":%s,"zombie":%s,"account":%s}'
)
# the same without "group" and "zombie": an ended member as the history keeps it (its line
# names the group; an entry of the history is never a zombie)
_ENDED_JSON = _PROC_JSON.replace('"group":%s,', "").replace('"zombie":%s,', "")


def proc_json(proc: Proc, texts: dict[object, str] | None = None, *, ended: bool = False) -> str:
    """``proc_to_wire(proc)`` as compact JSON text, made twice as fast as by encoding that
    dict: for the state file, which writes every member of a storm. The strings, the argv and
    the exit status that the children of one forker share are encoded once per ``texts``
    (give one dict to a batch); the rest are integers. ``ended``: without "group" and
    "zombie", as the history keeps an ended member."""
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
    parent = "null" if proc.parent is None else f"[{proc.parent[0]},{proc.parent[1]}]"
    head: tuple[object, ...] = (
        (proc.pid, proc.start, parent)
        if ended
        else (proc.pid, proc.start, text(proc.group), parent)
    )
    zombie: tuple[object, ...] = () if ended else ("true" if proc.zombie else "false",)
    text_ = (_ENDED_JSON if ended else _PROC_JSON) % (
        *head,
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
        *zombie,
        "null" if proc.account is None else proc.account.json_text(),
    )
    if proc.signalled:  # rare: written only then, so that a storm's members cost no more
        text_ = f'{text_[:-1]},"signalled":[{proc.signalled},{proc.signalled_at}]}}'
    if proc.fix is not None:  # a reaper's, or an attached one's: likewise
        text_ = f'{text_[:-1]},"cpu_fix":[{",".join(map(str, proc.fix.to_wire()))}]}}'
    return text_


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
