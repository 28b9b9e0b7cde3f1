"""Quitting ends only what this UI launched (and what that forked), never an attached process,
and the dialog names exactly what will end and what is left running."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator

import pytest
from textual.widgets import Static

from tests.ui.conftest import wait_for
from tests.ui.test_keys import alive, launch, rows
from tractui.app import TractApp
from tractui.screens.confirm import QuitScreen


@pytest.fixture
def independent() -> Iterator[subprocess.Popen[bytes]]:
    """A process this UI did not launch: its own session and process group, ended at teardown."""
    proc = subprocess.Popen(["sleep", "60"], start_new_session=True)
    yield proc
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=5)


def dialog_text(app: TractApp) -> str:
    return "\n".join(str(s.render()) for s in app.screen.query(Static))


async def test_end_them_ends_launched_programs_but_not_attached_ones(
    app: TractApp, independent: subprocess.Popen[bytes]
) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        # more than the dialog shows at once: every one is listed all the same (scrolled)
        script = "for i in 1 2 3 4 5 6; do sleep 30 & done; (setsid sleep 31 &); wait"
        await launch(pilot, app, "demo", f"sh -c '{script}'")

        def live() -> list[int]:
            return [p.pid for p in app.snapshot.procs.values() if p.alive]

        # the shell, six sleep 30, and the double-forked sleep 31 (its forker gone)
        await wait_for(pilot, lambda: len(live()) == 8 and "sleep 31" in rows(app))
        launched = live()
        assert app.session.attach("demo", [independent.pid]).result(5) == [independent.pid]
        await wait_for(pilot, lambda: "sleep 60" in rows(app))

        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
        text = dialog_text(app)
        ending, _, left = text.partition("Left running")
        for pid in launched:
            assert str(pid) in ending, text
        assert str(independent.pid) not in ending, text
        assert f"{independent.pid}  sleep 60" in left, text
        assert "8 processes" in ending, text

        await pilot.press("e")
        await wait_for(pilot, lambda: not any(alive(p) for p in launched))
    assert app.return_value == 0
    assert alive(independent.pid), "quitting ended a process the UI had only attached"


async def test_quit_asks_nothing_when_only_attached_processes_run(
    app: TractApp, independent: subprocess.Popen[bytes]
) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await launch(pilot, app, "demo", "true")
        await wait_for(
            pilot, lambda: any(r.status == "exit 0" for r in app.snapshot.procs.values())
        )
        app.session.attach("demo", [independent.pid]).result(5)
        await wait_for(pilot, lambda: "sleep 60" in rows(app))
        await pilot.press("q")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, QuitScreen), dialog_text(app)
    assert app.return_value == 0
    assert alive(independent.pid)
