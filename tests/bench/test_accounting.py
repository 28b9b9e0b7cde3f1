"""Smoke tests of the accounting benchmarks (bench/accounting): each runs ``--quick`` for real,
as root, and its output must parse. Their figures are what the benchmarks are for: no figure is
asserted here, only that each was measured and printed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 180.0  # each bench bounds its own runs well below this
EXECID_N = 40  # execs of the execid smoke run

pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="the accounting benchmarks trace with the proc connector and taskstats: run as root",
    ),
    pytest.mark.skipif(
        shutil.which(os.environ.get("CC", "cc")) is None,
        reason="no C compiler (cc) to build the benchmarks' workloads",
    ),
]

Spawn = Callable[..., subprocess.Popen[bytes]]


def run_bench(spawn: Spawn, script: str, *args: str) -> str:
    """``script --quick ARGS`` in a session of its own (killed at teardown, with all it
    started); its stdout. It must exit 0."""
    popen = spawn(
        [sys.executable, str(REPO / "bench" / "accounting" / script), "--quick", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = popen.communicate(timeout=TIMEOUT)
    text = out.decode(errors="replace")
    assert popen.returncode == 0, f"{script}: {popen.returncode}\n{text}\n{err.decode()}"
    return text


def test_accounting_quick(spawn: Spawn, tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    text = run_bench(spawn, "run.py", "--n", "30", "--out", str(tmp_path), "--json", str(figures))
    (run,) = json.loads(figures.read_text())["runs"]
    # the workload ran as asked, and each figure was measured
    assert (run["children"], run["failed"]) == (30, 0)
    assert run["truth_s"] > 0
    assert isinstance(run["sampler_s"], float) and run["sampler_samples"] >= 1
    assert isinstance(run["sampler_error_pct"], float)
    assert 0 <= run["named"] <= run["processes"]
    # and printed
    assert re.search(rf"\| ground truth .*\|\s+{run['truth_s']:.3f} \|", text), text
    assert re.search(rf"\| 1 Hz /proc sampler .*\|\s+{run['sampler_s']:.3f} \|", text), text
    assert f"{run['named']:,}/{run['processes']:,}" in text
    if not run["records_problem"]:  # the bench's own taskstats socket heard the run
        assert run["records"] >= 1
        row = rf"\| exit records' cpu_run_virtual_total .*\|\s+{run['records_virtual_s']:.3f} \|"
        assert re.search(row, text), text
    if run["tractui_s"] is None:
        assert "tractui: n/a (this tractui's trace report has no totals)" in text
        assert re.search(r"\| tractui totals\s+\| n/a \(", text), text
        assert run["tractui_error_pct"] is None
    else:
        assert isinstance(run["tractui_error_pct"], float)
        assert re.search(rf"\| tractui totals\s+\|\s+{run['tractui_s']:.3f} \|", text), text
    assert not list(tmp_path.glob("accounting-*")), "reports are removed without --keep"


def test_execid_quick(spawn: Spawn, tmp_path: Path) -> None:
    # a real run, at its smallest: 40 execs under the 2 hogs, which end after 3 s at most
    # (sooner: when the trace ends) so the rest of the suite does not share the CPUs with them
    figures = tmp_path / "figures.json"
    text = run_bench(
        spawn,
        "execid.py",
        "--n",
        str(EXECID_N),
        "--hog-s",
        "3",
        "--out",
        str(tmp_path),
        "--json",
        str(figures),
    )
    (run,) = json.loads(figures.read_text())["runs"]
    assert run["launched"] == EXECID_N and run["hogs"] == 2
    assert 0 <= run["found"] <= run["launched"]
    for key in ("named", "argv_right", "argv_unknown", "wrong_argv", "wrong_name"):
        assert 0 <= run[key] <= run["found"], key
    # an argv is right, unknown or something else: never two of them
    assert run["argv_right"] + run["argv_unknown"] <= run["found"]
    assert run["hogs_in_report"] == 0  # the hogs run outside the traced group
    assert re.search(rf"\| WRONG argv\s+\|\s+{run['wrong_argv']:,} \|", text), text
    assert re.search(rf"\| named \(comm or argv\)\s+\|\s+{run['named']:,} \|", text), text
