"""The tractui terminal UI: groups as live genealogical trees; launch, attach, signal, inspect.

The app never touches the engine: a :class:`~tractui.session.Session` runs it in a thread and
posts immutable snapshots (at most 5 a second), which the widgets draw; the app's actions go back
through the session's methods, which return futures.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterable
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import ClassVar, TypeVar

from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.css.query import NoMatches
from textual.message import Message
from textual.notifications import Notify, SeverityLevel
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static

from tractui import paths
from tractui.daemon.client import NoDaemon
from tractui.daemon.link import DaemonEngine
from tractui.engine import Engine
from tractui.errors import UserError
from tractui.events import ConnectorError, kernel_version
from tractui.model.state import Persister, StateError
from tractui.model.tracker import KEEP_EXITED
from tractui.screens.attach import AttachScreen
from tractui.screens.confirm import ConfirmScreen, QuitScreen
from tractui.screens.details import DetailsScreen
from tractui.screens.help import HelpScreen
from tractui.screens.launch import LaunchScreen
from tractui.screens.logview import LaunchLogScreen
from tractui.screens.rename import RenameScreen
from tractui.screens.signals import SignalScreen
from tractui.screens.sort import SortScreen
from tractui.session import BENCH_TIMINGS, Session, bench_note
from tractui.snapshot import Snapshot
from tractui.text import escape
from tractui.widgets.eventlog import EventLog
from tractui.widgets.header import StatusHeader, count_text
from tractui.widgets.tree import ProcessTree, Row, header_text

log = logging.getLogger(__name__)

T = TypeVar("T")

NOT_ROOT_BANNER = "not root: signals reach only your own processes (run with sudo for all)"
# how long a toggle's toast stays (x, I, sort, nice): long enough to read, gone before the next
TOGGLE_TIMEOUT = 2.0
# the find bar's keys: while typing a search or a filter, and while a filter is kept
SEARCH_KEYS = (("F3", "next"), ("Enter", "done"), ("Esc", "close"))
FILTER_KEYS = (("Enter", "keep"), ("Esc", "clear"))
FILTER_KEPT_KEYS = (("\\", "edit"), ("Esc", "clear"))


class SnapshotReady(Message):
    """The session published a new snapshot (posted from the session thread)."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        # only the newest snapshot matters: a slow UI skips the ones it had no time to draw
        return isinstance(message, SnapshotReady)


def keys_hint(keys: Iterable[tuple[str, str]]) -> Content:
    """(("Esc", "close"), ...) -> "Esc close  ..." with the keys in bold."""
    return Content("  ").join(
        Content.from_markup("[b]$key[/b] $what", key=k, what=w) for k, w in keys
    )


def _settings_path() -> Path:
    return paths.state_dir() / "ui.json"


class TractApp(App[int]):
    """The main screen: status line, banner, the process tree, the event log, the footer."""

    CSS_PATH = "styles.tcss"
    TITLE = "tractui"

    # the footer shows what fits in 80 columns, as htop's F-key bar does; the rest (show=False)
    # is in the help screen and the command palette
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "launch", "Launch", id="launch", tooltip="Launch a program into a group"),
        Binding("a", "attach", "Attach", id="attach", tooltip="Attach running PIDs to a group"),
        Binding("k,f9", "signal", "Kill", id="signal", tooltip="Send a signal (SIGTERM first)"),
        Binding(
            "enter", "details", "Info", show=False, id="details", tooltip="Details of the process"
        ),
        Binding(
            "e",
            "toggle_events",
            "Events",
            show=False,
            id="events",
            tooltip="Show/hide the event log",
        ),
        Binding(
            "x",
            "toggle_exited",
            "Exited",
            show=False,
            id="exited",
            tooltip="Show/hide exited processes",
        ),
        Binding(
            "l",
            "launch_log",
            "Log",
            show=False,
            id="log",
            tooltip="The group's launch log (output)",
        ),
        Binding("slash", "search", "Search", id="search", tooltip="Incremental search"),
        Binding(
            "f3",
            "search_next",
            "Next match",
            show=False,
            id="search_next",
            tooltip="Next match of the search (a new search if none)",
        ),
        Binding("backslash,f4", "filter", "Filter", id="filter", tooltip="Filter the rows"),
        Binding("s,f6", "sort", "Sort", id="sort", tooltip="Sort siblings by: pick a column"),
        Binding(
            "I",
            "invert_sort",
            "Invert sort",
            show=False,
            id="invert_sort",
            tooltip="Invert the sort order",
        ),
        Binding(
            "f7", "nice(-1)", "Nice -", show=False, id="nice_down", tooltip="Nice - (more CPU)"
        ),
        Binding("f8", "nice(1)", "Nice +", show=False, id="nice_up", tooltip="Nice + (less CPU)"),
        Binding("r", "rename", "Rename", show=False, id="rename", tooltip="Rename the group"),
        Binding(
            "d", "remove", "Remove", show=False, id="remove", tooltip="Stop tracking the group"
        ),
        Binding("question_mark,f1", "help", "Help", id="help", tooltip="Every key, by context"),
        Binding("q,f10", "quit", "Quit", id="quit", tooltip="Quit (asks about launched groups)"),
        Binding("escape", "close_find", "Close search, clear filter", show=False, id="close_find"),
    ]

    def __init__(
        self,
        session: Session,
        banner: str = "",
        host: str | None = None,
        kernel: str | None = None,
        save_settings: bool = True,
    ) -> None:
        super().__init__()
        self.session = session
        self.banner = banner
        self.host = host if host is not None else socket.gethostname()
        self.kernel = kernel if kernel is not None else os.uname().release
        self.save_settings = save_settings
        self.snapshot: Snapshot = session.snapshot
        self._select_after: str | None = None
        self._banner_text: str | None = None  # what the banner shows (None: not yet set)
        self._find_mode = "search"
        self._last_search = ""  # what F3 finds again once the search bar is closed
        if save_settings:
            self._load_settings()

    # ---- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusHeader(self.host, self.kernel, id="status")
        yield Static(self.banner, id="banner")
        yield Static(header_text("tree"), id="columns")
        yield ProcessTree(id="tree")
        yield EventLog(id="events")
        with Horizontal(id="findbar"):
            yield Label("Search:", id="find-label")
            yield Input(id="find", compact=True)
            yield Static("", id="find-keys")
        yield Footer(compact=True)

    @property
    def process_tree(self) -> ProcessTree:
        return self.query_one(ProcessTree)

    def on_mount(self) -> None:
        self.query_one("#events").display = False
        self.query_one("#findbar").display = False
        self._show_banner()
        self.process_tree.focus()
        self.session.subscribe(self._post_snapshot)
        self.session.start()
        self.theme_changed_signal.subscribe(self, lambda _theme: self._store_settings())
        self.screen_change_signal.subscribe(self, self._screen_changed)

    def _post_snapshot(self, snapshot: Snapshot) -> None:
        # called in the session thread: post_message is the thread-safe way in
        self.post_message(SnapshotReady(snapshot))

    async def on_unmount(self) -> None:
        await asyncio.to_thread(self.session.stop)

    async def on_event(self, event: events.Event) -> None:
        if BENCH_TIMINGS and isinstance(event, events.Key):
            # bench/ui: from the key read off the terminal (its event made, in the input
            # thread) until the screen has been painted after it. A key reaches the app
            # twice, before and after the focused widget handled it (it bubbles back up):
            # each arrival is noted, named by the event's time; the bench keeps the last
            started = time.perf_counter() - (time.monotonic() - event.time)
            self.call_after_refresh(bench_note, f"key@{event.time:.6f}", started)
        await super().on_event(event)

    # ---- snapshots ---------------------------------------------------------------------------

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        started = time.perf_counter() if BENCH_TIMINGS else 0.0
        snapshot = message.snapshot
        self.snapshot = snapshot
        try:
            header = self.query_one(StatusHeader)
        except NoMatches:
            return  # a snapshot that came in while the app was closing
        header.show(snapshot)
        self._show_banner()
        tree = self.process_tree
        tree.update_snapshot(snapshot)
        if self._select_after is not None and tree.select(self._select_after):
            self._select_after = None
        self._show_events()
        if BENCH_TIMINGS:  # bench/ui: the rebuild, then up to the screen painted
            bench_note("rebuild", started)
            self.call_after_refresh(bench_note, "refresh", started)

    def _show_banner(self) -> None:
        text = " · ".join(t for t in (self.banner, self.snapshot.banner) if t)
        if text == self._banner_text:
            return  # each snapshot: an update would lay the screen out again
        self._banner_text = text
        banner = self.query_one("#banner", Static)
        banner.update(Content(escape(text)))  # it may quote a daemon's or the kernel's words
        banner.display = bool(text)

    def _show_events(self) -> None:
        try:
            events = self.query_one(EventLog)
        except NoMatches:
            return  # a highlight that came in while the app was closing (its widgets gone)
        if events.display:
            row = self.process_tree.current
            group = row.group if row is not None else None
            events.show(self.snapshot.log(group), group)

    @on(ProcessTree.Highlighted)
    def highlighted(self) -> None:
        self._show_events()

    # ---- helpers -----------------------------------------------------------------------------

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every toast is plain text with its control characters escaped (its lines kept):
        toasts quote errors and processes, another user's text, never to be read as markup
        (a ``[/b]`` in an argument would raise; ``[@click=...]`` would run an action)."""
        text = "\n".join(escape(line) for line in message.split("\n"))
        super().notify(text, title=escape(title), severity=severity, timeout=timeout, markup=False)

    def on_notify(self, event: Notify) -> None:
        """One toast at a time: those shown go as a new one comes (App adds it after this),
        so x pressed 70 times shows one, and no wall of old toasts hides the screen."""
        self.clear_notifications()

    def _screen_changed(self, screen: Screen[object]) -> None:
        if screen is not self.screen_stack[0]:
            self.clear_notifications()  # a dialog opened: old news must not hide its keys

    def _row(self, need_proc: bool = False) -> Row | None:
        row = self.process_tree.current
        if row is None:
            self.notify("No group yet: press n to launch a program or a to attach one")
            return None
        if need_proc and row.proc is None:
            self.notify("Select a process, not a group header", severity="warning")
            return None
        return row

    async def _call(self, future: Future[T]) -> T | None:
        """Await a session future; show a UserError as a notification (and return None)."""
        try:
            return await asyncio.wrap_future(future)
        except UserError as err:
            self.notify(str(err), severity="error")
            return None

    def _groups(self) -> list[str]:
        return [g.name for g in self.snapshot.groups]

    # ---- actions -----------------------------------------------------------------------------

    def action_launch(self) -> None:
        row = self.process_tree.current
        group = row.group if row is not None else ""

        def done(result: tuple[str, int] | None) -> None:
            if result is not None:
                self._select_after = result[0]
                self.notify(f"launched PID {result[1]} into {result[0]}")

        self.push_screen(LaunchScreen(self.session, self._groups(), group), done)

    def action_attach(self) -> None:
        row = self.process_tree.current
        group = row.group if row is not None else ""

        def done(result: tuple[str, list[int]] | None) -> None:
            if result is not None:
                self._select_after = result[0]
                pids = " ".join(map(str, result[1]))
                self.notify(f"attached {pids} to {result[0]}")

        self.push_screen(AttachScreen(self.session, self._groups(), group), done)

    def action_signal(self) -> None:
        row = self._row()
        if row is None:
            return
        if row.proc is None:
            label = f"group {row.group}: every live process"
            pid = None
        else:
            label = f"PID {row.proc.pid} of {row.group}: {row.proc.command}"
            pid = row.proc.pid
            if not row.proc.alive:
                self.notify(f"PID {pid} has exited: nothing to signal", severity="warning")
                return
        self.push_screen(SignalScreen(self.session, row.group, pid, label))

    async def action_details(self) -> None:
        row = self._row()
        if row is None:
            return
        if row.proc is None:
            self.process_tree.toggle(self.process_tree.cursor)
            return
        details = await self._call(self.session.details(row.proc.key))
        if details is not None:
            self.push_screen(DetailsScreen(details))

    def action_toggle_events(self) -> None:
        events = self.query_one(EventLog)
        events.display = not events.display
        self._show_events()

    def action_toggle_exited(self) -> None:
        tree = self.process_tree
        tree.show_exited = not tree.show_exited
        tree.rebuild()
        self.notify(
            "exited processes " + ("shown" if tree.show_exited else "hidden"),
            timeout=TOGGLE_TIMEOUT,
        )

    def action_launch_log(self) -> None:
        row = self._row()
        if row is not None:
            group, session = row.group, self.session
            self.push_screen(
                LaunchLogScreen(
                    group, session.log_path(group), lambda offset: session.read_log(group, offset)
                )
            )

    def action_search(self) -> None:
        self._open_find("search")

    def action_search_next(self) -> None:
        """F3: the next match, in the search bar or after it closed; else a new search."""
        searching = self.query_one("#find", Input).has_focus and self._find_mode == "search"
        text = self.query_one("#find", Input).value if searching else self._last_search
        if not text:
            self._open_find("search")
            return
        tree = self.process_tree
        found = tree.search(text, start=tree.cursor + 1)
        if searching:
            self._found(found)
            return
        if not found:
            self.bell()
        tree.search_text = ""  # the cursor is on the match; no highlight left behind
        tree.refresh()

    def action_filter(self) -> None:
        self._open_find("filter")

    def _open_find(self, mode: str) -> None:
        find = self.query_one("#find", Input)
        self._find_mode = mode
        self._show_findbar(editing=True)
        with find.prevent(Input.Changed):
            find.value = self.process_tree.filter_text if mode == "filter" else ""
        find.placeholder = "command or PID" if mode == "search" else "show only matching processes"
        find.focus()

    def _show_findbar(self, editing: bool) -> None:
        """The bar while a search or a filter is typed; closed, it stays only while a filter is
        on, to say so (as htop does): "Filter: sleep  \\ edit  Esc clear"."""
        tree = self.process_tree
        bar = self.query_one("#findbar")
        bar.display = editing or bool(tree.filter_text)
        bar.screen.set_class(bar.display, "-findbar")  # toasts go above it
        if bar.display and not editing:
            self._find_mode = "filter"  # what the bar shows, and what Esc clears
            find = self.query_one("#find", Input)
            with find.prevent(Input.Changed):
                find.value = tree.filter_text
        filtering = self._find_mode == "filter"
        bar.set_class(False, "-nomatch")
        self.query_one("#find-label", Label).update("Filter:" if filtering else "Search:")
        keys = (FILTER_KEYS if filtering else SEARCH_KEYS) if editing else FILTER_KEPT_KEYS
        self.query_one("#find-keys", Static).update(keys_hint(keys))

    @on(Input.Changed, "#find")
    def find_changed(self, event: Input.Changed) -> None:
        tree = self.process_tree
        if self._find_mode == "filter":
            tree.filter_text = event.value
            tree.rebuild()
        else:
            self._found(tree.search(event.value))

    def _found(self, found: bool) -> None:
        """A search found nothing: a bell, and the bar says so until one does."""
        if not found:
            self.bell()
        self.query_one("#findbar").set_class(not found, "-nomatch")
        label = "Search:" if found else "No match:"
        self.query_one("#find-label", Label).update(label)

    @on(Input.Submitted, "#find")
    def find_submitted(self, event: Input.Submitted) -> None:
        """Enter: done; the search's match stays selected, the filter stays on."""
        tree = self.process_tree
        if self._find_mode == "search":
            self._last_search = event.value
            tree.search("")  # the cursor stays on the match; the highlight goes
        tree.focus()
        self._show_findbar(editing=False)

    def action_close_find(self) -> None:
        """Esc: close the search (the cursor stays), or clear the filter."""
        tree = self.process_tree
        if self._find_mode == "search" and self.query_one("#find", Input).has_focus:
            self._last_search = ""
            tree.search("")
        elif tree.filter_text:
            tree.filter_text = ""
            tree.rebuild()
        tree.focus()
        self._show_findbar(editing=False)

    def action_sort(self) -> None:
        tree = self.process_tree

        def done(choice: tuple[str, bool] | None) -> None:
            if choice is not None:
                self._sort_by(*choice)

        self.push_screen(SortScreen(tree.sort, tree.descending), done)

    def action_invert_sort(self) -> None:
        tree = self.process_tree
        self._sort_by(tree.sort, not tree.descending)

    def _sort_by(self, sort: str, descending: bool) -> None:
        tree = self.process_tree
        tree.sort_by(sort, descending)
        self.query_one("#columns", Static).update(header_text(sort, descending))
        if sort == "tree":
            how = "fork order, " + ("newest first" if descending else "oldest first")
        else:
            how = f"{sort} " + ("descending" if descending else "ascending")
        self.notify(f"siblings sorted by {how}", timeout=TOGGLE_TIMEOUT)

    async def action_nice(self, step: int) -> None:
        row = self._row(need_proc=True)
        if row is None or row.proc is None:
            return
        value = await self._call(self.session.renice(row.proc.key, step))
        if value is not None:
            self.notify(f"PID {row.proc.pid}: nice {value}", timeout=TOGGLE_TIMEOUT)

    def action_rename(self) -> None:
        row = self._row()
        if row is None:
            return

        def done(name: str | None) -> None:
            if name is not None and name != row.group:
                self._select_after = name
                self.notify(f"group {row.group} renamed {name}")

        self.push_screen(RenameScreen(self.session, row.group), done)

    @work(exclusive=True, group="remove")
    async def action_remove(self) -> None:
        row = self._row()
        if row is None:
            return
        group = row.group
        question = (
            f"Stop tracking group {group}? Its processes are left running, untouched; "
            "tractui just forgets them."
        )
        if not await self.push_screen_wait(ConfirmScreen(question, "Remove group")):
            return
        count = await self._call(self.session.remove(group))
        if count is not None:
            gone = count_text(count, "process", "processes")
            self.notify(f"group {group} removed ({gone} no longer tracked)")

    def action_help(self) -> None:
        sections: list[tuple[str, list[Binding]]] = [
            ("Moving in the tree", [b for b in ProcessTree.BINDINGS if isinstance(b, Binding)]),
            ("Actions", [b for b in self.BINDINGS if isinstance(b, Binding)]),
            ("In the sort picker (s F6)", SortScreen.help_bindings()),
            ("In the signal picker (k F9)", SignalScreen.help_bindings()),
            (
                "Anywhere",
                [
                    Binding("ctrl+p", "command_palette", "Command palette: every action"),
                    Binding("ctrl+c", "help_quit", "Quit, as q does"),
                ],
            ),
        ]
        self.push_screen(HelpScreen(sections))

    async def action_quit(self) -> None:
        """Quit; if programs this UI launched are alive, ask whether to leave or end them."""
        self._quit()

    def action_help_quit(self) -> None:
        """ctrl+c (Textual only says how to quit): quit, as in htop."""
        self._quit()

    @work(exclusive=True, group="quit")
    async def _quit(self) -> None:
        plan = await self._call(self.session.quit_plan())
        if plan is not None and plan.ending:
            choice = await self.push_screen_wait(QuitScreen(plan.ending, plan.left))
            if choice == "cancel":
                return
            if choice == "end":
                self.notify(f"ending {count_text(len(plan.ending), 'process', 'processes')}...")
                await self._call(self.session.end_launched())
        self.exit(0)

    # ---- the command palette: every action ---------------------------------------------------

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The app's actions, the theme switch and quit; not Textual's Keys panel (Esc does
        not close it), Maximize or Screenshot, which mean nothing here."""
        for binding in self.BINDINGS:
            if isinstance(binding, Binding) and binding.action != "close_find":
                yield SystemCommand(
                    binding.description,
                    binding.tooltip,
                    partial(self.run_action, binding.action),
                )
        yield SystemCommand("Theme", "Change the current theme", self.action_change_theme)

    # ---- settings: the theme persists --------------------------------------------------------

    def _load_settings(self) -> None:
        try:  # never through a link (another user's file), nor from a FIFO (it would hang)
            with os.fdopen(paths.open_private(_settings_path(), os.O_RDONLY)) as f:
                theme = json.load(f).get("theme")
        except (OSError, UserError, ValueError, AttributeError):
            return
        if isinstance(theme, str) and theme in self.available_themes:
            self.theme = theme

    def _store_settings(self) -> None:
        if not self.save_settings:
            return
        try:
            paths.check_state_dir(paths.state_dir())
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
            with os.fdopen(paths.open_private(_settings_path(), flags), "w") as f:
                json.dump({"theme": self.theme}, f)
        except (OSError, UserError) as err:
            log.warning("cannot save the settings: %s", err)


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


def run(verbose: bool = False, embedded: bool = False, keep_exited: float = KEEP_EXITED) -> int:
    """Start the engine, then the full-screen UI; exit at once with the reason if we can't.

    The engine is the daemon's when one answers on the socket (unless ``embedded``)."""
    # Each snapshot of 10,000 processes makes ~20,000 short-lived objects: the default
    # thresholds ran a full collection every few snapshots (~150 ms each). Measured with
    # bench/ui at 10,000 processes: refresh p95 336-382 ms -> 199 ms.
    gc.set_threshold(10_000, 20, 100)
    if not embedded:
        try:
            remote = _daemon_engine()
        except UserError as err:
            print(f"tractui: {err} (or run 'tractui --embedded')", file=sys.stderr)
            return err.exit_code
        if remote is not None:
            _log_off_the_screen()
            log.debug("tractui UI starting on the daemon %d", remote.daemon_pid)
            result = TractApp(Session(remote)).run()
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
        verbose=False,
        collector_stderr=paths.log_dir() / "_collector.log",
        state=state,
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
    app = TractApp(Session(engine), banner=banner)
    result = app.run()
    return result if result is not None else 0
