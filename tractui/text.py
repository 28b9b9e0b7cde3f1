"""Another user's text made safe for a terminal: control characters escaped, command lines quoted.

A process's argv, comm, exe and cwd, and what a launched program writes, are chosen by whoever
runs it: written raw, an escape sequence in them recolours tractui's screen or retitles the
terminal, a carriage return writes over the PID column, a newline makes one process two lines.
So wherever such text reaches a terminal it goes through :func:`escape` (the tree, the event log,
dialogs, toasts, ``events``, ``trace``) or, for a command line, :func:`shell_join` (``list``,
the details view, ``trace``, ``events``). JSON output needs neither: JSON escapes them itself.

What is escaped, as ``ls`` and htop treat it: the C0 controls (U+0000-001F, tab included: it
jumps over columns), DEL and the C1 controls (U+0080-009F; some terminals read U+009B as CSI);
the Unicode controls that move or reorder text without an escape sequence (line and paragraph
separators, bidirectional embeddings, overrides and isolates: "Trojan Source"), and the
invisible ones that make two strings look alike (zero-width space, joiners); and lone
surrogates (bytes that were not UTF-8, carried by ``surrogateescape``: unwritable as they are).
They are shown as ``\\e`` ``\\n`` ``\\r`` ``\\t`` ``\\a`` ``\\b`` ``\\v`` ``\\f``, else ``\\xNN``
(``\\uNNNN`` above U+00FF; a surrogate-escaped byte as ``\\xNN``, the byte it stands for).

:func:`escape` leaves backslashes alone: a row reads as the command does (``grep 'a\\|b'``),
and a literal ``\\e`` in an argument looks like an escaped ESC, which is harmless. Where text
must be exact, a command line is shell-quoted: plain ``shlex`` quoting when it has nothing to
escape, else ANSI-C ``$'…'`` quoting (bash, zsh, ksh), which gives back the very same bytes when
pasted into a shell.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable

# what must never reach a terminal raw (see the module's docstring), as code point ranges
_RANGES = (
    (0x00, 0x1F),  # C0, tab included
    (0x7F, 0x9F),  # DEL, C1
    (0x061C, 0x061C),  # Arabic letter mark
    (0x200B, 0x200D),  # zero-width space and joiners: 'r\u200bm' would read as 'rm'
    (0x200E, 0x200F),  # left-to-right and right-to-left marks
    (0x2028, 0x2029),  # line and paragraph separators
    (0x202A, 0x202E),  # bidirectional embeddings and overrides
    (0x2060, 0x2064),  # word joiner, invisible operators
    (0x2066, 0x2069),  # bidirectional isolates
    (0xD800, 0xDFFF),  # lone surrogates
    (0xFEFF, 0xFEFF),  # zero-width no-break space
)


def _class(ranges: tuple[tuple[int, int], ...], extra: str = "") -> re.Pattern[str]:
    return re.compile("[" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ranges) + extra + "]")


_UNSAFE = _class(_RANGES)
_UNSAFE_BUT_TAB = _class(((0x00, 0x08), (0x0A, 0x1F), *_RANGES[1:]))
_UNSAFE_OR_QUOTE = _class(_RANGES, "'\\\\")
_NAMED = {
    "\x07": "\\a",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\v": "\\v",
    "\f": "\\f",
    "\r": "\\r",
    "\x1b": "\\e",
}


def _shown(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte that was not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _quoted(char: str) -> str:
    """``char`` inside ``$'…'``: its UTF-8 bytes, so that no shell's locale changes them."""
    named = _NAMED.get(char)
    if named is not None:
        return named
    if char in "'\\":
        return "\\" + char
    errors = "surrogateescape" if "\udc80" <= char <= "\udcff" else "surrogatepass"
    return "".join(f"\\x{byte:02x}" for byte in char.encode("utf-8", errors))


class _Memo(dict[str, str]):
    """Each character's escape, made the first time it is met."""

    def __init__(self, make: Callable[[str], str]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, char: str) -> str:
        made = self[char] = self.make(char)
        return made


_SHOWN = _Memo(_shown)
_QUOTED = _Memo(_quoted)


def escape(text: str) -> str:
    """``text`` with every control character shown as an escape (``\\e[41m``, ``a\\nb``)."""
    # the common case in one C call: every character that needs escaping is non-printable
    if text.isprintable():
        return text
    return _UNSAFE.sub(lambda m: _SHOWN[m.group()], text)


def escape_output(line: str) -> str:
    """A line of a program's output: as :func:`escape`, but tabs are kept (the viewer expands
    them) and a CRLF line's CR goes."""
    if line.endswith("\r"):
        line = line[:-1]
    if line.isprintable():
        return line
    return _UNSAFE_BUT_TAB.sub(lambda m: _SHOWN[m.group()], line)


def shell_quote(arg: str) -> str:
    """One argument as a shell takes it back: ``shlex`` quoting, or ``$'…'`` when it has
    control characters."""
    if arg.isprintable() or _UNSAFE.search(arg) is None:
        return shlex.quote(arg)
    return "$'" + _UNSAFE_OR_QUOTE.sub(lambda m: _QUOTED[m.group()], arg) + "'"


def shell_join(argv: Iterable[str]) -> str:
    """A command line as a shell takes it back (:func:`shlex.join`, with :func:`shell_quote`)."""
    return " ".join(shell_quote(arg) for arg in argv)


def human_kb(kb: int) -> str:
    """RSS the way htop prints it: 812K, 23.4M, 1.2G."""
    if kb < 10_000:
        return f"{kb}K"
    if kb < 1024 * 1000:
        return f"{kb / 1024:.1f}M" if kb < 100 * 1024 else f"{kb // 1024}M"
    return f"{kb / 1024 / 1024:.1f}G"


def human_bytes(n: int) -> str:
    """Bytes in htop's units, as :func:`human_kb` gives KiB: 0B, 812B, 844K, 23.4M, 1.2G."""
    return f"{n}B" if n < 1024 else human_kb(round(n / 1024))


def count_of(n: int, one: str, many: str = "") -> str:
    """'1 process', '3 processes' (``many``: the plural when not ``one`` + s)."""
    return f"{n} {one if n == 1 else (many or one + 's')}"
