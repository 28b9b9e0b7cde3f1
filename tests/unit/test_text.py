"""Another user's text on a terminal: control characters escaped, command lines that a real bash
gives back byte for byte."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.evil import EVIL
from tractui.text import escape, escape_output, shell_join, shell_quote

# what a terminal acts on, or a shell reads specially, or was not UTF-8
SPECIAL = [
    *map(chr, range(1, 0x20)),
    *map(chr, range(0x7F, 0xA0)),
    "\u202e",
    "\u2028",
    "\u2067",
    "\u200b",
    "\ufeff",
    "\udc80",
    "\udcff",
    "'",
    '"',
    "\\",
    "$",
    "`",
    "!",
    " ",
    "é",
    "漢",
]
# anything that can be an argument: no NUL, and a lone surrogate only as surrogateescape makes it
CHARS = st.one_of(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), st.sampled_from(SPECIAL)
)
ARGV = st.lists(st.text(CHARS, max_size=12), min_size=1, max_size=5)


def test_the_reproduction_is_shown_escaped() -> None:
    assert [escape(a) for a in EVIL[4:]] == [
        "\\e[41mEVIL\\e[0m",
        "\\e]2;pwned\\a",
        "cr\\rXX",
        "nl\\nYY",
    ]


def test_c0_del_c1_tab_and_unicode_controls_are_escaped() -> None:
    assert escape("a\tb\x00\x01\x7f\x9b\x85") == "a\\tb\\x00\\x01\\x7f\\x9b\\x85"
    assert escape("\b\v\f") == "\\b\\v\\f"
    assert escape("abc\u202edef\u2028") == "abc\\u202edef\\u2028"
    assert escape("r\u200bm -\ufeffrf") == "r\\u200bm -\\ufeffrf"  # looked like 'rm -rf'
    assert escape("bad\udcffbyte") == "bad\\xffbyte"  # the byte surrogateescape stood for


def test_printable_text_is_returned_as_it_is() -> None:
    for text in ("sleep 100", "grep 'a\\|b' é 漢字 [bold]x[/bold]", "", "a\u00a0b"):
        assert escape(text) is text


@given(st.text(CHARS))
def test_no_control_character_is_left(text: str) -> None:
    assert not any(_unsafe(c) for c in escape(text))


def _unsafe(char: str) -> bool:
    code = ord(char)
    return (
        code < 0x20
        or 0x7F <= code <= 0x9F
        or 0xD800 <= code <= 0xDFFF
        or char in "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e"
        or 0x2066 <= code <= 0x2069
        or 0x200B <= code <= 0x200D
        or 0x2060 <= code <= 0x2064
        or code == 0xFEFF
    )


def test_output_lines_keep_tabs_and_lose_a_crlf_cr() -> None:
    assert escape_output("a\tb\r") == "a\tb"
    assert escape_output("\x1b[31mred\x1b[0m\rover") == "\\e[31mred\\e[0m\\rover"


def test_plain_arguments_are_quoted_as_shlex_does() -> None:
    assert shell_join(EVIL[:4]) == "sh -c 'sleep 60; true' x"
    assert shell_quote("it's") == "'it'\"'\"'s'"
    assert shell_quote("") == "''"


def test_arguments_with_controls_are_ansi_c_quoted() -> None:
    assert shell_join(EVIL) == (
        "sh -c 'sleep 60; true' x $'\\e[41mEVIL\\e[0m' $'\\e]2;pwned\\a' $'cr\\rXX' $'nl\\nYY'"
    )
    assert shell_quote("it's\\\n") == "$'it\\'s\\\\\\n'"
    assert shell_quote("\x9b") == "$'\\xc2\\x9b'"  # its UTF-8 bytes, whatever the shell's locale


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
@settings(max_examples=150, deadline=None)
@given(ARGV)
def test_bash_gives_back_the_very_same_argv(argv: list[str]) -> None:
    line = shell_join(argv)
    assert not any(_unsafe(c) for c in line)
    out = subprocess.run(
        ["bash", "-c", "printf '%s\\0' " + line],
        capture_output=True,
        check=True,
        env={"PATH": os.defpath, "LC_ALL": "C"},
    ).stdout
    assert out.split(b"\0")[:-1] == [os.fsencode(a) for a in argv]


def test_the_reproductions_line_in_bash() -> None:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    out = subprocess.run(
        ["bash", "-c", "printf '%s\\0' " + shell_join(EVIL)], capture_output=True, check=True
    ).stdout
    assert out.split(b"\0")[:-1] == [a.encode() for a in EVIL]
