"""Where tractui keeps its state and logs."""

from __future__ import annotations

import os
from pathlib import Path


def state_dir() -> Path:
    """``TRACTUI_STATE_DIR``, else /var/lib/tractui as root, else $XDG_STATE_HOME/tractui."""
    override = os.environ.get("TRACTUI_STATE_DIR")
    if override:
        return Path(override)
    if os.geteuid() == 0:
        return Path("/var/lib/tractui")
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local/state")
    return Path(base) / "tractui"


def log_dir() -> Path:
    return state_dir() / "logs"
