"""The command budget: time, memory and interruption bounds (checker/budget.py)."""

import math
import time

import pytest

from certloop.checker.budget import Budget, BoundReached, parse_size, rss_bytes, default_max_memory


def test_no_bound_never_raises():
    b = Budget()
    b.check("exploration")
    assert b.remaining() is None and b.deadline is None


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0, -1.0])
def test_bad_seconds_are_errors(bad):
    with pytest.raises(ValueError):
        Budget(max_seconds=bad)


@pytest.mark.parametrize("bad", ["10", True, [1]])
def test_wrong_types_are_errors(bad):
    with pytest.raises(TypeError):
        Budget(max_seconds=bad)


def test_positional_arguments_are_refused():
    with pytest.raises(TypeError):
        Budget(10.0)  # type: ignore[misc]


def test_time_bound_names_the_phase():
    b = Budget(max_seconds=0.01)
    time.sleep(0.02)
    with pytest.raises(BoundReached) as e:
        b.check("lasso construction")
    assert e.value.kind == "time" and e.value.phase == "lasso construction"
    assert "time bound 0.01 s" in str(e.value)


def test_memory_bound_reads_resident_size():
    assert rss_bytes() > 1 << 20
    b = Budget(max_memory=1 << 20)           # 1 MiB: this process is past it already
    with pytest.raises(BoundReached) as e:
        b.check("liveness")
    assert e.value.kind == "memory"
    Budget(max_memory=1 << 50).check("liveness")


def test_interrupt_is_seen_by_shares():
    b = Budget(max_seconds=100)
    s = b.share(10)
    assert s.remaining() <= 10
    b.interrupt("SIGTERM")
    with pytest.raises(BoundReached) as e:
        s.check("scenario seed")
    assert e.value.kind == "interrupted" and e.value.detail == "SIGTERM"


def test_share_never_outlives_the_parent():
    b = Budget(max_seconds=1.0)
    assert b.share(1000).remaining() <= 1.0
    assert Budget().share(None).remaining() is None


@pytest.mark.parametrize("text,n", [("4G", 4 << 30), ("512MiB", 512 << 20), ("1.5g", 3 << 29),
                                    ("1000", 1000), ("2 TB", 2 << 40)])
def test_parse_size(text, n):
    assert parse_size(text) == n


@pytest.mark.parametrize("text", ["", "nan", "inf", "-1G", "4X", "G", "0"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_default_max_memory_is_a_share_of_ram():
    m = default_max_memory()
    assert m is None or 0 < m < 1 << 50
