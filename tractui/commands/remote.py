"""The scripting CLI: ``tractui add/attach/list/groups/signal/remove/rename/log/export/events
--group``.

Each command is one request to the daemon (``events --group`` a subscription). Without a daemon
they say how to start one and exit with status 3; a refused request prints the daemon's one-line
reason and exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from tractui import control, guides
from tractui.commands import export
from tractui.daemon.client import Connection, add_request
from tractui.errors import UserError
from tractui.kernel import listing, procfs
from tractui.text import count_of, escape, escape_output, shell_join

Out = Callable[[str], Any]


def run(args: argparse.Namespace, out: Out | None = None) -> int:
    """Dispatch ``args.command``; print errors as one line on stderr; return the exit status."""
    write = out or sys.stdout.write
    command = COMMANDS[args.command]
    try:
        with Connection() as conn:
            return command(conn, args, write)
    except UserError as err:
        # a refusal may quote another user's process (its comm): escaped, as all text shown
        print(f"tractui {args.command}: {escape(str(err))}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:  # | head: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _add(conn: Connection, args: argparse.Namespace, write: Out) -> int:
    spec = control.LaunchSpec(args.cmd, as_root=args.as_root)
    result = conn.request("add", **add_request(args.name, spec))
    write(_add_line(result))
    return _not_saved("add", result)


def _not_saved(command: str, result: dict[str, Any]) -> int:
    """A change the daemon made but could not save says so, on stderr, and exits 1 (a script
    must not take it for saved); the daemon keeps it and saves it as soon as it can."""
    problem = result.get("not_saved")
    if not problem:
        return 0
    print(
        f"tractui {command}: done, but {escape(str(problem))}; the daemon keeps trying "
        "(a kill -9 or a crash before it succeeds loses the change)",
        file=sys.stderr,
    )
    return 1


def _add_line(result: dict[str, Any]) -> str:
    new = " (a new group)" if result.get("created") else ""
    return f"started {result['pid']} in group {result['group']!r}{new} (output: {result['log']})\n"


def _attach(conn: Connection, args: argparse.Namespace, write: Out) -> int:
    """Attach PIDs, or what --match finds (listed first); --dry-run lists exactly what would
    be added and attaches nothing."""
    pids: list[int] = args.pids
    fields: dict[str, Any] = {"group": args.name, "create": args.create}
    if args.match is not None:
        matched = _matched(conn, args)
        write(f"matched {count_of(len(matched), 'process', 'processes')}:\n")
        write(_table((p.pid, _user(p.uid), p.command, 0) for p in matched))
        pids, fields["skip_tracked"] = [p.pid for p in matched], True
    if args.dry_run:
        result = conn.request("attach", pids=pids, dry_run=True, **fields)
        _say_skipped(result)
        added = result["added"]
        new = "" if result["exists"] else " (a new group)"
        needs_create = result.get("needs_create")  # no such group, and no --create
        if needs_create is not None:
            new = f" (no such group: it would need --create; {needs_create[1:-1]})"
        write(f"would attach to group {result['group']!r}{new}: {_counted(added)}\n")
        write(_table(_planned_rows(added)))
        return 0
    result = conn.request("attach", pids=pids, **fields)
    _say_skipped(result)
    roots = " ".join(map(str, result["roots"]))
    write(
        f"attached {roots} to group {result['group']!r}: {result['live']} live processes; "
        f"added {_counted(result.get('added', []))}\n"
    )
    return _not_saved("attach", result)


def _matched(conn: Connection, args: argparse.Namespace) -> list[listing.Listed]:
    """The processes --match finds, as pgrep would, less tractui's own (this command, what
    runs it, the daemon and its collector); UserError when none."""
    regex = listing.pattern(args.match, args.ignore_case)
    own = listing.own_processes() | {int(p) for p in conn.hello.get("own_pids", ())}
    matched = listing.matching(listing.processes(own), regex, args.full)
    if not matched:
        what = "command line" if args.full else "name (-f: the full command line)"
        raise UserError(f"no process matches {args.match!r} by its {what}: nothing attached")
    return matched


def _say_skipped(result: dict[str, Any]) -> None:
    skipped = result.get("skipped") or []
    if skipped:
        named = ", ".join(f"{s['pid']} ({s['group']})" for s in skipped[:5])
        more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        print(f"tractui attach: left out, tracked already: {named}{more}", file=sys.stderr)


def _counted(added: list[dict[str, Any]]) -> str:
    """'3 processes (1 root + 2 descendants)', as the UI's preview counts them."""
    roots = sum(1 for a in added if a["parent"] is None)
    total = count_of(len(added), "process", "processes")
    if roots == len(added):
        return total
    return f"{total} ({count_of(roots, 'root')} + {count_of(len(added) - roots, 'descendant')})"


def _planned_rows(added: list[dict[str, Any]]) -> list[tuple[int, str, str, int]]:
    depth: dict[int, int] = {}
    rows = []
    for a in added:
        depth[a["pid"]] = 0 if a["parent"] is None else depth.get(a["parent"], 0) + 1
        command = " ".join(a["argv"]) if a["argv"] else f"[{a['comm']}]"
        rows.append((a["pid"], str(a["user"]), command, depth[a["pid"]]))
    return rows


def _table(rows: Iterable[tuple[int, str, str, int]]) -> str:
    """PID, USER, COMMAND (escaped; indented two spaces a level below a PID given)."""
    lines = [f"{'PID':>7} {'USER':<9} COMMAND\n"]
    for pid, user, command, depth in rows:
        lines.append(f"{pid:>7} {escape(user)[:9]:<9} {'  ' * depth}{escape(command)}\n")
    return "".join(lines)


_users = procfs.UserNames()


def _user(uid: int) -> str:
    return _users.name(uid)


def _groups(conn: Connection, args: argparse.Namespace, write: Out) -> int:
    groups = conn.request("groups")
    banner = conn.hello.get("banner")
    if banner:  # what went wrong with the daemon, or with the groups it restored
        print(f"tractui groups: {escape(str(banner))}", file=sys.stderr)
    if args.json:
        write(json.dumps(groups, indent=2) + "\n")
        return 0
    if not groups:
        write(
            "no groups: create one with 'tractui add NAME -- PROG' or 'tractui attach NAME PID'\n"
        )
        return 0
    names = [escape(g["name"]) for g in groups]
    width = max(5, *map(len, names))
    write(
        f"{'GROUP':<{width}}  {'LIVE':>5} {'TRACKED':>7} {'FORKS':>6} {'EXECS':>6} "
        f"{'EXITS':>6} {'FAILED':>6} {'BY_YOU':>6} {'CPU_S':>9}  LAUNCHED  LAST\n"
    )
    for name, g in zip(names, groups, strict=True):
        cpu = g.get("cpu_s")  # a daemon of an older tractui sends none
        last = g.get("last_outcome") or ("running" if g.get("last_launch") else "")
        write(
            f"{name:<{width}}  {g['live']:>5} {g['total']:>7} {g['forks']:>6} "
            f"{g['execs']:>6} {g['exits']:>6} {g['failed']:>6} {g.get('ended_by_you', 0):>6} "
            f"{'-' if cpu is None else f'{cpu:.2f}':>9}  "
            f"{'yes' if g['launched'] else 'no':<8}  {escape(last) or '-'}\n"
        )
    return 0


def _list(conn: Connection, args: argparse.Namespace, write: Out) -> int:
    result = conn.request("list", group=args.name, **({"all": True} if args.all else {}))
    members = result["members"]
    history = result.get("history") or {}
    for problem in (history.get("cut"), history.get("error")):
        if problem:  # the history shown is not all of it: said, apart from the list
            print(f"tractui list: {escape(str(problem))}", file=sys.stderr)
    if history.get("damaged"):
        print(
            f"tractui list: {history['damaged']} damaged line(s) of the history were skipped "
            "(cut by a kill?)",
            file=sys.stderr,
        )
    shown = (
        members
        if args.all or args.format in ("tree", "json")
        else [m for m in members if m["alive"]]
    )
    if args.format == "json":
        write(json.dumps(result, indent=2) + "\n")
    elif args.format == "pids":
        write("".join(f"{m['pid']}\n" for m in shown))
    elif args.format == "tree":
        for line in tree_lines(shown):
            write(line + "\n")
    else:
        for m in shown:
            status = "" if m["alive"] else f"  [{_ended(m)}]"
            write(f"{m['pid']}: {shell_command(m)}{status}\n")
    return 0


def _ended(member: dict[str, Any]) -> str:
    """An ended member's status; from the history, with when it ended."""
    if not member.get("history"):
        return str(member["status"])
    when = datetime.fromtimestamp(member["ended_wall"]).strftime("%Y-%m-%d %H:%M:%S")
    return f"{member['status']}, ended {when}"


def tree_lines(members: list[dict[str, Any]]) -> list[str]:
    """``PID  STATUS  COMMAND`` with tree guides: the members listed in tree order with depths,
    and the history's entries (``list --all``) under their parent where it is listed, else at
    the top (:func:`forest`). The status is said once; a history entry's note says when it
    ended and that it comes from the history."""
    lines = [f"{'PID':>7}  {'STATUS':<16} COMMAND"]
    roots, kids = forest(members)
    for row in guides.rows(roots, lambda i: kids.get(i, ()), guides.WIDE):
        m = members[row.key]
        note = ""
        if m["reparented"]:
            note = f"  [reparented to {m['ppid']}]"
        elif m.get("history"):
            note = f"  [{_history_note(m)}]"
        lines.append(f"{m['pid']:>7}  {m['status']:<16} {row.guide}{shell_command(m)}{note}")
    return lines


def forest(members: list[dict[str, Any]]) -> tuple[list[int], dict[int, list[int]]]:
    """The roots and each parent's children (indexes in ``members``). The tracked members keep
    their tree (listed in tree order with depths); a history entry goes under its parent (by
    ``parent`` and ``parent_start``) when that is listed, among its children by start, else to
    the top, before the tracked roots, in the order given."""
    tracked = [i for i, m in enumerate(members) if not m.get("history")]
    top, below = guides.from_depths(members[i]["depth"] for i in tracked)
    roots = [tracked[r] for r in top]
    kids = {tracked[p]: [tracked[c] for c in cs] for p, cs in below.items()}
    index = {(m.get("pid"), m.get("start")): i for i, m in enumerate(members)}
    placed: list[int] = []
    for i, m in enumerate(members):
        if not m.get("history"):
            continue
        parent_start = m.get("parent_start")
        parent = index.get((m.get("parent"), parent_start)) if type(parent_start) is int else None
        # a parent started strictly before its child: no cycle, whatever a file says
        if parent is not None and _start(members[parent]) < _start(m):
            kids.setdefault(parent, []).append(i)
            placed.append(parent)
        else:
            roots.insert(len(roots) - len(top), i)
    for parent in set(placed):
        kids[parent].sort(key=lambda i: _start(members[i]))
    return roots, kids


def _start(member: dict[str, Any]) -> int:
    start = member.get("start")
    return start if type(start) is int else 0


def _history_note(member: dict[str, Any]) -> str:
    """When a history entry ended, and that it comes from the history (its status is said
    once, in its column)."""
    when = datetime.fromtimestamp(member["ended_wall"]).strftime("%Y-%m-%d %H:%M:%S")
    return f"from history, ended {when}"


def shell_command(member: dict[str, Any]) -> str:
    """A member's command line quoted as a shell takes it back, on one line (``$'…'`` for
    control characters); ``[comm]``, escaped, when it has none."""
    argv = member["argv"]
    return shell_join(argv) if argv else escape(str(member["command"]))


def _signal(conn: Connection, args: argparse.Namespace, write: Out) -> int:
    sig = control.parse_signal(args.signal)
    if args.subtree and args.pid is None:
        raise UserError("--subtree needs --pid PID: the member whose subtree to signal")
    request: dict[str, Any] = {"group": args.name, "signal": sig.name, "subtree": args.subtree}
    if args.pid is not None:
        request["pid"] = args.pid
    result = conn.request("signal", **request)
    results = result["results"]
    sent = 0
    for r in results:
        if r["ok"]:
            sent += 1
            write(f"{r['pid']}: {result['signal']} sent\n")
        else:
            write(f"{r['pid']}: {r['error']}\n")
    if sent < len(results):
        print(
            f"tractui signal: {result['signal']} reached {sent} of {len(results)} processes",
            file=sys.stderr,
        )
        return 1
    return 0


def _remove(conn: Connection, args: argparse.Namespace, write: Out) -> int:
    result = conn.request("remove", group=args.name)
    write(
        f"removed group {result['group']!r}: no longer tracking its {result['live']} live "
        "processes (left running, not signalled)\n"
    )
    return _not_saved("remove", result)


def _rename(conn: Connection, args: argparse.Namespace, write: Out) -> int:
    result = conn.request("rename", old=args.old, new=args.new)
    write(f"renamed {args.old!r} to {result['group']!r}\n")
    return _not_saved("rename", result)


def _events(conn: Connection, args: argparse.Namespace, write: Out) -> int:
    """The group's recent events, then new ones as they happen (like ``tail -f``)."""
    conn.request("subscribe", group=args.group)
    stop = _Interrupted()
    deadline = time.monotonic() + args.duration if args.duration else None
    conn.sock.settimeout(0.2)
    if not args.json:
        write(f"{'TIME':<12} {'EVENT':<5} {'PID':>7}  DETAIL\n")
    shown = 0
    while not stop.yes and (deadline is None or time.monotonic() < deadline):
        try:
            message = conn.receive()
        except UserError as err:
            if "did not answer in time" in str(err):
                continue
            raise
        kind = message.get("t")
        if kind in ("snapshot", "delta"):
            for ev in message.get("log", ()):
                write(_event_line(ev, args.json))
                shown += 1
            if args.group in message.get("gone_groups", ()):
                print(f"tractui events: group {args.group!r} was removed", file=sys.stderr)
                return 0
            sys.stdout.flush()
    print(f"tractui events: {shown} events of group {args.group!r}", file=sys.stderr)
    return 0


def _log(conn: Connection, args: argparse.Namespace, write: Out) -> int:
    """The group's launch log (its tail), then with -f what is appended (like ``tail -f``)."""
    tail = {} if args.lines is None else {"lines": args.lines}
    chunk = conn.request("log", group=args.name, **tail)
    if not chunk["exists"]:
        print(
            f"tractui log: group {args.name!r} has no output yet: only programs launched into "
            "it (tractui add) write to its log",
            file=sys.stderr,
        )
    elif chunk["start"] > 0 and args.lines is None:
        print(
            f"tractui log: the last {(chunk['size'] - chunk['start']) >> 10} KiB of "
            f"{chunk['size'] >> 10} KiB (--lines N for the last N lines)",
            file=sys.stderr,
        )
    write(_terminal_safe(chunk["text"]))
    if not args.follow:
        return 0
    stop = _Interrupted()
    offset = chunk["offset"]
    while not stop.yes:
        sys.stdout.flush()
        if chunk["size"] - chunk["offset"] < 4:  # all read (but half a character): wait
            time.sleep(FOLLOW_INTERVAL)
            if stop.yes:
                break
        chunk = conn.request("log", group=args.name, offset=offset)
        if chunk["start"] < offset:
            print(f"tractui log: the log of {args.name!r} began anew", file=sys.stderr)
        write(_terminal_safe(chunk["text"]))
        offset = chunk["offset"]
    return 0


FOLLOW_INTERVAL = 0.25  # seconds between two looks at a followed log


class _Interrupted:
    """Whether SIGINT or SIGTERM came: a command that follows (events, log -f) ends quietly."""

    def __init__(self) -> None:
        self.yes = False
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, _signum: int, _frame: object) -> None:
        self.yes = True


def _terminal_safe(text: str) -> str:
    """Log text as a terminal may show it (:func:`escape_output` line by line): a program's
    output cannot move the cursor, recolour or retitle the terminal, or hide a line with CR."""
    return "\n".join(escape_output(line) for line in text.split("\n"))


def _event_line(ev: dict[str, Any], as_json: bool) -> str:
    if as_json:
        return json.dumps(ev) + "\n"
    if "tractui.event" not in ev:  # an older daemon: the names before OpenTelemetry's
        ev = {
            "time": ev["wall"],
            "tractui.event": ev["kind"],
            "tractui.detail": ev["detail"],
            "process.pid": ev["pid"],
        }
    clock = datetime.fromtimestamp(ev["time"]).strftime("%H:%M:%S.%f")[:-3]
    detail = escape(ev["tractui.detail"])  # a command line: another user's text
    kind = ev["tractui.event"]
    if kind == "fork":
        detail = f"forked by {detail}"
    return f"{clock} {kind:<5} {ev['process.pid']:>7}  {detail}\n"


COMMANDS: dict[str, Callable[[Connection, argparse.Namespace, Out], int]] = {
    "add": _add,
    "attach": _attach,
    "groups": _groups,
    "list": _list,
    "signal": _signal,
    "remove": _remove,
    "rename": _rename,
    "events": _events,
    "log": _log,
    "export": export.run,
}
