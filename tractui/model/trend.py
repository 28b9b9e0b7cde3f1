"""CPU% and RSS history (the details' sparklines): a point per sampling round, the last 10
minutes, for every tracked process and every group.

Memory is what matters here: 10,000 processes x 600 points x 2 values. Each point is coded
in 2 bytes per value (CPU% in tenths of a percent up to 6553.5%; RSS on a log scale, to
0.035%: 1 KiB to 4 TiB), in ``array('H')``: 2.4 KB for a process whose values change, and
a process whose values have not changed since it was first seen (most of them: asleep)
holds no array at all, only its one value and a count. A round appends to every live
process; trimming drops a quarter of the window at once, so an append is amortised O(1).
bench/meters/trend_memory.py measures it at 10,000 processes.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

WINDOW_S = 600.0  # what the sparklines span
CPU_MAX = 65535  # tenths of a percent
RSS_SCALE = 2000.0  # codes per doubling: 2**(1/2000) = 0.035% apart
SPARKS = "▁▂▃▄▅▆▇█"
HEADER_SPARK = 20  # the cells of a group header's CPU% sparkline at most (30 s each)
HEADER_SPARK_MIN = 8  # and at least: narrower, it is left out


def cpu_code(cpu: float) -> int:
    return min(CPU_MAX, max(0, round(cpu * 10)))


def rss_code(kb: int) -> int:
    return min(65535, round(math.log2(1 + max(0, kb)) * RSS_SCALE))


def rss_value(code: int) -> int:
    return round(2 ** (code / RSS_SCALE)) - 1


def spark(values: Sequence[float], width: int, top: float | None = None) -> str:
    """``values`` as a sparkline of ``width`` cells at most: each cell the largest of the
    values it covers (a spike is never averaged away), scaled to ``top`` (the largest value
    if None); empty if there are none."""
    if not values or width <= 0:
        return ""
    n = len(values)
    cells = min(width, n)
    peak = max(values) if top is None else top
    out = []
    for c in range(cells):
        lo, hi = c * n // cells, max(c * n // cells + 1, (c + 1) * n // cells)
        v = max(values[lo:hi])
        level = 0 if peak <= 0 else min(len(SPARKS) - 1, int(v / peak * (len(SPARKS) - 1) + 0.5))
        out.append(SPARKS[level])
    return "".join(out)


def header_spark(cpu: Sequence[float], cells: int = HEADER_SPARK) -> str:
    """A group header's CPU% sparkline: its history in ``cells`` cells at most, scaled to
    one CPU (100%), or to its peak above that: the groups' lines compare at a glance, and an
    idle group's lies flat (scaled to its own peak, 0.3% would fill the cells)."""
    return spark(cpu, cells, top=max([100.0, *cpu])) if cpu else ""


@dataclass(frozen=True, slots=True)
class Series:
    """A history as it is shown: oldest first, a point per ``step_s`` seconds (on average)."""

    cpu: tuple[float, ...]  # percent of one CPU
    rss_kb: tuple[int, ...]
    step_s: float  # seconds between points, on average over the window
    ended: bool = False  # it stopped before the newest round (the process exited)


class Trace:
    """One process's (or group's) points, from round ``first`` on. While every point is the
    same, only that point and their count are kept (``cpu``/``rss`` None)."""

    __slots__ = ("count", "cpu", "cpu0", "first", "rss", "rss0")

    def __init__(self, first: int, cpu: int, rss: int) -> None:
        self.first = first
        self.count = 1
        self.cpu0 = cpu
        self.rss0 = rss
        self.cpu: array[int] | None = None
        self.rss: array[int] | None = None

    def add(self, cpu: int, rss: int) -> None:
        if self.cpu is None or self.rss is None:
            if cpu == self.cpu0 and rss == self.rss0:
                self.count += 1
                return
            self.cpu = array("H", [self.cpu0]) * self.count
            self.rss = array("H", [self.rss0]) * self.count
        self.cpu.append(cpu)
        self.rss.append(rss)
        self.count += 1

    def last(self) -> tuple[int, int]:
        if self.cpu is None or self.rss is None:
            return self.cpu0, self.rss0
        return self.cpu[-1], self.rss[-1]

    def drop(self, n: int) -> None:
        """Forget the ``n`` oldest points."""
        n = min(n, self.count - 1)
        if n <= 0:
            return
        self.first += n
        self.count -= n
        if self.cpu is not None and self.rss is not None:
            del self.cpu[:n]
            del self.rss[:n]

    def codes(self, start: int, end: int) -> tuple[list[int], list[int]]:
        """The coded points of rounds ``start`` to ``end`` (excluded) that it has."""
        lo, hi = max(0, start - self.first), max(0, min(self.count, end - self.first))
        if self.cpu is None or self.rss is None:
            n = max(0, hi - lo)
            return [self.cpu0] * n, [self.rss0] * n
        return list(self.cpu[lo:hi]), list(self.rss[lo:hi])

    def nbytes(self) -> int:
        arrays = (self.cpu, self.rss)
        return sum(a.buffer_info()[1] * a.itemsize for a in arrays if a is not None)


class Trends:
    """The histories of processes and groups, by key; a round at a time."""

    def __init__(self, interval: float = 1.0, window_s: float = WINDOW_S) -> None:
        # rounds kept: the window at the sampler's pace, and room for slower rounds' times
        self.capacity = max(2, math.ceil(window_s / max(interval, 0.01)) + 1)
        self.window_s = window_s
        self.round = 0  # the number of the next round
        self.times: list[float] = []  # each round's time (monotonic), from round first_time
        self.first_time = 0
        self.traces: dict[Hashable, Trace] = {}
        self._rss_codes: dict[int, int] = {}  # rss_code of the RSS values seen lately
        self._cpu: Mapping[Hashable, tuple[float, ...]] = {}  # cpu_histories, as of _cpu_round
        self._cpu_round = 0

    def add_round(self, now: float, points: Iterable[tuple[Hashable, float, int]]) -> None:
        """One round: ``(key, cpu%, rss_kb)`` of each live process or group. A key missed in
        a round (not sampled yet) has its last point repeated, so its points stay in step."""
        r = self.round
        self.round += 1
        self.times.append(now)
        traces, cap = self.traces, self.capacity
        trim = cap + cap // 4
        codes = self._rss_codes
        if len(codes) > 4096:  # bounded: a few hundred KB at most
            codes.clear()
        for key, cpu, rss in points:
            c = min(CPU_MAX, int(cpu * 10 + 0.5)) if cpu > 0 else 0
            m = codes.get(rss)
            if m is None:
                m = codes[rss] = rss_code(rss)  # most RSS values recur: a log2 each is dear
            trace = traces.get(key)
            if trace is None:
                traces[key] = Trace(r, c, m)
                continue
            gap = r - (trace.first + trace.count)
            if gap < 0:
                continue  # twice in one round: the first counts
            if gap > cap:
                traces[key] = Trace(r, c, m)  # back after a long absence: start afresh
                continue
            if gap:
                lc, lm = trace.last()
                for _ in range(gap):
                    trace.add(lc, lm)
            trace.add(c, m)
            if trace.count > trim:
                trace.drop(trace.count - cap)
        if len(self.times) > trim:
            cut = len(self.times) - cap
            del self.times[:cut]
            self.first_time += cut

    def forget(self, keys: Iterable[Hashable]) -> None:
        for key in keys:
            self.traces.pop(key, None)

    def series(self, key: Hashable) -> Series | None:
        """The last ``window_s`` seconds of ``key``'s history (ending at its last point), or
        None if it has none."""
        trace = self.traces.get(key)
        if trace is None or not self.times:
            return None
        end = trace.first + trace.count  # one past its last round
        last_time = self._time(end - 1)
        start = trace.first
        if last_time is not None:
            while start < end - 1:
                t = self._time(start)
                if t is not None and last_time - t <= self.window_s:
                    break
                start += 1
        cpu, rss = trace.codes(start, end)
        first_time = self._time(start)
        span = (last_time - first_time) if last_time is not None and first_time is not None else 0
        step = span / (len(cpu) - 1) if len(cpu) > 1 else 0.0
        return Series(
            cpu=tuple(c / 10 for c in cpu),
            rss_kb=tuple(rss_value(m) for m in rss),
            step_s=step,
            ended=end < self.round,
        )

    def cpu_histories(self) -> Mapping[Hashable, tuple[float, ...]]:
        """Each key's CPU% of its last ``window_s`` seconds (not of an ended one): made once a
        round, so each snapshot of a round holds the same tuples (the tree's sparklines are
        drawn again only when they change)."""
        if self._cpu_round != self.round:
            self._cpu_round = self.round
            made: dict[Hashable, tuple[float, ...]] = {}
            for key in self.traces:
                series = self.series(key)
                if series is not None and not series.ended:
                    made[key] = series.cpu
            self._cpu = made
        return self._cpu

    def _time(self, r: int) -> float | None:
        i = r - self.first_time
        return self.times[i] if 0 <= i < len(self.times) else None

    def nbytes(self) -> int:
        """The bytes of the points' arrays (not the objects around them)."""
        return sum(t.nbytes() for t in self.traces.values())
