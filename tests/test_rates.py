"""``certloop rates``: the seed's numbers at default rates, v1.18's zero churn, the CLI contract.

The CTMC engine itself is tested on closed-form chains in test_ctmc.py.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from certloop.properties.rates import DEFAULT_RATES, parse_rates, rate_class
from certloop.properties.scenarios import get
from certloop.rates import analyze_rates, prepare
from certloop.checker.expr import ModelError


@pytest.fixture(scope="module")
def seed():
    return prepare(get("seed"))


def test_seed_numbers_at_default_rates(seed):
    d = analyze_rates(seed, DEFAULT_RATES)
    rw = d["rewards"]
    assert d["p_absorb"] == pytest.approx(1.0)
    assert not d["conditional"]
    # pinned: expected objects created before the Certificate is gone (detailed GC, fresh caches)
    assert rw["certificate_requests"]["mean"] == pytest.approx(0.3118, abs=5e-4)
    assert rw["next_key_secrets"]["mean"] == pytest.approx(0.9411, abs=5e-4)
    assert rw["all_creates"]["mean"] == pytest.approx(1.2529, abs=5e-4)
    assert d["time_mean"] == pytest.approx(0.8972, abs=5e-4)
    pb = rw["certificate_requests"]["p_before"]
    assert pb["1"] == pytest.approx(0.8377, abs=5e-4)
    assert pb["10"] > 0.999


def test_more_reconcile_speed_means_more_churn(seed):
    slow = analyze_rates(seed, {**DEFAULT_RATES, "cm_reconcile": 5.0})["rewards"]["certificate_requests"]["mean"]
    fast = analyze_rates(seed, {**DEFAULT_RATES, "cm_reconcile": 500.0})["rewards"]["certificate_requests"]["mean"]
    assert fast > 10 * slow


def test_v118_creates_nothing_after_the_delete():
    d = analyze_rates(prepare(get("v1.18-seed")), DEFAULT_RATES)
    assert d["rewards"]["all_creates"]["mean"] == pytest.approx(0.0)


def test_every_action_has_a_rate_class(seed):
    for a in seed.world.model.actions:
        assert rate_class(a) in DEFAULT_RATES


def test_parse_rates_errors():
    assert parse_rates(["gc_worker=10"])["gc_worker"] == 10.0
    for bad, word in [("gc_worker", "CLASS=VALUE"), ("nope=1", "unknown rate class"), ("gc_worker=x", "not a number"),
                      ("gc_worker=-1", ">= 0")]:
        with pytest.raises(ModelError, match=word):
            parse_rates([bad])


def test_cli_rates_json_and_bad_input(tmp_path):
    from certloop.cli import main
    r = CliRunner().invoke(main, ["rates", "--scenario", "v1.16-in-tree-in-flight", "-q", "--json", "-"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output[r.output.index("{"):])
    assert d["scenario"]["issuer"] == "in-tree" and d["rewards"]["certificate_requests"]["mean"] > 0
    r = CliRunner().invoke(main, ["rates", "--rate", "gc_wrker=3"])
    assert r.exit_code == 2 and "unknown rate class" in r.output and "Traceback" not in r.output
