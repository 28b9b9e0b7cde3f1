"""`tractui` with no command: refuses before full screen when the connector can't be used."""

from __future__ import annotations

import pytest

from tractui import cli
from tractui.engine import Engine
from tractui.events import NoPermission


def test_no_connector_exits_with_the_reason_before_full_screen(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(self: Engine) -> None:
        raise NoPermission("no permission to listen to process events: run as root")

    monkeypatch.setattr(Engine, "start", refuse)
    assert cli.main([]) == NoPermission.exit_code
    err = capsys.readouterr().err
    assert err == "tractui: no permission to listen to process events: run as root\n"
