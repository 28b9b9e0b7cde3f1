"""Account: a process's taskstats records summed (peak RSS maxed), and its JSON form."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tractui.kernel.taskstats import TaskRecord
from tractui.model.account import Account


def record(pid: int = 10, tgid: int = 10, **kw: int) -> TaskRecord:
    fields = dict(
        pid=pid,
        aggregate=False,
        tgid=tgid,
        ppid=1,
        comm="x",
        status=0,
        btime=0,
        etime_us=1000,
        utime_us=0,
        stime_us=0,
        hiwater_rss_kib=0,
        read_bytes=0,
        write_bytes=0,
        nvcsw=0,
        nivcsw=0,
        version=14,
    )
    fields.update(kw)
    return TaskRecord(**fields)  # type: ignore[arg-type]


def test_records_sum_and_peak_is_the_largest() -> None:
    a = Account()
    a.add_record(record(utime_us=1500, stime_us=250, hiwater_rss_kib=900, read_bytes=4096,
                        write_bytes=8192, nvcsw=3, nivcsw=4, minflt=100, majflt=2))  # fmt: skip
    a.add_record(record(pid=11, utime_us=500, stime_us=750, hiwater_rss_kib=700, read_bytes=1,
                        write_bytes=2, nvcsw=10, nivcsw=20, minflt=5))  # fmt: skip
    assert (a.utime_us, a.stime_us, a.peak_rss_kib) == (2000, 1000, 900)
    assert (a.read_bytes, a.write_bytes, a.nvcsw, a.nivcsw) == (4097, 8194, 13, 24)
    assert a.cpu_user_s == pytest.approx(0.002)
    assert a.cpu_system_s == pytest.approx(0.001)
    assert a.cpu_s == pytest.approx(0.003)
    assert a.ctx_switches == 37
    assert (a.minflt, a.majflt) == (105, 2)  # summed over the tasks, as getrusage()
    assert a.processes == 0  # a record is a task, not a process counted in


def test_merge_sums_processes_and_maxes_peak() -> None:
    total = Account(processes=1, utime_us=5, peak_rss_kib=100)
    total.merge(Account(utime_us=7, stime_us=3, peak_rss_kib=50, nvcsw=2, processes=1, minflt=4))
    total.merge(Account(peak_rss_kib=300, write_bytes=9, processes=1, minflt=6, majflt=1))
    assert total == Account(12, 3, 300, 0, 9, 2, 0, 3, 10, 1)


def test_json_round_trip() -> None:
    a = Account(1_234_567, 89, 4321, 10, 20, 30, 40, 5, 600, 7)
    doc = a.to_json()
    assert doc == {
        "cpu_user_s": 1.234567,
        "cpu_system_s": 0.000089,
        "peak_rss_kib": 4321,
        "read_bytes": 10,
        "write_bytes": 20,
        "ctx_switches": 70,
        "voluntary_ctx_switches": 30,
        "involuntary_ctx_switches": 40,
        "processes": 5,
        "minor_page_faults": 600,
        "major_page_faults": 7,
    }
    assert Account.from_json(doc) == a
    assert Account.from_json({}) == Account()  # every field optional
    # a file or a peer from before the page faults: they are 0, the rest as it was
    older = {k: v for k, v in doc.items() if not k.endswith("page_faults")}
    assert Account.from_json(older) == Account(1_234_567, 89, 4321, 10, 20, 30, 40, 5)
    assert a.copy() == a and a.copy() is not a


@pytest.mark.parametrize(
    "doc",
    [
        None,
        [],
        {"cpu_user_s": "1"},
        {"cpu_user_s": -1},
        {"peak_rss_kib": 1.5},
        {"processes": True},
        {"read_bytes": -3},
        {"minor_page_faults": -1},
        {"major_page_faults": 0.5},
        {"read_bytes": 2**64},  # the kernel's counters are u64: more would overflow the UI
        {"peak_rss_kib": 10**400},
        {"processes": 1 << 5000},
    ],
)
def test_bad_json_is_a_value_error(doc: object) -> None:
    with pytest.raises(ValueError, match="account") as err:
        Account.from_json(doc)
    assert "\n" not in str(err.value) and len(str(err.value)) < 120, "one short line"


def test_the_largest_u64_is_an_account_the_details_show() -> None:
    from tractui.text import human_bytes, human_kb

    top = 2**64 - 1
    names = ("peak_rss_kib", "read_bytes", "write_bytes", "voluntary_ctx_switches")
    a = Account.from_json(dict.fromkeys(names, top))
    assert (a.peak_rss_kib, a.read_bytes) == (top, top)
    assert human_kb(a.peak_rss_kib).endswith("G") and human_bytes(a.read_bytes).endswith("G")


def test_cpu_is_the_exact_runtime_split_as_the_ticks_split_it() -> None:
    """As getrusage() reports it: run time scaled by the user/system tick samples."""
    a = Account()
    a.add_record(record(utime_us=12_000, stime_us=4_000, run_ns=20_000_000))
    assert (a.utime_us, a.stime_us) == (15_000, 5_000)
    b = Account()  # ran between two ticks: no sample, all of it user time (as the kernel)
    b.add_record(record(utime_us=0, stime_us=0, run_ns=765_675))
    assert (b.utime_us, b.stime_us) == (765, 0)
    c = Account()  # system samples only
    c.add_record(record(utime_us=0, stime_us=4_000, run_ns=3_000_000))
    assert (c.utime_us, c.stime_us) == (0, 3_000)


def test_bytes_are_shown_in_the_units_of_rss() -> None:
    from tractui.text import human_bytes

    assert [human_bytes(n) for n in (0, 1023, 864_256, 29_674_700, 3 << 30)] == [
        "0B",
        "1023B",
        "844K",
        "28.3M",
        "3.0G",
    ]


def test_unmerge_takes_back_what_merge_added_but_the_peak() -> None:
    total = Account(10, 2, 500, 7, 8, 1, 2, processes=3, minflt=50, majflt=5)
    one = Account(4, 1, 900, 3, 2, 1, 1, processes=1, minflt=20, majflt=1)
    total.merge(one)
    total.unmerge(one)
    # the peak stays a maximum
    assert total == Account(10, 2, 900, 7, 8, 1, 2, processes=3, minflt=50, majflt=5)


_COUNT = st.integers(min_value=0, max_value=1 << 63)


@given(st.builds(Account, *[_COUNT] * 10))
def test_json_text_is_the_dicts_json_to_the_byte(account: Account) -> None:
    """The hand-made text (written with every ended member's line) is what ``json`` makes of
    :meth:`Account.to_json`: the same keys in the same order, the floats as ``json`` writes
    them (1e-06, 0.000123 and 12345.678901 alike), and it reads back the same."""
    text = account.json_text()
    assert text == json.dumps(account.to_json(), separators=(",", ":"))
    if max(account.utime_us, account.stime_us) <= 10**14:  # 3 years of CPU: exact in a float
        assert Account.from_json(json.loads(text)) == account
