"""A group's details, as the UI's Enter on its header asks for them (Session.group_details),
against the real kernel: its own engine keeping history in its state directory, and a real
daemon through DaemonEngine. Members are kept in memory for 0 s: what the history lists of
them comes from the files. Each test's processes are 4 short ones; fixtures kill what is left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

import pytest

from bench.common.daemon import Daemon
from tests.integration.support import poll_until
from tractui import paths
from tractui import session as session_module
from tractui.control import LaunchSpec
from tractui.daemon.link import DaemonEngine
from tractui.engine import Engine
from tractui.model.history import History
from tractui.model.state import Persister
from tractui.session import Session
from tractui.snapshot import GroupDetails

pytestmark = pytest.mark.kernel

T = TypeVar("T")
TIMEOUT = 15.0
# three children, each burning a little CPU, the second failing; the shell then waits long
SCRIPT = (
    "for n in 0 1 2; do sh -c 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exit $1' sh $n; "
    "done; exec sleep 100"
)


def result(future: Future[T]) -> T:
    return future.result(timeout=TIMEOUT)


def details_when(session: Session, group: str, count: int) -> GroupDetails:
    """The group's details once its history lists ``count`` ended members kept on disk, and
    its row has seen as many exits: the history is read from the files as the details open,
    the row is the last snapshot's (a daemon's mirror, on a loaded machine, may be a step
    behind the daemon's files: the row then still counted the last child live)."""
    found: list[GroupDetails] = []

    def enough() -> bool:
        found[:] = [result(session.group_details(group))]
        d = found[0]
        return sum(e.on_disk for e in d.history) >= count and d.row.exits >= count

    poll_until(enough, f"{count} ended members in the history of {group}", TIMEOUT)
    return found[0]


def check(d: GroupDetails) -> None:
    """Three ended children, newest first, each with its kernel account; the failures marked;
    the group's totals count them."""
    kids = [e for e in d.history if e.command.startswith("sh -c i=0")]
    assert len(kids) == 3, d.history
    assert [e.ended for e in kids] == sorted((e.ended for e in kids), reverse=True)
    assert sorted(e.status for e in kids) == ["exit 0", "exit 1", "exit 2"]
    assert sorted(e.failed for e in kids) == [False, True, True]
    now = time.time()
    for e in kids:
        assert now - 60 < e.ended <= now + 1
        assert e.pid > 0
        if not d.accounting:
            assert e.cpu_s is not None and e.cpu_s > 0
            assert e.peak_rss_kib is not None and e.peak_rss_kib > 0
    assert d.history_notes == () and d.in_tree == 0
    assert d.row.live == 1 and d.row.exits >= 3 and d.row.failed >= 2
    if not d.accounting:
        assert d.ended.processes >= 3
        assert d.ended.cpu_s == pytest.approx(sum(e.cpu_s or 0.0 for e in kids), rel=0.01)
        assert d.row.cpu_time_s >= d.ended.cpu_s


def test_embedded_engine_lists_the_history_from_its_files(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine(keep_exited=0, state=Persister(), history=History(paths.state_dir()))
    session = Session(engine, watch_collector=False)
    session.start()
    try:
        result(session.launch("gd", LaunchSpec(["sh", "-c", SCRIPT])))
        check(details_when(session, "gd", 3))
    finally:
        session.stop()


def test_members_still_in_memory_are_listed_marked_not_on_disk(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine(keep_exited=60, state=Persister(), history=History(paths.state_dir()))
    session = Session(engine, watch_collector=False)
    session.start()
    try:
        result(session.launch("gd", LaunchSpec(["sh", "-c", SCRIPT])))
        found: list[GroupDetails] = []

        def three_ended() -> bool:
            found[:] = [result(session.group_details("gd"))]
            return found[0].in_tree >= 3

        poll_until(three_ended, "3 ended members in memory", TIMEOUT)
        listed = found[0].history  # each listed once: from the tree, not from the disk
        assert len(listed) == found[0].in_tree and not any(e.on_disk for e in listed)
        assert [e.ended for e in listed] == sorted((e.ended for e in listed), reverse=True)
        kids = [e for e in listed if e.command.startswith("sh -c i=0")]
        assert sorted(e.status for e in kids)[:3] == ["exit 0", "exit 1", "exit 2"]
        assert all(time.time() - 60 < e.ended <= time.time() + 1 for e in listed)
    finally:
        session.stop()


def test_daemon_engine_lists_the_daemons_history(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon("--keep-exited", "0")
    daemon.cli("add", "gd", "--", "sh", "-c", SCRIPT)
    engine = DaemonEngine(daemon.socket)
    engine.start()
    session = Session(engine, watch_collector=False)
    session.start()
    try:
        d = details_when(session, "gd", 3)
        check(d)
        assert d.row.log_path.endswith("gd.log") and d.has_launches and d.daemon
    finally:
        session.stop()


def test_a_daemon_without_history_says_why(make_daemon: Callable[..., Daemon]) -> None:
    daemon = make_daemon("--history-cap", "0")
    daemon.cli("add", "gd", "--", "sleep", "100")
    engine = DaemonEngine(daemon.socket)
    engine.start()
    session = Session(engine, watch_collector=False)
    session.start()
    try:
        poll_until(lambda: session.snapshot.groups, "the group in a snapshot", TIMEOUT)
        d = result(session.group_details("gd"))
        assert d.history == ()
        assert d.history_notes == (
            "no history: history is not kept (tractui daemon --history-cap 0)",
        )
        with pytest.raises(Exception, match="no group named 'nope'"):
            result(session.group_details("nope"))
    finally:
        session.stop()


@pytest.mark.parametrize("older_daemon", [False, True])
def test_on_a_daemon_only_the_newest_are_read_and_the_rest_counted(
    make_daemon: Callable[..., Daemon], monkeypatch: pytest.MonkeyPatch, older_daemon: bool
) -> None:
    daemon = make_daemon("--keep-exited", "0")
    daemon.cli("add", "gd", "--", "sh", "-c", SCRIPT)
    engine = DaemonEngine(daemon.socket)
    asked: list[dict[str, object]] = []
    request = engine._request

    def as_asked(op: str, **fields: object) -> dict[str, object]:
        asked.append({"op": op, **fields})
        if older_daemon:  # what a daemon that knows neither field is asked, in effect
            fields.pop("history_only", None)
            fields.pop("newest", None)
        return request(op, **fields)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "_request", as_asked)
    monkeypatch.setattr(session_module, "HISTORY_SHOWN", 2)
    engine.start()
    session = Session(engine, watch_collector=False)
    session.start()
    try:
        d = details_when(session, "gd", 2)
        poll_until(lambda: result(session.group_details("gd")).more == 1, "1 older", TIMEOUT)
        d = result(session.group_details("gd"))
        assert {"op": "list", "group": "gd", "all": True, "history_only": True, "newest": 2} in (
            asked
        )
        assert len(d.history) == 2 and all(e.on_disk for e in d.history) and d.more == 1
        assert [e.ended for e in d.history] == sorted((e.ended for e in d.history), reverse=True)
        assert d.history[0].status == "exit 2"  # the last of the three, first
    finally:
        session.stop()
