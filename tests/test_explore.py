"""The explorer: pinned counts checked against a brute-force BFS, determinism, shortest traces,
bounds, domain errors and exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from certloop.checker import examples
from certloop.checker import explore as explore_mod
from certloop.checker.check import HOLDS, UNKNOWN, VIOLATED, check, check_graph
from certloop.checker.explore import FingerprintCollision, explore
from certloop.checker.expr import Bool, IntRange, ModelError, Schema, prime
from certloop.checker.spec import ActionAlways, Always, Model, Sometimes

def _engines() -> list[dict]:
    """Keyword arguments selecting each exploration engine that ``explore`` offers."""
    import inspect
    if "engine" in inspect.signature(explore).parameters:
        return [{"engine": "compiled"}, {"engine": "reference"}]
    return [{}]


ENGINES = pytest.mark.parametrize("eng", _engines(), ids=lambda e: e.get("engine", "default"))

PINNED = [
    ("philosophers(3,False)", lambda: examples.philosophers(3, False), 14, 27),
    ("philosophers(3,True)", lambda: examples.philosophers(3, True), 12, 22),
    ("philosophers(4,True)", lambda: examples.philosophers(4, True), 29, 72),
    ("peterson", lambda: examples.peterson(), 34, 62),
    ("counter", lambda: examples.counter(), 4, 4),
    ("grid(4,8)", lambda: examples.grid(4, 8), 4096, 22528),
]


@ENGINES
@pytest.mark.parametrize("name,make,n_states,n_trans", PINNED, ids=[p[0] for p in PINNED])
def test_pinned_counts_match_brute_force(helpers, name, make, n_states, n_trans, eng):
    m = make()
    keys, edges, depth = helpers.brute_explore(m)
    assert (len(keys), len(edges)) == (n_states, n_trans)
    g = explore(m, **eng)
    assert g.complete and g.reason == ""
    assert (g.n_states, g.n_transitions) == (n_states, n_trans)
    # the same states, in the same (sequential BFS) order, at the same depths
    assert helpers.graph_keys(g) == keys
    assert g.depth.tolist() == depth
    # the same transitions
    got = sorted(zip(g.src.tolist(), g.lab.tolist(), g.dst.tolist()))
    assert got == sorted(edges)
    assert (g.src != g.dst).all()


def test_grid_count_formula():
    # grid(d, k): k**d states; each state has d wrap/step moves and a double move per counter in
    # 1..k/2-1 (double at 0 is a no-op, hence not a transition)
    d, k = 3, 6
    g = explore(examples.grid(d, k))
    assert g.n_states == k ** d
    assert g.n_transitions == k ** d * d + k ** (d - 1) * d * (k // 2 - 1)


# --------------------------------------------------------------------------- determinism


def _arrays(g):
    return [g.states, g.parent, g.parent_action, g.depth, g.src, g.dst, g.lab]


@ENGINES
@pytest.mark.parametrize("make", [lambda: examples.peterson(), lambda: examples.philosophers(4, True),
                                  lambda: examples.grid(3, 5)])
def test_explorations_are_identical(make, eng):
    m = make()
    base = explore(m, **eng)
    again = explore(m, **eng)
    for a, b in zip(_arrays(base), _arrays(again)):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    # chunking changes how a level is cut, never the state ids (edges may be stored in another
    # order: they are a set, and every consumer sorts them)
    for chunk in (1, 3, 17):
        other = explore(m, chunk=chunk, **eng)
        for a, b in zip(_arrays(base)[:4], _arrays(other)[:4]):
            assert np.array_equal(a, b), chunk
        assert sorted(zip(base.src.tolist(), base.lab.tolist(), base.dst.tolist())) == \
            sorted(zip(other.src.tolist(), other.lab.tolist(), other.dst.tolist()))


_SCRIPT = textwrap.dedent("""
    from certloop.checker import examples
    from certloop.checker.check import check
    for m, prop in ((examples.peterson("none"), "trying_enters"),
                    (examples.philosophers(3, False), "deadlock_free"),
                    (examples.philosophers(4, True), "hungry_eats"),
                    (examples.grid(3, 4), "all_top")):
        r = check(m)
        res = r.result(prop)
        print(m.name, r.graph.n_states, r.graph.n_transitions, res.verdict)
        for part, steps in (("prefix", res.trace.prefix), ("cycle", res.trace.cycle)):
            for st in steps:
                print(part, st.label, st.state, sorted((v.name, str(x)) for v, x in st.values.items()))
""")


def test_traces_do_not_depend_on_hash_seed():
    outs = []
    for seed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        p = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True,
                           timeout=120)
        assert p.returncode == 0, p.stderr
        outs.append(p.stdout)
    assert outs[0] == outs[1]
    assert "violated" in outs[0] and "cycle" in outs[0]


# --------------------------------------------------------------------------- shortest traces


def test_traces_are_shortest(helpers):
    m = examples.grid(2, 6)
    x0, x1 = m.schema["x[0]"], m.schema["x[1]"]
    m.add_property(Always("not_far", expr=~(x0.ref.eq(5) & x1.ref.eq(4))))
    m.add_property(Sometimes("far", expr=x0.ref.eq(5) & x1.ref.eq(4)))
    r = check(m, ["not_far", "far"])
    keys, _, depth = helpers.brute_explore(m)
    want = min(d for k, d in zip(keys, depth) if k == (5, 4))
    for name in ("not_far", "far"):
        tr = r.result(name).trace
        assert len(tr.prefix) - 1 == want
        assert tr.prefix[0].action is None
        assert tr.prefix[-1].values == {x0: 5, x1: 4}
    g = r.graph
    for i in range(g.n_states):
        path = g.path_to(i)
        assert len(path) - 1 == int(g.depth[i]) == depth[i]


def test_action_property_trace_ends_with_the_offending_step():
    sch = Schema()
    x = sch.declare("x", IntRange(0, 5), 0)
    m = Model("jump", sch)
    m.add_action("c.inc", "c", guard=[("below", "x < 5", x.ref < 5)], effect=[{x: x.ref + 1}])
    m.add_action("c.jump", "c", guard=[("two", "x == 2", x.ref.eq(2))], effect=[{x: 5}])
    m.add_init()
    m.add_property(ActionAlways("small_steps", expr=prime(x.ref) <= x.ref + 1))
    m.add_property(ActionAlways("inc_only", expr=prime(x.ref) <= x.ref + 1, applies=lambda a: a.name == "c.inc"))
    r = check(m)
    tr = r.result("small_steps").trace
    assert [st.label for st in tr.prefix] == ["init", "c.inc", "c.inc", "c.jump"]
    assert tr.prefix[-1].changes == {"x": (2, 5)}
    assert r.result("inc_only").verdict == HOLDS


def test_duplicate_initial_states_are_merged():
    sch = Schema()
    x = sch.declare("x", IntRange(0, 3), 0)
    m = Model("inits", sch)
    m.add_action("c.inc", "c", guard=[("below", "x < 3", x.ref < 3)], effect=[{x: x.ref + 1}])
    m.add_init({x: 2})
    m.add_init({x: 0})
    m.add_init({"x": 2})
    g = explore(m)
    assert g.n_initial == 2
    assert [g.decode(i)[x] for i in range(g.n_states)] == [2, 0, 3, 1]


# --------------------------------------------------------------------------- bounds


def test_state_bound_gives_incomplete_graph():
    m = examples.grid(3, 8)
    del m.properties[1]                                     # all_top: violated even when truncated
    g = explore(m, max_states=100)
    assert not g.complete and g.reason == "state bound 100"
    assert g.n_expanded < g.n_states
    assert g.src.max() < g.n_expanded                       # only expanded states have out-edges
    r = check(m, max_states=100)
    assert r.result("in_range").verdict == UNKNOWN
    assert "state bound" in r.result("in_range").note
    assert r.exit_code == 3


def test_time_bound_gives_incomplete_graph():
    g = explore(examples.grid(3, 8), max_seconds=0.0)
    assert not g.complete and g.reason.startswith("time bound")


def test_bound_keeps_witnesses_already_found():
    m = examples.philosophers(3, False)
    r = check(m, ["forks_exclusive", "someone_eats"], max_states=8)
    assert not r.complete
    assert r.result("forks_exclusive").verdict == UNKNOWN
    assert r.result("someone_eats").verdict == HOLDS       # a witness among the states found
    assert r.result("someone_eats").trace.prefix[-1].label == "philosopher.take_second(0)"


@ENGINES
def test_states_found_before_a_mid_level_stop_are_checked(eng):
    # x=0 branches to 1, 2, 3 (level 1); expanding 1 finds 4 (level 2, the bad state); with one
    # state per chunk the state bound stops the search before state 2 is expanded, i.e. in the
    # middle of level 1.  State 4 is stored, so its violation must be reported, not UNKNOWN.
    sch = Schema()
    x = sch.declare("x", IntRange(0, 9), 0)
    m = Model("branch", sch)
    for k in (1, 2, 3):
        m.add_action("b.go", "b", args=(k,), guard=[("zero", "x is 0", x.ref.eq(0))], effect=[{x: k}])
    m.add_action("b.bad", "b", guard=[("one", "x is 1", x.ref.eq(1))], effect=[{x: 9}])
    m.add_action("b.other", "b", guard=[("two", "x is 2", x.ref.eq(2))], effect=[{x: 8}])
    m.add_init()
    m.add_property(Always("not_nine", expr=x.ref.ne(9)))
    m.add_property(Sometimes("nine", expr=x.ref.eq(9)))
    g = explore(m, max_states=5, chunk=1, **eng)
    assert not g.complete and g.n_states == 5 and g.n_expanded == 2
    assert g.decode(g.found["not_nine"].state)[x] == 9
    assert g.decode(g.found["nine"].state)[x] == 9
    res = {r.name: r.verdict for r in check_graph(g, m.properties)}
    assert res == {"not_nine": VIOLATED, "nine": HOLDS}


@ENGINES
def test_interrupt_keeps_the_graph_consistent(helpers, eng):
    # Ctrl-C while the progress callback runs (after a chunk was committed): the states marked
    # expanded must keep all their out-edges, else they would look like deadlocks and a
    # liveness property that holds would come out VIOLATED with a bogus stutter lasso.
    m = examples.grid(2, 6)
    calls = []

    def progress(p):
        calls.append(p)
        if len(calls) == 5:
            raise KeyboardInterrupt

    g = explore(m, chunk=1, progress=progress, progress_every=0.0, **eng)
    assert not g.complete and g.reason == "interrupted"
    assert 0 < g.n_expanded <= g.n_states
    keys, edges, _ = helpers.brute_explore(m)
    assert helpers.graph_keys(g) == keys[:g.n_states]
    want = sorted(e for e in edges if e[0] < g.n_expanded)
    got = sorted(zip(g.src.tolist(), g.lab.tolist(), g.dst.tolist()))
    assert got == want
    assert all(0 <= d < g.n_states for d in g.dst.tolist())


# --------------------------------------------------------------------------- errors


def test_domain_error_names_action_and_variable():
    sch = Schema()
    x = sch.declare("x", IntRange(0, 3), 0)
    m = Model("overflow", sch)
    m.add_action("counter.bump", "counter", effect=[{x: x.ref + 1}])
    m.add_init()
    with pytest.raises(ModelError) as ei:
        explore(m)
    msg = str(ei.value)
    assert "counter.bump" in msg and "x := 4" in msg and "0, 3" in msg


def test_domain_error_in_a_later_block_and_for_parameterised_actions():
    sch = Schema()
    x = sch.declare("x", IntRange(0, 3), 0)
    y = sch.declare("y", IntRange(-1, 1), 0)
    m = Model("underflow", sch)
    m.add_action("proc.dec", "proc", args=(7,), guard=[("at_zero", "x is 0", x.ref.eq(0))],
                 effect=[{x: 1}, {y: x.ref - 3}])
    m.add_init()
    with pytest.raises(ModelError, match=r"proc\.dec\(7\).*y := -2"):
        explore(m)


def test_add_action_type_errors_are_model_errors():
    sch = Schema()
    x = sch.declare("x", IntRange(0, 3), 0)
    b = sch.declare("b", Bool, False)
    m = Model("types", sch)
    with pytest.raises(ModelError, match="b := x"):
        m.add_action("bad.assign", "bad", effect=[{b: x.ref}])
    with pytest.raises(ModelError, match="fairness"):
        m.add_action("bad.fair", "bad", fairness="sometimes")
    m.add_action("ok.act", "ok", effect=[{b: True}])
    with pytest.raises(ModelError, match="labelled"):
        m.add_action("ok.act", "ok", effect=[{b: False}])
    with pytest.raises(ModelError, match="no initial state"):
        explore(m)


@ENGINES
def test_fingerprint_collisions_are_detected_not_merged(monkeypatch, eng):
    monkeypatch.setattr(explore_mod, "fingerprint", lambda w: np.zeros(w.shape[0], dtype=np.uint64))
    with pytest.raises(FingerprintCollision):
        explore(examples.counter(), **eng)
    # two distinct initial states with one fingerprint are not merged into one either
    sch = Schema()
    x = sch.declare("x", IntRange(0, 3), 0)
    m = Model("two_inits", sch)
    m.add_action("c.noop", "c", effect=[{x: x.ref}])
    m.add_init({x: 0})
    m.add_init({x: 1})
    with pytest.raises(FingerprintCollision):
        explore(m, **eng)


# --------------------------------------------------------------------------- exit codes


def test_exit_codes():
    assert check(examples.counter()).exit_code == 0
    assert check(examples.peterson()).exit_code == 0
    assert check(examples.philosophers(3, False)).exit_code == 1
    assert check(examples.grid(3, 8), ["in_range"], max_states=50).exit_code == 3
    # violated wins over unknown
    r = check(examples.philosophers(3, False), ["forks_exclusive", "someone_eats"], max_states=4)
    assert r.exit_code == 3
    r = check(examples.counter(3, fair=False), max_states=2)
    assert {x.name: x.verdict for x in r.results}["reaches_top"] == VIOLATED
    assert r.exit_code == 1


def test_first_action_violation_is_the_first_transition_in_bfs_order():
    """An action invariant's counterexample is the first violating transition in BFS order (the
    lowest source state, then the lowest action), whatever the chunk size and the engine: here
    the violations of a later action sit on earlier states than those of an earlier one."""
    from certloop.checker.examples import grid
    from certloop.checker.expr import evaluate, prime
    m = grid(2, 4)
    xs = m.schema.vars
    # level 1 is [(1,0), (0,1)]: the first violates only by grid.step(1) (action 2), the second
    # only by grid.step(0) (action 0); the first in BFS order is state (1,0) with action 2
    x0, x1 = xs[0].ref, xs[1].ref
    m.add_property(ActionAlways("no_wrap_or_double1",
                                expr=~((x0.eq(1) & x1.eq(0) & prime(x1).eq(1))
                                       | (x0.eq(0) & x1.eq(1) & prime(x0).eq(1)))))
    p = m.property("no_wrap_or_double1")
    ref = explore(m, engine="reference")
    # brute force over the stored graph: states in id order, actions in index order
    want = None
    for s in range(ref.n_states):
        for e in ref.out_edges(s):
            pre, post = ref.decode(s), ref.decode(int(ref.dst[e]))
            if not evaluate(p.expr, pre, post):
                want = (s, int(ref.lab[e]))
                break
        if want:
            break
    assert want is not None
    for engine in ("reference", "compiled"):
        for chunk in (1, 3, 7, 1 << 16):
            f = explore(m, engine=engine, chunk=chunk).found["no_wrap_or_double1"]
            assert (f.state, f.action) == want, (engine, chunk)


@pytest.mark.parametrize("make", [lambda: examples.grid(3, 4), lambda: examples.peterson(),
                                  lambda: examples.philosophers(3, False)])
def test_explored_graphs_have_no_self_loops(make):
    """A self-loop would be a no-op, which is not a transition: the liveness index relies on it
    (GraphIndex(self_loops=False) skips the pass that looks for them)."""
    for engine in ("compiled", "reference"):
        g = explore(make(), engine=engine)
        assert g.n_transitions and not (g.src == g.dst).any()


def test_a_safety_only_search_keeps_no_edges_and_says_so():
    """edges=False: the same states, tree, counts and safety findings, no stored transitions;
    a liveness check on such a graph is refused with a clear message."""
    from certloop.checker.spec import LeadsTo
    m = examples.grid(3, 4)
    x0 = m.schema.vars[0]
    m.add_property(Always("x0_small", expr=x0.ref < 3))
    m.add_property(LeadsTo("x0_returns", p=x0.ref.eq(3), q=x0.ref.eq(0)))
    full, safe = explore(m), explore(m, edges=False, chunk=5)
    assert (safe.n_states, safe.n_transitions) == (full.n_states, full.n_transitions) == (64, full.n_transitions)
    assert np.array_equal(np.asarray(safe.states), np.asarray(full.states))
    assert np.array_equal(safe.parent, full.parent) and safe.dst.size == 0
    assert safe.found["x0_small"].state == full.found["x0_small"].state
    with pytest.raises(ValueError, match="without its transitions"):
        check_graph(safe, [m.property("x0_returns")])
    with pytest.raises(ValueError, match="compiled engine"):
        explore(m, edges=False, engine="reference")
