"""Attach for real: the preview is exactly what the attach adds (tractui's own processes, members
already tracked and zombies left out), a typo makes no group, and ``--match`` attaches what it
lists as pgrep would find it, never tractui's own processes or kernel threads.

Every process started here runs in a session of its own (the ``spawn`` fixture kills its group
at teardown); the daemon's members are SIGKILLed when it is cleaned up.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.common.daemon import Daemon
from tests.integration.support import UNREAPED, poll_until
from tractui.engine import Engine
from tractui.errors import UserError
from tractui.kernel import listing, procfs

pytestmark = pytest.mark.kernel

Spawn = Callable[..., subprocess.Popen[bytes]]


def stat_of(pid: int) -> procfs.Stat:
    stat = procfs.read_stat(pid)
    assert stat is not None, f"{pid} is gone"
    return stat


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return sorted(int(p) for p in f.read().split())
    except OSError:
        return []


def test_the_plan_is_what_the_attach_adds(engine: Engine, spawn: Spawn) -> None:
    """The issue's "make run + 6 descendants": tractui's own subtree is not what attach adds;
    nor a member of another group, nor a zombie."""
    script = 'sleep 60 & sleep 61 & "$2" -c "$1" & wait'
    shell = spawn(["sh", "-c", script, "sh", UNREAPED, sys.executable])
    poll_until(lambda: len(children(shell.pid)) == 3, "the shell's three children")
    own, member, forker = children(shell.pid)
    poll_until(lambda: len(children(forker)) == 1, "the forker's child")
    (zombie,) = children(forker)
    poll_until(lambda: stat_of(zombie).state == "Z", "a zombie")
    engine.tracker.own_pids.add(own)  # as tractui's own process would be, below its parent
    engine.attach("other", [member])

    planned = engine.plan_attach([shell.pid])
    assert [(p.info.pid, p.parent) for p in planned] == [(shell.pid, None), (forker, shell.pid)]
    with pytest.raises(UserError, match=r"no group named 'grp' \(the groups: other\)"):
        engine.attach("grp", [shell.pid], create=False)
    assert "grp" not in engine.tracker.groups
    engine.attach("grp", [shell.pid], create=True)
    grp = {p.pid for p in engine.tracker.members("grp", alive_only=True)}
    assert grp == {p.info.pid for p in planned} == {shell.pid, forker}
    assert engine.tracker.live[member].group == "other"


def test_a_pid_given_after_its_ancestor_is_planned_once_under_it(
    engine: Engine, spawn: Spawn
) -> None:
    shell = spawn(["sh", "-c", "sleep 60 & wait"])
    poll_until(lambda: children(shell.pid), "the shell's sleep")
    (sleep,) = children(shell.pid)
    planned = engine.plan_attach([shell.pid, sleep, shell.pid])
    assert [(p.info.pid, p.parent) for p in planned] == [(shell.pid, None), (sleep, shell.pid)]


# ---- the CLI, through a daemon -----------------------------------------------------------------


def test_a_typo_makes_no_group(daemon: Daemon, spawn: Spawn) -> None:
    sleeper = spawn(["sleep", "60"])
    done = daemon.cli("attach", "nosuch", str(sleeper.pid), check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "tractui attach: no group named 'nosuch' (there are no groups yet): attach to one of "
        "them, or create it (tractui attach --create)"
    ]
    assert daemon.cli("groups", "--json").stdout.strip() == "[]"
    out = daemon.cli("attach", "web", "--create", str(sleeper.pid)).stdout
    assert out.startswith(f"attached {sleeper.pid} to group 'web': 1 live processes")
    other = spawn(["sleep", "61"])
    done = daemon.cli("attach", "wbe", str(other.pid), check=False)
    assert done.returncode == 1 and "(the groups: web)" in done.stderr
    # a dry run previews it, saying the group would need --create
    done = daemon.cli("attach", "nosuch", "--dry-run", str(other.pid), check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == (
        "would attach to group 'nosuch' (no such group: it would need --create; the groups: "
        "web): 1 process"
    ), done.stdout
    assert "nosuch" not in daemon.cli("groups", "--json").stdout
    # launching into a new group is how groups are made: add says it made one
    out = daemon.cli("add", "fresh", "--", "sleep", "60").stdout
    assert "in group 'fresh' (a new group)" in out
    assert "(a new group)" not in daemon.cli("add", "fresh", "--", "sleep", "60").stdout


def test_dry_run_lists_exactly_what_would_be_added(daemon: Daemon, spawn: Spawn) -> None:
    """The requesting client is tractui too: a shell running ``tractui attach ... $$`` has the
    CLI below it, which is not listed (the issue's count of tractui's own parent)."""
    tractui = [sys.executable, "-m", "tractui"]
    script = f"{' '.join(tractui)} attach g --create --dry-run $$; sleep 0; true"
    done = subprocess.run(
        ["sh", "-c", script], env=daemon.env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "would attach to group 'g' (a new group): 1 process", done.stdout
    assert lines[1].split() == ["PID", "USER", "COMMAND"]
    assert lines[2].split()[2:4] == ["sh", "-c"] and len(lines) == 3
    assert daemon.cli("groups", "--json").stdout.strip() == "[]"

    shell = spawn(["sh", "-c", "sleep 60 & wait"])
    poll_until(lambda: children(shell.pid), "the shell's sleep")
    out = daemon.cli("attach", "h", "--create", "--dry-run", str(shell.pid)).stdout
    assert out.splitlines()[0] == (
        "would attach to group 'h' (a new group): 2 processes (1 root + 1 descendant)"
    )
    assert out.splitlines()[3].split()[2:] == ["sleep", "60"]  # indented under the shell
    assert "   sleep 60" in out


@pytest.fixture
def named(tmp_path: Path) -> Callable[[str], str]:
    """A copy of sleep under a name of its own (what --match matches by default)."""
    sleep = shutil.which("sleep")
    assert sleep is not None

    def make(name: str) -> str:
        path = tmp_path / name
        shutil.copy(sleep, path)
        path.chmod(0o755)
        return str(path)

    return make


def program_name(proc: subprocess.Popen[bytes]) -> str:
    return Path(str(proc.args[0])).name[:15]  # type: ignore[index]


def test_match_lists_then_attaches_as_pgrep_finds(
    daemon: Daemon, spawn: Spawn, named: Callable[[str], str]
) -> None:
    name = f"tm{uuid.uuid4().hex[:10]}"  # comm: 15 bytes at most
    program = named(name)
    first, second = spawn([program, "60"]), spawn([program, "61"])
    other = spawn([named("other" + name[2:]), "60"])
    for proc in (first, second, other):
        poll_until(lambda p=proc: stat_of(p.pid).comm == program_name(p), "the exec")

    dry = daemon.cli("attach", "m", "--create", "--match", f"^{name}$", "--dry-run").stdout
    assert dry.splitlines()[0] == "matched 2 processes:"
    assert [line.split()[0] for line in dry.splitlines()[2:4]] == [
        str(first.pid),
        str(second.pid),
    ]
    assert daemon.cli("groups", "--json").stdout.strip() == "[]"

    out = daemon.cli("attach", "m", "--create", "--match", f"^{name}$").stdout
    assert out.splitlines()[0] == "matched 2 processes:"
    assert f"attached {first.pid} {second.pid} to group 'm': 2 live processes" in out
    # again: those tracked already are left out, said on stderr; nothing new is an error
    again = daemon.cli("attach", "m", "--match", f"^{name}$", check=False)
    assert again.returncode == 1 and "tracked already" in again.stderr
    # -f: the whole command line; -i: case ignored
    full = daemon.cli("attach", "m", "-f", "-i", "--match", f"OTHER{name[2:]} 60").stdout
    assert f"attached {other.pid} to group 'm'" in full


def test_match_never_finds_tractui_itself_nor_kernel_threads(daemon: Daemon) -> None:
    token = f"zz-own-{uuid.uuid4().hex}"
    # the pattern is in this CLI's own command line, and in the timeout's that runs it
    done = subprocess.run(
        [
            "timeout",
            "20",
            sys.executable,
            "-m",
            "tractui",
            "attach",
            "x",
            "--create",
            "-f",
            "--match",
            token,
            "--dry-run",
        ],
        env=daemon.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1, done.stdout
    assert done.stderr.strip() == (
        f"tractui attach: no process matches {token!r} by its command line: nothing attached"
    )
    done = daemon.cli("attach", "x", "--create", "--match", "^kworker", "--dry-run", check=False)
    assert done.returncode == 1 and "no process matches '^kworker'" in done.stderr
    done = daemon.cli("attach", "x", "--match", "(", check=False)
    assert done.returncode == 1 and "bad pattern '('" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_the_listing_has_every_process_but_kernel_threads_and_those_left_out(
    spawn: Spawn,
) -> None:
    sleeper = spawn(["sleep", "60"])
    listed = {p.pid: p for p in listing.processes()}
    assert listed[sleeper.pid].argv == ("sleep", "60") and listed[sleeper.pid].comm == "sleep"
    assert 1 not in listed and os.getpid() in listed
    assert os.getpid() not in {p.pid for p in listing.processes({os.getpid()})}
    me = stat_of(os.getpid())
    kthreads = [p for p in procfs.pids() if (procfs.read_stat(p) or me).flags & procfs.PF_KTHREAD]
    assert kthreads and not set(kthreads) & set(listed)
