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


def runtime_dir() -> Path:
    """/run/tractui as root, else $XDG_RUNTIME_DIR (or /tmp/tractui-UID without one)."""
    if os.geteuid() == 0:
        return Path("/run/tractui")
    base = os.environ.get("XDG_RUNTIME_DIR")
    if base:
        return Path(base)
    return Path(f"/tmp/tractui-{os.geteuid()}")


def socket_path() -> Path:
    """The daemon's socket: ``TRACTUI_SOCKET``, else tractui.sock in :func:`runtime_dir`."""
    override = os.environ.get("TRACTUI_SOCKET")
    if override:
        return Path(override)
    return runtime_dir() / "tractui.sock"
