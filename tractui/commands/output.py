"""Where a command's output file goes: ``trace``'s report (``-o``) and Perfetto export, and
``export``'s Perfetto export. Opened before the work, so that a bad path fails at once; an
existing file is never removed, nor truncated before the writing begins."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from typing import TextIO

from tractui.errors import UserError
from tractui.text import escape


class Output:
    """A file the report or the Perfetto export goes to, opened (created) before CMD runs, so
    that a bad path fails at once rather than after a long run. An existing file is kept as
    it is until :meth:`begin` (and if the trace ends before it). ``-`` is stdout."""

    def __init__(self, option: str, path: str) -> None:
        self.path = path
        self.written = False
        self.stdout = path == "-"
        if self.stdout and option != "-o":
            raise UserError(f"{option} needs a file name, not - (stdout is for -o -)")
        if self.stdout:
            self.file: TextIO = sys.stdout
            self.created = self.regular = False
            self.identity = _identity(sys.stdout)
            return
        if not path:
            alternative = " (or - for stdout)" if option == "-o" else ""
            raise UserError(f"{option} needs a file name: {option} FILE{alternative}")
        existed = os.path.lexists(path)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError as err:
            raise UserError(
                f"cannot write {escape(path)}: {err.strerror or err}; give {option} a file "
                "in a writable directory"
            ) from None
        self.file = open(fd, "w", encoding="utf-8")  # noqa: SIM115
        self.created = not existed
        info = os.fstat(fd)
        self.regular = stat.S_ISREG(info.st_mode)
        self.identity = (info.st_dev, info.st_ino)

    @property
    def name(self) -> str:
        return "stdout" if self.stdout else escape(self.path)

    def begin(self) -> TextIO:
        """The file, emptied (if it is a regular file) for the writing."""
        self.written = True
        if self.regular:
            self.file.truncate(0)
        return self.file

    def close(self) -> None:
        """Close it; a file created for a report that was never written is removed."""
        with contextlib.suppress(OSError):
            if self.stdout:
                self.file.flush()
            else:
                self.file.close()
        if self.created and not self.written:
            self.discard()

    def discard(self) -> None:
        if self.regular:
            with contextlib.suppress(OSError):
                os.unlink(self.path)


def _identity(file: TextIO) -> tuple[int, int] | None:
    """The (st_dev, st_ino) of an open file, None when it has none (a closed stdout)."""
    try:
        info = os.fstat(file.fileno())
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino)
