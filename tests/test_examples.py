"""The toy models of checker/examples.py have known answers; check them, and check every liveness
verdict against an independent oracle run on a brute-force exploration."""

from __future__ import annotations

import pytest

from certloop.checker import examples
from certloop.checker.check import HOLDS, VIOLATED, check
from certloop.checker.expr import evaluate
from certloop.checker.spec import Eventually, LeadsTo

H, V = HOLDS, VIOLATED

KNOWN = [
    ("philosophers(3,False)", lambda: examples.philosophers(3, False),
     {"forks_exclusive": H, "someone_eats": H, "hungry_eats": V, "deadlock_free": V}),
    ("philosophers(3,True)", lambda: examples.philosophers(3, True),
     {"forks_exclusive": H, "someone_eats": H, "hungry_eats": V, "deadlock_free": H}),
    # with strong fairness the neighbour cannot keep the fork forever
    ("philosophers(3,True,strong)", lambda: examples.philosophers(3, True, "strong"),
     {"forks_exclusive": H, "someone_eats": H, "hungry_eats": H, "deadlock_free": H}),
    ("philosophers(4,True,strong)", lambda: examples.philosophers(4, True, "strong"),
     {"forks_exclusive": H, "someone_eats": H, "hungry_eats": H, "deadlock_free": H}),
    ("philosophers(3,False,strong)", lambda: examples.philosophers(3, False, "strong"),
     {"forks_exclusive": H, "someone_eats": H, "hungry_eats": V, "deadlock_free": V}),
    ("peterson(weak)", lambda: examples.peterson("weak"),
     {"mutual_exclusion": H, "trying_enters": H, "both_waiting": H}),
    ("peterson(none)", lambda: examples.peterson("none"),
     {"mutual_exclusion": H, "trying_enters": V, "both_waiting": H}),
    ("counter", lambda: examples.counter(), {"reaches_top": H, "bounded": H}),
    ("counter(unfair)", lambda: examples.counter(3, fair=False), {"reaches_top": V, "bounded": H}),
    ("grid(2,4)", lambda: examples.grid(2, 4), {"in_range": H, "all_top": V}),
    ("grid(1,4)", lambda: examples.grid(1, 4), {"in_range": H, "all_top": H}),
]


@pytest.mark.parametrize("name,make,want", KNOWN, ids=[k[0] for k in KNOWN])
def test_known_verdicts(name, make, want):
    r = check(make())
    assert r.complete
    assert {x.name: x.verdict for x in r.results} == want
    assert r.exit_code == (1 if V in want.values() else 0)


@pytest.mark.parametrize("name,make,want", KNOWN, ids=[k[0] for k in KNOWN])
def test_liveness_verdicts_match_an_independent_oracle(helpers, name, make, want):
    m = make()
    keys, edges, depth = helpers.brute_explore(m)
    n = len(keys)
    states = [dict(zip(m.schema.vars, k)) for k in keys]
    r = check(m)
    for p in m.properties:
        if not isinstance(p, (LeadsTo, Eventually)):
            continue
        kinds = [p.fairness.kind(a) for a in m.actions]
        q = {i for i in range(n) if evaluate(p.q, states[i])}
        notq = set(range(n)) - q
        if isinstance(p, LeadsTo):
            starts = {i for i in notq if evaluate(p.p, states[i])}
        else:
            starts = {i for i in notq if depth[i] == 0}
        region = helpers.reach(starts, edges, notq)
        fair = helpers.nx_fair_states(n, edges, kinds, region)
        assert r.result(p.name).verdict == (VIOLATED if fair else HOLDS), p.name


def test_philosophers_deadlock_trace():
    m = examples.philosophers(3, False)
    r = check(m, ["forks_exclusive"])
    res = r.result("deadlock_free")
    tr = res.trace
    assert len(tr.prefix) == 4                             # init + three take_first
    assert {st.action.name for st in tr.prefix[1:]} == {"philosopher.take_first"}
    last = tr.prefix[-1].values
    assert sorted(v.name for v, x in last.items() if x == "left") == ["phil[0]", "phil[1]", "phil[2]"]
    assert all(last[m.schema[f"fork[{i}]"]] for i in range(3))


def test_peterson_livelock_without_fairness_is_a_stutter_or_cycle(helpers):
    m = examples.peterson("none")
    r = check(m, ["trying_enters"])
    res = r.result("trying_enters")
    p = m.property("trying_enters")
    helpers.verify_lasso(r.graph, res.trace, start_pred=p.p & ~p.q, region_pred=~p.q)


def test_examples_are_fresh_models():
    # building a model twice gives independent objects with the same shape
    a, b = examples.peterson(), examples.peterson()
    assert a is not b and a.schema is not b.schema
    assert [x.label for x in a.actions] == [x.label for x in b.actions]
    assert check(a).graph.n_states == check(b).graph.n_states == 34
