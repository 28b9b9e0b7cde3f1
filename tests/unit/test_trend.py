"""The details' history: points in step per round, a 10-minute window, compact when still."""

from __future__ import annotations

import pytest

from tractui.model.trend import Trends, header_spark, rss_code, rss_value

A, B = (100, 1), (200, 2)


def test_rss_codes_keep_a_third_of_a_permille() -> None:
    for kb in (0, 1, 812, 4_000, 1_572_864, 1 << 31):  # up to 2 TiB
        assert rss_value(rss_code(kb)) == pytest.approx(kb, rel=4e-4, abs=1)


def test_points_of_each_key_from_its_first_round() -> None:
    trends = Trends(interval=1.0)
    trends.add_round(0.0, [(A, 1.0, 1000)])
    trends.add_round(1.0, [(A, 2.0, 1000), (B, 50.0, 2000)])
    trends.add_round(2.0, [(A, 3.25, 1100), (B, 0.0, 2000)])
    a, b = trends.series(A), trends.series(B)
    assert a is not None and b is not None
    assert a.cpu == (1.0, 2.0, 3.3)  # tenths of a percent, half up
    assert a.rss_kb == pytest.approx((1000, 1000, 1100), rel=4e-4)
    assert a.step_s == 1.0
    assert b.cpu == (50.0, 0.0)
    assert trends.series((9, 9)) is None


def test_a_missed_round_repeats_the_last_point_and_an_ended_one_stops() -> None:
    trends = Trends(interval=1.0)
    trends.add_round(0.0, [(A, 5.0, 10), (B, 1.0, 10)])
    trends.add_round(1.0, [(B, 1.0, 10)])  # A not sampled this round
    trends.add_round(2.0, [(A, 7.0, 10), (B, 1.0, 10)])
    trends.add_round(3.0, [(B, 1.0, 10)])  # A has exited
    a = trends.series(A)
    assert a is not None and a.cpu == (5.0, 5.0, 7.0)
    assert a.ended
    b = trends.series(B)
    assert b is not None and not b.ended and b.cpu == (1.0,) * 4
    trends.forget([A])
    assert trends.series(A) is None


def test_the_window_is_ten_minutes_and_memory_stays_bounded() -> None:
    trends = Trends(interval=1.0)
    for r in range(2000):
        trends.add_round(float(r), [(A, float(r % 100), 1000 + r), (B, 0.0, 500)])
    a = trends.series(A)
    assert a is not None
    assert len(a.cpu) == 601  # 600 s: both ends in
    assert a.cpu[-1] == 1999 % 100
    a_trace = trends.traces[A]
    assert a_trace.count <= trends.capacity + trends.capacity // 4
    assert len(trends.times) <= trends.capacity + trends.capacity // 4
    # a still one holds no array at all
    b_trace = trends.traces[B]
    assert b_trace.cpu is None and b_trace.nbytes() == 0
    b = trends.series(B)
    assert b is not None and len(b.cpu) == 601 and set(b.cpu) == {0.0}
    # a busy one: 2 bytes a value
    assert a_trace.nbytes() <= 2 * 2 * (trends.capacity + trends.capacity // 4) * 1.2


def test_slower_rounds_still_span_ten_minutes() -> None:
    trends = Trends(interval=1.0)
    for r in range(700):  # a round every 1.5 s (a big machine: the sampler slows down)
        trends.add_round(r * 1.5, [(A, 1.0, 10)])
    a = trends.series(A)
    assert a is not None
    assert len(a.cpu) == 401 and a.step_s == 1.5


def test_cpu_beyond_the_code_is_capped() -> None:
    trends = Trends()
    trends.add_round(0.0, [(A, 10_000.0, 10), (B, -3.0, -5)])
    a, b = trends.series(A), trends.series(B)
    assert a is not None and a.cpu == (6553.5,)
    assert b is not None and b.cpu == (0.0,) and b.rss_kb == (0,)


def test_a_header_sparkline_is_scaled_to_one_cpu_or_its_peak_above() -> None:
    assert header_spark([0.3, 0.3, 0.3], 8) == "▁▁▁"  # idle lies flat, not full height
    assert header_spark([0.0, 50.0, 100.0], 8) == "▁▅█"
    assert header_spark([0.0, 100.0, 200.0], 8) == "▁▅█"  # two CPUs: scaled to its peak
    assert len(header_spark([float(i) for i in range(600)], 20)) == 20
    assert header_spark([], 20) == ""


def test_the_cpu_histories_are_made_once_a_round_and_not_of_an_ended_key() -> None:
    trends = Trends(interval=1.0)
    trends.add_round(0.0, [("web", 10.0, 1), ("gone", 5.0, 1)])
    trends.add_round(1.0, [("web", 20.0, 1)])
    histories = trends.cpu_histories()
    assert dict(histories) == {"web": (10.0, 20.0)}  # "gone" missed the last round: ended
    assert trends.cpu_histories()["web"] is histories["web"]  # the same tuple till a round
    trends.add_round(2.0, [("web", 30.0, 1)])
    assert trends.cpu_histories()["web"] == (10.0, 20.0, 30.0)
