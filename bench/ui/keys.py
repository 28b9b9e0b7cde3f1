"""Where tractui's key presses spend their time: reads the TRACTUI_BENCH_TIMINGS file of a run
kept with ``run.py --keep`` and splits each key's in-app time into its segments.

    .venv/bin/python bench/ui/keys.py RUN_DIR/timings.txt [--worst 12]

Per key (a ``keytrace`` line, :class:`tractui.session.KeyTrace`): **input** (its event made in
Textual's input thread until it reaches the app), **widget** (until it is back from the focused
widget, which ran the action), **to frame** (until a frame starts being written: the screen's
update timer, the layout, the lines rendered), **frame** (App._display), **after** (until the
after-refresh callback ran); the UI thread's CPU and run-queue wait, the session thread's; and
what the session thread did meanwhile (its ``span`` lines: poll, sample, publish; collections
of the garbage collector, by thread).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common.report import table
from bench.common.stats import percentile

SEGMENTS = ("total", "input", "widget", "to frame", "frame", "after")


def read(
    path: Path,
) -> tuple[dict[float, list[float]], dict[str, list[tuple[float, float, float]]]]:
    """Keys (the last trace line of each, by event time) and spans (start, end, CPU ms)."""
    keys: dict[float, list[float]] = {}
    spans: dict[str, list[tuple[float, float, float]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 11 and parts[1] == "keytrace":
            values = [float(v) for v in parts[2:]]
            event = values[0]
            if event not in keys or float(parts[0]) > keys[event][-1]:
                keys[event] = [*values, float(parts[0])]
        elif len(parts) == 6 and parts[1] == "span":
            end, start, cpu = float(parts[0]), float(parts[3]), float(parts[5])
            spans[parts[2]].append((start, end, cpu))
        elif len(parts) == 3 and parts[1] == "rebuild":  # the UI thread's, on a snapshot
            end, ms = float(parts[0]), float(parts[2])
            spans["ui-rebuild"].append((end - ms / 1e3, end, float("nan")))
    return keys, spans


def segments(trace: list[float]) -> dict[str, float]:
    event, first, last, d0, d1, *_rest, painted = trace
    out = {
        "total": painted - event,
        "input": first - event,
        "widget": last - first,
        "to frame": (d0 - last) if d0 else float("nan"),
        "frame": (d1 - d0) if d0 else float("nan"),
        "after": (painted - d1) if d0 else float("nan"),
    }
    return {k: v * 1e3 for k, v in out.items()}


def overlap(spans: list[tuple[float, float, float]], a: float, b: float) -> float:
    return sum(max(0.0, min(end, b) - max(start, a)) for start, end, _cpu in spans) * 1e3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/ui/keys.py", description=__doc__)
    parser.add_argument("timings", type=Path)
    parser.add_argument("--worst", type=int, default=12, help="keys listed one by one (12)")
    args = parser.parse_args(argv)
    keys, spans = read(args.timings)
    if not keys:
        print("no keytrace lines: was the run made with this tractui and --keep?")
        return 1
    split = {event: segments(trace) for event, trace in keys.items()}
    rows = [["segment ms", "p50", "p95", "max"]]
    for name in SEGMENTS:
        values = [s[name] for s in split.values() if s[name] == s[name]]
        rows.append(
            [
                name,
                f"{percentile(values, 50):.1f}",
                f"{percentile(values, 95):.1f}",
                f"{max(values):.1f}",
            ]
        )
    print(f"{len(keys)} keys")
    table(rows, left=1)
    kinds = sorted(spans)
    rows = [["key at", *SEGMENTS, "UI cpu/runq", "session cpu/runq", *kinds]]
    worst = sorted(keys, key=lambda e: split[e]["total"], reverse=True)[: args.worst]
    for event in worst:
        trace, s = keys[event], split[event]
        painted = trace[-1]
        rows.append(
            [
                f"{event:.3f}",
                *(f"{s[name]:.1f}" for name in SEGMENTS),
                f"{trace[5]:.1f}/{trace[6]:.1f}",
                f"{trace[7]:.1f}/{trace[8]:.1f}",
                *(f"{overlap(spans[k], event, painted):.0f}" for k in kinds),
            ]
        )
    print("the slowest keys (span columns: ms of each kind of session-thread work during the key)")
    table(rows, left=1)
    rows = [["span", "n", "wall p50", "wall p95", "cpu p50", "cpu p95"]]
    for kind in kinds:
        wall = [(end - start) * 1e3 for start, end, _cpu in spans[kind]]
        cpu = [c for _s, _e, c in spans[kind]]
        rows.append(
            [
                kind,
                str(len(wall)),
                f"{percentile(wall, 50):.1f}",
                f"{percentile(wall, 95):.1f}",
                f"{percentile(cpu, 50):.1f}",
                f"{percentile(cpu, 95):.1f}",
            ]
        )
    table(rows, left=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
