"""The metrics' accumulators, address parsing and /proc reader (tractui.daemon.metrics)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tractui.daemon.metrics import Accumulators, GroupFacts, Metrics, Round, parse_address
from tractui.errors import UserError
from tractui.kernel import procfs, pstats
from tractui.kernel.pstats import ProcStats


def test_accumulator_grows_by_growth_and_never_falls() -> None:
    acc = Accumulators()
    assert acc.feed("a{}", 5.0) == 5.0
    assert acc.feed("a{}", 7.0) == 7.0
    assert acc.feed("a{}", 2.0) == 7.0  # a member gone without a record: no fall
    assert acc.feed("a{}", 3.5) == 8.5  # the growth since counts
    restored = Accumulators.from_json(acc.to_json())
    assert restored.feed("a{}", 0.0) == 8.5  # a restart: the per-process counts begin again
    assert restored.feed("a{}", 1.0) == 9.5


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        {"series": []},
        {"series": {"a{}": [1]}},
        {"series": {"a{}": [-1, 2]}},
        {"series": {"a{}": ["x", 1]}},
        {"faults": {"g": [1.5, 2]}},
    ],
)
def test_malformed_file_is_dropped_not_trusted(doc: object) -> None:
    acc = Accumulators.from_json(doc)
    assert acc.series == {} and acc.faults == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9256", ("127.0.0.1", 9256)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:9", ("::1", 9)),
        (":0", ("127.0.0.1", 0)),
    ],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "x", "host:", "1:99999", "h:-1"])
def test_parse_address_refuses(text: str) -> None:
    with pytest.raises(UserError, match=r"\[HOST:\]PORT"):
        parse_address(text)


def test_pstats_reads_this_process() -> None:
    stats = pstats.read(os.getpid())
    assert stats is not None
    assert procfs.same_start(stats.start, procfs.read_start(os.getpid()) or -1)
    vmrss = int(procfs.read_status(os.getpid())["VmRSS"].split()[0]) * 1024
    assert abs(stats.resident - vmrss) <= 1 << 20  # statm and status agree (1 MiB of drift)
    assert stats.fds >= 3 and stats.fd_limit > 0
    assert stats.threads >= 1 and stats.state in "RS"


def _stats(start: int, user: float, minflt: int = 0) -> ProcStats:
    return ProcStats(start, "S", user, 0.0, minflt, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 1024)


def test_round_holds_an_ended_members_cpu_until_its_record(tmp_path: Path) -> None:
    """Live 1 s; then ended, record not yet come: still 1 s (its last sample); then the
    record in the group's account: 1.0 s, not 2; the page faults of a gone member stay."""
    reads = {7: _stats(100, 1.0, minflt=50)}
    metrics = Metrics(tmp_path, read=lambda pid, limit: reads.get(pid))
    facts = GroupFacts("g", (0.0, 0.0, 0, 0, 0, 0), 1, 0, 0, 0, 0)

    def user(view_counters: tuple[tuple[str, tuple[tuple[str, str], ...], float], ...]) -> float:
        return next(
            v
            for n, labels, v in view_counters
            if n.endswith("cpu_seconds_total") and ("mode", "user") in labels
        )

    def faults(view_counters: tuple[tuple[str, tuple[tuple[str, str], ...], float], ...]) -> float:
        return next(v for n, _labels, v in view_counters if n.endswith("minor_page_faults_total"))

    view = metrics.compute(Round((facts,), (("g", (7, 100), True),), 0, 0, 0))
    assert user(view.counters) == 1.0 and faults(view.counters) == 50
    view = metrics.compute(Round((facts,), (("g", (7, 100), False),), 0, 0, 0))
    assert user(view.counters) == 1.0 and faults(view.counters) == 50
    accounted = facts._replace(ended=(1.01, 0.0, 0, 0, 0, 0), exits=1)
    view = metrics.compute(Round((accounted,), (), 0, 0, 0))
    assert user(view.counters) == pytest.approx(1.01) and faults(view.counters) == 50
    assert (tmp_path / "metrics.json").exists()
    again = Metrics(tmp_path, read=lambda pid, limit: None)
    view = again.compute(Round((facts,), (), 0, 0, 0))  # restarted, the account lost
    assert user(view.counters) == pytest.approx(1.01)
