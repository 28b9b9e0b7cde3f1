"""`tractui` with no command: pick the engine (the daemon's, else one of our own), then start
the full-screen UI over it; exit at once with the reason if neither can be had.

Textual is imported only in :func:`run`: the other commands, and importing this module, never
load it.
"""

from __future__ import annotations

import gc
import logging
import os
import sys

from tractui import paths
from tractui.daemon.client import NoDaemon
from tractui.daemon.link import DaemonEngine
from tractui.engine import Engine, EngineLike
from tractui.errors import UserError
from tractui.events import ConnectorError, kernel_version
from tractui.model.history import History
from tractui.model.state import Persister, StateError
from tractui.model.tracker import KEEP_EXITED
from tractui.session import GarbagePacer, Session

log = logging.getLogger(__name__)

SWITCH_INTERVAL = 0.001  # s
# The session thread runs at this much more nice than the UI thread. The kernel shares a CPU
# between sessions (autogroup), then between the threads of one: the UI thread and the session
# thread (engine, sampler, snapshots: 5x the UI thread's CPU) share tractui's part. bench/ui at
# 10,000 processes on a loaded machine: a key's time in the app was mostly the UI thread
# waiting for a CPU (run queue), not working nor waiting for the GIL.
SESSION_NICE = 10
# The UI's engine reads its collector's batches every 100 ms at the most (the session's
# MIN_STEP; 50 ms when this was measured): a quiet host's events come in a batch every 25 ms,
# not every 4 ms as the daemon's subscribers want them (the collector's /proc read at each exec
# is as prompt either way). bench/ui at 10,000 processes and 2,000 events/s: ~140 batches a
# second -> ~40, the collector's CPU ~0.5 point of a CPU less.
COLLECTOR_ARGS = ["--quiet-gap", "0.025"]
NOT_ROOT_BANNER = "not root: signals reach only your own processes (run with sudo for all)"


def _log_off_the_screen() -> None:
    """Textual draws on stderr: log records written there would tear the screen, so they go
    to a file in the state directory (or nowhere if it can't be written)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if not isinstance(handler, logging.FileHandler) and isinstance(
            handler, logging.StreamHandler
        ):
            root.removeHandler(handler)
            try:
                paths.check_state_dir(paths.state_dir())
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
                log_file = paths.state_dir() / "ui.log"
                fd = paths.open_private(log_file, flags)  # never through a link
                to_file = logging.FileHandler(log_file, delay=True)
                to_file.stream = os.fdopen(fd, "a")
                replacement: logging.Handler = to_file
            except (OSError, UserError):
                replacement = logging.NullHandler()
            replacement.setFormatter(handler.formatter)
            root.addHandler(replacement)


def _daemon_engine() -> DaemonEngine | None:
    """The daemon's groups, mirrored, if a daemon answers on the socket; else None."""
    engine = DaemonEngine()
    try:
        engine.start()
    except NoDaemon:
        return None
    return engine


def _session(engine: EngineLike) -> Session:
    """The UI's session: its thread at SESSION_NICE, and the one to collect the garbage."""
    return Session(engine, nice=SESSION_NICE, garbage=GarbagePacer(*gc.get_threshold()))


def run(verbose: bool = False, embedded: bool = False, keep_exited: float = KEEP_EXITED) -> int:
    """Start the engine, then the full-screen UI; exit at once with the reason if we can't.

    The engine is the daemon's when one answers on the socket (unless ``embedded``)."""
    from tractui.app import TractApp  # textual is imported only on this path

    # Each snapshot of 10,000 processes makes ~20,000 short-lived objects: the default
    # thresholds ran a full collection every few snapshots (~150 ms each). Measured with
    # bench/ui at 10,000 processes: refresh p95 336-382 ms -> 199 ms.
    gc.set_threshold(10_000, 20, 100)  # what the GarbagePacer below goes by, too
    # The session thread (engine, sampler, snapshots) shares the GIL with the UI thread: a
    # thread that wants it waits up to this long for the other to let go (default 5 ms), at
    # each of a key's hand-offs (input thread, event loop, output thread)
    sys.setswitchinterval(SWITCH_INTERVAL)
    if not embedded:
        try:
            remote = _daemon_engine()
        except UserError as err:
            print(f"tractui: {err} (or run 'tractui --embedded')", file=sys.stderr)
            return err.exit_code
        if remote is not None:
            _log_off_the_screen()
            log.debug("tractui UI starting on the daemon %d", remote.daemon_pid)
            result = TractApp(_session(remote)).run()
            return result if result is not None else 0
    # the collector's stderr would write over the screen: it goes to a log file instead, named
    # so that no group's launch log (logs/GROUP.log; no group name starts with _) can be it
    state: Persister | None = None
    not_saved = ""
    try:
        state = Persister()
        state.acquire()
    except StateError as err:  # held by another tractui (a daemon we did not use), or unusable
        state, not_saved = None, f"groups are not saved: {err}"
    engine = Engine(
        keep_exited=keep_exited,
        collector_args=COLLECTOR_ARGS,
        verbose=False,
        collector_stderr=paths.log_dir() / "_collector.log",
        state=state,
        history=History(state.directory) if state is not None else None,
    )
    try:
        engine.start()
    except ConnectorError as err:
        print(f"tractui: {err.message}", file=sys.stderr)
        return err.exit_code
    banner = ""
    if os.geteuid() != 0 and kernel_version() >= (6, 6):
        banner = NOT_ROOT_BANNER
    # what restore found wrong is the engine's banner: each snapshot carries it
    banner = " · ".join(t for t in (banner, not_saved) if t)
    _log_off_the_screen()
    log.debug("tractui UI starting (verbose=%s)", verbose)
    app = TractApp(_session(engine), banner=banner)
    result = app.run()
    return result if result is not None else 0
