"""SPIN cross-check of the cert-manager model: same state and transition counts, same verdicts.

Small configurations (abstract GC, fresh caches) exported to Promela; counted with a DFS
``-DSAFETY -DNOREDUCE`` run, liveness with per-instance weak fairness (``pan -a -f``, two builds).
"""

from __future__ import annotations

import shutil

import pytest

from certloop.checker.check import check
from certloop.checker.promela import run_spin
from certloop.model.scenario import Config, build
from certloop.properties.deletion import attach

pytestmark = [pytest.mark.spin,
              pytest.mark.skipif(shutil.which("spin") is None or shutil.which("gcc") is None,
                                 reason="spin/gcc not installed")]

CONFIGS = {
    "seed-abstract-fresh": Config(gc="abstract").with_caches("fresh"),
    "v1.18-abstract-fresh": Config(gc="abstract", version="v1.18").with_caches("fresh"),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_state_counts_equal(name, tmp_path):
    w = build(CONFIGS[name])
    attach(w)
    rep = check(w.model, ["type_ok"])
    spin = run_spin(w.model, str(tmp_path), mode="count")
    assert (spin.states, spin.transitions) == (rep.graph.n_states, rep.graph.n_transitions)


@pytest.mark.parametrize("name, prop, verdict", [
    ("seed-abstract-fresh", "deletion_completes", "violated"),
    ("v1.18-abstract-fresh", "deletion_completes", "holds"),
])
def test_liveness_verdicts_equal(name, prop, verdict, tmp_path):
    w = build(CONFIGS[name])
    attach(w)
    ours = check(w.model, [prop]).result(prop).verdict
    spin = run_spin(w.model, str(tmp_path), mode="liveness", property=prop)
    assert ours == verdict
    assert spin.verdict == ours
