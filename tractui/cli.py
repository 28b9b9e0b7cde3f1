"""The ``tractui`` command line: argument parsing and dispatch to the commands."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from tractui import __version__
from tractui.model.history import HISTORY_CAP, MIN_CAP
from tractui.model.tracker import KEEP_EXITED

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tractui",
        description="Track named groups of processes and every descendant they fork, "
        "even after reparenting (double-fork daemons, setsid, nohup).",
    )
    parser.add_argument("--version", action="version", version=f"tractui {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument("--log", metavar="FILE", help="write the log to FILE, not stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    trace = sub.add_parser(
        "trace",
        help="run a command and report every process it started, and which survive it",
        description="Run CMD (on this terminal, like strace -f) as a group and follow every "
        "descendant. When CMD exits, report the genealogy and the survivors. The report goes "
        "to stderr (stdout is CMD's), or to -o FILE; -o - puts it on stdout and CMD's stdout "
        "on stderr, for a pipe: tractui trace --json -o - -- make | jq .",
        epilog="Exit status: CMD's own (128+N if a signal N ended it); 193 with --fail-on-leak "
        "when survivors remained (even if --kill-leftovers then ended them); 126/127 CMD not "
        "executable / not found; 2 usage (also: -o or --perfetto FILE cannot be written, checked "
        "before CMD runs); 68, 69, 70, 77 the proc connector cannot be used.",
    )
    trace.add_argument("--json", action="store_true", help="write the report as one JSON document")
    trace.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the report to FILE, not stderr (- for stdout: CMD's stdout then goes to "
        "stderr); FILE is created before CMD starts",
    )
    trace.add_argument(
        "--perfetto",
        metavar="FILE",
        help="also write the processes to FILE as Chrome Trace Event Format JSON, for "
        "ui.perfetto.dev and chrome://tracing",
    )
    trace.add_argument(
        "--wait-all", action="store_true", help="wait until every process of the group has exited"
    )
    trace.add_argument(
        "--kill-leftovers",
        action="store_true",
        help="when CMD exits, SIGTERM the survivors, then SIGKILL them after --grace seconds",
    )
    trace.add_argument(
        "--fail-on-leak",
        action="store_true",
        help="exit 193 if any process CMD started still runs when it ends, and list them "
        "(for CI: tests that leak daemons fail)",
    )
    trace.add_argument("--grace", type=float, default=3.0, metavar="SECS", help="default: 3")
    trace.add_argument(
        "--as-root", action="store_true", help="under sudo, run CMD as root, not as you"
    )
    trace.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- CMD [ARGS...]")

    events = sub.add_parser(
        "events",
        help="print every new process on the system as it starts",
        description="The live event stream: every exec with time, PID, parent PID, user and "
        "command line; --all adds forks and exits.",
    )
    events.add_argument("--json", action="store_true", help="one JSON object per line")
    events.add_argument("--all", action="store_true", help="forks and exits too")
    events.add_argument("--duration", type=float, metavar="SECS", help="stop after SECS")
    events.add_argument(
        "--group",
        metavar="NAME",
        help="only the fork/exec/exit of group NAME, from the daemon (recent ones first)",
    )
    _daemon_commands(sub)
    parser.add_argument(
        "--embedded",
        action="store_true",
        help="the UI runs its own engine even if a daemon is running",
    )
    parser.add_argument(
        "--keep-exited",
        type=_seconds,
        default=KEEP_EXITED,
        metavar="SECS",
        help=f"how long the UI's own engine shows exited processes (default: "
        f"{KEEP_EXITED:g}; on a daemon, the daemon's --keep-exited)",
    )
    return parser


def _daemon_commands(sub: Any) -> None:
    daemon = sub.add_parser(
        "daemon",
        help="run the engine without a UI, serving groups on a UNIX socket",
        description="Track groups without a UI and serve them on a UNIX socket "
        "(TRACTUI_SOCKET, else /run/tractui/tractui.sock as root, "
        "$XDG_RUNTIME_DIR/tractui.sock otherwise). Logs go to stderr; SIGTERM or SIGINT "
        "stops it, leaving launched programs running.",
    )
    daemon.add_argument(
        "--detach", action="store_true", help="go to the background; write a pidfile"
    )
    daemon.add_argument("--pidfile", metavar="FILE", help="write the daemon's PID to FILE")
    daemon.add_argument("--socket", metavar="PATH", help="listen on PATH")
    daemon.add_argument(
        "--client-buffer",
        type=int,
        default=16 << 20,
        metavar="BYTES",
        help="unread output after which a client is dropped (default: 16 MiB)",
    )
    daemon.add_argument(
        "--keep-exited",
        type=_seconds,
        default=60.0,
        metavar="SECS",
        help="how long exited members stay listed (default: 60)",
    )
    daemon.add_argument(
        "--metrics",
        metavar="[HOST:]PORT",
        help="serve Prometheus metrics (process-exporter's names) at http://HOST:PORT/metrics; "
        "HOST is 127.0.0.1 unless given (0.0.0.0: every interface); off by default",
    )
    daemon.add_argument(
        "--metrics-interval",
        type=_seconds,
        default=5.0,
        metavar="SECS",
        help="how often the metrics read the live members' /proc (default: 5)",
    )
    daemon.add_argument(
        "--history-cap",
        type=_size,
        default=HISTORY_CAP,
        metavar="SIZE",
        help="disk space for the ended members kept on disk, e.g. 64M, 1G (default: "
        f"{HISTORY_CAP >> 20}M; at least 16K; 0: keep none)",
    )

    add = sub.add_parser(
        "add",
        help="launch a program into a group (via the daemon)",
        description="Launch PROG into group NAME (created if new). It runs as you (under sudo: "
        "as the user who ran sudo), in its own session, with its output in the group's log.",
    )
    add.add_argument("name", metavar="NAME")
    add.add_argument("--as-root", action="store_true", help="under sudo, run PROG as root")
    add.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- PROG [ARGS...]")

    attach = sub.add_parser(
        "attach",
        help="attach running processes (and their descendants) to a group",
        description="Attach running processes, and every descendant they have now or fork "
        "later, to group NAME: the PIDs given, or those --match PATTERN finds as pgrep does "
        "(their list is printed first). NAME must exist unless --create: a typo makes no group "
        "(the error names the groups there are). tractui's own processes, kernel threads and "
        "members already tracked are never added.",
        epilog="Exit status: 0 attached (or --dry-run); 1 refused, or no process matched; "
        "3 no daemon.",
    )
    attach.add_argument("name", metavar="NAME")
    attach.add_argument("pids", nargs="*", type=_pid, metavar="PID")
    attach.add_argument("--create", action="store_true", help="make group NAME if it is new")
    attach.add_argument(
        "--match",
        metavar="PATTERN",
        help="attach the processes whose name the regular expression matches (as pgrep)",
    )
    attach.add_argument(
        "-f",
        "--full",
        action="store_true",
        help="with --match: match the full command line, not the name (as pgrep -f)",
    )
    attach.add_argument(
        "-i", "--ignore-case", action="store_true", help="with --match: ignore case (as pgrep -i)"
    )
    attach.add_argument(
        "--dry-run",
        action="store_true",
        help="print exactly what would be attached, descendants too; attach nothing",
    )

    listing = sub.add_parser(
        "list",
        help="the members of a group",
        description="The live members of group NAME, in tree order: 'PID: COMMAND' per line "
        "(lines), one PID per line for xargs (pids), a tree with statuses (tree), or JSON.",
    )
    listing.add_argument("name", metavar="NAME")
    listing.add_argument(
        "--format",
        choices=("lines", "pids", "tree", "json"),
        default="lines",
        help="default: lines",
    )
    listing.add_argument(
        "--all",
        action="store_true",
        help="exited members too, and those the daemon keeps on disk (oldest first)",
    )

    groups = sub.add_parser(
        "groups",
        help="every group with live/tracked counts",
        description="Every group, one line each. LIVE: members running now; TRACKED: members "
        "in memory (the live ones, and ended ones until they are pruned after --keep-exited; "
        "pruned ones are kept on disk: list NAME --all); FORKS, EXECS, EXITS, FAILED: every "
        "event since the group was made, pruned members included; CPU_S: the CPU seconds of "
        "every member that ever ran. In --json the counts keep their names (total is TRACKED).",
    )
    groups.add_argument("--json", action="store_true", help="as JSON")

    sig = sub.add_parser(
        "signal",
        help="signal a group, a member, or a member's subtree",
        description="Send SIG (default TERM) to every live member of NAME, or to one member "
        "(--pid), or to a member and its descendants (--pid PID --subtree). Prints each PID.",
    )
    sig.add_argument("name", metavar="NAME")
    sig.add_argument("-s", "--signal", default="TERM", metavar="SIG", help="name or number")
    sig.add_argument("--pid", type=_pid, metavar="PID", help="one member only")
    sig.add_argument("--subtree", action="store_true", help="with --pid: and its descendants")

    log = sub.add_parser(
        "log",
        help="a group's launch log: the output of the programs launched into it",
        description="Print the launch log of group NAME (its last 256 KiB, or --lines N), read "
        "through the daemon (the file is the daemon's, 0600). Control characters show as "
        "\\xNN. -f follows what is appended, until Ctrl-C.",
    )
    log.add_argument("name", metavar="NAME")
    log.add_argument("-f", "--follow", action="store_true", help="then print what is appended")
    log.add_argument(
        "-n", "--lines", type=_count, metavar="N", help="the last N lines (default: 256 KiB)"
    )

    exporting = sub.add_parser(
        "export",
        help="write a group's processes, live and ended, as a Perfetto trace",
        description="Write the members of group NAME that the daemon knows, live and ended, to "
        "FILE as Chrome Trace Event Format JSON (opens in ui.perfetto.dev and chrome://tracing).",
    )
    exporting.add_argument("name", metavar="NAME")
    exporting.add_argument(
        "--perfetto", metavar="FILE", required=True, help="the file to write the trace to"
    )

    remove = sub.add_parser("remove", help="stop tracking a group (its processes are left running)")
    remove.add_argument("name", metavar="NAME")
    rename = sub.add_parser("rename", help="rename a group")
    rename.add_argument("old", metavar="OLD")
    rename.add_argument("new", metavar="NEW")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # negative, or nan
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds, 0 or more")
    return value


def _size(text: str) -> int:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    digits = text.rstrip("KMGkmg").rstrip() if text[-1:].isalpha() else text
    unit = text[len(digits) :].strip().upper()
    if not digits.isdigit() or unit not in units:
        raise argparse.ArgumentTypeError(f"{text!r}: give a size in bytes, or with K, M or G")
    value = int(digits) * units[unit]
    if 0 < value < MIN_CAP:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least {MIN_CAP >> 10}K, or 0 for none")
    return value


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give a number, 0 or more")
    return int(text)


def _pid(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a PID: give a positive number")
    return int(text)


def setup_logging(verbose: bool, log_file: str | None) -> None:
    level = logging.DEBUG if verbose else logging.WARNING
    handler: logging.Handler = (
        logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if args.command != "attach" or any(x.startswith("-") for x in extra):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        # PIDs after an option (attach NAME --create PID...): argparse leaves them over
        try:
            args.pids += [_pid(x) for x in extra]
        except argparse.ArgumentTypeError as err:
            parser.error(f"argument PID: {err}")
    try:
        setup_logging(args.verbose, args.log)
    except OSError as err:
        print(f"tractui: cannot write the log file: {err}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "trace":
        from tractui.commands import trace

        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not cmd:
            parser.error("trace needs a command: tractui trace -- CMD [ARGS...]")
        if args.fail_on_leak and args.wait_all:
            parser.error("--fail-on-leak with --wait-all: nothing survives, trace waits for all")
        return trace.run(args, cmd)
    if args.command == "events":
        if args.duration is not None and args.duration <= 0:
            parser.error("--duration takes a positive number of seconds")
        if args.group is not None:
            from tractui.commands import remote

            if args.all:
                parser.error("--all is for the system-wide stream: --group shows every kind")
            return remote.run(args)
        from tractui.commands import events

        return events.run(args)
    if args.command == "daemon":
        from tractui.commands import daemon

        return daemon.run(args)
    if args.command in (
        "add",
        "attach",
        "list",
        "groups",
        "signal",
        "remove",
        "rename",
        "log",
        "export",
    ):
        from tractui.commands import remote

        if args.command == "add":
            # options may come after NAME too: tractui add NAME --as-root -- PROG
            while args.cmd and args.cmd[0].startswith("-") and args.cmd[0] != "--":
                if args.cmd[0] != "--as-root":
                    parser.error(f"add: unknown option {args.cmd[0]} (put PROG after --)")
                args.as_root = True
                args.cmd = args.cmd[1:]
            args.cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            if not args.cmd:
                parser.error("add needs a group name and a program: tractui add NAME -- PROG")
        if args.command == "attach":
            if args.match is None and not args.pids:
                parser.error("attach needs PIDs or --match PATTERN: tractui attach NAME PID...")
            if args.match is not None and args.pids:
                parser.error("attach takes PIDs or --match PATTERN, not both")
            if args.match is None and (args.full or args.ignore_case):
                parser.error("-f and -i go with --match PATTERN")
        return remote.run(args)
    # no subcommand: the full-screen UI (textual is imported only on this path)
    from tractui.commands import ui

    return ui.run(verbose=args.verbose, embedded=args.embedded, keep_exited=args.keep_exited)
