"""``tractui export NAME --perfetto FILE``: a daemon's group as a Perfetto trace.

One ``list`` request (with ``all``) gives the group's members, live and ended (those the daemon
still keeps in memory and, from a daemon that keeps them on disk, its history first); each is
turned into the ``trace`` report's form of a process (:func:`member_as_report`) and written by
:mod:`tractui.perfetto` as it is converted. The members' times are on the boot clock (ns): the
daemon runs on this host, so this client's own boot clock gives their epoch.

Fields a daemon of another tractui may lack (``ended``, ``exit``, ``exec_times``, ``execs``,
``comm``, ``account``, ``start_wall``/``ended_wall``) are read with ``.get``: without them a
slice says less, never something wrong.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from typing import Any

from tractui import perfetto
from tractui.commands.output import Output
from tractui.daemon.client import Connection
from tractui.errors import UserError
from tractui.model.store import aligned_exec_times
from tractui.text import escape

Out = Callable[[str], Any]


def boot_epoch() -> float:
    """The epoch seconds at which the boot clock read 0."""
    return time.time() - time.clock_gettime_ns(time.CLOCK_BOOTTIME) / 1e9


def member_as_report(member: dict[str, Any], boot: float) -> dict[str, Any]:
    """A member as ``list`` gives it, in the ``trace`` report's form of a process (epoch
    seconds; the accounting fields at the top level). ``boot``: :func:`boot_epoch`."""
    start_ns = member["start"]
    # a member of the group's history on disk has its epoch times too: the ones to use for a
    # process of an earlier boot (its boot-clock times are rebased onto this boot's, all alike)
    start_wall = member.get("start_wall")
    start = round(start_wall if start_wall is not None else boot + start_ns / 1e9, 6)

    def epoch(ns: int | None) -> float | None:
        return None if ns is None else round(start + (ns - start_ns) / 1e9, 6)

    ended_wall = member.get("ended_wall")
    ended = member.get("ended")
    proc: dict[str, Any] = {
        "pid": member["pid"],
        "parent": member.get("parent"),
        "start": start,
        "end": round(ended_wall, 6) if ended_wall is not None else epoch(ended),
        "argv": member.get("argv") or [],
        "execs": member.get("execs") or [],
        "comm": member.get("comm") or _comm_of(member.get("command")),
        "exit": member.get("exit"),
        "alive": bool(member.get("alive", ended is None)),
        "status": member.get("status"),
    }
    times = member.get("exec_times")
    if isinstance(times, list):  # null: not known; aligned, one per exec (as list gives them)
        proc["exec_times"] = [epoch(t) for t in aligned_exec_times(times, len(proc["execs"]))]
    account = member.get("account")
    if isinstance(account, dict):
        for key in perfetto.ACCOUNT_FIELDS:
            proc[key] = account.get(key)
    return proc


def _comm_of(command: object) -> str:
    """The comm in a member's ``command`` when it has no argv (``[comm]``)."""
    if isinstance(command, str) and len(command) > 2 and command[0] == "[" and command[-1] == "]":
        return command[1:-1]
    return ""


def run(conn: Connection, args: argparse.Namespace, write: Out) -> int:
    # opened first: a bad path fails before the daemon is asked (a file created for an export
    # that fails is removed; an existing one, or a device, is never removed)
    output = Output("--perfetto", args.perfetto)
    try:
        return _export(conn, args, write, output)
    finally:
        output.close()


def _export(conn: Connection, args: argparse.Namespace, write: Out, output: Output) -> int:
    # all: the ended members a daemon keeps on disk too (one that keeps none ignores it)
    result = conn.request("list", group=args.name, all=True)
    name = result["group"]["name"]
    members: list[dict[str, Any]] = result["members"]
    now = time.time()
    boot = boot_epoch()

    def procs() -> Iterator[dict[str, Any]]:
        for member in members:
            yield member_as_report(member, boot)

    try:
        out = output.begin()
        n = perfetto.write(procs(), out, end=now, meta={"group": name})
        out.flush()
    except OSError as err:
        if output.created:
            output.discard()
        raise UserError(
            f"cannot write {output.name}: {err.strerror or err}; give --perfetto a file with "
            "room to write it"
        ) from None
    ended = sum(1 for m in members if not m.get("alive"))
    write(
        f"exported {n} processes of group '{escape(name)}' ({n - ended} live, {ended} ended) "
        f"to {output.name}: open it in ui.perfetto.dev or chrome://tracing\n"
    )
    return 0
