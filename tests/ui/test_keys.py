"""The keys of the main screen, against the real engine and short-lived real programs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.ui.conftest import Reaper, wait_for
from tractui.app import TractApp
from tractui.kernel import procfs
from tractui.screens.attach import AttachConfirm, AttachScreen
from tractui.screens.confirm import ConfirmScreen, QuitScreen
from tractui.screens.details import DetailsScreen
from tractui.screens.help import HelpScreen
from tractui.screens.launch import LaunchScreen
from tractui.screens.logview import LaunchLogScreen
from tractui.screens.signals import SignalScreen
from tractui.widgets.tree import ProcessTree

DAEMONS = "sleep 30 & (setsid sleep 31 &); wait"


def alive(pid: int) -> bool:
    stat = procfs.read_stat(pid)
    return stat is not None and stat.state not in ("Z", "X")


def rows(app: TractApp) -> list[str]:
    """Each row as 'group' or the process's command line."""
    tree = app.query_one(ProcessTree)
    return [r.proc.command if r.proc is not None else f"[{r.group}]" for r in tree.rows]


def pid_of(app: TractApp, command: str) -> int:
    tree = app.query_one(ProcessTree)
    return next(r.proc.pid for r in tree.rows if r.proc is not None and r.proc.command == command)


async def launch(pilot: Pilot[object], app: TractApp, group: str, command: str) -> None:
    await pilot.press("n")
    await wait_for(pilot, lambda: isinstance(app.screen, LaunchScreen))
    app.screen.query_one("#group", Input).value = group
    app.screen.query_one("#command", Input).value = command
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(app.screen, LaunchScreen))


async def launch_daemons(pilot: Pilot[object], app: TractApp) -> None:
    await launch(pilot, app, "demo", f"sh -c '{DAEMONS}'")
    await wait_for(pilot, lambda: {"sleep 30", "sleep 31"} <= set(rows(app)))


async def test_launch_shows_double_forked_daemon_under_its_group(app: TractApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await launch_daemons(pilot, app)
        tree = app.query_one(ProcessTree)
        daemon = next(r for r in tree.rows if r.proc and r.proc.command == "sleep 31")
        await wait_for(pilot, lambda: tree.snapshot.procs[daemon.id].reparented)  # type: ignore[index]
        assert rows(app)[0] == "[demo]"
        assert daemon.group == "demo"


async def test_launch_errors_stay_inline(app: TractApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n")
        screen = app.screen
        assert isinstance(screen, LaunchScreen)
        error = screen.query_one("#error", Static)
        for group, command, expected in [
            ("", "true", "no group name given"),
            ("ok", "", "no command given"),
            ("ok", "sh -c 'unbalanced", "check the quotes"),
            ("ok", "no-such-program-xyz", "command not found"),
        ]:
            screen.query_one("#group", Input).value = group
            screen.query_one("#command", Input).value = command
            await pilot.press("enter")
            await wait_for(pilot, lambda e=expected: e in str(error.render()))  # type: ignore[misc]
        assert app.screen is screen
        assert app.snapshot.groups == ()


async def test_group_signal_ends_every_member_after_confirm(app: TractApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await launch_daemons(pilot, app)
        pids = [pid_of(app, "sleep 30"), pid_of(app, "sleep 31")]
        await pilot.press("home", "k")
        await wait_for(pilot, lambda: isinstance(app.screen, SignalScreen))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not any(alive(p) for p in pids))


async def test_process_sigterm_needs_no_confirm_and_spares_siblings(app: TractApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await launch_daemons(pilot, app)
        sleep30, sleep31 = pid_of(app, "sleep 30"), pid_of(app, "sleep 31")
        tree = app.query_one(ProcessTree)
        assert tree.select(next(r.id for r in tree.rows if r.proc and r.proc.pid == sleep30))
        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(app.screen, SignalScreen))
        await pilot.press("enter")
        await wait_for(pilot, lambda: not alive(sleep30))
        assert alive(sleep31)


async def test_sigkill_asks_first_and_n_sends_nothing(app: TractApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await launch_daemons(pilot, app)
        sleep31 = pid_of(app, "sleep 31")
        tree = app.query_one(ProcessTree)
        tree.select(next(r.id for r in tree.rows if r.proc and r.proc.pid == sleep31))
        await pilot.press("f9")
        await wait_for(pilot, lambda: isinstance(app.screen, SignalScreen))
        await pilot.press("up", "up", "up", "up", "up", "up", "enter")  # 15 -> 9 SIGKILL
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await pilot.pause(0.3)
        assert alive(sleep31)


async def test_selection_stays_on_the_process_when_rows_above_go(app: TractApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await launch(pilot, app, "short", "sleep 0.5")
        await launch_daemons(pilot, app)
        tree = app.query_one(ProcessTree)
        target = next(r.id for r in tree.rows if r.proc and r.proc.command == "sleep 31")
        tree.select(target)
        await pilot.press("x")  # hide exited: the short group's rows above go away
        await wait_for(pilot, lambda: "sleep 0.5" not in rows(app), timeout=5)
        assert tree.current is not None and tree.current.id == target


async def test_collapse_expand_and_star(app: TractApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await launch_daemons(pilot, app)
        await pilot.press("home", "left")
        assert rows(app) == ["[demo]"]
        await pilot.press("right")
        assert "sleep 30" in rows(app)
        await pilot.press("down", "minus")
        assert rows(app) == ["[demo]", f"sh -c {DAEMONS}"]
        await pilot.press("home", "asterisk")
        assert {"sleep 30", "sleep 31"} <= set(rows(app))


async def test_attach_shows_what_the_pid_is_then_adopts_it(app: TractApp, reaper: Reaper) -> None:
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    reaper.add(child.pid)
    try:
        await _attach(app, child.pid)
    finally:
        child.kill()
        child.wait(timeout=5)


async def _attach(app: TractApp, pid: int) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachScreen))
        screen = app.screen
        preview = screen.query_one("#preview", Static)
        screen.query_one("#query", Input).value = "1"
        await wait_for(pilot, lambda: "init" in str(preview.render()))
        screen.query_one("#query", Input).value = str(pid)
        await wait_for(pilot, lambda: "sleep 30" in str(preview.render()))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AttachConfirm))
        await pilot.press("y")
        await wait_for(pilot, lambda: "[sleep]" in rows(app))


async def test_details_events_log_and_help(app: TractApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await launch(pilot, app, "hello", "sh -c 'echo hello-from-the-log; sleep 30'")
        await wait_for(pilot, lambda: "sleep 30" in rows(app))
        await pilot.press("home", "down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DetailsScreen))
        assert "echo hello-from-the-log" in str(app.screen.query_one(Static).render())
        await pilot.press("escape", "e")
        events = app.query_one("#events")
        await wait_for(pilot, lambda: "exec" in "\n".join(events.lines))  # type: ignore[attr-defined]
        await pilot.press("l")
        await wait_for(pilot, lambda: isinstance(app.screen, LaunchLogScreen))
        log = app.screen.query_one("#log")
        await wait_for(pilot, lambda: "hello-from-the-log" in "\n".join(log.lines))  # type: ignore[attr-defined]
        await pilot.press("escape", "question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")


async def test_rename_and_remove_leave_processes_running(app: TractApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await launch(pilot, app, "old", "sleep 30")
        await wait_for(pilot, lambda: "sleep 30" in rows(app))
        pid = pid_of(app, "sleep 30")
        await pilot.press("home", "r")
        app.screen.query_one(Input).value = "new"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "[new]" in rows(app))
        await pilot.press("home", "d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: rows(app) == [])
        assert alive(pid)
        os.kill(pid, 9)


async def test_search_filter_sort_and_nice(app: TractApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await launch_daemons(pilot, app)
        tree = app.query_one(ProcessTree)
        await pilot.press("slash", *str(pid_of(app, "sleep 31")))  # a PID matches exactly
        assert tree.current is not None and tree.current.proc is not None
        assert tree.current.proc.command == "sleep 31"
        await pilot.press("escape", "backslash", "3", "0", "enter")
        assert "sleep 31" not in rows(app) and "sleep 30" in rows(app)
        await pilot.press("escape")
        assert "sleep 31" in rows(app)
        # PID USER PRI NI VIRT RSS SHR S CPU%
        await pilot.press("s", "home", *["down"] * 8, "enter")
        assert (tree.sort, tree.descending) == ("CPU%", True)
        pid = pid_of(app, "sleep 30")
        tree.select(next(r.id for r in tree.rows if r.proc and r.proc.pid == pid))
        await pilot.press("f8")
        await wait_for(pilot, lambda: os.getpriority(os.PRIO_PROCESS, pid) == 1)


def nice_shown(app: TractApp, pid: int) -> int | None:
    """The NI column of a process's row."""
    tree = app.query_one(ProcessTree)
    return next(r.proc.nice for r in tree.rows if r.proc is not None and r.proc.pid == pid)


async def test_nice_keys_show_the_new_value_in_the_ni_column(app: TractApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await launch_daemons(pilot, app)
        tree = app.query_one(ProcessTree)
        pid = pid_of(app, "sleep 30")
        await wait_for(pilot, lambda: nice_shown(app, pid) == 0)
        assert "NI" in tree.column_ids
        tree.select(next(r.id for r in tree.rows if r.proc and r.proc.pid == pid))
        await pilot.press("left_square_bracket", "left_square_bracket", "f8")  # [ [ F8: nice +
        await wait_for(pilot, lambda: os.getpriority(os.PRIO_PROCESS, pid) == 3)
        await wait_for(pilot, lambda: nice_shown(app, pid) == 3)
        await pilot.press("right_square_bracket", "f7")  # ] F7: nice -, as htop
        await wait_for(pilot, lambda: nice_shown(app, pid) == 1)
        assert os.getpriority(os.PRIO_PROCESS, pid) == 1
        ni = tree.column_ids.index("NI")
        line = tree.render_line(tree.cursor - int(tree.scroll_y)).text
        assert line.split()[ni] == "1"
        # the process is sampled again with the renice, not a sampling round later
        row = tree.current
        assert row is not None and row.proc is not None
        assert app.session.renice(row.proc.key, 2).result(timeout=5) == 3
        assert app.session._snapshots.sampler.samples[row.proc.key].nice == 3


async def test_quit_with_live_launched_group_can_end_it(app: TractApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await launch_daemons(pilot, app)
        pids = [pid_of(app, "sleep 30"), pid_of(app, "sleep 31")]
        await pilot.press("ctrl+c")  # as q does (htop quits on it)
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, QuitScreen))
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitScreen))
        await pilot.press("e")
        await wait_for(pilot, lambda: not any(alive(p) for p in pids))
        # it exits once the session has seen them end (a step after the kernel's exit)
        await wait_for(pilot, lambda: app.return_value is not None)
    assert app.return_value == 0


def test_logs_go_to_the_scratch_state_dir(tmp_path: Path) -> None:
    from tractui.engine import log_path_for

    assert str(log_path_for("g")).startswith(str(tmp_path))


async def test_dead_collector_is_restarted_with_a_banner(app: TractApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await launch(pilot, app, "kept", "sleep 30")
        await wait_for(pilot, lambda: "sleep 30" in rows(app))
        collector = app.session.engine.collector.pid
        assert collector is not None
        os.kill(collector, 9)  # the collector is our own child: killed by its PID
        banner = app.query_one("#banner", Static)
        await wait_for(pilot, lambda: "restarted" in str(banner.render()))
        assert banner.display
        assert "[kept]" in rows(app)
        assert app.snapshot.state == "running"
