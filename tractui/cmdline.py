"""A command line as the launch dialog reads it: words as shlex splits them, leading
``VAR=value`` assignments taken apart as a shell does, and the shell syntax it holds noted.

No shell runs a launched program, so a ``|`` or ``>`` would reach it as an argument; the dialog
warns of what :attr:`CommandLine.shell` lists and offers ``sh -c`` instead. Quoted text is not
shell syntax (``grep 'a|b'`` is fine), which is why this reads the line itself rather than
after shlex: shlex returns words with their quotes gone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from tractui.errors import UserError

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# what a shell reads as its own outside quotes, longest first (so "&&" is not "&" twice)
_OPERATORS = ("&&", "||", ">>", "$(", "|", ">", "<", ";", "&", "`", "(")  # ")" closes one
_GLOBS = "*?["


@dataclass(slots=True)
class _Word:
    text: str = ""
    quoted_at: int | None = None  # where in text its first quoted part begins (None: none)
    started: bool = False  # '' is a word: it began even with no text


@dataclass(slots=True)
class CommandLine:
    """What a command line asks for: ``env`` to set, then ``argv`` to run; ``shell`` names the
    shell syntax found outside quotes, in order, each once."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    shell: list[str] = field(default_factory=list)


def parse(line: str) -> CommandLine:
    """Split ``line`` as POSIX shlex does, into leading assignments and the program's argv.

    A UserError says what is wrong with an unclosed quote. A word is an assignment only
    while no program was named yet and its name (before the first ``=``) is unquoted and a
    valid variable name: ``"A=1" cmd`` runs a program named ``A=1``, as in a shell."""
    words, shell = _scan(line)
    env: dict[str, str] = {}
    argv: list[str] = []
    for word in words:
        name, eq, value = word.text.partition("=")
        unquoted = word.quoted_at is None or word.quoted_at > len(name)
        if not argv and eq and unquoted and NAME.fullmatch(name):
            env[name] = value
        else:
            argv.append(word.text)
    return CommandLine(argv, env, shell)


def _scan(line: str) -> tuple[list[_Word], list[str]]:
    words: list[_Word] = []
    shell: list[str] = []
    word = _Word()

    def note(syntax: str) -> None:
        if syntax not in shell:
            shell.append(syntax)

    def end_word() -> None:
        nonlocal word
        if word.started:
            words.append(word)
        word = _Word()

    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c in " \t\n":
            end_word()
            i += 1
            continue
        if c == "\\":
            if i + 1 >= n:
                raise UserError("command line: no escaped character after \\ (check the end)")
            _quoted(word)
            word.text += line[i + 1]
            i += 2
            continue
        if c in "'\"":
            close = _closing(line, i)
            body = line[i + 1 : close]
            if c == '"':
                if "$(" in body or "`" in body:  # a shell still runs these inside "..."
                    note("$(" if "$(" in body else "`")
                if re.search(r"\$[A-Za-z_{]", body):
                    note("$VAR")
                body = re.sub(r'\\([\\"$`])', r"\1", body)
            _quoted(word)
            word.text += body
            i = close + 1
            continue
        operator = next((op for op in _OPERATORS if line.startswith(op, i)), None)
        if operator is not None:
            # noted, and kept in the word as shlex keeps it: run as written, it is an argument
            note(operator)
            word.started = True
            word.text += operator
            i += len(operator)
            continue
        if c == "$" and i + 1 < n and (line[i + 1].isalpha() or line[i + 1] in "_{"):
            note("$VAR")
        elif c in _GLOBS:
            note("glob " + c)
        elif c in "~#" and not word.started:
            note(c)  # a home directory; a comment
        word.started = True
        word.text += c
        i += 1
    end_word()
    return words, shell


def _quoted(word: _Word) -> None:
    if word.quoted_at is None:
        word.quoted_at = len(word.text)
    word.started = True


def _closing(line: str, start: int) -> int:
    """Where the quote opened at ``start`` closes; a UserError if it does not."""
    quote = line[start]
    i = start + 1
    while i < len(line):
        if line[i] == quote:
            return i
        i += 2 if quote == '"' and line[i] == "\\" else 1
    raise UserError(f"command line: no closing quotation ({quote}): check the quotes")


def shell_argv(line: str) -> list[str]:
    """The argv that runs ``line`` with a shell, as the dialog offers it."""
    return ["sh", "-c", line.strip()]


def describe(shell: list[str]) -> str:
    """The shell syntax found, for a message: ``|``, ``>`` and ``&&``."""
    shown = [f"`{s}`" if not s.startswith("glob ") else f"`{s[5:]}`" for s in shell]
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + " and " + shown[-1]
