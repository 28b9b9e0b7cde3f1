"""For every test: no daemon of the machine's. A test that wants one starts its own, on a socket
it names; the rest must not reach a daemon someone left running (the UI would connect to it)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _no_machine_daemon(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    socket_dir: Path = tmp_path_factory.mktemp("sock")
    monkeypatch.setenv("TRACTUI_SOCKET", str(socket_dir / "no-daemon.sock"))
