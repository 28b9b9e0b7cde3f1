"""htop's Space, c, U (tags) and what k, F7/F8 do with them; u (user filter), F (follow):
against the real engine and real programs, each killed at teardown (the app fixture)."""

from __future__ import annotations

import os
import shlex
import shutil
import sys

import pytest
from textual.widgets import Static

from tests.integration.test_threads import NAMES, THREADS
from tests.ui.conftest import wait_for
from tests.ui.test_keys import alive, launch, launch_daemons, pid_of, rows
from tractui.app import TractApp
from tractui.screens.confirm import ConfirmScreen
from tractui.screens.signals import SignalScreen
from tractui.screens.users import UserScreen
from tractui.widgets.tree import TAG_MARK, ProcessTree, ThreadId

SIZE = (120, 40)


def tree_of(app: TractApp) -> ProcessTree:
    return app.query_one(ProcessTree)


def select_pid(app: TractApp, pid: int) -> None:
    tree = tree_of(app)
    assert tree.select(next(r.id for r in tree.rows if r.proc and r.proc.pid == pid))


def modes(app: TractApp) -> str:
    line = app.query_one("#modes", Static)
    return str(line.render()) if line.display else ""


def toast(app: TractApp) -> str:
    return " ".join(str(t.render()) for t in app.screen.query("Toast"))


def screen_line(app: TractApp, pid: int) -> str:
    """The tree's line of a process as drawn (its first cell holds the tag mark)."""
    tree = tree_of(app)
    index = next(i for i, r in enumerate(tree.rows) if r.proc and r.proc.pid == pid)
    return tree.render_line(index - int(tree.scroll_y)).text


async def test_space_tags_and_moves_down_u_untags_all(app: TractApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await launch_daemons(pilot, app)
        tree = tree_of(app)
        sleep30, sleep31 = pid_of(app, "sleep 30"), pid_of(app, "sleep 31")
        select_pid(app, sleep30)
        start = tree.cursor
        await pilot.press("space")
        assert tree.cursor == start + 1  # down, as htop
        assert {k[0] for k in tree.tagged} == {sleep30}
        assert screen_line(app, sleep30).startswith(TAG_MARK)
        assert not screen_line(app, sleep31).startswith(TAG_MARK)
        assert "1 tagged" in modes(app)
        select_pid(app, sleep30)
        await pilot.press("space")  # again: untagged
        assert not tree.tagged
        select_pid(app, sleep30)
        await pilot.press("space")
        select_pid(app, sleep31)
        await pilot.press("space")
        assert len(tree.tagged) == 2
        await pilot.press("U")
        assert not tree.tagged
        assert "tagged" not in modes(app)
        assert not screen_line(app, sleep30).startswith(TAG_MARK)
        # a tag holds (pid, start): the same PID started at another time is another process,
        # never marked, and dropped at the next snapshot
        key = next(k for k in tree.snapshot.procs if k[0] == sleep30)
        tree.tagged.add((sleep30, key[1] + 10**9))
        assert not screen_line(app, sleep30).startswith(TAG_MARK)
        await wait_for(pilot, lambda: not tree.tagged)


async def test_c_tags_the_process_and_its_descendants(app: TractApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await launch_daemons(pilot, app)
        tree = tree_of(app)
        shell = next(r for r in tree.rows if r.proc and r.proc.command.startswith("sh -c"))
        assert tree.select(shell.id)
        await pilot.press("c")
        procs = tree.snapshot.procs
        below = {shell.id}
        stack = list(procs[shell.id].children)  # type: ignore[index]
        while stack:
            key = stack.pop()
            below.add(key)
            stack.extend(procs[key].children)
        assert tree.tagged == below
        assert pid_of(app, "sleep 30") in {k[0] for k in tree.tagged}


async def test_k_with_tags_signals_the_tagged_set_across_groups(app: TractApp) -> None:
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await launch(pilot, app, "one", "sleep 61")
        await launch(pilot, app, "two", "sleep 62")
        await launch(pilot, app, "three", "sleep 63")
        await wait_for(pilot, lambda: {"sleep 61", "sleep 62", "sleep 63"} <= set(rows(app)))
        a, b, spared = pid_of(app, "sleep 61"), pid_of(app, "sleep 62"), pid_of(app, "sleep 63")
        select_pid(app, a)
        await pilot.press("space")
        select_pid(app, b)
        await pilot.press("space")
        select_pid(app, spared)  # the cursor elsewhere: the tags are what k reaches
        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(app.screen, SignalScreen))
        screen = app.screen
        assert isinstance(screen, SignalScreen)
        assert screen.scope == "tagged"  # preselected
        listing = str(screen.query_one("#target", Static).render())
        assert f"tagged (2): {a} sleep 61" in listing and f"{b} sleep 62" in listing
        await pilot.press("enter")  # SIGTERM
        await wait_for(pilot, lambda: not alive(a) and not alive(b))
        assert alive(spared)
        await wait_for(pilot, lambda: "SIGTERM to tagged (2): sent to 2 of 2" in toast(app))
        # they exited: still tagged while shown; the next k sends nothing and says so
        assert len(tree_of(app).tagged) == 2
        await pilot.press("k")
        await wait_for(pilot, lambda: isinstance(app.screen, SignalScreen))
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: "nothing to signal" in str(app.screen.query_one("#error", Static).render()),
        )
        await pilot.press("p")  # the process scope: the one under the cursor
        await pilot.press("up", "up", "up", "up", "up", "up", "enter")  # SIGKILL asks
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not alive(spared))


async def test_f7_f8_renice_every_tagged_process(app: TractApp) -> None:
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await launch_daemons(pilot, app)
        sleep30, sleep31 = pid_of(app, "sleep 30"), pid_of(app, "sleep 31")
        before = os.getpriority(os.PRIO_PROCESS, sleep30)
        assert os.getpriority(os.PRIO_PROCESS, sleep31) == before
        for pid in (sleep30, sleep31):
            select_pid(app, pid)
            await pilot.press("space")
        await pilot.press("f8", "f8")
        await wait_for(pilot, lambda: os.getpriority(os.PRIO_PROCESS, sleep31) == before + 2)
        assert os.getpriority(os.PRIO_PROCESS, sleep30) == before + 2
        await wait_for(pilot, lambda: "2 of 2 done" in toast(app))
        await pilot.press("f7")
        await wait_for(pilot, lambda: os.getpriority(os.PRIO_PROCESS, sleep30) == before + 1)
        assert os.getpriority(os.PRIO_PROCESS, sleep31) == before + 1


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) not installed")
async def test_u_shows_one_users_processes_and_esc_clears(app: TractApp) -> None:
    if os.geteuid() != 0:
        pytest.skip("running a program as nobody needs root")
    async with app.run_test(size=SIZE) as pilot:
        await launch(pilot, app, "mine", "sleep 64")
        await launch(
            pilot, app, "theirs", "setpriv --reuid=65534 --regid=65534 --clear-groups sleep 65"
        )
        await wait_for(pilot, lambda: {"sleep 64", "sleep 65"} <= set(rows(app)))
        nobody = next(
            r.proc.user
            for r in tree_of(app).rows
            if r.proc and r.proc.pid == pid_of(app, "sleep 65")
        )
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UserScreen))
        screen = app.screen
        assert isinstance(screen, UserScreen)
        assert set(screen.users) >= {nobody, "root"}
        screen.query_one("#users").highlighted = 1 + sorted(screen.users).index(nobody)  # type: ignore[attr-defined]
        await pilot.press("enter")
        await wait_for(pilot, lambda: "sleep 64" not in rows(app))
        assert rows(app) == ["[theirs]", "sleep 65"]
        assert f"User: {nobody}" in modes(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: "sleep 64" in rows(app))
        assert "User:" not in modes(app)
        # "all users" clears it too
        tree_of(app).user_filter = "root"
        await wait_for(pilot, lambda: "sleep 65" not in rows(app))
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UserScreen))
        await pilot.press("home", "enter")
        await wait_for(pilot, lambda: {"sleep 64", "sleep 65"} <= set(rows(app)))


async def test_f_follows_the_process_until_a_move_key(app: TractApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        await launch_daemons(pilot, app)
        tree = tree_of(app)
        sleep31 = pid_of(app, "sleep 31")
        select_pid(app, sleep31)
        target = tree.current.id  # type: ignore[union-attr]
        await pilot.press("F")
        assert tree.following == target
        assert f"Following PID {sleep31}" in modes(app)
        # a filter hides it: the cursor waits on what is shown, and comes back with it
        tree.filter_text = "sleep 30"
        await pilot.pause(0.1)
        assert tree.current is not None and tree.current.id != target
        tree.filter_text = ""
        await wait_for(pilot, lambda: tree.current is not None and tree.current.id == target)
        await pilot.press("up")
        assert tree.following is None
        assert "Following" not in modes(app)
        tree.filter_text = "sleep 30"
        await pilot.pause(0.1)
        tree.filter_text = ""
        await pilot.pause(0.3)
        assert tree.current is not None and tree.current.id != target  # not followed any more


async def test_h_shows_threads_as_rows_under_their_process(app: TractApp) -> None:
    script = THREADS  # a real process with three named threads
    async with app.run_test(size=SIZE) as pilot:
        await launch(pilot, app, "th", f"{sys.executable} -c {shlex.quote(script)}")
        tree = tree_of(app)
        await wait_for(pilot, lambda: any(r.proc and r.proc.threads == 4 for r in tree.rows))
        owner = next(r for r in tree.rows if r.proc and r.proc.threads == 4)
        assert not any(isinstance(r.id, ThreadId) for r in tree.rows)
        await pilot.press("H")
        assert "Threads shown" in modes(app)
        await wait_for(pilot, lambda: sum(isinstance(r.id, ThreadId) for r in tree.rows) == 3)
        index = next(i for i, r in enumerate(tree.rows) if r.id == owner.id)
        below = tree.rows[index + 1 : index + 4]
        assert all(r.thread is not None and r.proc and r.proc.key == owner.id for r in below)
        await wait_for(
            pilot,
            lambda: sorted(r.thread.comm for r in tree.rows if r.thread) == sorted(NAMES),
        )
        tids = {int(t) for t in os.listdir(f"/proc/{owner.proc.pid}/task")} - {owner.proc.pid}  # type: ignore[union-attr]
        assert {r.thread.tid for r in tree.rows if r.thread} == tids
        last = tree.rows[index + 3]
        assert last.guide.endswith("└─")  # no child process below: the last thread ends it
        assert tree.select(last.id)
        line = tree.render_line(tree.cursor - int(tree.scroll_y)).text
        assert str(last.thread.tid) in line and last.thread.comm in line  # type: ignore[union-attr]
        await pilot.press("left")  # on a thread: up to its process
        assert tree.current is not None and tree.current.id == owner.id
        await pilot.press("left")  # fold the process: its threads go
        assert not any(isinstance(r.id, ThreadId) for r in tree.rows)
        await pilot.press("right", "H")
        await wait_for(pilot, lambda: not any(isinstance(r.id, ThreadId) for r in tree.rows))
        assert "Threads" not in modes(app)
