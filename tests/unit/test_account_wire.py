"""Accounts saved and sent: a member's and a group's ended total survive a save and restore,
travel on the wire to a mirror, and files or daemons of an older tractui, which have none, still
load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tractui.daemon.protocol import Mirror
from tractui.model.account import Account
from tractui.model.store import Proc, Store
from tractui.model.wire import group_to_wire, proc_from_wire, proc_json, proc_to_wire

from .test_state import ROOT, SEC, new_owner, restore, saved, synthetic


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "state"


def with_accounts(owner: object) -> tuple[Account, Account]:
    synthetic(owner)  # type: ignore[arg-type]
    t = owner.tracker  # type: ignore[attr-defined]
    grandchild = t.procs[(ROOT + 2, 4 * SEC)]
    grandchild.account = Account(1_500_000, 250_000, 4096, 10, 20, 3, 4, processes=1)
    web = t.groups["web"]
    web.ended = Account(2_000_000, 300_000, 8192, 11, 22, 33, 44, processes=7)
    return grandchild.account, web.ended


def test_accounts_round_trip_through_the_state_file(directory: Path) -> None:
    before = new_owner()
    account, total = with_accounts(before)
    saved(directory, before).release()
    after, _ = restore(directory)
    t = after.tracker
    assert t.procs[(ROOT + 2, 4 * SEC)].account == account
    assert t.procs[(ROOT + 1, 2 * SEC)].account is None
    assert t.groups["web"].ended == total
    assert t.groups["empty"].ended == Account()


def test_a_state_file_without_accounts_loads(directory: Path) -> None:
    before = new_owner()
    with_accounts(before)
    saved(directory, before).release()
    path = directory / "groups.json"
    doc = json.loads(path.read_bytes())
    for group in doc["groups"]:
        del group["ended"]
        for member in group["members"]:
            del member["account"]
    path.write_text(json.dumps(doc))
    after, restored = restore(directory)
    assert restored.warning == ""
    assert after.tracker.groups["web"].ended == Account()
    assert all(p.account is None for p in after.tracker.procs.values())


def test_a_bad_account_in_the_file_is_corrupt_and_says_where(directory: Path) -> None:
    before = new_owner()
    with_accounts(before)
    saved(directory, before).release()
    path = directory / "groups.json"
    doc = json.loads(path.read_bytes())
    doc["groups"][0]["ended"] = {"cpu_user_s": "lots"}
    path.write_text(json.dumps(doc))
    _, restored = restore(directory)
    assert "group 'web'" in restored.warning and "cpu_user_s" in restored.warning


def test_the_wire_carries_accounts_and_a_mirror_keeps_them() -> None:
    owner = new_owner()
    account, total = with_accounts(owner)
    t = owner.tracker
    proc = t.procs[(ROOT + 2, 4 * SEC)]
    wire = proc_to_wire(proc)
    assert wire["account"] == account.to_json()
    assert json.loads(proc_json(proc)) == wire
    assert proc_from_wire(wire).account == account
    del wire["account"]  # an older daemon's
    assert proc_from_wire(wire).account is None
    group = group_to_wire(t.groups["web"])
    assert group["ended"] == total.to_json()
    mirror = Mirror(Store())
    procs = [proc_to_wire(p) for p in t.procs.values() if p.group == "web"]
    mirror.load({"groups": [group], "procs": procs})
    assert mirror.tracker.groups["web"].ended == total
    assert mirror.tracker.procs[proc.key].account == account
    del group["ended"]
    mirror.apply({"groups": [group]})
    assert mirror.tracker.groups["web"].ended == Account()


def test_proc_json_of_a_member_with_an_account() -> None:
    proc = Proc(pid=8, start=0, group="g", parent=None, ppid=0, account=Account(1, 2, 3))
    assert json.loads(proc_json(proc)) == proc_to_wire(proc)
