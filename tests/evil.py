"""Issue 10's reproduction, shared by the escape tests: another user's argv that, shown raw,
paints EVIL red, retitles the terminal, overwrites a column with CR and splits a line."""

from __future__ import annotations

EVIL = [
    "sh",
    "-c",
    "sleep 60; true",
    "x",
    "\x1b[41mEVIL\x1b[0m",
    "\x1b]2;pwned\x07",
    "cr\rXX",
    "nl\nYY",
]
# as `list` and the details view show it: one line that a shell takes back as EVIL
QUOTED = r"sh -c 'sleep 60; true' x $'\e[41mEVIL\e[0m' $'\e]2;pwned\a' $'cr\rXX' $'nl\nYY'"
