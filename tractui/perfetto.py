"""Processes as Chrome Trace Event Format JSON, for ui.perfetto.dev and chrome://tracing.

:func:`write` takes the processes of a group as the ``trace`` report's JSON gives them (one dict
each, in tree order: pid, parent, start and end in epoch seconds, argv, execs, exec_times, comm,
exit, the accounting fields) and writes, event by event, one JSON object::

    {"displayTimeUnit":"ms","traceEvents":[...],"otherData":{...}}

Per process (``pid`` = ``tid`` = its PID, so one track each):

- metadata (``ph`` ``M``, written once per PID, at its start): ``process_name`` and
  ``thread_name`` (its name: comm, else argv[0]'s basename; both viewers show the PID beside
  it), ``process_sort_index`` (its place in tree order) and ``process_labels`` (its parent);
- one complete event (``ph`` ``X``) for its lifetime: ``ts`` its start, ``dur`` to its end, or
  to ``end`` (the report's end) while it is alive; ``args`` hold its PID, parent, argv, status
  and, when known, CPU user/system seconds, peak RSS, storage I/O and context switches;
- one thread-scoped instant event (``ph`` ``i``, ``s`` ``t``) per exec at its time
  (``exec_times``), inside the lifetime slice, with the exec's argv. An exec whose time is not
  known (``null``: recorded by a tractui that kept no exec times; or a report without
  ``exec_times``) is not placed: the slice's args list such execs, in order, as ``execs``.

``ts`` is microseconds since the Unix epoch (an integer; the report's ``start`` x 1e6): both
viewers show time from the trace's first event anyway, and an absolute clock lets a reader line
the file up with the JSON report or with another export. Events are written unsorted (the format
allows it: the viewers sort).

Checked against: the Trace Event Format document (JSON Object Format: ``traceEvents``,
``displayTimeUnit``, ``otherData``; ``X`` needs ``dur``; instant scope ``s`` g/p/t; the
metadata names and their ``args`` keys ``name``, ``sort_index``, ``labels``), and Perfetto's
JSON importer (trace_processor's json_trace_tokenizer: ``displayTimeUnit`` counts when in the
first chunk read, so it comes first; an unknown top-level key ends the reading (``otherData`` is
known); an event without ``ts`` is dropped unless it is metadata, which then sorts at ts 0, so
every event here has one. Its json_trace_parser: ``X`` without ``dur`` is dropped; ``i`` with
``s`` ``t`` becomes a zero-length slice on the thread's track, which must nest in the lifetime
slice, as overlapping slices on one track are not shown; of the metadata it reads
``process_name`` and ``thread_name`` only). Perfetto orders process tracks by its own rule
(google/perfetto issues 378 and 764: ``process_sort_index`` is not read), chrome://tracing by
``process_sort_index``: so the parent is in each slice's args too, where both show it.

A PID the kernel reused within the group is a second slice on the same track (their lifetimes
cannot overlap); the track keeps its first name.

No Textual here, and nothing but plain dicts in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from tractui.events import ExitStatus

# the accounting fields of the report copied into a slice's args when known (not null)
ACCOUNT_FIELDS = (
    "cpu_user_s",
    "cpu_system_s",
    "peak_rss_kib",
    "read_bytes",
    "write_bytes",
    "ctx_switches",
)

_encode = json.JSONEncoder(separators=(",", ":")).encode


def us(epoch_s: float) -> int:
    """Epoch seconds as the integer microseconds of an event's ``ts``."""
    return round(epoch_s * 1e6)


def name_of(proc: Mapping[str, Any]) -> str:
    """A process's short name: its comm, else its argv[0]'s basename, else ``?``."""
    comm = proc.get("comm")
    if comm:
        return str(comm)
    argv = proc.get("argv") or ()
    if argv and argv[0]:
        return os.path.basename(str(argv[0])) or str(argv[0])
    return "?"


def status_of(proc: Mapping[str, Any]) -> str:
    """``exit 0``, ``SIGKILL``...; ``alive``; or ``gone`` (ended, its status unknown)."""
    exit_ = proc.get("exit")
    if exit_ is not None:
        try:
            return ExitStatus.from_json(exit_).describe()
        except ValueError:
            return str(exit_)
    if proc.get("end") is None and proc.get("alive", True):
        return "alive"
    status = proc.get("status")  # the text a daemon's list gives (an older one has no exit)
    return str(status) if status else "gone"


def write(
    procs: Iterable[Mapping[str, Any]],
    out: TextIO,
    *,
    end: float,
    meta: Mapping[str, Any] | None = None,
) -> int:
    """Write ``procs`` (tree order) to ``out`` as one trace; ``end`` (epoch seconds) ends the
    slices of the processes still alive. ``meta`` goes into ``otherData``. The number of
    processes written. Nothing is held but the set of PIDs seen."""
    end_us = us(end)
    seen: set[int] = set()
    out.write('{"displayTimeUnit":"ms","traceEvents":[\n')
    first = True
    n = 0
    for proc in procs:
        events = _events(proc, n, end_us, seen)
        text = ",\n".join(events)
        out.write(text if first else ",\n" + text)
        first = False
        n += 1
    other = {"tool": "tractui", "processes": n, "ts": "microseconds since the Unix epoch"}
    if meta:
        other.update(meta)
    out.write('\n],"otherData":' + _encode(other) + "}\n")
    return n


def _events(proc: Mapping[str, Any], index: int, end_us: int, seen: set[int]) -> list[str]:
    pid = int(proc["pid"])
    name = name_of(proc)
    parent = proc.get("parent")
    events = []
    ts = us(proc["start"])
    if pid not in seen:
        seen.add(pid)
        label = f"parent {parent}" if parent is not None else "root"
        # by hand: four encodings per process saved (the strings are encoded once each). A
        # metadata event may omit ts, but Perfetto then takes it as 0: the Unix epoch here
        head = f'{{"ph":"M","pid":{pid},"tid":{pid},"ts":{ts},"name":'
        named = _encode(name)
        events += [
            f'{head}"process_name","args":{{"name":{named}}}}}',
            f'{head}"thread_name","args":{{"name":{named}}}}}',
            f'{head}"process_sort_index","args":{{"sort_index":{index}}}}}',
            f'{head}"process_labels","args":{{"labels":{_encode(label)}}}}}',
        ]
    ended = proc.get("end")
    alive = ended is None
    dur = max(0, (end_us if ended is None else us(ended)) - ts)
    args: dict[str, Any] = {"pid": pid, "parent": parent, "argv": list(proc.get("argv") or ())}
    args["status"] = status_of(proc)
    if alive:
        args["alive"] = bool(proc.get("alive", True))
        if not args["alive"]:
            args["end"] = "unknown: shown to the end of the trace"
    for key in ACCOUNT_FIELDS:
        value = proc.get(key)
        if value is not None:
            args[key] = value
    execs = proc.get("execs") or ()
    times = proc.get("exec_times") or ()
    # one time per exec (null: not known); a report without them (or with the wrong number)
    # places none
    if len(times) != len(execs):
        times = (None,) * len(execs)
    unplaced = [list(argv) for argv, when in zip(execs, times, strict=True) if when is None]
    if unplaced:  # the execs of unknown time, in order, in the slice's args
        args["execs"] = unplaced
    events.append(
        _encode(
            {
                "ph": "X",
                "name": name,
                "cat": "process",
                "pid": pid,
                "tid": pid,
                "ts": ts,
                "dur": dur,
                "args": args,
            }
        )
    )
    for argv_, when in zip(execs, times, strict=True):
        if when is None:
            continue
        argv = list(argv_)
        exec_name = os.path.basename(argv[0]) if argv and argv[0] else "?"
        # inside the lifetime slice, which Perfetto needs to nest it
        at = min(max(us(when), ts), ts + dur)
        events.append(
            _encode(
                {
                    "ph": "i",
                    "s": "t",
                    "name": f"exec {exec_name}",
                    "cat": "exec",
                    "pid": pid,
                    "tid": pid,
                    "ts": at,
                    "args": {"argv": argv},
                }
            )
        )
    return events
