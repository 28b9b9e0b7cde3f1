"""The command line: version, usage errors, and the domain never importing textual."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
from typing import Any

import pytest

import tractui
from tractui.cli import main

UI = ("tractui.app", "tractui.widgets", "tractui.screens")


def domain_modules() -> list[str]:
    """Every module of the package outside the UI, found by walking it (no list to keep up)."""
    found = pkgutil.walk_packages(tractui.__path__, prefix="tractui.")
    names = [m.name for m in found if not m.name.startswith(UI) and m.name != "tractui.__main__"]
    assert "tractui.kernel.collector" in names and "tractui.daemon.server" in names
    return sorted(names)


DOMAIN = domain_modules()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"tractui {tractui.__version__}"


def test_trace_without_a_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["trace"])
    assert exit_info.value.code == 2
    assert "trace needs a command" in capsys.readouterr().err


def test_trace_help_documents_the_leak_status(capsys: pytest.CaptureFixture[str]) -> None:
    from tractui.commands import trace

    with pytest.raises(SystemExit):
        main(["trace", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"--fail-on-leak exit {trace.EXIT_LEAKED} if any process" in text
    assert f"{trace.EXIT_LEAKED} with --fail-on-leak when survivors remained" in text
    # distinct from every status CMD's signals or tractui's own errors produce
    assert trace.EXIT_LEAKED > 128 + 64
    documented = set(re.findall(r"\b\d+\b", text.split("Exit status:")[1]))
    assert {"2", "68", "69", "70", "77", "126", "127", "193"} <= documented


def test_trace_fail_on_leak_with_wait_all_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["trace", "--fail-on-leak", "--wait-all", "--", "true"])
    assert exit_info.value.code == 2
    assert "--fail-on-leak with --wait-all" in capsys.readouterr().err


def test_events_rejects_a_non_positive_duration(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["events", "--duration", "0"])
    assert exit_info.value.code == 2
    assert "positive" in capsys.readouterr().err


@pytest.mark.parametrize("module", DOMAIN)
def test_domain_module_does_not_import_textual(module: str) -> None:
    code = f"import sys, {module}; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_add_takes_as_root_before_or_after_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, bool, list[str]]] = []

    def fake_run(args: Any) -> int:
        seen.append((args.name, args.as_root, args.cmd))
        return 0

    from tractui.commands import remote

    monkeypatch.setattr(remote, "run", fake_run)
    assert main(["add", "web", "--as-root", "--", "sleep", "5"]) == 0
    assert main(["add", "--as-root", "web", "--", "sleep", "5"]) == 0
    assert main(["add", "web", "sleep", "5"]) == 0
    assert seen == [
        ("web", True, ["sleep", "5"]),
        ("web", True, ["sleep", "5"]),
        ("web", False, ["sleep", "5"]),
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["add", "--", "true"], "add needs a group name and a program"),
        (["add", "web"], "add needs a group name and a program"),
        (["add", "web", "--bogus", "--", "true"], "unknown option --bogus"),
        (["attach", "web", "12x"], "'12x' is not a PID"),
        (["--keep-exited", "-1"], "--keep-exited: '-1': give a number of seconds"),
        (["--keep-exited", "soon"], "--keep-exited: 'soon': give a number of seconds"),
        (["daemon", "--keep-exited", "-5"], "--keep-exited: '-5': give a number of seconds"),
    ],
)
def test_client_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_client_commands_without_a_daemon_exit_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["groups"]) == 3
    err = capsys.readouterr().err
    assert "no tractui daemon is running" in err and "daemon --detach" in err
