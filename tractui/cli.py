"""The ``tractui`` command line: argument parsing and dispatch to the commands."""

from __future__ import annotations

import argparse
import logging
import sys

from tractui import __version__

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
        "descendant. When CMD exits, report the genealogy and the survivors.",
    )
    trace.add_argument("--json", action="store_true", help="write the report as one JSON document")
    trace.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE")
    trace.add_argument(
        "--wait-all", action="store_true", help="wait until every process of the group has exited"
    )
    trace.add_argument(
        "--kill-leftovers",
        action="store_true",
        help="when CMD exits, SIGTERM the survivors, then SIGKILL them after --grace seconds",
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
    return parser


def setup_logging(verbose: bool, log_file: str | None) -> None:
    level = logging.DEBUG if verbose else logging.WARNING
    handler: logging.Handler = (
        logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
        return trace.run(args, cmd)
    if args.command == "events":
        from tractui.commands import events

        if args.duration is not None and args.duration <= 0:
            parser.error("--duration takes a positive number of seconds")
        return events.run(args)
    # no subcommand: the full-screen UI (textual is imported only on this path)
    from tractui import app

    return app.run(verbose=args.verbose)
