"""The dialogs act only through the callables they are given: no session, no engine needed."""

from __future__ import annotations

import signal
from concurrent.futures import Future
from typing import TypeVar

from textual.app import App
from textual.screen import ModalScreen

from tests.ui.conftest import wait_for
from tractui.control import SignalResult
from tractui.screens.rename import RenameScreen
from tractui.screens.signals import SignalScreen

T = TypeVar("T")


def done(value: T) -> Future[T]:
    future: Future[T] = Future()
    future.set_result(value)
    return future


class Host(App[None]):
    """An empty app that opens one dialog and keeps what it was dismissed with."""

    def __init__(self, dialog: ModalScreen[object]) -> None:
        super().__init__()
        self.dialog = dialog
        self.results: list[object] = []

    def on_mount(self) -> None:
        self.push_screen(self.dialog, self.results.append)


async def test_the_signal_dialog_sends_through_what_it_was_given() -> None:
    calls: list[tuple[object, ...]] = []

    def targets(pid: int | None, subtree: bool) -> Future[list[int]]:
        calls.append(("targets", pid, subtree))
        return done([pid or 0])

    def send(pid: int | None, subtree: bool, sig: signal.Signals) -> Future[list[SignalResult]]:
        calls.append(("send", pid, subtree, sig))
        return done([SignalResult(pid or 0, True)])

    app = Host(SignalScreen(targets, send, "web", 4242, "PID 4242 of web: sleep 60"))
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SignalScreen))
        await pilot.press("t", "enter")  # SIGTERM to the subtree
        await wait_for(pilot, lambda: bool(app.results))
    # the header counts the subtree when t is pressed, then the send asks again and sends
    assert calls == [
        ("targets", 4242, True),
        ("targets", 4242, True),
        ("send", 4242, True, signal.SIGTERM),
    ]
    assert app.results == [[SignalResult(4242, True)]]


async def test_the_rename_dialog_renames_through_what_it_was_given() -> None:
    asked: list[str] = []

    def rename(new: str) -> Future[str]:
        asked.append(new)
        return done(new)

    app = Host(RenameScreen(rename, "web"))
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, RenameScreen))
        await pilot.press("end", "2", "enter")
        await wait_for(pilot, lambda: bool(app.results))
    assert asked == ["web2"]
    assert app.results == ["web2"]
