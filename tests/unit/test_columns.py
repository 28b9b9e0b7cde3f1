"""The tree's columns: htop's formats (PRI, VIRT/SHR in K/M/G, START), the header's marks and
the click positions, a saved choice checked, and each row's cells as wide as the header."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from tractui.snapshot import ProcRow, path_length
from tractui.widgets import columns
from tractui.widgets.columns import (
    cells_text,
    column_at,
    command_x,
    header_line,
    layout,
    priority_text,
    start_text,
    valid_ids,
)

ROW = ProcRow(
    key=(4242, 1),
    pid=4242,
    group="web",
    parent=None,
    ppid=1,
    children=(),
    depth=0,
    user="www-data-long",
    state="S",
    cpu=12.5,
    rss_kb=24_576,
    ticks=157,
    threads=3,
    nice=-5,
    command="/usr/bin/python3 -m http.server",
    alive=True,
    reparented=False,
    status="alive",
    failed=False,
    priority=15,
    virt_kb=1_183_744,
    shr_kb=8_192,
    mem_pct=0.1464,
    started=0.0,
    path_len=9,
)


@pytest.fixture(autouse=True)
def _utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_start_is_hours_and_minutes_today_else_month_and_day() -> None:
    now = 1_767_261_600.0  # 2026-01-01 10:00 UTC
    assert start_text(now - 3_600, now) == "09:00"
    assert start_text(now - 10 * 3_600 + 1, now) == "00:00"  # just after midnight: today
    assert start_text(now - 10 * 3_600 - 1, now) == "Dec 31"  # just before: yesterday
    assert start_text(now - 40 * 86_400, now) == "Nov 22"
    assert start_text(0.0, now) == ""  # not known
    assert start_text(time.time() - 1) == time.strftime("%H:%M", time.localtime(time.time() - 1))


def test_priority_as_htop_shows_it() -> None:
    assert priority_text(20) == "20"
    assert priority_text(-51) == "-51"  # a real-time priority in the middle of the range
    assert priority_text(-100) == "RT"
    assert priority_text(None) == ""


def test_every_column_in_a_row_is_as_wide_as_its_title_says() -> None:
    shown = layout([c.id for c in columns.ALL], flat=True)
    text = cells_text(shown)(ROW)
    assert len(text) == command_x(shown)
    x = 0
    cells = {}
    for column in shown:
        cells[column.id] = text[x : x + column.width].strip()
        x += column.width + 1
    assert cells == {
        "PID": "4242",
        "USER": "www-data",  # cut to its width
        "PRI": "15",
        "NI": "-5",
        "VIRT": "1.1G",
        "RSS": "24.0M",
        "SHR": "8192K",
        "S": "S",
        "CPU%": "12.5",
        "MEM%": "0.1",
        "TIME+": "0:01.57",
        "START": "",
        "THR": "3",
        "GROUP": "web",
    }
    assert cells_text(())(ROW) == ""


def test_an_exited_process_shows_no_sampled_columns() -> None:
    gone = replace(ROW, alive=False, state="-", status="exit 0")
    shown = layout(["PID", "NI", "VIRT", "RSS", "CPU%", "MEM%", "TIME+"])
    assert cells_text(shown)(gone).split() == ["4242", "0:01.57"]


def test_the_header_marks_the_sort_and_the_scroll() -> None:
    shown = layout(["PID", "S", "CPU%"])
    assert header_line(shown, "CPU%", True) == "    PID S  CPU% COMMAND"[:0] + (
        "    PID S CPU%▼ COMMAND"
    )
    assert header_line(shown, "S", False) == "    PID S▲ CPU% COMMAND"
    assert header_line(shown, "COMMAND", False, offset=16) == "    PID S  CPU% COMMAND▲  ◂ 16"


def test_a_click_on_the_header_names_the_column_under_it() -> None:
    shown = layout(["PID", "USER", "CPU%"])  # PID 0-7, USER 8-16, CPU% 17-22
    assert [column_at(shown, x) for x in (0, 7, 8, 16, 17, 22, 23, 200)] == [
        "PID",
        "PID",
        "USER",
        "USER",
        "CPU%",
        "CPU%",
        "COMMAND",
        "COMMAND",
    ]
    assert column_at((), 0) == "COMMAND"


@pytest.mark.parametrize(
    ("saved", "valid"),
    [
        (["PID", "NI"], ("PID", "NI")),
        ([], ()),
        (["PID", "PID"], None),
        (["PID", "NOPE"], None),
        (["GROUP"], None),  # the flat list's, not a choice
        ("PID", None),
        ([1, 2], None),
        (None, None),
        ({"PID": True}, None),
    ],
)
def test_a_saved_choice_is_used_only_when_valid(saved: object, valid: object) -> None:
    assert valid_ids(saved) == valid


def test_the_default_set_follows_the_width() -> None:
    assert columns.default_ids(120) == columns.WIDE
    assert columns.default_ids(80) == columns.NARROW
    # htop's default columns, in htop's order (RES is RSS here), and START
    assert columns.WIDE[:11] == (
        "PID", "USER", "PRI", "NI", "VIRT", "RSS", "SHR", "S", "CPU%", "MEM%", "TIME+"
    )  # fmt: skip
    # what is left for the tree and the command (the scroll bar takes one column)
    assert 80 - 1 - command_x(layout(columns.NARROW)) == 26
    assert 120 - 1 - command_x(layout(columns.WIDE)) == 42


@pytest.mark.parametrize(
    ("argv", "command", "length"),
    [
        (("/usr/bin/python3", "-m", "x"), "/usr/bin/python3 -m x", 9),
        (("./app", "--serve"), "./app --serve", 2),
        (("/init",), "/init", 1),
        (("sleep", "30"), "sleep 30", 0),
        ((), "[kworker/0:1]", 0),
        (("/tmp/a\x1bb/run",), "/tmp/a\\eb/run", 10),  # the escaped text's length
    ],
)
def test_the_path_hidden_by_p_is_argv0s_directory(
    argv: tuple[str, ...], command: str, length: int
) -> None:
    assert path_length(argv, command) == length
