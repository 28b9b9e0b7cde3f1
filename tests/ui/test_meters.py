"""The meters at the top and a process's details sections (sparklines, open files,
environment, PSS): drawn from fixed readings, so the same on every machine."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import pytest
from textual.content import Content
from textual.pilot import Pilot
from textual.widgets import Static

from tests.ui.conftest import wait_for
from tests.ui.test_snapshots import loaded
from tractui.app import TractApp
from tractui.kernel.meters import CpuUse, Load, Memory, Meters
from tractui.kernel.peek import OpenFile, Peek
from tractui.model.trend import SPARKS, Series
from tractui.replay import demo_session
from tractui.screens.details import DetailsScreen
from tractui.widgets.meters import MetersBar, meters_content, spark, trend_lines

SnapCompare = Callable[..., bool]

MEMORY = Memory(
    total_kb=16_000_000,
    used_kb=5_200_000,
    buffers_kb=400_000,
    cached_kb=4_100_000,
    available_kb=9_900_000,
    swap_total_kb=2_000_000,
    swap_used_kb=120_000,
)
LOAD = Load(1.52, 0.91, 0.40, 3, 412)


def reading(cpus: int = 2) -> Meters:
    uses = tuple(CpuUse(0.1 + 0.8 * i / max(1, cpus), 0.05, 0.01 * (i % 2)) for i in range(cpus))
    return Meters(uses, CpuUse(0.45, 0.05, 0.0), MEMORY, LOAD, 93_784.0, 0)


def meters_app(lines: int) -> TractApp:
    """The replay, with a fixed meters reading and ``lines`` lines of meters."""
    session = demo_session()
    session._snapshots.read_meters = reading
    app = TractApp(session, host="demo", kernel="6.18.0", save_settings=False)
    app.meter_lines = lines
    return app


@pytest.mark.parametrize("cpus", [1, 2, 4, 16, 64, 256])
@pytest.mark.parametrize("lines", [1, 2])
def test_every_width_fits(cpus: int, lines: int) -> None:
    m = reading(cpus)
    for width in range(10, 240):
        for line in meters_content(m, lines, width).split("\n"):
            assert line.cell_length <= width, (width, line.plain)


def test_what_each_size_shows() -> None:
    m = reading(2)
    wide = meters_content(m, 2, 118).plain.split("\n")
    assert wide[0].startswith("0[") and " 1[" in wide[0]
    assert "Mem[" in wide[1] and "Swp[" in wide[1]
    assert "load 1.52 0.91 0.40" in wide[1] and "412 tasks, 3 running" in wide[1]
    assert "up 1d 02:03" in wide[1]
    one = meters_content(m, 1, 78).plain  # 80 columns, less the padding
    assert one.startswith("0[") and " 1[" in one and "Mem[" in one and "ld 1.52" in one
    small = meters_content(m, 1, 48).plain  # 50 columns
    assert "Mem[" in small and ("0[" in small or "CPU" in small)
    many = meters_content(reading(64), 1, 78).plain  # a bar each does not fit: a glyph each
    assert many.startswith("CPU")


def test_no_swap_and_no_memory() -> None:
    m = dataclasses.replace(reading(), memory=dataclasses.replace(MEMORY, swap_total_kb=0))
    assert "Swp none" in meters_content(m, 2, 100).plain
    m = dataclasses.replace(reading(), memory=None, load=None)
    assert "Mem ?" in meters_content(m, 1, 80).plain


def test_sparkline_keeps_spikes_and_scales_from_zero() -> None:
    assert spark([0, 0, 100, 0, 0, 0], 3) == "▁█▁"  # the spike is the cell's value
    assert spark([5, 5, 5], 10) == "███"  # constant: full height, never a made-up slope
    assert spark([0, 0], 5) == "▁▁"
    assert spark([], 5) == ""
    lines = trend_lines(Series((0.0, 50.0, 100.0), (1000, 1000, 2000), 1.0), 70, 12)
    text = lines.plain
    assert "100.0% now, 100.0% peak" in text and "2000K now, 2000K peak" in text
    assert "(3 points 1.0 s apart: 0.0 min, up to now)" in text
    assert all(len(line) <= 70 for line in text.split("\n"))
    assert "no history yet" in trend_lines(None, 70, 12).plain


async def test_hash_cycles_the_meters_on_screen() -> None:
    app = meters_app(1)
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        bar = app.query_one(MetersBar)
        await wait_for(pilot, lambda: bar.meters is not None and bar.display)
        assert bar.region.height == 1
        await pilot.press("number_sign")
        await pilot.pause()
        assert bar.region.height == 2
        await pilot.press("number_sign")
        await pilot.pause()
        assert not bar.display


async def test_a_replay_has_no_meters() -> None:
    app = TractApp(demo_session(), host="demo", kernel="6.18.0", save_settings=False)
    async with app.run_test() as pilot:
        await loaded(pilot)
        assert app.snapshot.meters is None
        assert not app.query_one(MetersBar).display


class TestSnapshots:
    @pytest.mark.parametrize(("size", "lines"), [((120, 40), 2), ((80, 24), 1), ((50, 14), 1)])
    def test_meters(self, snap_compare: SnapCompare, size: tuple[int, int], lines: int) -> None:
        async def run(pilot: Pilot[object]) -> None:
            await loaded(pilot)
            app = pilot.app
            assert isinstance(app, TractApp)
            await wait_for(pilot, lambda: app.query_one(MetersBar).meters is not None)
            await pilot.pause(0.2)

        assert snap_compare(meters_app(lines), terminal_size=size, run_before=run)

    @pytest.mark.parametrize("size", [(120, 40), (80, 24)])
    def test_details_sections(self, snap_compare: SnapCompare, size: tuple[int, int]) -> None:
        assert snap_compare(replay_app_details(), terminal_size=size, run_before=open_details)

    def test_group_header_sparklines(self, snap_compare: SnapCompare) -> None:
        assert snap_compare(history_app(), terminal_size=(120, 40), run_before=loaded)


def replay_app_details() -> TractApp:
    return TractApp(demo_session(), host="demo", kernel="6.18.0", save_settings=False)


def history_app() -> TractApp:
    """The replay, with 10 minutes of CPU history of each group, a point a second: web's
    10% more each minute (0 to 90%), build's two CPUs busy for a minute in the middle, 3%
    else."""
    session = demo_session()
    trends = session._snapshots.group_trends
    for i in range(600):
        build = 195.0 if 270 <= i < 330 else 3.0
        trends.add_round(float(i), [("web", float(i // 60 * 10), 1000), ("build", build, 5000)])
    return TractApp(session, host="demo", kernel="6.18.0", save_settings=False)


def header_line(app: TractApp, group: str) -> str:
    tree = app.process_tree
    return tree.render_line(tree.ids.index(group) - int(tree.scroll_y)).text.rstrip()


# the build group's row is 93 columns wide without the sparkline
@pytest.mark.parametrize(
    ("width", "cells"), [(120, 20), (114, 20), (113, 19), (106, 12), (102, 8), (101, 0), (80, 0)]
)
async def test_the_header_sparkline_takes_the_room_the_row_leaves(width: int, cells: int) -> None:
    """After the group's CPU%, up to 20 cells, at least 8; never pushing a counter off: the
    rest of the row is the row drawn without a history (at 80 columns, all of it)."""
    plain, lines = replay_app_details(), []
    for app in (history_app(), plain):
        async with app.run_test(size=(width, 24)) as pilot:
            await loaded(pilot)
            lines.append(header_line(app, "build"))
    with_history, without = lines
    spark = "".join(c for c in with_history if c in SPARKS)
    assert len(spark) == cells, with_history
    if cells:
        assert with_history.replace(f" {spark}", "", 1) == without
        assert f"CPU 97.3% {spark}  TIME" in with_history
        assert without.endswith("exits 3")
        # build: 3% but for a minute in the middle at 195% (the scale's top: above one CPU)
        assert spark[0] == spark[-1] == "▁" and "█" in spark[cells // 2 - 1 : cells // 2 + 1]
    else:
        assert with_history == without


HOSTILE = "/tmp/\x1b[2Jx[b]bold[/b]"
PEEK = Peek(
    fds=(
        OpenFile(0, "CHR", "/dev/null"),
        OpenFile(1, "pipe", "pipe:[4242]"),
        OpenFile(3, "REG", HOSTILE),
        OpenFile(4, "socket", "socket:[777]"),
    ),
    environ=("HOME=/home/alice", "LANG=C.UTF-8", f"X={HOSTILE}"),
    pss_kb=1_171,
    rss_rollup_kb=5_236,
    swap_pss_kb=12,
)
SERIES = Series(
    cpu=tuple(float((i * 7) % 40) for i in range(120)),
    rss_kb=tuple(200_000 + 100 * i for i in range(120)),
    step_s=1.0,
)


async def open_details(pilot: Pilot[object]) -> None:
    """The details of the replay's busiest process (PID 5004), with fixed open files,
    environment, PSS and history (what a live process's would be read as)."""
    await loaded(pilot)
    app = pilot.app
    assert isinstance(app, TractApp)
    key = next(k for k in app.snapshot.procs if k[0] == 5004)
    details = await asyncio.wrap_future(app.session.details(key))
    await app.push_screen(DetailsScreen(dataclasses.replace(details, peek=PEEK, trend=SERIES)))
    await wait_for(pilot, lambda: bool(app.screen.query("FooterKey")))
    await pilot.pause(0.3)


async def test_details_sections_escaped_and_jumped_to() -> None:
    app = replay_app_details()
    async with app.run_test(size=(100, 30)) as pilot:
        await open_details(pilot)
        screen = app.screen
        assert isinstance(screen, DetailsScreen)

        def shown(id: str) -> str:
            content = screen.query_one(f"#{id}", Static).visual
            assert isinstance(content, Content)
            return content.plain

        files = shown("details-files")
        assert "Open files (4)" in files
        assert "pipe:[4242]" in files and "socket:[777]" in files
        assert "\x1b" not in files and "[b]bold[/b]" in files  # escaped, never markup
        environ = shown("details-environ").split("\n")
        assert environ[1:] == ["  HOME=/home/alice", "  LANG=C.UTF-8", environ[3]]
        assert "\x1b" not in environ[3]
        top = shown("details-top")
        assert "PSS 1171K" in top and "RSS" in top
        scroll = screen.query_one(".dialog")
        assert scroll.scroll_y == 0
        await pilot.press("v")
        await pilot.pause(0.1)
        assert scroll.scroll_y > 0
        await pilot.press("t")
        await pilot.pause(0.1)
        assert scroll.scroll_y == 0


async def test_an_unreadable_environment_says_why() -> None:
    app = replay_app_details()
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot)
        key = next(k for k in app.snapshot.procs if k[0] == 5004)
        details = await asyncio.wrap_future(app.session.details(key))
        why = "permission denied (another user's process: run tractui as root to see it)"
        peek = Peek(environ_error=why, fds_error=why, pss_error=why)
        await app.push_screen(DetailsScreen(dataclasses.replace(details, peek=peek)))
        await pilot.pause(0.2)
        text = "\n".join(
            str(w.visual.plain) for w in app.screen.query(Static) if isinstance(w.visual, Content)
        )
        assert f"not readable: {why}" in text
        assert f"PSS not readable: {why}" in text
