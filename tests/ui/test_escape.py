"""Another user's text in a real terminal: tmux runs ``tractui``, a process whose argv holds escape
sequences, a carriage return and a newline is attached, and the screen shows them escaped: no red,
no new terminal title, the PID column whole (issue 10's reproduction)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable

import pytest
from textual.widgets import Static

from bench.common.tmux import Pane
from tests.evil import EVIL as ISSUE_ARGV
from tests.evil import QUOTED as ISSUE_QUOTED
from tests.ui.conftest import Reaper, wait_for
from tests.ui.test_snapshots import loaded
from tractui.app import TractApp
from tractui.replay import demo_session

# the reproduction's argv; then markup, which a dialog must show as it is, not read (a closing
# tag that opens nothing raised MarkupError, and [@click=...] runs an action when clicked)
EVIL = [*ISSUE_ARGV, "[/]"]
SHOWN = r"sh -c sleep 60; true x \e[41mEVIL\e[0m \e]2;pwned\a cr\rXX nl\nYY [/]"
SHOWN_START = SHOWN[: SHOWN.index(" nl")]  # what a dialog 80 columns wide has room for
QUOTED = ISSUE_QUOTED + " '[/]'"
# a launched program's output, in the group's launch log
OUTPUT = (
    r"""sh -c "printf '\033]2;logpwn\007\033[41mLOGEVIL\033[0m\ttab\r\nnext\n'; exec sleep 60" """
)


def title(session: Pane) -> str:
    return session.title()


def colours(session: Pane) -> str:
    """The screen with its attributes, as escape sequences (what the terminal was told)."""
    return session.screen(escapes=True)


def unharmed(session: Pane, before: str) -> Callable[[str], None]:
    """A check of the screen: no red background, the title the same, the other text intact."""

    def check(screen: str) -> None:
        assert "\x1b[41m" not in colours(session), "a process painted the screen red"
        assert title(session) == before, "a process retitled the terminal"
        assert not re.search(r"^XX|^YY", screen, re.M), "a CR or LF moved the cursor"

    return check


# htop's columns at 120 leave the command 43: these leave it room for the whole command line
@pytest.mark.ui_settings({"columns": ["PID", "USER", "S", "CPU%", "RSS", "TIME+"]})
def test_control_characters_from_a_process_are_shown_escaped(
    tmux: Pane,
    reaper: Reaper,
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    evil = spawn(EVIL)
    reaper.add(evil.pid)
    tmux.wait_for(lambda s: "engine running" in s)
    check = unharmed(tmux, title(tmux))
    tmux.keys("a")
    tmux.wait_for(lambda s: "Attach running processes" in s)
    tmux.keys(str(evil.pid), literal=True)
    check(tmux.wait_for(lambda s: f"{evil.pid} root: {SHOWN_START}" in s))  # the preview
    tmux.keys("Enter")
    # the confirm lists it, escaped too
    confirm = "Attach 2 processes (1 root + 1 descendant) to a new group 'sh'?"
    check(tmux.wait_for(lambda s: confirm in s and SHOWN_START in s))
    tmux.keys("y")

    # the tree: one row, its PID at the start, every control character shown as an escape
    screen = tmux.wait_for(lambda s: SHOWN in s and "Attach running" not in s)
    row = next(line for line in screen.splitlines() if SHOWN in line)
    assert re.match(rf"\s*{evil.pid} root ", row), row
    check(screen)

    tmux.keys("e")  # the event log: the attach, with the command line
    screen = tmux.wait_for(lambda s: re.search(rf"root\s+{evil.pid}\s+{re.escape(SHOWN)}", s))
    check(screen)
    tmux.keys("e")

    tmux.keys("Down", "Enter")  # the details: the command line quoted as a shell takes it back
    check(tmux.wait_for(lambda s: f"command {QUOTED}" in s))
    tmux.keys("Escape")
    tmux.keys("k")  # the signal dialog names it (and reads no markup in it)
    check(tmux.wait_for(lambda s: "of sh: sh -c sleep 60" in s and r"cr\rXX nl\nYY [/]" in s))
    tmux.keys("Escape")

    # a program launched into the same group: its output in the launch log shown escaped, tabs
    # kept, a CRLF one line break
    tmux.keys("n")
    tmux.wait_for(lambda s: "Launch a program" in s)
    tmux.keys("Tab")  # the group: the selected row's, sh
    tmux.keys(OUTPUT, literal=True)
    tmux.keys("Enter")
    sleeps = re.compile(r"^\s*(\d+) .*─ sleep 60\s*$", re.M)  # the attached one's and ours
    screen = tmux.wait_for(lambda s: len(sleeps.findall(s)) == 2 and "Launch a program" not in s)
    for pid in sleeps.findall(screen):
        reaper.add(int(pid))
    tmux.keys("l")
    screen = tmux.wait_for(lambda s: r"\e[41mLOGEVIL\e[0m" in s and "next" in s)
    assert re.search(r"^.*\\e\]2;logpwn\\a\\e\[41mLOGEVIL\\e\[0m +tab\s*$", screen, re.M), screen
    check(screen)
    tmux.keys("Escape")

    # quitting names what it would end (the launch) and what it leaves (the attached process)
    tmux.keys("q")
    check(tmux.wait_for(lambda s: "Left running" in s and r"\e[41mEVIL\e[0m" in s))
    tmux.keys("e")  # ends the launched sleep, then quits


async def test_toasts_and_banners_are_plain_text_with_controls_escaped() -> None:
    # a banner quotes a path the user chose; a toast may quote a process
    banner = "groups are not saved: cannot lock /tmp/a[/]b\x1b[41m/lock"
    app = TractApp(demo_session(), banner=banner, host="demo", kernel="6.18", save_settings=False)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await loaded(pilot)
        assert str(app.query_one("#banner", Static).render()) == (
            "groups are not saved: cannot lock /tmp/a[/]b\\e[41m/lock"
        )
        app.notify("PID 5 ([@click=app.quit]\x1b[41mE\x07[/]) is gone\nsecond line")
        await wait_for(pilot, lambda: bool(app.screen.query("Toast")))
        await pilot.pause(0.1)
        shown = str(app.screen.query_one("Toast").render())
        assert "PID 5 ([@click=app.quit]\\e[41mE\\a[/]) is gone\nsecond line" in shown
