"""The tractui terminal UI: groups as live genealogical trees; launch, attach, signal, inspect.

The app never touches the engine: a :class:`~tractui.session.Session` runs it in a thread and
posts immutable snapshots (at most 5 a second), which the widgets draw; the app's actions go back
through the session's methods, which return futures.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from collections.abc import Iterable
from concurrent.futures import Future
from functools import partial
from typing import ClassVar, TypeVar

from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.css.query import NoMatches
from textual.message import Message
from textual.notifications import Notify, SeverityLevel
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from tractui import settings
from tractui.control import SignalResult
from tractui.errors import UserError
from tractui.model.changes import Key
from tractui.screens.attach import AttachScreen
from tractui.screens.columns import ColumnsScreen
from tractui.screens.confirm import ConfirmScreen, QuitScreen
from tractui.screens.details import DetailsScreen
from tractui.screens.group import GroupDetailsScreen
from tractui.screens.help import HelpScreen
from tractui.screens.launch import LaunchScreen
from tractui.screens.logview import LaunchLogScreen
from tractui.screens.rename import RenameScreen
from tractui.screens.signals import Send, SignalScreen, Tagged, Targets
from tractui.screens.sort import SortScreen
from tractui.screens.timeline import TimelineScreen
from tractui.screens.users import UserScreen
from tractui.session import BENCH_TIMINGS, KeyTrace, Session, bench_note
from tractui.snapshot import ProcRow, Snapshot
from tractui.text import escape
from tractui.widgets.columns import default_ids, valid_ids
from tractui.widgets.eventlog import EventLog
from tractui.widgets.findbar import FindBar
from tractui.widgets.header import StatusHeader, count_text
from tractui.widgets.meters import MODES, MetersBar
from tractui.widgets.timeline import Timeline
from tractui.widgets.tree import (
    ColumnHeader,
    ProcessTree,
    Row,
    RowId,
    default_descending,
)

T = TypeVar("T")

# how long a toggle's toast stays (x, I, sort, nice): long enough to read, gone before the next
TOGGLE_TIMEOUT = 2.0
# Tab and shift+Tab: the app binds them (see BINDINGS), neither help nor the palette lists them
FOCUS_KEYS = ("focus_next", "focus_previous", "next_field")  # Tab, shift+Tab: ids and actions


TERMINAL_FD = 0  # the terminal the UI reads its keys from
TERMINAL_CHECK = 1.0  # s between two checks that it is still there
HANGUP_EXIT = 128 + signal.SIGHUP  # the status of a program a hang-up ended


class SnapshotReady(Message):
    """The session published a new snapshot (posted from the session thread)."""

    def __init__(self, snapshot: Snapshot) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        # only the newest snapshot matters: a slow UI skips the ones it had no time to draw
        return isinstance(message, SnapshotReady)


class TractApp(App[int]):
    """The main screen: status line, banner, the process tree, the event log, the find bar
    and the footer; and what each key does.

    About 450 lines, over the project's ~300, kept whole on purpose: 85 are the key table
    (Textual reads it from the class; the help screen and the command palette list it from
    here), and most of the rest is one short action per key: read the row under the cursor,
    open a dialog or call the session, say what happened in a toast. Split by kind, what one
    key does would be spread over files with no part getting simpler. What has a job of its
    own lives elsewhere: the find bar (widgets/findbar.py), the settings file (settings.py),
    choosing the engine and starting (commands/ui.py), and each dialog's work (it is given
    only the session methods it needs). The bench hooks (BENCH_TIMINGS) are two guarded
    blocks, in on_event and on_snapshot_ready, where what they time happens.
    """

    CSS_PATH = "styles.tcss"
    TITLE = "tractui"
    # a screen under 24 lines is -short: its dialogs drop their padding (styles.tcss)
    VERTICAL_BREAKPOINTS = [(0, "-short"), (24, "-tall")]

    # the footer shows what fits in 80 columns, as htop's F-key bar does; the rest (show=False)
    # is in the help screen and the command palette
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "launch", "Launch", id="launch", tooltip="Launch a program into a group"),
        Binding("a", "attach", "Attach", id="attach", tooltip="Attach running PIDs to a group"),
        Binding("k,f9", "signal", "Kill", id="signal", tooltip="Send a signal (SIGTERM first)"),
        Binding(
            "enter",
            "details",
            "Info",
            show=False,
            id="details",
            tooltip="Details of the process; of a group: its totals and history",
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
            "M",
            "sort_by('RSS')",
            "Sort by memory",
            show=False,
            id="sort_memory",
            tooltip="Sort by RSS, biggest first (htop's M)",
        ),
        Binding(
            "P",
            "sort_by('CPU%')",
            "Sort by CPU",
            show=False,
            id="sort_cpu",
            tooltip="Sort by CPU%, busiest first (htop's P)",
        ),
        Binding(
            "T",
            "sort_by('TIME+')",
            "Sort by time",
            show=False,
            id="sort_time",
            tooltip="Sort by TIME+, most first (htop's T)",
        ),
        Binding(
            "f2,S",
            "choose_columns",
            "Columns",
            show=False,
            id="columns",
            tooltip="Choose the columns and their order (htop's setup)",
        ),
        Binding(
            "f5,t",
            "toggle_tree",
            "Tree/list",
            show=False,
            id="tree_view",
            tooltip="The tree of each group, or one flat list of every process",
        ),
        Binding(
            "p",
            "toggle_path",
            "Path",
            show=False,
            id="show_path",
            tooltip="Show/hide the program's path (argv[0]'s directory)",
        ),
        Binding(
            "f7,right_square_bracket",
            "nice(-1)",
            "Nice -",
            show=False,
            id="nice_down",
            tooltip="Nice - (more CPU)",
        ),
        Binding(
            "f8,left_square_bracket",
            "nice(1)",
            "Nice +",
            show=False,
            id="nice_up",
            tooltip="Nice + (less CPU)",
        ),
        Binding(
            "space",
            "tag",
            "Tag",
            show=False,
            id="tag",
            tooltip="Tag/untag the process (then k, F7/F8 act on the tagged ones)",
        ),
        Binding(
            "c",
            "tag_subtree",
            "Tag subtree",
            show=False,
            id="tag_subtree",
            tooltip="Tag the process and its descendants",
        ),
        Binding("U", "untag_all", "Untag all", show=False, id="untag_all", tooltip="Untag all"),
        Binding(
            "u",
            "user_filter",
            "User",
            show=False,
            id="user_filter",
            tooltip="Show only one user's processes (a picker; all users clears)",
        ),
        Binding(
            "H",
            "toggle_threads",
            "Threads",
            show=False,
            id="threads",
            tooltip="Show/hide threads, as rows under their process",
        ),
        Binding(
            "F",
            "follow",
            "Follow",
            show=False,
            id="follow",
            tooltip="Follow the process: the cursor stays on it (a move key stops)",
        ),
        Binding("r", "rename", "Rename", show=False, id="rename", tooltip="Rename the group"),
        Binding(
            "d", "remove", "Remove", show=False, id="remove", tooltip="Stop tracking the group"
        ),
        Binding(
            "v",
            "timeline",
            "Timeline",
            show=False,
            id="timeline",
            tooltip="Timeline of the group: each process a bar from its start to its end",
        ),
        Binding(
            "number_sign",
            "cycle_meters",
            "Meters",
            show=False,
            id="meters",
            tooltip="Meters at the top: off, one line, two lines",
        ),
        Binding("question_mark,f1", "help", "Help", id="help", tooltip="Every key, by context"),
        Binding("q,f10", "quit", "Quit", id="quit", tooltip="Quit (asks about launched groups)"),
        Binding("escape", "close_find", "Close search, clear filter", show=False, id="close_find"),
        # Tab moves the focus at once: as a priority binding it runs before the next key is
        # routed. Screen's own Tab ran only once Tab had gone through the focused field's
        # queue, behind the keys typed after it ("web", Tab, "sleep 9" in one burst all went
        # to the group field). Not listed in help or the palette (see FOCUS_KEYS)
        Binding("tab", "next_field", show=False, priority=True, id="focus_next"),
        Binding("shift+tab", "focus_previous", show=False, priority=True, id="focus_previous"),
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
        self._tree = ProcessTree(id="tree")
        self.meter_lines = 1  # the meters' lines: 0 (off), 1 or 2 (``#``; saved)
        if save_settings:
            self._load_settings()
        if BENCH_TIMINGS:  # bench/ui: each key's way through the app (KeyTrace)
            self._key_trace = KeyTrace()
            self._display = self._key_trace.wrap_display(self._display)  # type: ignore[method-assign]

    # ---- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusHeader(self.host, self.kernel, id="status")
        yield MetersBar(self.meter_lines, id="meters")
        yield Static(self.banner, id="banner")
        tree = self._tree
        yield ColumnHeader(tree, id="columns")
        yield tree
        yield EventLog(id="events")
        yield Static("", id="modes")  # user filter, tags, following, threads: while on
        yield FindBar(tree, id="findbar")
        yield Footer(compact=True)

    @property
    def process_tree(self) -> ProcessTree:
        return self.query_one(ProcessTree)

    @property
    def find_bar(self) -> FindBar:
        return self.query_one(FindBar)

    def on_mount(self) -> None:
        self.query_one("#events").display = False
        self.query_one("#modes").display = False
        self._modes_text = ""
        self._show_banner()
        self.process_tree.focus()
        self.session.subscribe(self._post_snapshot)
        self.session.start()
        self.theme_changed_signal.subscribe(self, lambda _theme: self._store_settings())
        self.screen_change_signal.subscribe(self, self._screen_changed)
        if not self.is_headless and os.isatty(TERMINAL_FD):
            self.set_interval(TERMINAL_CHECK, self._check_terminal)

    def _check_terminal(self) -> None:
        """Quit once the terminal is gone (its window closed, its ssh connection dropped). On a
        hang-up the kernel signals only the session's leader: under ``make run``, or a shell
        that runs tractui and then more, that is not tractui, which would otherwise run on
        unseen, its collector and sampler with it. A hung-up terminal answers EIO."""
        try:
            os.tcgetpgrp(TERMINAL_FD)
        except OSError:
            self.exit(return_code=HANGUP_EXIT)

    def _post_snapshot(self, snapshot: Snapshot) -> None:
        # called in the session thread: post_message is the thread-safe way in
        self.post_message(SnapshotReady(snapshot))

    async def on_unmount(self) -> None:
        await asyncio.to_thread(self.session.stop)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):  # the session thread waits until it is answered
            self.session.hold()
            self.call_after_refresh(self.session.release)
        if BENCH_TIMINGS and isinstance(event, events.Key):
            # bench/ui: from the key read off the terminal (its event made, in the input
            # thread) until the screen has been painted after it. A key reaches the app
            # twice, before and after the focused widget handled it (it bubbles back up):
            # each arrival is noted, named by the event's time; the bench keeps the last
            started = time.perf_counter() - (time.monotonic() - event.time)
            self.call_after_refresh(bench_note, f"key@{event.time:.6f}", started)
            self._key_trace.arrived(event.time)
            self.call_after_refresh(self._key_trace.painted, event.time)
        if (
            isinstance(event, events.Key)
            and not event.is_forwarded
            and not event.is_printable
            and isinstance(self.focused, Input)
            and await self._in_typed_order(self.focused, event.key)
        ):
            return
        await super().on_event(event)

    def action_next_field(self) -> None:
        """Tab: the screen's own next field if it has one (the attach dialog: from the search
        to the group), else the next widget that takes the focus."""
        screen_next = getattr(self.screen, "action_next_field", None)
        if callable(screen_next):
            screen_next()
        else:
            self.screen.focus_next()

    async def _in_typed_order(self, field: Input, key: str) -> bool:
        """A field's editing key (backspace, ctrl+u, Enter...) acted on in the order typed.

        Textual runs a binding only once its key has gone through the field's queue and back
        up to the app's, behind the characters typed after it: "ab", backspace, "c" in one
        burst made "abc". Here the binding (found now, for this field) runs in the field's
        own queue, after the characters typed before it and before those typed after. A
        priority binding (Tab) runs at once, as Textual runs it. False: no binding; the key
        goes on as usual."""
        if await self._check_bindings(key, priority=True):
            return True
        chain = [
            (namespace, binding)
            for namespace, bindings in self.screen._modal_binding_chain
            for binding in bindings.key_to_bindings.get(key, ())
            if not binding.priority
        ]
        if not chain:
            return False

        async def run() -> None:
            for namespace, binding in chain:
                if await self.run_action(binding.action, namespace):
                    return

        field.call_later(run)
        return True

    # ---- snapshots ---------------------------------------------------------------------------

    def on_snapshot_ready(self, message: SnapshotReady) -> None:
        started = time.perf_counter() if BENCH_TIMINGS else 0.0
        snapshot = message.snapshot
        self.snapshot = snapshot
        try:
            header = self.query_one(StatusHeader)
        except NoMatches:
            return  # a snapshot that came in while the app was closing
        # the session thread waits (its GIL given up) until this frame is painted, as for a
        # key: a tree of thousands of rows redrawn once a second carries that many changes,
        # and the refresh took turns for the GIL with the sampler's slices (bench/ui)
        self.session.hold_drawing()
        self.call_after_refresh(self.session.release)
        header.show(snapshot)
        self.query_one(MetersBar).show(snapshot.meters)
        self._show_banner()
        tree = self.process_tree
        tree.update_snapshot(snapshot)
        if self._select_after is not None and tree.select(self._select_after):
            self._select_after = None
        self.session.on_screen(tree.on_screen())  # read each round at least once a second
        self._show_events()
        self._show_modes()
        for screen in self.screen_stack:
            if isinstance(screen, TimelineScreen):
                screen.update_snapshot(snapshot)
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
        self._show_modes()

    def _show_modes(self) -> None:
        """The line above the find bar while a mode is on, as htop's footer says so: the user
        filter, the tags, the process followed, the thread rows (hidden when none is)."""
        try:
            tree = self.process_tree
            line = self.query_one("#modes", Static)
        except NoMatches:
            return  # closing
        parts = []
        if tree.user_filter:
            parts.append(f"User: {tree.user_filter} (Esc: all)")
        if tree.tagged:
            parts.append(f"{len(tree.tagged)} tagged (U untags)")
        if tree.following is not None:
            parts.append(f"Following PID {tree.following[0]}")
        if tree.show_threads:
            parts.append("Threads shown (H)")
        text = " │ ".join(parts)
        if text == self._modes_text:
            return
        self._modes_text = text
        line.update(Content(escape(text)))
        line.display = bool(text)

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

        self.push_screen(LaunchScreen(self.session.launch, self._groups(), group), done)

    def action_attach(self) -> None:
        row = self.process_tree.current
        group = row.group if row is not None else ""

        def done(result: tuple[str, list[int]] | None) -> None:
            if result is not None:
                self._select_after = result[0]
                pids = " ".join(map(str, result[1]))
                self.notify(f"attached {pids} to {result[0]}")

        session = self.session
        tracked = {row.pid: row.group for row in self.snapshot.procs.values() if row.alive}
        screen = AttachScreen(
            session.preview, session.attach, self._groups(), group, session.own_pids, tracked
        )
        self.push_screen(screen, done)

    async def action_signal(self) -> None:
        row = self._row()
        if row is None:
            return
        tagged = self._tagged()
        exited = False
        if row.proc is None:
            label = f"group {row.group}: every live process"
            pid = None
        else:
            label = f"PID {row.proc.pid} of {row.group}: {row.proc.command}"
            pid = row.proc.pid
        # the dialog reaches this group only, or the tagged processes
        targets: Targets = partial(self.session.targets, row.group)
        send: Send = partial(self.session.send_signal, row.group)
        if row.proc is not None and not row.proc.alive and not tagged:
            # its live descendants still run (a setsid child): the subtree scope reaches them,
            # by key (the PID may be another member's by now)
            below = await self._call(self.session.live_below(row.proc.key))
            if below is None:
                return
            if not below:
                self.notify(
                    f"PID {row.proc.pid} has exited, and no descendant of it is alive",
                    severity="warning",
                )
                return
            label = exited_label(row.proc, [k[0] for k in below], self.snapshot)
            exited = True
            by_group_targets, by_group_send = targets, send

            def targets(pid: int | None, subtree: bool) -> Future[list[int]]:
                if pid is not None and subtree:
                    return self.session.tagged_targets(below)
                return by_group_targets(pid, subtree)

            def send(
                pid: int | None, subtree: bool, sig: signal.Signals
            ) -> Future[list[SignalResult]]:
                if pid is not None and subtree:
                    return self.session.signal_keys(below, sig)
                return by_group_send(pid, subtree, sig)

        scope = None
        if tagged:
            scope = Tagged(
                len(tagged),
                self._tagged_listing(tagged),
                partial(self.session.tagged_targets, tagged),
                partial(self.session.signal_keys, tagged),
            )
        self.push_screen(SignalScreen(targets, send, row.group, pid, label, scope, exited=exited))

    def _tagged(self) -> list[Key]:
        """The tagged processes, in PID order."""
        return sorted(self.process_tree.tagged)

    def _tagged_listing(self, keys: list[Key], shown: int = 6) -> str:
        """What a signal to the tagged ones reaches: "tagged (3): 12 sleep 9 · ..."."""
        procs = self.snapshot.procs
        items = []
        for key in keys[:shown]:
            row = procs.get(key)
            if row is not None:
                command = row.command if len(row.command) <= 40 else row.command[:39] + "…"
                items.append(f"{row.pid} {command}" + ("" if row.alive else " (exited)"))
        more = f" · and {len(keys) - shown} more" if len(keys) > shown else ""
        return f"tagged ({len(keys)}): " + " · ".join(items) + more

    async def action_details(self) -> None:
        row = self._row()
        if row is None:
            return
        if row.proc is None:  # a group header: its details (← → - + and a click fold it)
            group, session = row.group, self.session
            found = await self._call(session.group_details(group))
            if found is not None:
                self.push_screen(GroupDetailsScreen(found, lambda: session.group_details(group)))
            return
        details = await self._call(self.session.details(row.proc.key))
        if details is not None:
            self.push_screen(DetailsScreen(details))

    def action_timeline(self) -> None:
        """The timeline of the group under the cursor, on the process under it."""
        row = self._row()
        if row is None:
            return
        key = row.proc.key if row.proc is not None else None
        session = self.session
        self.push_screen(
            TimelineScreen(
                row.group, self.snapshot, key, self._select_key, session.details, session.clock
            )
        )

    def _select_key(self, key: Key) -> None:
        """Put the tree's cursor on a process (the timeline's): its folded ancestors unfold;
        one the tree does not show (exited ones hidden, filtered out) leaves the cursor on its
        nearest shown ancestor."""
        tree = self.process_tree
        procs = self.snapshot.procs
        row = procs.get(key)
        if row is None or tree.select(key):
            return
        folded: set[RowId] = {row.group}
        parent = row.parent
        while parent is not None and parent in procs:
            folded.add(parent)
            parent = procs[parent].parent
        if folded & tree.collapsed:
            tree.collapsed.difference_update(folded)
            tree.rebuild()
        while row is not None and not tree.select(row.key):
            row = procs.get(row.parent) if row.parent is not None else None
        if row is None:
            tree.select(procs[key].group)

    def action_toggle_events(self) -> None:
        events = self.query_one(EventLog)
        events.display = not events.display
        self._show_events()

    def action_toggle_exited(self) -> None:
        tree = self.process_tree
        tree.show_exited = not tree.show_exited
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
        self.find_bar.open("search")

    def action_search_next(self) -> None:
        """F3: the next match, in the search bar or after it closed; else a new search."""
        self.find_bar.find_next()

    def action_filter(self) -> None:
        self.find_bar.open("filter")

    def action_close_find(self) -> None:
        """Esc: close the search (the cursor stays), or clear the filter; then the user
        filter."""
        tree, bar = self.process_tree, self.find_bar
        if tree.user_filter and not tree.filter_text and not bar.input.has_focus:
            tree.user_filter = ""
            self.notify("showing every user's processes", timeout=TOGGLE_TIMEOUT)
            self._show_modes()
            return
        bar.close()

    def action_sort(self) -> None:
        tree = self.process_tree

        def done(choice: tuple[str, bool] | None) -> None:
            if choice is not None:
                self._sort_by(*choice)

        self.push_screen(SortScreen(tree.sort, tree.descending), done)

    def action_invert_sort(self) -> None:
        tree = self.process_tree
        self._sort_by(tree.sort, not tree.descending)

    def action_sort_by(self, sort: str) -> None:
        """M, P, T: sort by that column, biggest first (as htop's keys)."""
        self._sort_by(sort, default_descending(sort))

    @on(ProcessTree.HeaderClicked)
    def header_clicked(self, message: ProcessTree.HeaderClicked) -> None:
        """A click on a column's title sorts by it; a second click inverts the order."""
        tree = self.process_tree
        if message.sort == tree.sort:
            self._sort_by(message.sort, not tree.descending)
        else:
            self._sort_by(message.sort, default_descending(message.sort))

    def action_choose_columns(self) -> None:
        """F2: the column chooser; each change shows at once, the choice is saved at the end."""
        tree = self.process_tree

        def apply(chosen: tuple[str, ...] | None) -> None:
            tree.chosen_columns = chosen  # None: the default set, by the width

        def done(chosen: tuple[str, ...] | None) -> None:
            apply(chosen)
            self._store_settings()

        default = default_ids(tree.size.width)
        is_default = tree.chosen_columns is None
        self.push_screen(ColumnsScreen(tree.column_ids, default, is_default, apply), done)

    def action_toggle_tree(self) -> None:
        tree = self.process_tree
        tree.flat = not tree.flat
        self._store_settings()
        self.notify(
            "flat list of every process, with its group" if tree.flat else "tree of each group",
            timeout=TOGGLE_TIMEOUT,
        )

    def action_toggle_path(self) -> None:
        tree = self.process_tree
        tree.show_path = not tree.show_path
        self._store_settings()
        self.notify(
            "program paths " + ("shown" if tree.show_path else "hidden"), timeout=TOGGLE_TIMEOUT
        )

    def _sort_by(self, sort: str, descending: bool) -> None:
        tree = self.process_tree
        tree.sort_by(sort, descending)
        if sort == "tree":
            how = "fork order, " + ("newest first" if descending else "oldest first")
        else:
            how = f"{sort} " + ("descending" if descending else "ascending")
        what = "sorted" if tree.flat else "siblings sorted"  # the flat list has no siblings
        self.notify(f"{what} by {how}", timeout=TOGGLE_TIMEOUT)

    async def action_nice(self, step: int) -> None:
        tagged = self._tagged()
        if tagged:
            await self._nice_tagged(tagged, step)
            return
        row = self._row(need_proc=True)
        if row is None or row.proc is None:
            return
        value = await self._call(self.session.renice(row.proc.key, step))
        if value is not None:
            self.notify(f"PID {row.proc.pid}: nice {value}", timeout=TOGGLE_TIMEOUT)

    async def _nice_tagged(self, tagged: list[Key], step: int) -> None:
        """F7/F8 with tags: renice each tagged process; one toast counts what was done."""
        results = await self._call(self.session.renice_many(tagged, step))
        if results is None:
            return
        done = [value for _key, value in results if isinstance(value, int)]
        failed = [str(value) for _key, value in results if isinstance(value, str)]
        lines = [f"nice {step:+d} on tagged ({len(tagged)}): {len(done)} of {len(results)} done"]
        if done and len(set(done)) == 1:
            lines[0] += f", now nice {done[0]}"
        lines.extend(failed[:5])
        if len(failed) > 5:
            lines.append(f"... and {len(failed) - 5} more")
        self.notify(
            "\n".join(lines),
            severity="warning" if failed else "information",
            timeout=8 if failed else TOGGLE_TIMEOUT,
        )

    def action_tag(self) -> None:
        """Space: tag/untag the process under the cursor, then move down (as htop)."""
        if self._row() is not None:
            self.process_tree.toggle_tag()
            self._show_modes()

    def action_tag_subtree(self) -> None:
        row = self._row(need_proc=True)
        if row is not None:
            count = self.process_tree.tag_subtree()
            self.notify(
                f"tagged {count_text(count, 'process', 'processes')}", timeout=TOGGLE_TIMEOUT
            )
            self._show_modes()

    def action_untag_all(self) -> None:
        count = self.process_tree.untag_all()
        self.notify(f"untagged {count_text(count, 'process', 'processes')}", timeout=TOGGLE_TIMEOUT)
        self._show_modes()

    def action_user_filter(self) -> None:
        """u: a picker of the users in the tree; the choice filters the rows."""
        users: dict[str, int] = {}
        for proc in self.snapshot.procs.values():
            users[proc.user] = users.get(proc.user, 0) + 1
        tree = self.process_tree

        def done(user: str | None) -> None:
            if user is None:
                return
            tree.user_filter = user
            self.notify(
                f"showing {user}'s processes" if user else "showing every user's processes",
                timeout=TOGGLE_TIMEOUT,
            )
            self._show_modes()

        self.push_screen(UserScreen(users, tree.user_filter), done)

    def action_toggle_threads(self) -> None:
        tree = self.process_tree
        tree.show_threads = not tree.show_threads
        self.session.show_threads(tree.show_threads)
        self.notify(
            "threads " + ("shown under their process" if tree.show_threads else "hidden"),
            timeout=TOGGLE_TIMEOUT,
        )
        self._show_modes()

    def action_follow(self) -> None:
        row = self._row(need_proc=True)
        if row is None and self.process_tree.following is None:
            return
        key = self.process_tree.follow()
        if key is not None:
            self.notify(f"following PID {key[0]}: a move key stops", timeout=TOGGLE_TIMEOUT)
        else:
            self.notify("not following", timeout=TOGGLE_TIMEOUT)
        self._show_modes()

    def action_rename(self) -> None:
        row = self._row()
        if row is None:
            return

        def done(name: str | None) -> None:
            if name is not None and name != row.group:
                self._select_after = name
                self.notify(f"group {row.group} renamed {name}")

        self.push_screen(RenameScreen(partial(self.session.rename, row.group), row.group), done)

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

    def action_cycle_meters(self) -> None:
        """#: the meters off, on one line, on two lines (as htop's setup offers), saved."""
        self.meter_lines = MODES[(MODES.index(self.meter_lines) + 1) % len(MODES)]
        self.query_one(MetersBar).set_lines(self.meter_lines)
        self._store_settings()
        shown = ("off", "on one line", "on two lines")[self.meter_lines]
        if self.snapshot.meters is None and self.meter_lines:
            shown += " (none to show here: a replay)"
        self.notify(f"meters {shown}", timeout=TOGGLE_TIMEOUT)

    def action_help(self) -> None:
        sections: list[tuple[str, list[Binding]]] = [
            ("Moving in the tree", [b for b in ProcessTree.BINDINGS if isinstance(b, Binding)]),
            (
                "Actions",
                [b for b in self.BINDINGS if isinstance(b, Binding) and b.id not in FOCUS_KEYS],
            ),
            (
                "In a group's details (Enter on its header)",
                [
                    *(b for b in GroupDetailsScreen.BINDINGS if isinstance(b, Binding)),
                    Binding("left,right", "columns", "Scroll sideways to the long commands"),
                ],
            ),
            (
                "In the timeline (v)",
                [
                    *(b for b in Timeline.BINDINGS if isinstance(b, Binding)),
                    *(b for b in TimelineScreen.BINDINGS if isinstance(b, Binding)),
                ],
            ),
            ("In the sort picker (s F6)", SortScreen.help_bindings()),
            ("In the column chooser (F2 S)", ColumnsScreen.help_bindings()),
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
            if isinstance(binding, Binding) and binding.action not in ("close_find", *FOCUS_KEYS):
                yield SystemCommand(
                    binding.description,
                    binding.tooltip,
                    partial(self.run_action, binding.action),
                )
        yield SystemCommand("Theme", "Change the current theme", self.action_change_theme)

    # ---- settings: the theme persists --------------------------------------------------------

    def _load_settings(self) -> None:
        """The settings saved; a value that is not valid is ignored (its default is used)."""
        saved = settings.load()
        theme = saved.get("theme")
        if isinstance(theme, str) and theme in self.available_themes:
            self.theme = theme
        tree = self._tree
        tree.chosen_columns = valid_ids(saved.get("columns"))
        tree_view = saved.get("tree_view")
        if isinstance(tree_view, bool):
            tree.flat = not tree_view
        show_path = saved.get("show_path")
        if isinstance(show_path, bool):
            tree.show_path = show_path
        meters = saved.get("meters")
        if type(meters) is int and meters in MODES:
            self.meter_lines = meters

    def _store_settings(self) -> None:
        if self.save_settings:
            tree = self._tree
            chosen = tree.chosen_columns
            # what else the file holds is kept (settings this version does not know)
            settings.save(
                {
                    **settings.load(),
                    "theme": self.theme,
                    "meters": self.meter_lines,
                    "columns": list(chosen) if chosen is not None else None,
                    "tree_view": not tree.flat,
                    "show_path": tree.show_path,
                }
            )


EXITED_LISTED = 8  # the live descendants of an exited process the signal dialog names


def exited_label(proc: ProcRow, below: list[int], snapshot: Snapshot) -> str:
    """The signal dialog's label for an exited process: its live descendants, which its
    subtree scope reaches (the first few by PID and command, then how many more)."""
    by_pid = {r.pid: r for r in snapshot.procs.values() if r.alive and r.group == proc.group}
    lines = [
        f"PID {proc.pid} of {proc.group} has exited [{proc.status}]: {proc.command}",
        f"its subtree reaches {len(below)} live descendant{'s' if len(below) != 1 else ''}:",
    ]
    for pid in below[:EXITED_LISTED]:
        row = by_pid.get(pid)
        lines.append(f"  {pid} {row.command if row is not None else ''}".rstrip())
    if len(below) > EXITED_LISTED:
        lines.append(f"  ... and {len(below) - EXITED_LISTED} more")
    return "\n".join(lines)
