"""Exec fidelity: how often ``tractui trace`` records a wrong argv for an exec, or none.

    .venv/bin/python bench/fidelity/run.py [--runs 20] [--length 30] [--hogs 0] [--shape chain]

``--shape chain``: bench/fidelity/chain.c, one PID that exec's itself ``--length`` times, each
program writing down its own argv (the ground truth). ``--shape sh``: the issue's
``sh -c 'exec sh -c "exit 4"'``, whose two argvs are known. ``--hogs N`` runs N busy loops
meanwhile (ended by PID at the end). Each run is traced with ``tractui trace --json``; every
recorded argv is compared with the truth: equal, unknown (``[]``) or wrong. A wrong one is a bug:
the target is 0. Unknown ones are the price of never guessing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.common.report import table
from bench.common.tools import compile_c, say, tractui_command

REPO = Path(__file__).resolve().parents[2]
CHAIN = REPO / "bench" / "out" / "chain"
SH = ["sh", "-c", 'exec sh -c "exit 4"']
SH_TRUTH = [SH, ["sh", "-c", "exit 4"]]
TRACE_TIMEOUT = 60.0


def one_run(shape: str, length: int, where: Path) -> tuple[int, int, int]:
    """(execs, unknown, wrong) of one traced run."""
    truth_file, report_file = where / "truth", where / "report.json"
    truth_file.unlink(missing_ok=True)
    cmd = [str(CHAIN), str(length), str(truth_file)] if shape == "chain" else SH
    subprocess.run(
        [*tractui_command(), "trace", "--json", "-o", str(report_file), "--", *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=TRACE_TIMEOUT,
        check=False,
    )
    if shape == "chain":
        truth = [line.split("\t") for line in truth_file.read_text().splitlines()]
    else:
        truth = SH_TRUTH
    execs = unknown = wrong = 0
    for proc in json.loads(report_file.read_text())["processes"]:
        for i, argv in enumerate(proc["execs"]):
            execs += 1
            if not argv:
                unknown += 1
            elif i >= len(truth) or argv != truth[i]:
                wrong += 1
    return execs, unknown, wrong


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, choices=range(1, 1001), metavar="1..1000")
    parser.add_argument("--length", type=int, default=30, choices=range(1, 1001), metavar="1..1000")
    parser.add_argument("--hogs", type=int, default=0, choices=range(0, 9), metavar="0..8")
    parser.add_argument("--shape", choices=["chain", "sh"], default="chain")
    args = parser.parse_args()
    if args.shape == "chain":
        compile_c(REPO / "bench" / "fidelity" / "chain.c", CHAIN)
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.hogs)]
    totals = [0, 0, 0]
    bad_runs = 0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.runs):
                got = one_run(args.shape, args.length, Path(tmp))
                totals = [a + b for a, b in zip(totals, got, strict=True)]
                bad_runs += got[2] > 0
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    execs, unknown, wrong = totals
    say(f"exec fidelity: {args.shape}, {args.runs} runs, {args.hogs} CPU hogs")
    rows = [
        ["execs recorded", str(execs)],
        ["wrong argv (target 0)", str(wrong)],
        ["runs with a wrong argv", f"{bad_runs} of {args.runs}"],
        ["unknown argv", f"{unknown} ({100 * unknown / max(execs, 1):.1f}%)"],
    ]
    table([["figure", "value"], *rows])
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
