"""The launch dialog's reading of a command line: shlex words, leading VAR=value assignments as
a shell takes them, and the shell syntax found outside quotes (tractui.cmdline)."""

from __future__ import annotations

import shlex

import pytest

from tractui import cmdline
from tractui.errors import UserError


@pytest.mark.parametrize(
    ("line", "env", "argv"),
    [
        ("PORT=8000 python3 -m http.server", {"PORT": "8000"}, ["python3", "-m", "http.server"]),
        ("A=\"x y\" B= _C1='q' cmd", {"A": "x y", "B": "", "_C1": "q"}, ["cmd"]),
        ("A=1 cmd B=2", {"A": "1"}, ["cmd", "B=2"]),  # after the program: an argument
        ('"A=1" cmd', {}, ["A=1", "cmd"]),  # a quoted name is no assignment, as in a shell
        ("A\\=1 cmd", {}, ["A=1", "cmd"]),
        ("1A=1 cmd", {}, ["1A=1", "cmd"]),  # no variable name
        ("A-B=1 cmd", {}, ["A-B=1", "cmd"]),
        ("=1 cmd", {}, ["=1", "cmd"]),
        ("A==1 cmd", {"A": "=1"}, ["cmd"]),
        ("A=1", {"A": "1"}, []),
        ("", {}, []),
    ],
)
def test_leading_assignments_set_the_environment(
    line: str, env: dict[str, str], argv: list[str]
) -> None:
    parsed = cmdline.parse(line)
    assert (parsed.env, parsed.argv, parsed.shell) == (env, argv, [])


@pytest.mark.parametrize(
    "line",
    [
        "python3 -m http.server 8000",
        "grep -e 'a|b' -e \"c>d\" file",
        "echo it\\'s \\| \\> \\&\\&",
        'a \'b c\' "d \\"e\\" \\\\ f" g\'\'h ""',
        "sh -c 'ls | wc -l; echo $HOME > /dev/null'",
        "tar -C dir -x",
    ],
)
def test_words_are_shlexs_and_quoted_text_is_no_shell_syntax(line: str) -> None:
    parsed = cmdline.parse(line)
    assert parsed.argv == shlex.split(line)
    assert parsed.shell == []


@pytest.mark.parametrize(
    ("line", "shell"),
    [
        ("ls | wc -l", ["|"]),
        ("make > out.txt 2>&1", [">", "&"]),
        ("sort < in", ["<"]),
        ("make && ./run", ["&&"]),
        ("a || b", ["||"]),
        ("a; b", [";"]),
        ("sleep 9 &", ["&"]),
        ("echo $(date)", ["$("]),
        ('echo "$(date)"', ["$("]),
        ("echo `date`", ["`"]),
        ("echo $HOME ${USER}", ["$VAR"]),
        ('echo "$HOME"', ["$VAR"]),
        ("ls *.py", ["glob *"]),
        ("ls ~/src", ["~"]),
        ("run # comment", ["#"]),
        ("a|b|c >> log", ["|", ">>"]),
    ],
)
def test_shell_syntax_outside_quotes_is_noted(line: str, shell: list[str]) -> None:
    parsed = cmdline.parse(line)
    assert parsed.shell == shell
    # run as written, the words are shlex's: the syntax reaches the program as text
    assert parsed.argv == shlex.split(line)


def test_a_dollar_or_glob_inside_single_quotes_or_mid_word_tilde_is_none() -> None:
    assert cmdline.parse("echo '$HOME *' a~b c=~").shell == []


@pytest.mark.parametrize(("line", "quote"), [("echo 'abc", "'"), ('echo "abc', '"')])
def test_an_unclosed_quote_is_one_clear_error(line: str, quote: str) -> None:
    with pytest.raises(UserError, match=f"no closing quotation \\({quote}\\): check the quotes"):
        cmdline.parse(line)


def test_a_trailing_backslash_is_one_clear_error() -> None:
    with pytest.raises(UserError, match="no escaped character"):
        cmdline.parse("echo a\\")


def test_the_shell_offer_runs_the_whole_line_with_sh_c() -> None:
    assert cmdline.shell_argv("  PORT=1 a | b  ") == ["sh", "-c", "PORT=1 a | b"]
    assert cmdline.describe(["|"]) == "`|`"
    assert cmdline.describe(["|", ">", "glob *"]) == "`|`, `>` and `*`"
