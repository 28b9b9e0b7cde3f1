"""The UI's settings file: ``ui.json`` in the state directory (today it holds the theme).

No Textual here: the app says which settings it has and checks their values; this module only
reads and writes the file, never through a link and never from a FIFO.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

from tractui import paths
from tractui.errors import UserError

log = logging.getLogger(__name__)


def settings_path() -> Path:
    return paths.state_dir() / "ui.json"


def load() -> dict[str, object]:
    """The settings saved; empty if there are none, or the file can't be read or parsed."""
    try:  # never through a link (another user's file), nor from a FIFO (it would hang)
        with os.fdopen(paths.open_private(settings_path(), os.O_RDONLY)) as f:
            settings = json.load(f)
    except (OSError, UserError, ValueError):
        return {}
    return settings if isinstance(settings, dict) else {}


def save(settings: Mapping[str, object]) -> None:
    """Write the settings; a failure is logged, never raised (the UI goes on without them)."""
    try:
        paths.check_state_dir(paths.state_dir())
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        with os.fdopen(paths.open_private(settings_path(), flags), "w") as f:
            json.dump(dict(settings), f)
    except (OSError, UserError) as err:
        log.warning("cannot save the settings: %s", err)
