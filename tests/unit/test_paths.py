"""The checks on tractui's directories and files, on real directories, links and FIFOs."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from tractui.paths import UnsafePath, open_private, private_dir

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: it makes another uid's files"
)

REMEDY = "choose another with TRACTUI_STATE_DIR"
OTHER = 65534


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def check(path: Path) -> Path:
    return private_dir(path, "state directory", REMEDY)


def test_a_new_directory_is_made_0700_and_its_missing_parents_0755(tmp_path: Path) -> None:
    old = os.umask(0)  # the modes are ours, not the umask's: 0 would make them 0777
    try:
        assert check(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    finally:
        os.umask(old)
    assert (mode(tmp_path / "a"), mode(tmp_path / "a" / "b")) == (0o755, 0o700)
    check(tmp_path / "a" / "b")  # again: as it is


def test_a_sticky_directory_anyone_can_write_is_a_parent_never_ours(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # as /tmp
    check(shared / "ours")
    with pytest.raises(UnsafePath) as caught:
        check(shared)
    assert (
        str(caught.value) == f"state directory {shared} is shared with others (mode 1777): {REMEDY}"
    )


def test_a_parent_others_can_write_is_refused(tmp_path: Path) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o775)  # the group may rename ours away
    with pytest.raises(UnsafePath) as caught:
        check(open_dir / "ours")
    assert str(caught.value) == (
        f"state directory {open_dir / 'ours'} is inside {open_dir}, which others can write "
        f"(mode 0775): chmod go-w {open_dir}, or {REMEDY}"
    )
    assert not (open_dir / "ours").exists()  # checked before anything is made in it


def test_a_directory_of_another_user_is_refused_as_ours_and_as_a_parent(tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, OTHER, OTHER)
    with pytest.raises(UnsafePath, match=f"belongs to uid {OTHER}, not to uid 0 that runs"):
        check(theirs)
    (theirs / "below").mkdir()
    with pytest.raises(UnsafePath, match=f"is inside {theirs}, which belongs to uid {OTHER}"):
        check(theirs / "below")


def test_links_are_followed_only_when_root_or_we_made_them(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    ours = tmp_path / "ours"
    ours.symlink_to("real")
    assert check(ours) == real
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    os.chmod(open_dir, 0o777)
    (tmp_path / "to-open").symlink_to(open_dir)
    with pytest.raises(UnsafePath) as caught:
        check(tmp_path / "to-open")  # what the link names is checked, and named
    assert f"(that is {open_dir}) is writable by others (mode 0777)" in str(caught.value)
    os.lchown(ours, OTHER, OTHER)
    with pytest.raises(UnsafePath) as caught:
        check(ours / "sub")
    assert str(caught.value) == (
        f"state directory {ours / 'sub'} goes through {ours}, a symbolic link of uid {OTHER}: "
        f"{REMEDY}"
    )


def test_dot_dot_after_a_link_is_the_kernels(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "link").symlink_to(tmp_path / "a" / "b")
    # the kernel resolves link/.. to a (the link's target's parent), not to elsewhere
    assert check(tmp_path / "elsewhere" / "link" / ".." / "c") == tmp_path / "a" / "c"
    assert (tmp_path / "a" / "c").is_dir() and not (tmp_path / "elsewhere" / "c").exists()


def test_a_file_on_the_way_is_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError):
        check(tmp_path / "file" / "state")


def test_open_private_makes_a_file_0600_and_never_follows_a_link(tmp_path: Path) -> None:
    fd = open_private(tmp_path / "log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.close(fd)
    assert mode(tmp_path / "log") == 0o600
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    (tmp_path / "link").symlink_to(victim)
    with pytest.raises(UnsafePath) as caught:
        open_private(tmp_path / "link", os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    assert str(caught.value) == (
        f"{tmp_path / 'link'} is a symbolic link: tractui does not follow one there; remove it"
    )
    assert victim.read_text() == "keep\n"


def test_open_private_refuses_a_fifo_at_once_and_another_users_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    done = threading.Event()

    def attempt() -> None:
        with pytest.raises(UnsafePath, match="is not a regular file: remove it"):
            open_private(fifo, os.O_RDONLY)
        done.set()

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(5)
    assert done.is_set(), "opening a FIFO with no writer hung"
    theirs = tmp_path / "theirs"
    theirs.write_text("")
    os.chown(theirs, OTHER, OTHER)
    with pytest.raises(UnsafePath, match=f"belongs to uid {OTHER}, not to uid 0"):
        open_private(theirs, os.O_WRONLY | os.O_APPEND)
