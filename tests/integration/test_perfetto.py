"""``tractui trace --perfetto`` and ``tractui export --perfetto`` end to end, against the real
kernel: each slice placed where the JSON report (or the daemon) puts the process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench.common.daemon import Daemon
from tractui import control
from tractui.events import ExitStatus
from tractui.kernel import procfs

from .support import poll_until

pytestmark = pytest.mark.kernel

Spawn = Callable[..., subprocess.Popen[bytes]]
TRACTUI = [sys.executable, "-m", "tractui"]
TOLERANCE_US = 2000  # 2 ms

# forks (a background sleep, a subshell), an exec replacing a subshell, a non-zero exit
SCRIPT = 'sleep 0.2 & (exec sleep 0.1); sh -c "exit 3"; wait'
LEAKER = "(sleep 30 &); sleep 0.05"


def _tractui(spawn: Spawn, tmp_path: Path, *args: str) -> tuple[int, str]:
    """Run tractui to its end; its exit status and stderr (output goes to files)."""
    err = tmp_path / "stderr"
    with open(tmp_path / "stdout", "wb") as o, open(err, "wb") as e:
        proc = spawn([*TRACTUI, *args], stdout=o, stderr=e)
    return proc.wait(timeout=30), err.read_text()


def _slices(trace: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in trace["traceEvents"] if e["ph"] == "X"]


def test_trace_perfetto_places_each_slice_where_the_report_puts_the_process(
    spawn: Spawn, tmp_path: Path
) -> None:
    report_path, trace_path = tmp_path / "A.json", tmp_path / "B.json"
    code, err = _tractui(
        spawn,
        tmp_path,
        "trace",
        "--json",
        "-o",
        str(report_path),
        "--perfetto",
        str(trace_path),
        "--",
        "sh",
        "-c",
        SCRIPT,
    )
    assert code == 0, err
    report = json.loads(report_path.read_text())
    with open(trace_path) as f:
        trace = json.load(f)
    procs = report["processes"]
    assert len(procs) >= 4, procs  # sh, sleep 0.2, the subshell that execs sleep 0.1, sh -c
    slices = _slices(trace)
    # one slice per process, in the report's (tree) order
    assert [s["pid"] for s in slices] == [p["pid"] for p in procs]
    for proc, s in zip(procs, slices, strict=True):
        assert s["tid"] == proc["pid"]
        assert abs(s["ts"] - proc["start"] * 1e6) <= TOLERANCE_US, (proc, s)
        assert proc["end"] is not None, "every process ended before the report"
        assert abs(s["ts"] + s["dur"] - proc["end"] * 1e6) <= TOLERANCE_US, (proc, s)
        assert s["args"]["parent"] == proc["parent"]
        assert s["args"]["argv"] == proc["argv"]
        want = ExitStatus.from_json(proc["exit"]).describe()
        assert s["args"]["status"] == want, (proc, s)
    assert "exit 3" in [s["args"]["status"] for s in slices]
    # the sort index follows the tree order; each process names its track once
    meta = [e for e in trace["traceEvents"] if e["ph"] == "M"]
    sort = [e["pid"] for e in meta if e["name"] == "process_sort_index"]
    assert sort == [p["pid"] for p in procs]
    assert [e["args"]["sort_index"] for e in meta if e["name"] == "process_sort_index"] == list(
        range(len(procs))
    )
    names = {e["pid"]: e["args"]["name"] for e in meta if e["name"] == "process_name"}
    assert names[report["root"]] == "sh"
    # each exec: at its time when the report has exec times, else listed in the slice's args
    execs = 0
    for proc, s in zip(procs, slices, strict=True):
        instants = [e for e in trace["traceEvents"] if e["ph"] == "i" and e["pid"] == s["pid"]]
        execs += len(proc["execs"])
        if "exec_times" in proc:
            assert len(instants) == len(proc["exec_times"]) == len(proc["execs"])
            for when, argv, ev in zip(proc["exec_times"], proc["execs"], instants, strict=True):
                assert abs(ev["ts"] - when * 1e6) <= TOLERANCE_US
                assert s["ts"] <= ev["ts"] <= s["ts"] + s["dur"]
                assert ev["args"]["argv"] == argv
        else:
            assert not instants
            assert s["args"].get("execs", []) == proc["execs"]
    assert execs >= 4, "sh, sleep 0.2, sleep 0.1 and sh -c each exec'd"


def test_trace_perfetto_runs_a_survivors_slice_to_the_export(spawn: Spawn, tmp_path: Path) -> None:
    trace_path = tmp_path / "B.json"
    before = time.time()
    code, err = _tractui(
        spawn, tmp_path, "trace", "--perfetto", str(trace_path), "--", "sh", "-c", LEAKER
    )
    after = time.time()
    slices = _slices(json.loads(trace_path.read_text()))
    sleeper = next(s for s in slices if s["args"]["argv"] == ["sleep", "30"])
    start = procfs.read_start(sleeper["pid"])
    if start is not None and procfs.read_argv(sleeper["pid"]) == ("sleep", "30"):
        control.send_signal(sleeper["pid"], start, signal.SIGKILL)
    assert code == 0, err
    assert sleeper["args"]["status"] == "alive" and sleeper["args"]["alive"] is True
    assert before * 1e6 <= sleeper["ts"] + sleeper["dur"] <= after * 1e6


@pytest.mark.parametrize("option", ["-o", "--perfetto"])
def test_trace_to_a_bad_file_is_a_usage_error_before_the_command_runs(
    spawn: Spawn, tmp_path: Path, option: str
) -> None:
    """A typo in the path must not cost a long run: the file is opened before CMD starts."""
    ran = tmp_path / "ran"
    cmd = ["--", "sh", "-c", f"touch {ran}"]
    bad = tmp_path / "no-such-dir" / "B.json"
    for path, says in (
        (str(bad), "No such file or directory"),
        (str(tmp_path), "Is a directory"),
        ("", "needs a file name"),
    ):
        code, err = _tractui(spawn, tmp_path, "trace", "--json", option, path, *cmd)
        assert code == 2, err
        lines = err.splitlines()
        assert len(lines) == 1 and says in lines[0], err
        assert path in lines[0] and f"{option} " in lines[0], "it says which, and what to do"
        assert not ran.exists(), "CMD must not have run"
    assert not bad.parent.exists()


@pytest.mark.parametrize("link", ["same", "symlink", "hardlink"])
def test_trace_to_one_file_for_both_is_a_usage_error(
    spawn: Spawn, tmp_path: Path, link: str
) -> None:
    """The Perfetto export's writing would empty the report's: refused before CMD runs."""
    ran, path = tmp_path / "ran", tmp_path / "B.json"
    other = tmp_path / "other.json"
    if link == "same":
        other = path
    else:
        path.write_text("kept")
        (other.symlink_to if link == "symlink" else other.hardlink_to)(path)
    cmd = ["--", "sh", "-c", f"touch {ran}"]
    code, err = _tractui(spawn, tmp_path, "trace", "-o", str(path), "--perfetto", str(other), *cmd)
    assert code == 2, err
    assert err == "tractui trace: -o and --perfetto name the same file; give each its own\n"
    assert not ran.exists(), "CMD must not have run"
    if link == "same":
        assert not path.exists(), "the file it created is removed"
    else:
        assert path.read_text() == "kept" and other.exists()


def test_trace_creates_its_files_before_the_command_runs(spawn: Spawn, tmp_path: Path) -> None:
    trace_path, old = tmp_path / "B.json", tmp_path / "old.json"
    old.write_text("kept")
    check = f"test -e {trace_path} && test $(cat {old}) = kept"
    code, err = _tractui(
        spawn, tmp_path, "trace", "--json", "-o", str(old), "--perfetto", str(trace_path), "--",
        "sh", "-c", check,
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(old.read_text())["exit"] == {"code": 0}, "replaced at the end, whole"
    assert json.loads(trace_path.read_text())["traceEvents"]
    # a trace that never ran CMD removes the files it created, and keeps the ones it found
    old.write_text("kept")
    new = tmp_path / "C.json"
    code, err = _tractui(
        spawn, tmp_path, "trace", "-o", str(old), "--perfetto", str(new), "--",
        "no-such-command-here",
    )  # fmt: skip
    assert code == 127, err
    assert old.read_text() == "kept"
    assert not new.exists()


# the root execs a sleep once its children are done: ended members and a live one
JOB = 'sleep 0.2 & (exec sleep 0.1); sh -c "exit 3"; wait; exec sleep 30'


def test_export_writes_a_daemons_group_live_and_ended(daemon: Daemon, tmp_path: Path) -> None:
    wall, boot_ns = time.time(), time.clock_gettime_ns(time.CLOCK_BOOTTIME)
    daemon.cli("add", "job", "--", "sh", "-c", JOB)
    with daemon.connect() as conn:

        def members() -> list[dict[str, Any]]:
            return list(conn.request("list", group="job")["members"])

        poll_until(
            lambda: (
                (m := members())[0]["argv"] == ["sleep", "30"]
                and len(m) >= 4
                and not any(x["alive"] for x in m[1:])
            ),
            "the children to end and the root to exec sleep 30",
        )
        listed = members()
    before = time.time()
    path = tmp_path / "job.json"
    done = daemon.cli("export", "job", "--perfetto", str(path))
    after = time.time()
    assert done.stdout.startswith(f"exported {len(listed)} processes of group 'job' (1 live")
    trace = json.loads(path.read_text())
    assert trace["otherData"]["group"] == "job"
    slices = _slices(trace)
    assert [s["pid"] for s in slices] == [m["pid"] for m in listed]
    for member, s in zip(listed, slices, strict=True):
        start = wall + (member["start"] - boot_ns) / 1e9
        assert abs(s["ts"] - start * 1e6) <= TOLERANCE_US, (member, s)
        assert s["args"]["parent"] == member["parent"]
        if member["alive"]:
            assert s["args"]["status"] == "alive" and s["args"]["alive"] is True
            assert before * 1e6 <= s["ts"] + s["dur"] <= after * 1e6
        else:
            end = wall + (member["ended"] - boot_ns) / 1e9
            assert abs(s["ts"] + s["dur"] - end * 1e6) <= TOLERANCE_US, (member, s)
            assert s["args"]["status"] == member["status"]
    assert [m["alive"] for m in listed].count(True) == 1
    assert "exit 3" in [s["args"]["status"] for s in slices]
    meta = [e for e in trace["traceEvents"] if e["ph"] == "M"]
    sort = [(e["pid"], e["args"]["sort_index"]) for e in meta if e["name"] == "process_sort_index"]
    assert sort == [(m["pid"], i) for i, m in enumerate(listed)]
    labels = {e["pid"]: e["args"]["labels"] for e in meta if e["name"] == "process_labels"}
    assert labels[listed[0]["pid"]] == "root"
    assert all(labels[m["pid"]] == f"parent {m['parent']}" for m in listed[1:])


def test_export_errors_are_one_line(daemon: Daemon, tmp_path: Path) -> None:
    daemon.cli("add", "job", "--", "sleep", "30")
    bad = tmp_path / "no-such-dir" / "job.json"
    done = daemon.cli("export", "job", "--perfetto", str(bad), check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith(f"tractui export: cannot write {bad}: No such file")
    assert "--perfetto" in done.stderr
    done = daemon.cli("export", "nosuch", "--perfetto", str(tmp_path / "x.json"), check=False)
    assert done.returncode == 1 and done.stderr == (
        "tractui export: no group named 'nosuch' (the groups: job)\n"
    )
    assert not (tmp_path / "x.json").exists()
    done = daemon.cli("export", "job", check=False)
    assert done.returncode == 2 and "--perfetto" in done.stderr


def test_export_never_removes_what_it_did_not_create(daemon: Daemon, tmp_path: Path) -> None:
    """A write error removes only a file the export created: not a symlink to a device, not a
    file that was there (kept as it was when the group is not found)."""
    daemon.cli("add", "job", "--", "sleep", "30")
    full = tmp_path / "full.json"
    full.symlink_to("/dev/full")
    done = daemon.cli("export", "job", "--perfetto", str(full), check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith(f"tractui export: cannot write {full}: No space left"), done
    assert done.stderr.count("\n") == 1 and "--perfetto" in done.stderr
    assert full.is_symlink() and Path("/dev/full").exists()
    old = tmp_path / "old.json"
    old.write_text("kept")
    done = daemon.cli("export", "nosuch", "--perfetto", str(old), check=False)
    assert done.returncode == 1 and "no group named 'nosuch'" in done.stderr
    assert old.read_text() == "kept"


def test_export_paths_are_checked_and_escaped(daemon: Daemon, tmp_path: Path) -> None:
    daemon.cli("add", "job", "--", "sleep", "30")
    for path, says in (("-", "--perfetto needs a file name, not -"), ("", "needs a file name")):
        done = daemon.cli("export", "job", "--perfetto", path, check=False)
        assert done.returncode == 1 and done.stderr.count("\n") == 1, done
        assert says in done.stderr, done.stderr
    assert not (Path.cwd() / "-").exists()
    odd = tmp_path / "a\x1b[31mb.json"
    done = daemon.cli("export", "job", "--perfetto", str(odd))
    assert "\x1b" not in done.stdout and "a\\e[31mb.json: open it" in done.stdout, done.stdout
    assert done.stdout.startswith("exported 1 processes of group 'job' (1 live")
    assert json.loads(odd.read_text())["otherData"]["group"] == "job"
