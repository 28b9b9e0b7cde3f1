"""The launch prompt's leading VAR=value assignments reach the program's environment through a
real daemon, over the client's environment and through its cleaning across a user switch: a
real program prints them to its group's launch log. (The embedded engine's path is driven
through the UI in tests/ui/test_prompts.py.)"""

from __future__ import annotations

import os
import pwd
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.common.daemon import Daemon
from tests.integration.support import poll_until
from tractui.control import Identity, LaunchSpec
from tractui.daemon.client import add_request

pytestmark = pytest.mark.kernel


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user may enter (pytest's own are root's, 0700)."""
    with tempfile.TemporaryDirectory(prefix="tractui-assign-") as root:
        os.chmod(root, 0o755)
        yield Path(root)


def launch_and_read(daemon: Daemon, group: str, spec: LaunchSpec, expect: str) -> str:
    """Launch ``spec`` through ``daemon``; its log once it holds ``expect``."""
    with daemon.connect() as conn:
        result = conn.request("add", **add_request(group, spec))
    daemon.roots.add(int(result["pid"]))
    log = Path(result["log"])
    poll_until(lambda: log.exists() and expect in log.read_text(), f"{expect!r} in {log}")
    return log.read_text()


def test_assignments_go_over_the_clients_environment(
    make_daemon: Callable[..., Daemon], shared_dir: Path
) -> None:
    daemon = make_daemon()
    env = {**daemon.env, "PORT": "1", "KEPT": "the-clients"}
    spec = LaunchSpec(
        ["printenv", "PORT", "GREETING", "KEPT"],
        cwd=str(shared_dir),
        env=env,
        assign={"PORT": "8000", "GREETING": "a b"},
    )
    log = launch_and_read(daemon, "assign", spec, "8000\na b\nthe-clients\n")
    assert "tractui launched: PORT=8000 GREETING='a b' printenv PORT GREETING KEPT" in log


def test_assignments_pass_the_cleaning_of_a_user_switch(
    make_daemon: Callable[..., Daemon], shared_dir: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("launching for another user needs root")
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user named nobody here")
    daemon = make_daemon()
    # PORT from the client's environment is dropped for another user (as sudo's env_reset);
    # typed on the command line it is the program's
    env = {**daemon.env, "PORT": "1", "CLIENT_SECRET": "roots"}
    spec = LaunchSpec(
        ["sh", "-c", 'echo "port=$PORT secret=${CLIENT_SECRET-none} user=$(id -un)"'],
        cwd=str(shared_dir),
        env=env,
        user=Identity(nobody.pw_uid, nobody.pw_gid, [nobody.pw_gid], "nobody"),
        assign={"PORT": "8000"},
    )
    launch_and_read(daemon, "assign-nobody", spec, "port=8000 secret=none user=nobody\n")
