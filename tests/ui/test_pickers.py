"""The sort picker and the signal picker's number typing, over the replay: no kernel needed."""

from __future__ import annotations

import signal

import pytest
from textual.pilot import Pilot
from textual.widgets import OptionList, Static

from tests.ui.conftest import wait_for
from tests.ui.test_snapshots import loaded, replay_app
from tractui.app import TractApp
from tractui.control import SignalResult
from tractui.model.store import Proc
from tractui.screens import signals
from tractui.screens.help import HelpScreen
from tractui.screens.signals import SignalScreen
from tractui.screens.sort import SortScreen
from tractui.widgets.tree import ProcessTree

SIZE = (120, 30)


def children_of_4100(app: TractApp) -> list[int]:
    """The PIDs under the web group's shell (4100), in the order the tree shows them."""
    tree = app.query_one(ProcessTree)
    return [r.proc.pid for r in tree.rows if r.proc is not None and r.proc.ppid == 4100]


def sort_state(app: TractApp) -> tuple[str, bool]:
    tree = app.query_one(ProcessTree)
    return tree.sort, tree.descending


def columns(app: TractApp) -> str:
    return str(app.query_one("#columns", Static).render())


async def open_sort(pilot: Pilot[object], app: TractApp) -> OptionList:
    await pilot.press("s")
    await wait_for(pilot, lambda: isinstance(app.screen, SortScreen))
    return app.screen.query_one("#sorts", OptionList)


# ---- the sort picker -------------------------------------------------------------------------


async def test_sort_picker_highlights_the_current_sort_and_enter_picks_another() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert children_of_4100(app) == [4101, 4102, 4104]  # fork order
        options = await open_sort(pilot, app)
        assert options.highlighted_option is not None
        assert options.highlighted_option.id == "tree"
        # tree COMMAND GROUP THR START TIME+ MEM% CPU% S SHR RSS
        await pilot.press(*["up"] * 10, "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, SortScreen))
        assert sort_state(app) == ("RSS", True)  # an amount: biggest first
        assert children_of_4100(app) == [4104, 4101, 4102]  # 24 MB, 1 MB, exited
        assert "RSS▼" in columns(app)


async def test_enter_on_the_current_sort_inverts_it() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.query_one(ProcessTree).sort_by("RSS", True)
        options = await open_sort(pilot, app)
        assert options.highlighted_option is not None
        assert options.highlighted_option.id == "RSS"
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, SortScreen))
        assert sort_state(app) == ("RSS", False)
        assert children_of_4100(app) == [4102, 4101, 4104]
        assert "RSS▲" in columns(app)


async def test_i_in_the_picker_sorts_by_the_highlighted_column_the_other_way() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await open_sort(pilot, app)
        await pilot.press("home", "i")  # PID, which is naturally ascending
        await wait_for(pilot, lambda: not isinstance(app.screen, SortScreen))
        assert sort_state(app) == ("PID", True)
        assert children_of_4100(app) == [4104, 4102, 4101]
        assert "PID▼" in columns(app)


async def test_escape_leaves_the_sort_as_it_was() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await open_sort(pilot, app)
        await pilot.press("home", "escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, SortScreen))
        assert sort_state(app) == ("tree", False)
        assert children_of_4100(app) == [4101, 4102, 4104]


async def test_capital_i_on_the_main_screen_inverts_the_sort() -> None:
    app = replay_app()
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("I")
        assert sort_state(app) == ("tree", True)
        assert children_of_4100(app) == [4104, 4102, 4101]  # newest fork first
        await pilot.press("I")
        assert sort_state(app) == ("tree", False)
        assert children_of_4100(app) == [4101, 4102, 4104]


# ---- the signal picker: typing a number ------------------------------------------------------


async def open_signals(pilot: Pilot[object], app: TractApp) -> OptionList:
    await pilot.press("down", "down", "k")  # PID 4101, sleep 30
    await wait_for(pilot, lambda: isinstance(app.screen, SignalScreen))
    return app.screen.query_one("#signals", OptionList)


def highlighted_signal(options: OptionList) -> str | None:
    option = options.highlighted_option
    return option.id if option is not None else None


async def test_typing_a_signal_number_jumps_to_it_and_digits_accumulate() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        options = await open_signals(pilot, app)
        assert highlighted_signal(options) == "SIGTERM"
        await pilot.press("9")
        assert highlighted_signal(options) == "SIGKILL"
        await pilot.press("1")  # no signal 91: the 1 starts anew
        assert highlighted_signal(options) == "SIGHUP"
        await pilot.press("0")
        assert highlighted_signal(options) == "SIGUSR1"
        await pilot.press("1", "2")
        assert highlighted_signal(options) == "SIGUSR2"


async def test_a_pause_between_digits_starts_a_new_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(signals, "TYPING_PAUSE", 0.3)
    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        options = await open_signals(pilot, app)
        await pilot.press("1")
        await pilot.pause(0.5)
        await pilot.press("2")
        assert highlighted_signal(options) == "SIGINT"  # 2, not 12


async def test_enter_sends_the_typed_signal() -> None:
    app = replay_app()
    sent: list[tuple[list[int], int]] = []
    engine = app.session.engine

    def record(procs: list[Proc], sig: int) -> list[SignalResult]:
        sent.append(([p.pid for p in procs], sig))
        return [SignalResult(p.pid, True) for p in procs]

    engine.signal = record  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await open_signals(pilot, app)
        await pilot.press("1", "0", "enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, SignalScreen))
    assert sent == [([4101], signal.SIGUSR1)]


async def test_help_lists_the_keys_of_both_pickers() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = str(app.screen.query_one(Static).render())
        assert "In the sort picker" in text and "Invert the sort order" in text
        assert "In the signal picker" in text and "0-9" in text


async def test_help_shows_keys_as_typed_in_one_column() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = str(app.screen.query_one(Static).render())
        for name in ("underscore", "equals_sign", "square_bracket", "number_sign", "space"):
            assert name not in text
        lines = text.splitlines()
        assert any(line.split()[:2] == ["F7", "]"] for line in lines)
        assert any(line.split()[:2] == ["F8", "["] for line in lines)
        assert any(line.split()[:1] == ["Space"] for line in lines)
        # every description starts in the same column
        nice = next(line for line in lines if line.split()[:1] == ["F7"])
        quit_ = next(line for line in lines if "Quit" in line and line.startswith("  "))
        column = nice.index("Nice")
        assert quit_.index("Quit") == column


async def test_k_on_an_exited_process_offers_its_live_descendants_in_subtree_scope() -> None:
    """The replay's 4102 has exited; its child 4103 (sleep 31, reparented) runs on."""
    app = replay_app()
    sent: list[tuple[list[int], int]] = []
    engine = app.session.engine

    def record(procs: list[Proc], sig: int) -> list[SignalResult]:
        sent.append(([p.pid for p in procs], sig))
        return [SignalResult(p.pid, True) for p in procs]

    engine.signal = record  # type: ignore[method-assign]
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        tree = app.query_one(ProcessTree)
        for _ in range(8):
            row = tree.current
            if row is not None and row.proc is not None and row.proc.pid == 4102:
                break
            await pilot.press("down")
        assert tree.current is not None and tree.current.proc is not None
        assert tree.current.proc.pid == 4102 and not tree.current.proc.alive
        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(app.screen, SignalScreen))
        screen = app.screen
        assert isinstance(screen, SignalScreen)
        label = str(screen.query_one("#target", Static).render())
        assert "has exited" in label and "1 live descendant" in label and "4103 sleep 31" in label
        assert screen.scope == "subtree"
        await pilot.press("p")  # the process itself cannot be signalled: refused
        assert screen.scope == "subtree"
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, SignalScreen))
    assert sent == [([4103], signal.SIGTERM)]
