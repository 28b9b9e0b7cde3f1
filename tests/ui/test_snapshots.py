"""Snapshots of the main screen, each dialog, help and details, from a replay of synthetic
events through a real Tracker: no kernel, still clocks, fixed columns, the same everywhere.

The launch dialog offers "as root" only to root under sudo: here it is, as the user alice.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.pilot import Pilot
from textual.screen import Screen

from tests.ui.conftest import wait_for
from tractui.app import TractApp
from tractui.kernel.listing import Listed
from tractui.model.account import Account
from tractui.model.history import GroupHistory
from tractui.replay import WALL, ReplayEngine, demo_session
from tractui.screens import attach
from tractui.screens.group import GroupDetailsScreen as Details
from tractui.widgets.picker import Pick

# whoever runs the tests, the launch dialog is the one root sees under sudo
pytestmark = pytest.mark.usefixtures("under_sudo")

SIZE = (120, 30)

SnapCompare = Callable[..., bool]


PICKS = [
    Listed(412, 1, 0, "sshd", ("sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups",)),
    Listed(2001, 1, 1000, "bash", ("-bash",)),
    Listed(2044, 2001, 1000, "make", ("make", "run")),
    Listed(2051, 2044, 1000, "python3", ("python3", "-m", "http.server", "8000")),
    Listed(2990, 1, 33, "nginx", ("nginx: master process /usr/sbin/nginx",)),
    Listed(2991, 2990, 33, "nginx", ("nginx: worker process",)),
]


@pytest.fixture(autouse=True)
def _fixed_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The attach dialog lists these processes, not the machine's."""
    users = {0: "root", 1000: "alice", 33: "www-data"}
    groups = {2051: "web"}
    monkeypatch.setattr(
        attach,
        "read_picks",
        lambda own, tracked: [Pick.of(p, users[p.uid], groups.get(p.pid, "")) for p in PICKS],
    )


def replay_app() -> TractApp:
    return TractApp(demo_session(), host="demo", kernel="6.18.0", save_settings=False)


def ended_wire(
    pid: int, ago: float, exit_: dict[str, object], status: str, command: str, cpu: float, rss: int
) -> dict[str, object]:
    """A history entry as ``list --all`` gives it (its fields that the group details read)."""
    account = {"cpu_user_s": cpu * 0.75, "cpu_system_s": cpu * 0.25, "peak_rss_kib": rss}
    return {
        "pid": pid,
        "ended_wall": WALL - ago,
        "start_wall": WALL - ago - 2,
        "exit": exit_,
        "status": status,
        "command": command,
        "account": account,
        "history": True,
    }


# the build group's history, oldest first as the engine gives it: an earlier build an hour ago;
# one command is hostile (its escape sequences and markup shown as text)
BUILD_HISTORY = [
    ended_wire(4890, 7200, {"code": 0}, "exit 0", "printf \x1b[2J[b]boom[/b] [/]", 0.001, 900),
    ended_wire(4901, 3600.2, {"code": 0}, "exit 0", "cc -c main.c", 0.84, 51_200),
    ended_wire(4902, 3600.1, {"code": 1}, "exit 1", "cc -c util.c", 0.42, 48_000),
    ended_wire(4903, 3600.0, {"signal": 9, "core": False}, "SIGKILL", "ld -o app", 0.25, 73_728),
]
BUILD_ENDED = Account(1_132_000, 378_000, 73_728, 3_500_000, 1_200_000, 120, 30, 3)


def history_app() -> TractApp:
    """The replay, with a history kept for build and its ended members' accounts."""
    session = demo_session()
    engine = session.engine
    assert isinstance(engine, ReplayEngine)
    engine.histories["build"] = GroupHistory(
        entries=BUILD_HISTORY, cut="the history of 'build' was cut: 2 clean exits dropped"
    )
    engine.tracker.groups["build"].ended = BUILD_ENDED.copy()
    return TractApp(session, host="demo", kernel="6.18.0", save_settings=False)


async def loaded(pilot: Pilot[object]) -> None:
    """Wait for the replay's first snapshot to be drawn."""
    app = pilot.app
    assert isinstance(app, TractApp)
    await wait_for(pilot, lambda: app.snapshot.seq > 0 and app.snapshot.groups)
    await pilot.pause(0.1)


def keys_then(
    *keys: str, screen: type[Screen[object]] | None = None
) -> Callable[[Pilot[object]], object]:
    """Press the keys; then, with ``screen``, wait for a screen of that type (one a session
    command opens: it comes after the command's answer, a step of the session thread)."""

    async def run(pilot: Pilot[object]) -> None:
        await loaded(pilot)
        await pilot.press(*keys)
        if screen is not None:
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen))
        # a screen's footer fills in after its first refresh: late on a busy machine
        await wait_for(pilot, lambda: bool(pilot.app.screen.query("FooterKey")))
        await pilot.pause(0.3)

    return run


class TestMainScreen:
    def test_groups_as_trees_with_exited_and_reparented(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(replay_app(), terminal_size=SIZE, run_before=loaded)

    def test_collapsed_group_and_event_log(self, snap_compare: SnapCompare) -> None:
        run = keys_then("down", "down", "down", "down", "down", "down", "down", "left", "e")
        assert snap_compare(replay_app(), terminal_size=SIZE, run_before=run)


class TestDialogs:
    @pytest.mark.parametrize(
        "keys",
        [
            pytest.param(("n",), id="launch"),
            pytest.param(("a",), id="attach"),
            pytest.param(("a", "n", "g", "i", "n", "down"), id="attach-search"),
            pytest.param(("home", "k"), id="signal-group"),
            pytest.param(("down", "down", "k"), id="signal-process"),
            pytest.param(
                ("down", "down", "k", "up", "up", "up", "up", "up", "up", "enter"),
                id="sigkill-confirm",
            ),
            pytest.param(("down", "r"), id="rename"),
            pytest.param(("question_mark",), id="help"),
            pytest.param(("down", "enter"), id="details"),
            # sorted by CPU% (its ▼ in the column titles), then the picker opened again on it
            pytest.param(("s", *["up"] * 7, "enter", "s"), id="sort"),
            # the column chooser, PID hidden (the columns behind it change at once)
            pytest.param(("f2", "space", "down"), id="columns"),
        ],
    )
    def test_dialog(self, snap_compare: SnapCompare, keys: tuple[str, ...]) -> None:
        assert snap_compare(replay_app(), terminal_size=(120, 40), run_before=keys_then(*keys))


class TestGroupDetails:
    """Enter on a group header: its totals, its ended members' accounts, its history."""

    @pytest.fixture(autouse=True)
    def _fixed_log_dir(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The launch log's path is shown: the same on every machine (nothing is written)."""
        monkeypatch.setenv("TRACTUI_STATE_DIR", "/var/lib/tractui")

    def test_group_details(self, snap_compare: SnapCompare) -> None:
        run = keys_then("down", "down", "down", "down", "down", "down", "enter", screen=Details)
        assert snap_compare(history_app(), terminal_size=(120, 40), run_before=run)

    def test_group_details_without_history(self, snap_compare: SnapCompare) -> None:
        # the replay keeps none for web: it says why
        assert snap_compare(
            replay_app(), terminal_size=(120, 40), run_before=keys_then("enter", screen=Details)
        )

    def test_group_details_50x14_scrolled_to_the_commands(self, snap_compare: SnapCompare) -> None:
        # down to the history, then sideways to its commands
        async def run(pilot: Pilot[object]) -> None:
            await loaded(pilot)
            await pilot.press(*["down"] * 6, "enter")
            await wait_for(pilot, lambda: isinstance(pilot.app.screen, Details))
            await pilot.press("end", *["right"] * 8)  # to the details, not the tree below
            await pilot.pause(0.3)

        assert snap_compare(history_app(), terminal_size=(50, 14), run_before=run)


class TestSmallTerminal:
    """80x24: the footer's main keys, and the tallest dialogs whole (their keys, SIGTERM)."""

    @pytest.mark.parametrize(
        "keys",
        [
            pytest.param((), id="main"),
            pytest.param(("n", "enter"), id="launch-error"),
            pytest.param(("down", "down", "k"), id="signal"),
        ],
    )
    def test_80x24(self, snap_compare: SnapCompare, keys: tuple[str, ...]) -> None:
        assert snap_compare(replay_app(), terminal_size=(80, 24), run_before=keys_then(*keys))


class TestTimeline:
    """v: the build group's processes as bars, each outcome its colour and character, the
    execs marked; the cursor on the tree's process."""

    def test_timeline(self, snap_compare: SnapCompare) -> None:
        run = keys_then("end", "up", "up", "v")
        assert snap_compare(replay_app(), terminal_size=SIZE, run_before=run)

    def test_timeline_80x24_zoomed_in(self, snap_compare: SnapCompare) -> None:
        run = keys_then("end", "up", "up", "v", "z")
        assert snap_compare(replay_app(), terminal_size=(80, 24), run_before=run)
