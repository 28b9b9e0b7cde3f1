"""Errors a user can cause: each carries one line that says what happened and what to do."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or a refused action. ``str(err)`` is the one-line message to show."""

    exit_code = 1  # what a command exits with when this ends it
