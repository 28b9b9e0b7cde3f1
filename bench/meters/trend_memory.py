"""The memory and time of the details' history (sparklines) at 10,000 live processes.

    python bench/meters/trend_memory.py [--n 10000] [--rounds 751] [--quick]

``--n`` processes, each given a point per round for ``--rounds`` rounds (751: the most a
history holds, just before a trim takes it back to the 601 points of a 10-minute window at a
round a second), in three shapes: all asleep (the same point every round), all busy (every point
different), and a mix (one in ten busy). Memory is what tracemalloc counts as allocated by
the history once built (its dict, its Trace objects, their arrays); the anchor, measured in
the same run, is a dict of 10,000 ``Sample`` objects: what the sampler already holds for the
same processes. Time: one round's ``add_round``, against building its points from the samples
(the session's own share of that round).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common.report import quotient, table
from bench.common.tools import say
from tractui.kernel.sample import Sample
from tractui.model.trend import Trends


def build(n: int, rounds: int, busy_every: int, traced: bool) -> tuple[int, float]:
    """The bytes the history holds after ``rounds`` rounds of ``n`` processes (one in
    ``busy_every`` changing each round; 0: none) if ``traced``, and the mean seconds of a
    round (timed untraced: tracemalloc slows every allocation)."""
    rng = random.Random(1)
    keys = [(100_000 + i, i * 1_000_000) for i in range(n)]
    if traced:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    trends = Trends(interval=1.0)
    spent = 0.0
    for r in range(rounds):
        points = [
            (
                k,
                rng.random() * 100 if busy_every and i % busy_every == 0 else 0.0,
                (50_000 + rng.randrange(5_000)) if busy_every and i % busy_every == 0 else 4_000,
            )
            for i, k in enumerate(keys)
        ]
        started = time.perf_counter()
        trends.add_round(float(r), points)
        spent += time.perf_counter() - started
    held = tracemalloc.get_traced_memory()[0] - before
    if traced:
        tracemalloc.stop()
    assert trends.series(keys[0]) is not None
    return held, spent / rounds


def anchor(n: int) -> tuple[int, float]:
    """A dict of ``n`` Samples (bytes), and the seconds to build a round's points from it."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    samples = {
        (100_000 + i, i * 1_000_000): Sample("S", float(i % 7), 4_000 + i, i, 1, 0)
        for i in range(n)
    }
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    started = time.perf_counter()
    for _ in range(20):
        [(k, s.cpu, s.rss_kb) for k, s in samples.items()]
    return held, (time.perf_counter() - started) / 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=751)
    parser.add_argument("--quick", action="store_true", help="1,000 processes, 120 rounds")
    args = parser.parse_args()
    n, rounds = (1_000, 120) if args.quick else (args.n, args.rounds)
    say(f"history of {n:,} processes, {rounds} rounds (a 10-minute window holds 601)")
    say("time per round: over 120 rounds, without tracemalloc")
    base_bytes, base_s = anchor(n)
    rows = [["shape", "MB held", "bytes/process", "x anchor", "ms/round", "x anchor"]]
    for name, every in (("all asleep", 0), ("1 in 10 busy", 10), ("all busy", 1)):
        held, _ = build(n, rounds, every, traced=True)
        _, per_round = build(n, min(rounds, 120), every, traced=False)  # the same per round
        rows.append(
            [
                name,
                f"{held / 1e6:.2f}",
                f"{held / n:.0f}",
                f"{quotient(held, base_bytes):.2f}x",
                f"{per_round * 1e3:.2f}",
                f"{quotient(per_round, base_s):.2f}x",
            ]
        )
    rows.append(
        [
            "anchor: the samples",
            f"{base_bytes / 1e6:.2f}",
            f"{base_bytes / n:.0f}",
            "1.00x",
            f"{base_s * 1e3:.2f}",
            "1.00x",
        ]
    )
    table(rows)


if __name__ == "__main__":
    main()
