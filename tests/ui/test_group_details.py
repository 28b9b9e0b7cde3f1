"""The group details (Enter on a group header): what its content builders make of a group's
details, hostile text included, and the keys: Enter opens it, ← → - + still fold, r reads the
history again."""

from __future__ import annotations

from dataclasses import replace

from textual.containers import VerticalScroll
from textual.widgets import Static

from tests.evil import EVIL
from tests.ui.conftest import wait_for
from tests.ui.test_snapshots import BUILD_ENDED, BUILD_HISTORY, history_app, loaded, replay_app
from tractui.model.account import Account
from tractui.model.history import GroupHistory
from tractui.replay import WALL, ReplayEngine
from tractui.screens.group import GroupDetailsScreen, group_content, history_content
from tractui.snapshot import GroupDetails, GroupRow, ended_entries
from tractui.widgets.tree import ProcessTree

ROW = GroupRow(
    name="web",
    roots=(),
    live=1,
    total=4,
    cpu=2.5,
    rss_kb=2048,
    cpu_time_s=1.75,
    forks=3,
    execs=3,
    exits=3,
    failed=1,
    launched=False,
    log_path="/var/lib/tractui/logs/web.log",
)


def details(**fields: object) -> GroupDetails:
    base = GroupDetails(row=ROW, ended=BUILD_ENDED.copy(), accounting="", created=WALL, history=())
    return replace(base, **fields)  # type: ignore[arg-type]


def text(d: GroupDetails) -> str:
    return f"{group_content(d).plain}\n{history_content(d).plain}"


def test_history_is_newest_first_and_its_fields_are_read_as_given() -> None:
    rows = ended_entries(BUILD_HISTORY)
    assert [r.pid for r in rows] == [4903, 4902, 4901, 4890]
    ld = rows[0]
    assert (ld.status, ld.failed, ld.ended) == ("SIGKILL", True, WALL - 3600)
    assert ld.cpu_s == 0.25 and ld.peak_rss_kib == 73_728 and ld.command == "ld -o app"
    assert [r.failed for r in rows] == [True, True, False, False]


def test_fields_of_the_wrong_type_are_left_out_never_trusted() -> None:
    bad = {
        "pid": "12",
        "ended_wall": True,
        "exit": {"code": "x"},
        "status": 3,
        "command": None,
        "account": {"cpu_user_s": "1", "cpu_system_s": 0, "peak_rss_kib": True},
    }
    for row in ended_entries([bad, {}]):
        assert (row.pid, row.ended, row.status, row.failed) == (0, 0.0, "gone", False)
        assert row.command == "" and row.cpu_s is None and row.peak_rss_kib is None
    line = history_content(details(history=(row,))).plain.splitlines()[-1]
    assert line.split()[:5] == ["?", "0", "gone", "-", "-"]


def test_hostile_text_is_escaped_and_never_markup() -> None:
    """A command's escape sequences, newlines and markup; a log path and a daemon's words that
    hold some: each shown as text, on its own line."""
    entry = dict(BUILD_HISTORY[0], command=" ".join([*EVIL, "[/]", "[@click=app.quit]x[/]"]))
    history = tuple(ended_entries([entry]))
    d = details(
        history=history,
        row=replace(ROW, log_path="/tmp/\x1b[31mred\n.log"),
        history_notes=("cut \x1b]2;pwned\x07 [b]",),
    )
    shown = text(d)
    assert "\x1b" not in shown and "\x07" not in shown and "\r" not in shown
    assert r"\e[41mEVIL\e[0m \e]2;pwned\a cr\rXX nl\nYY [/] [@click=app.quit]x[/]" in shown
    assert r"/tmp/\e[31mred\n.log" in shown
    assert r"(cut \e]2;pwned\a [b])" in shown
    # one line per entry: the newline in the argv did not split it
    # title, note, header, its date, entry
    assert len(history_content(d).plain.splitlines()) == 5
    # and no markup came through as style or action
    assert all("@click" not in str(span.style) for span in history_content(d).spans)


def test_aggregates_and_the_ended_members_account() -> None:
    shown = text(details())
    assert "1 live of 4 tracked" in shown
    assert "3 forks, 3 execs, 3 exits (1 failed)" in shown
    assert "CPU now 2.5%" in shown
    assert "1.75 s of every member that ever ran (0.24 live, 1.51 ended)" in shown
    assert "3 counted" in shown
    assert "1.510 s: 1.132 user, 0.378 system" in shown
    assert "largest peak 72.0M" in shown
    assert "3418K read, 1172K written" in shown  # htop's units, as RSS
    assert "120 voluntary, 30 involuntary" in shown
    assert "launch log /var/lib/tractui/logs/web.log" in shown
    assert "launched no" in shown


def test_accounting_off_says_why() -> None:
    off = "taskstats: Operation not permitted"
    shown = text(details(ended=Account(), accounting=off))
    assert f"accounting unavailable ({off})" in shown
    assert "counted" not in shown
    # accounts that came before it stopped are still shown, and it says it stopped
    shown = text(details(accounting=off))
    assert "3 counted" in shown and f"unavailable now ({off})" in shown


def test_who_launched_its_programs() -> None:
    assert "launched yes, from this UI" in text(details(row=replace(ROW, launched=True)))
    assert "launched yes, by the daemon" in text(details(has_launches=True, daemon=True))
    assert "launched yes, earlier" in text(details(has_launches=True))


def test_no_history_and_more_than_shown() -> None:
    assert "(none yet: members are kept here once they are pruned)" in text(details())
    on_disk = tuple(ended_entries(BUILD_HISTORY))
    in_tree = tuple(replace(e, pid=e.pid + 1000, ended=WALL - 1, on_disk=False) for e in on_disk)
    shown = text(details(history=in_tree[:2], in_tree=2))
    assert "History: 2 ended (0 kept on disk, 2 still in the tree)" in shown
    assert "(*: still in the tree, written to disk once pruned from it)" in shown
    assert "none yet" not in shown
    d = details(history=(*in_tree[:2], *on_disk), in_tree=2, more=7)
    assert "History: 13 ended (11 kept on disk, 2 still in the tree)" in text(d)
    assert "... and 7 older ones" in text(d)
    marked = [line for line in text(d).splitlines() if "09:59:59.000*" in line]
    assert [line.split()[1] for line in marked] == ["5903", "5902"]
    assert "History: 4 ended, kept on disk" in text(details(history=on_disk))


def folded(app: object) -> list[str]:
    tree = app.query_one(ProcessTree)  # type: ignore[attr-defined]
    return [str(r.id) for r in tree.rows if r.proc is None and r.fold == "▸"]


async def test_enter_opens_a_groups_details_and_the_fold_keys_still_fold() -> None:
    app = replay_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        tree = app.query_one(ProcessTree)
        count = len(tree.rows)
        await pilot.press("home", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GroupDetailsScreen))
        assert len(tree.rows) == count  # nothing folded
        summary = str(app.screen.query_one("#group-summary", Static).render())
        assert "4 live of 5 tracked" in summary
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, GroupDetailsScreen))
        for fold, unfold in (("left", "right"), ("minus", "plus")):
            await pilot.press(fold)
            assert folded(app) == ["web"]
            await pilot.press(unfold)
            assert folded(app) == []
        assert len(tree.rows) == count


async def test_r_reads_the_history_again() -> None:
    app = history_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot)
        await pilot.press("end")
        tree = app.query_one(ProcessTree)
        while tree.current is not None and tree.current.proc is not None:
            await pilot.press("up")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GroupDetailsScreen))
        head = app.screen.query_one("#group-history-head", Static)
        history = app.screen.query_one("#group-history", Static)
        assert "4 kept on disk" in str(head.render())
        engine = app.session.engine
        assert isinstance(engine, ReplayEngine)
        more = [*BUILD_HISTORY, dict(BUILD_HISTORY[1], pid=5010, ended_wall=WALL - 1)]
        engine.histories["build"] = GroupHistory(entries=more)
        await pilot.press("r")
        await wait_for(pilot, lambda: "5 kept on disk" in str(head.render()))
        lines = str(history.render()).splitlines()
        first = next(line for line in lines if ":" in line and "*" not in line)
        assert "5010" in first  # the newest on disk, first after those in the tree


async def test_at_50x14_it_scrolls_down_and_sideways_to_every_column() -> None:
    app = history_app()
    async with app.run_test(size=(50, 14)) as pilot:
        await loaded(pilot)
        await pilot.press(*["down"] * 6, "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, GroupDetailsScreen))
        dialog = app.screen.query_one(VerticalScroll)
        await pilot.pause(0.1)
        assert dialog.outer_size.height <= 13 and dialog.outer_size.width <= 50  # the footer
        assert dialog.max_scroll_y > 0 and dialog.max_scroll_x > 0
        await pilot.press("end")
        await wait_for(pilot, lambda: dialog.scroll_y == dialog.max_scroll_y)
        await pilot.press("right")
        await wait_for(pilot, lambda: dialog.scroll_x == 8)  # 8 columns a press
        await pilot.press(*["right"] * 10)
        await wait_for(pilot, lambda: dialog.scroll_x == dialog.max_scroll_x)
        await pilot.press("left")
        await wait_for(pilot, lambda: dialog.scroll_x == dialog.max_scroll_x - 8)


def test_columns_are_as_wide_as_their_values_so_the_command_has_the_rest() -> None:
    lines = history_content(details(history=tuple(ended_entries(BUILD_HISTORY)))).plain
    header, date, newest = lines.splitlines()[-6:-3]
    assert header == "ENDED           PID  STATUS   CPU s  PEAK RSS  COMMAND"
    assert date == "2026-01-01"  # the date once, above its day's first line
    assert newest == "09:00:00.000   4903  SIGKILL  0.250     72.0M  ld -o app"
    long = replace(ended_entries(BUILD_HISTORY)[0], status="SIGRTMIN+12 (core) x" * 2)
    cut = history_content(details(history=(long,))).plain.splitlines()[-1]
    assert "  SIGRTMIN+12 (core…  0.250" in cut  # cut to 18
