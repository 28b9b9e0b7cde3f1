"""``tractui daemon``: the engine with no UI, serving the socket (in the foreground for systemd,
or ``--detach``ed with a pidfile)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
from pathlib import Path

from tractui import paths
from tractui.daemon.metrics import Metrics, parse_address
from tractui.daemon.server import Daemon, probe
from tractui.engine import Engine
from tractui.errors import UserError
from tractui.events import ConnectorError
from tractui.model.history import History
from tractui.model.state import Persister

log = logging.getLogger(__name__)

EXIT_FAILED = 1


def run(args: argparse.Namespace) -> int:
    socket_path = Path(args.socket) if args.socket else paths.socket_path()
    if args.detach:
        return _detach(args, socket_path)
    return serve(args, socket_path, ready=None)


def serve(args: argparse.Namespace, socket_path: Path, ready: int | None) -> int:
    """Bind, start the engine, serve until SIGTERM/SIGINT. ``ready`` is a pipe to report on."""
    if not args.verbose:
        logging.getLogger().setLevel(logging.INFO)
    state = Persister()
    history = History(state.directory, args.history_cap) if args.history_cap else None
    engine = Engine(
        keep_exited=args.keep_exited, verbose=args.verbose, state=state, history=history
    )
    daemon = Daemon(engine, socket_path, client_buffer=args.client_buffer)
    metrics_at: tuple[str, int] | None = None
    metrics_url = ""
    try:
        if args.metrics:
            metrics_at = parse_address(args.metrics)
        _check_dirs()
        if probe(socket_path) is None:  # else bind() says which daemon answers there
            state.acquire()  # refused for a locked state directory, it never listened
        daemon.bind()
    except UserError as err:
        state.release()
        return _fail(ready, f"tractui daemon: {err}", EXIT_FAILED)
    try:
        info = engine.start()
    except ConnectorError as err:
        daemon.close()
        return _fail(ready, f"tractui daemon: {err.message}", err.exit_code)
    except UserError as err:  # the state is locked by another tractui, or unwritable
        daemon.close()
        return _fail(ready, f"tractui daemon: {err}", EXIT_FAILED)
    if metrics_at is not None:
        metrics = Metrics(state.directory, interval=args.metrics_interval)
        try:
            address = metrics.serve(*metrics_at)
        except UserError as err:
            daemon.close()
            engine.stop()
            return _fail(ready, f"tractui daemon: {err}", EXIT_FAILED)
        daemon.metrics = metrics
        daemon.requests.metrics = address
        metrics_url = f"http://{address}/metrics"
        log.info("serving metrics at %s", metrics_url)
    pidfile = Path(args.pidfile) if args.pidfile else None
    if pidfile is not None:
        _write_pidfile(pidfile)
    daemon.install_signal_handlers()
    log.info("tractui daemon %d serving %s (collector %d)", os.getpid(), socket_path, info["pid"])
    if ready is not None:
        # the parent of a detached daemon says where its metrics are (port 0: chosen here)
        os.write(ready, f"0 {metrics_url}\n".encode())
        os.close(ready)
    daemon.notifier.ready(f"serving {socket_path}")
    try:
        daemon.serve()
    finally:
        daemon.notifier.stopping()
        daemon.close()
        if daemon.metrics is not None:
            daemon.metrics.close()
        engine.stop()
        if pidfile is not None:
            with contextlib.suppress(FileNotFoundError):
                pidfile.unlink()
        log.info("tractui daemon %d stopped; launched programs left running", os.getpid())
    return 0


def _fail(ready: int | None, message: str, code: int) -> int:
    if ready is not None:
        os.write(ready, f"{code} {message}\n".encode())
        os.close(ready)
    else:
        print(message, file=sys.stderr)
    return code


def _check_dirs() -> None:
    """Refuse to start where another user could plant links for root to write through."""
    state = paths.state_dir()
    try:
        paths.check_state_dir(state)
        paths.check_log_dir(paths.log_dir())
    except OSError as err:
        raise UserError(f"cannot use the state directory {state}: {err.strerror}") from None


def _write_pidfile(path: Path) -> None:
    """Atomically, through a new file of ours: a link at ``path`` is replaced, never followed."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # O_EXCL, O_NOFOLLOW
    try:
        os.fchmod(fd, 0o644)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    finally:
        os.close(fd)


def _detach(args: argparse.Namespace, socket_path: Path) -> int:
    """Fork twice, start a session, serve; the first process waits until it serves (or why not)."""
    if args.pidfile is None:
        # named for its socket: two daemons with sockets side by side keep a pidfile each
        args.pidfile = str(socket_path.with_suffix(".pid"))
    read_end, write_end = os.pipe()
    if os.fork() > 0:
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            answer = pipe.read().decode(errors="replace").strip()
        code_text, _, message = answer.partition(" ")
        if not code_text.isdigit():
            print("tractui daemon: the daemon exited during start (see its log)", file=sys.stderr)
            return EXIT_FAILED
        if int(code_text) == 0:
            print(f"tractui daemon: serving {socket_path} (pidfile {args.pidfile})")
            if message:
                print(f"tractui daemon: serving metrics at {message}")
            return 0
        print(message, file=sys.stderr)
        return int(code_text)
    os.close(read_end)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    _quiet_stdio(args)
    code = EXIT_FAILED
    try:
        code = serve(args, socket_path, ready=write_end)
    finally:
        os._exit(code)


def _quiet_stdio(args: argparse.Namespace) -> None:
    """Detached: no terminal. stdin and stdout from/to /dev/null; the log to a file."""
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    root = logging.getLogger()
    if args.log is None:
        log_file = paths.state_dir() / "daemon.log"
        try:
            paths.check_state_dir(log_file.parent)  # else serve() refuses, through the pipe
            fd = paths.open_private(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            handler: logging.Handler = logging.StreamHandler(os.fdopen(fd, "a", encoding="utf-8"))
        except (OSError, UserError):
            handler = logging.NullHandler()
        for old in list(root.handlers):
            handler.setFormatter(old.formatter)
            root.removeHandler(old)
        root.addHandler(handler)
    os.dup2(devnull, 2)
    os.close(devnull)
