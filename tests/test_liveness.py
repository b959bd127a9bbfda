"""The liveness engine: one named test per known pitfall, then a brute-force oracle.

A checker that says HOLDS when a livelock exists is worse than none, so every convention of
``checker/liveness.py`` is pinned here on a hand-built model small enough to check by eye, and a
hypothesis test compares ``leads-to`` / ``eventually`` / ``fair-cycle-free`` verdicts on random
small graphs with an oracle that enumerates candidate fair behaviours by definition.
"""

from __future__ import annotations

from itertools import combinations

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certloop.checker.check import HOLDS, UNKNOWN, VIOLATED, check, fair_graph
from certloop.checker.expr import Bool, IntRange, Schema, and_, evaluate, ite, or_, prime
from certloop.checker.liveness import (
    NONE, STRONG, WEAK, FairGraph, GraphIndex, Lasso, LassoError, _reach_levels, reach_within, strong_components,
    check_lasso, fair_components,
)
from certloop.checker.spec import (
    Conjunct, Eventually, FairCycleFree, Fairness, LeadsTo, Model,
)
from certloop.checker import examples


def verdict(m: Model, name: str, **kw):
    r = check(m, [name], **kw)
    return r.result(name), r.graph


# --------------------------------------------------------------------------- (a) stuttering


def test_a_only_unfair_successor_may_stutter_forever(helpers):
    # 0 --go (unfair)--> 1 = Q.  The system may stay in 0 forever: <>Q fails.
    m, s = helpers.graph_model(2, [(0, 0, 1)], ["none"])
    m.add_property(Eventually("ev", q=s.eq(1)))
    m.add_property(LeadsTo("lt", p=s.eq(0), q=s.eq(1)))
    for name in ("ev", "lt"):
        res, g = verdict(m, name)
        assert res.verdict == VIOLATED
        assert res.trace.stutter and res.trace.cycle == []
        assert res.trace.prefix[-1].values[g.model.schema["s"]] == 0
        helpers.verify_lasso(g, res.trace, start_pred=s.eq(0), region_pred=s.ne(1))
    # the same edge, weakly fair: the stutter is unfair and <>Q holds
    m2, s2 = helpers.graph_model(2, [(0, 0, 1)], ["weak"])
    m2.add_property(Eventually("ev", q=s2.eq(1)))
    assert verdict(m2, "ev")[0].verdict == HOLDS


def test_a_unfair_successors_after_fair_progress(helpers):
    # 0 -w-> 1 -u-> 2=Q: fairness carries us to 1, where only an unfair step remains.
    m, s = helpers.graph_model(3, [(0, 0, 1), (1, 1, 2)], ["weak", "none"])
    m.add_property(Eventually("ev", q=s.eq(2)))
    res, g = verdict(m, "ev")
    assert res.verdict == VIOLATED and res.trace.stutter
    assert [st.values[g.model.schema["s"]] for st in res.trace.prefix] == [0, 1]


# --------------------------------------------------------------------------- (b) no-op is no transition


def _noop_model(spin_kind: str = "weak"):
    sch = Schema()
    x = sch.declare("x", IntRange(0, 1), 0)
    m = Model("noop", sch)
    spin = m.add_action("proc.spin", "proc", fairness=spin_kind,
                        guard=[Conjunct("always", "always", x.ref.eq(x.ref) | x.ref.ne(x.ref))],
                        effect=[{x: x.ref}])
    cancel = m.add_action("proc.cancel", "proc", fairness=spin_kind,
                          guard=[Conjunct("at_zero", "x is 0", x.ref.eq(0))],
                          effect=[{x: 1}, {x: x.ref - 1}])       # two blocks that cancel out
    go = m.add_action("proc.go", "proc", fairness="none",
                      guard=[Conjunct("at_zero", "x is 0", x.ref.eq(0))], effect=[{x: 1}])
    m.add_init()
    m.add_property(Eventually("ev", q=x.ref.eq(1)))
    return m, x, spin, cancel, go


def test_b_noop_action_is_disabled_and_not_a_transition():
    m, x, spin, cancel, go = _noop_model()
    for st in ({x: 0}, {x: 1}):
        assert evaluate(spin.guard_expr, st) is True          # the guard holds ...
        assert evaluate(spin.enabled_expr(), st) is False     # ... but it is not enabled
    assert evaluate(cancel.enabled_expr(), {x: 0}) is False   # net effect of the blocks is nothing
    assert evaluate(go.enabled_expr(), {x: 0}) is True
    r = check(m)
    g = r.graph
    assert (g.n_states, g.n_transitions) == (2, 1)            # only go: 0 -> 1
    assert set(g.lab.tolist()) == {go.index}
    assert (g.src != g.dst).all()                             # no self-loop ever stored


def test_b_noop_does_not_count_as_enabled_for_weak_fairness(helpers):
    # if the no-op spin (weakly fair) counted as enabled, stuttering in x=0 would be unfair
    # and <>x=1 would wrongly hold
    m, x, *_ = _noop_model("weak")
    res, g = verdict(m, "ev")
    assert res.verdict == VIOLATED and res.trace.stutter
    helpers.verify_lasso(g, res.trace, start_pred=x.ref.eq(0), region_pred=x.ref.eq(0))
    m2, x2, *_ = _noop_model("strong")
    assert verdict(m2, "ev")[0].verdict == VIOLATED


def test_b_partial_noop_enabled_only_where_it_changes_something():
    # sat: x := 1 is a transition at x=0 and a no-op at x=1
    sch = Schema()
    x = sch.declare("x", IntRange(0, 1), 0)
    m = Model("sat", sch)
    sat = m.add_action("proc.sat", "proc", fairness="weak", effect=[{x: 1}])
    m.add_init()
    m.add_property(Eventually("ev", q=x.ref.eq(1)))
    r = check(m)
    assert r.result("ev").verdict == HOLDS
    assert (r.graph.n_states, r.graph.n_transitions) == (2, 1)
    assert evaluate(sat.enabled_expr(), {x: 1}) is False


def test_b_self_loop_edges_in_graph_models_are_dropped(helpers):
    # 0 -loop(weak)-> 0 and 0 -go(none)-> 1: the loop neither is taken nor is enabled
    m, s = helpers.graph_model(2, [(0, 0, 0), (0, 1, 1)], ["weak", "none"])
    m.add_property(Eventually("ev", q=s.eq(1)))
    res, g = verdict(m, "ev")
    assert g.n_transitions == 1
    assert res.verdict == VIOLATED and res.trace.stutter


# --------------------------------------------------------------------------- (c) refinement


def test_c_unfair_scc_contains_fair_subcycle(helpers):
    # SCC {0,1,2} (weakly fair moves, so no state may stutter); the strongly fair exit 2 -> 3=Q
    # is enabled at 2 and never taken inside, so the whole SCC is unfair -- but the sub-cycle
    # 0 <-> 1 never enables the exit (and move 1 is disabled at 0).
    edges = [(0, 0, 1), (1, 0, 0), (1, 1, 2), (2, 1, 1), (2, 2, 3)]
    m, s = helpers.graph_model(4, edges, ["weak", "weak", "strong"])
    m.add_property(Eventually("ev", q=s.eq(3)))
    res, g = verdict(m, "ev")
    assert res.verdict == VIOLATED
    cyc = {st.values[g.model.schema["s"]] for st in res.trace.cycle}
    assert cyc == {0, 1}
    helpers.verify_lasso(g, res.trace, start_pred=s.ne(3), region_pred=s.ne(3))
    # and the engine itself reports the refined sub-component, not the SCC
    fg = fair_graph(g, m.properties[0].fairness)
    comps = fair_components(fg, ~g.evaluate(s.eq(3)))
    vals = [sorted(g.decode(i)[g.model.schema["s"]] for i in c.tolist()) for c in comps]
    assert [0, 1] in vals and not any(2 in v for v in vals)


def test_c_refinement_is_repeated_until_stable(helpers):
    # Two rounds: first 3 goes (SF exit to Q never taken), then in {0,1,2} the SF edge 2->3 is no
    # longer inside, so 2 goes too; {0,1} remains and is fair.
    edges = [(0, 0, 1), (1, 0, 0), (1, 1, 2), (2, 1, 1), (2, 2, 3), (3, 1, 1), (3, 3, 4)]
    m, s = helpers.graph_model(5, edges, ["weak", "weak", "strong", "strong"])
    m.add_property(Eventually("ev", q=s.eq(4)))
    res, g = verdict(m, "ev")
    assert res.verdict == VIOLATED
    assert {st.values[g.model.schema["s"]] for st in res.trace.cycle} == {0, 1}
    helpers.verify_lasso(g, res.trace, start_pred=s.ne(4), region_pred=s.ne(4))
    # make the sub-cycle unfair as well (a strongly fair exit from 0): now it holds
    m2, s2 = helpers.graph_model(5, edges + [(0, 3, 4)], ["weak", "weak", "strong", "strong"])
    m2.add_property(Eventually("ev", q=s2.eq(4)))
    assert verdict(m2, "ev")[0].verdict == HOLDS


def test_c_fair_scc_contains_unfair_subcycle(helpers):
    # The reverse: the SCC {0,1,2} is fair (w is taken 0->2 / 1->2), but the sub-cycle 0 <-> 1
    # leaves w enabled throughout and never takes it.  Violated, and the lasso must take w.
    edges = [(0, 0, 1), (1, 0, 0), (0, 1, 2), (1, 1, 2), (2, 2, 0)]
    m, s = helpers.graph_model(4, edges, ["none", "weak", "weak"])
    m.add_property(Eventually("ev", q=s.eq(3)))
    res, g = verdict(m, "ev")
    assert res.verdict == VIOLATED
    assert "edge.take(1)" in {st.label for st in res.trace.cycle}
    assert any("takes edge.take(1)" in o for o in res.trace.obligations)
    helpers.verify_lasso(g, res.trace, start_pred=s.ne(3), region_pred=s.ne(3))


def test_c_weakly_unfair_scc_has_no_fair_subcycle(helpers):
    # w (weak) enabled in every state of the SCC {0,1,2}, always leaving to Q: no cycle inside is fair
    edges = [(0, 0, 1), (1, 0, 2), (2, 0, 0), (1, 1, 0), (0, 2, 3), (1, 2, 3), (2, 2, 3)]
    m, s = helpers.graph_model(4, edges, ["none", "none", "weak"])
    m.add_property(Eventually("ev", q=s.eq(3)))
    assert verdict(m, "ev")[0].verdict == HOLDS


# --------------------------------------------------------------------------- (d) lassos are real


def _as_lasso(trace) -> Lasso:
    prefix = [(st.action.index if st.action else -1, st.state) for st in trace.prefix]
    cycle = [(st.action.index, st.state) for st in trace.cycle]
    return Lasso(prefix, cycle)


@pytest.mark.parametrize("make,prop", [
    (lambda: examples.peterson("none"), "trying_enters"),
    (lambda: examples.philosophers(3, True), "hungry_eats"),
    (lambda: examples.philosophers(4, True), "hungry_eats"),
    (lambda: examples.philosophers(3, False), "hungry_eats"),
    (lambda: examples.grid(3, 4), "all_top"),
    (lambda: examples.counter(3, fair=False), "reaches_top"),
])
def test_d_printed_lasso_is_a_real_path(helpers, make, prop):
    m = make()
    r = check(m, [prop])
    res, g = r.result(prop), r.graph
    assert res.verdict == VIOLATED
    p = m.property(prop)
    fg = fair_graph(g, p.fairness)
    check_lasso(fg, _as_lasso(res.trace))                      # the engine's own verifier
    if isinstance(p, LeadsTo):                                 # and an independent one
        helpers.verify_lasso(g, res.trace, start_pred=and_(p.p, ~p.q), region_pred=~p.q,
                             fairness=p.fairness)
    else:
        helpers.verify_lasso(g, res.trace, start_pred=~p.q, region_pred=~p.q, fairness=p.fairness)
        assert res.trace.prefix[0].state < g.n_initial


def test_d_check_lasso_rejects_fake_lassos(helpers):
    m = examples.philosophers(3, True)
    r = check(m, ["hungry_eats"])
    g, tr = r.graph, r.result("hungry_eats").trace
    fg = fair_graph(g, m.property("hungry_eats").fairness)
    good = _as_lasso(tr)
    check_lasso(fg, good)
    assert good.cycle, "weakly fair philosophers: the neighbour keeps eating"
    # an arrow relabelled with another action
    a, s = good.cycle[0]
    other = next(b for b in range(len(m.actions)) if b != a)
    with pytest.raises(LassoError):
        check_lasso(fg, Lasso(good.prefix, [(other, s)] + good.cycle[1:]))
    # a cycle that does not return
    if len(good.cycle) > 1:
        with pytest.raises(LassoError):
            check_lasso(fg, Lasso(good.prefix, good.cycle[:-1]))
    # a stutter where a fair action is enabled (every philosopher action is weakly fair)
    with pytest.raises(LassoError):
        check_lasso(fg, Lasso(good.prefix, []))
    # a prefix arrow that is not a transition
    (a0, s0), (a1, s1) = good.prefix[0], good.prefix[1]
    with pytest.raises(LassoError):
        check_lasso(fg, Lasso([(a0, s0), (a1, s0)] + good.prefix[2:], good.cycle))


# --------------------------------------------------------------------------- (e) per instance


def _workers(rule: Fairness | None = None):
    sch = Schema()
    a = sch.declare("a", IntRange(0, 1), 0)
    done = sch.declare("done", Bool, False)
    m = Model("workers", sch)
    m.add_action("worker.step", "worker", args=(0,), fairness="weak",
                 guard=[Conjunct("any", "always", ~done.ref | done.ref)],
                 effect=[{a: ite(a.ref.eq(0), 1, 0)}])
    m.add_action("worker.step", "worker", args=(1,), fairness="weak",
                 guard=[Conjunct("not_done", "not done", ~done.ref)], effect=[{done: True}])
    m.add_init()
    kw = {} if rule is None else {"fairness": rule}
    m.add_property(Eventually("ev", q=done.ref, **kw))
    return m, a, done


def test_e_taking_one_instance_does_not_discharge_another(helpers):
    # step(0) toggles forever; step(1) is continuously enabled and never taken.  Per-instance
    # weak fairness forbids that behaviour (a per-family check would accept it as fair).
    m, a, done = _workers()
    assert [x.label for x in m.actions] == ["worker.step(0)", "worker.step(1)"]
    assert verdict(m, "ev")[0].verdict == HOLDS
    # a fairness rule that makes only instance 0 fair: now the toggling is a fair livelock
    only0 = Fairness("only-0", ("worker.step(0) weak",), lambda x: "weak" if x.args == (0,) else "none")
    m2, a2, done2 = _workers(only0)
    res, g = verdict(m2, "ev")
    assert res.verdict == VIOLATED and res.trace.cycle
    assert {st.label for st in res.trace.cycle} == {"worker.step(0)"}
    helpers.verify_lasso(g, res.trace, start_pred=~done2.ref, region_pred=~done2.ref, fairness=only0)


def test_e_family_enabled_throughout_by_alternating_instances(helpers):
    # 0 <-> 1 by unfair moves; finish(0) (weak) is enabled only at 0, finish(1) (weak) only at 1.
    # "Some finish" is enabled throughout, yet each instance is disabled somewhere on the cycle:
    # per-instance WF accepts the cycle -> violated.
    sch = Schema()
    s = sch.declare("s", IntRange(0, 2), 0)
    m = Model("family", sch)
    m.add_action("mover.move", "mover", args=(0,), guard=[("at0", "at 0", s.ref.eq(0))], effect=[{s: 1}])
    m.add_action("mover.move", "mover", args=(1,), guard=[("at1", "at 1", s.ref.eq(1))], effect=[{s: 0}])
    for i in (0, 1):
        m.add_action("worker.finish", "worker", args=(i,), fairness="weak",
                     guard=[("here", f"at {i}", s.ref.eq(i))], effect=[{s: 2}])
    m.add_init()
    m.add_property(Eventually("ev", q=s.ref.eq(2)))
    res, g = verdict(m, "ev")
    assert res.verdict == VIOLATED
    assert {st.label for st in res.trace.cycle} == {"mover.move(0)", "mover.move(1)"}
    helpers.verify_lasso(g, res.trace, start_pred=s.ref.ne(2), region_pred=s.ref.ne(2))
    # under strong fairness each instance is enabled infinitely often: holds
    sf = Fairness("sf", ("finish strong",), lambda x: "strong" if x.name == "worker.finish" else "none")
    m.add_property(Eventually("ev_sf", q=s.ref.eq(2), fairness=sf))
    assert check(m, ["ev_sf"]).result("ev_sf").verdict == HOLDS


# --------------------------------------------------------------------------- (f) truncation


def _chain(n: int, kind: str = "weak", stall: bool = False):
    """x counts 0..n-1 by a fair inc; with ``stall`` the first step is unfair."""
    sch = Schema()
    x = sch.declare("x", IntRange(0, n - 1), 0)
    m = Model("chain", sch)
    if stall:
        m.add_action("c.start", "c", fairness="none", guard=[("zero", "x is 0", x.ref.eq(0))], effect=[{x: 1}])
        m.add_action("c.inc", "c", fairness=kind, guard=[("pos", "0 < x < top", (x.ref > 0) & (x.ref < n - 1))],
                     effect=[{x: x.ref + 1}])
    else:
        m.add_action("c.inc", "c", fairness=kind, guard=[("below", "x below top", x.ref < n - 1)],
                     effect=[{x: x.ref + 1}])
    m.add_init()
    m.add_property(Eventually("ev", q=x.ref.eq(n - 1)))
    m.add_property(LeadsTo("lt", p=x.ref.eq(0), q=x.ref.eq(n - 1)))
    m.add_property(FairCycleFree("fcf", premise=x.ref.eq(0)))
    return m, x


def test_f_truncated_graph_is_never_holds():
    m, x = _chain(50)
    full = check(m)
    assert full.complete and all(r.verdict == HOLDS for r in full.results)
    r = check(m, max_states=5)
    assert not r.complete and r.graph.reason.startswith("state bound")
    # the last state found has no known successors: it must not look like a deadlock
    for res in r.results:
        assert res.verdict == UNKNOWN, res.name
        assert "incomplete" in res.note
    assert r.exit_code == 3
    rt = check(m, max_seconds=0.0)
    assert not rt.complete and rt.graph.reason.startswith("time bound")
    assert all(res.verdict == UNKNOWN for res in rt.results)


def test_f_real_lasso_among_expanded_states_is_violated_even_when_truncated(helpers):
    m, x = _chain(50, stall=True)
    r = check(m, ["ev", "lt"], max_states=3)
    assert not r.complete
    for name in ("ev", "lt"):
        res = r.result(name)
        assert res.verdict == VIOLATED and res.trace.stutter
        helpers.verify_lasso(r.graph, res.trace, start_pred=x.ref.eq(0), region_pred=x.ref.eq(0))
    assert r.exit_code == 1


def test_f_cycle_through_unexpanded_state_is_not_reported():
    # 0 -> 1 -> 2 -> 0 (unfair) plus far-away Q; with only 0,1 expanded nothing is provable
    sch = Schema()
    x = sch.declare("x", IntRange(0, 9), 0)
    m = Model("ring", sch)
    m.add_action("r.next", "r", fairness="none", guard=[("small", "x < 2", x.ref < 2)], effect=[{x: x.ref + 1}])
    m.add_action("r.back", "r", fairness="none", guard=[("two", "x = 2", x.ref.eq(2))], effect=[{x: 0}])
    m.add_action("r.out", "r", fairness="weak", guard=[("two", "x = 2", x.ref.eq(2))], effect=[{x: 9}])
    m.add_init()
    m.add_property(FairCycleFree("fcf"))
    assert check(m).result("fcf").verdict == VIOLATED          # the ring is fair: out is disabled at 0,1
    r = check(m, max_states=3)
    assert r.graph.n_expanded < 3 and r.result("fcf").verdict == UNKNOWN


# --------------------------------------------------------------------------- (g) WF vs SF


def test_g_enabled_infinitely_often_not_continuously(helpers):
    # 0 <-> 1 by weakly fair moves (no stuttering); exit 0 -> 2 = Q is enabled at 0 only
    edges = [(0, 0, 1), (1, 0, 0), (0, 1, 2)]
    for kind, want in (("weak", VIOLATED), ("strong", HOLDS), ("none", VIOLATED)):
        m, s = helpers.graph_model(3, edges, ["weak", kind])
        m.add_property(Eventually("ev", q=s.eq(2)))
        m.add_property(LeadsTo("lt", p=s.eq(1), q=s.eq(2)))
        for name in ("ev", "lt"):
            res, g = verdict(m, name)
            assert res.verdict == want, (kind, name)
            if want == VIOLATED and kind == "weak":
                assert len(res.trace.cycle) == 2                  # must go round, not stutter in 0
                helpers.verify_lasso(g, res.trace, start_pred=s.ne(2), region_pred=s.ne(2))


# --------------------------------------------------------------------------- (h) deadlocks / exits


def test_h_deadlock_among_not_q_violates(helpers):
    # 0 -w-> 1, 1 has no successor, Q = {2} unreachable from 1
    m, s = helpers.graph_model(3, [(0, 0, 1), (0, 1, 2)], ["weak", "weak"])
    m.add_property(Eventually("ev", q=s.eq(2)))
    m.add_property(LeadsTo("lt", p=s.eq(0), q=s.eq(2)))
    for name in ("ev", "lt"):
        res, g = verdict(m, name)
        assert res.verdict == VIOLATED
        assert res.trace.stutter and res.trace.prefix[-1].values[g.model.schema["s"]] == 1
        helpers.verify_lasso(g, res.trace, start_pred=s.ne(2), region_pred=s.ne(2))
    m.check_deadlock = True
    assert check(m).result("deadlock_free").verdict == VIOLATED


def test_h_exit_edge_counts_as_enabled(helpers):
    # a single not-Q state whose weakly fair action leaves to Q: enabled, so stuttering is unfair
    m, s = helpers.graph_model(2, [(0, 0, 1)], ["weak"])
    m.add_property(LeadsTo("lt", p=s.eq(0), q=s.eq(1)))
    assert verdict(m, "lt")[0].verdict == HOLDS
    # a cycle 0 <-> 1 where the weakly fair exit to Q=2 is enabled in both states
    edges = [(0, 0, 1), (1, 0, 0), (0, 1, 2), (1, 1, 2)]
    m2, s2 = helpers.graph_model(3, edges, ["none", "weak"])
    m2.add_property(Eventually("ev", q=s2.eq(2)))
    assert verdict(m2, "ev")[0].verdict == HOLDS


def test_h_vacuous_and_immediate():
    m, x = _chain(4)
    m.add_property(LeadsTo("never", p=x.ref.eq(3) & x.ref.eq(2), q=x.ref.eq(0)))
    m.add_property(Eventually("now", q=x.ref.eq(0)))
    r = check(m, ["never", "now"])
    assert r.result("never").verdict == HOLDS and "vacuous" in r.result("never").note
    assert r.result("now").verdict == HOLDS


# --------------------------------------------------------------------------- brute-force oracle


def _closure(starts, succ, allowed):
    seen = {s for s in starts if s in allowed}
    stack = list(seen)
    while stack:
        u = stack.pop()
        for _, v in succ.get(u, ()):
            if v in allowed and v not in seen:
                seen.add(v)
                stack.append(v)
    return seen


def _strongly_connected(D, inner):
    if len(D) == 1:
        return True
    fwd = {d: set() for d in D}
    bwd = {d: set() for d in D}
    for a, _, b in inner:
        fwd[a].add(b)
        bwd[b].add(a)

    def reach(adj, s):
        seen, stack = {s}, [s]
        while stack:
            u = stack.pop()
            for v in adj[u]:
                if v not in seen:
                    seen.add(v)
                    stack.append(v)
        return seen

    d0 = next(iter(D))
    return reach(fwd, d0) == D and reach(bwd, d0) == D


def oracle_fair_set_exists(n, edges, kinds, inits, starts_pred, region, need_edge=None):
    """Is there a fair infinite behaviour that, after a reachable state in ``starts_pred``, stays
    in ``region``?  By definition: enumerate every set D of states visited infinitely often.

    * no-ops (self-loops) are not transitions: dropped first;
    * D must be reachable from a start inside ``region``; |D| = 1 is stuttering (always allowed),
      larger D must be strongly connected by edges inside D; the behaviour may take every edge
      inside D infinitely often (taking more never hurts fairness);
    * WF: a weak label enabled (anywhere in the full graph) in every state of D is taken in D;
      SF: a strong label enabled in some state of D is taken in D;
    * ``need_edge(a, k, b)``: additionally some edge inside D must match (fair-cycle-free).
    """
    E = [(a, k, b) for a, k, b in edges if a != b]
    succ: dict[int, list] = {}
    for a, k, b in E:
        succ.setdefault(a, []).append((k, b))
    enabled = {s: {k for k, _ in succ.get(s, ())} for s in range(n)}
    reach = _closure(inits, succ, set(range(n)))
    starts = [s for s in reach if s in starts_pred and s in region]
    H = sorted(_closure(starts, succ, region))
    for size in range(1, len(H) + 1):
        for D in combinations(H, size):
            D = set(D)
            inner = [(a, k, b) for a, k, b in E if a in D and b in D]
            if not _strongly_connected(D, inner):
                continue
            if need_edge is not None and not any(need_edge(a, k, b) for a, k, b in inner):
                continue
            taken = {k for _, k, _ in inner}
            ok = True
            for k, kind in enumerate(kinds):
                if kind == "weak" and all(k in enabled[d] for d in D) and k not in taken:
                    ok = False
                if kind == "strong" and any(k in enabled[d] for d in D) and k not in taken:
                    ok = False
            if ok:
                return True
    return False


@st.composite
def random_graphs(draw):
    """A random small graph as (n, edges, kinds, inits, P, Q, applies, pairs).

    Choices are listed largest / fairest first because hypothesis favours early elements, and
    a graph full of unfair labels is trivially violated (every state may stutter).
    """
    n = draw(st.sampled_from([7, 6, 5, 4, 3, 2, 1]))
    L = draw(st.sampled_from([3, 4, 2, 1]))
    kinds = draw(st.lists(st.sampled_from(["strong", "weak", "none"]), min_size=L, max_size=L))
    density = draw(st.sampled_from([0.5, 0.8, 0.3]))
    edges = []
    for k in range(L):
        for a in range(n):
            if draw(st.floats(0, 1)) < density:
                edges.append((a, k, draw(st.integers(0, n - 1))))
    if n > 1 and draw(st.booleans()):
        # no fair stuttering anywhere: a weakly fair label with a real move from every state, so
        # only cycles can be fair and the SCC/refinement logic decides the verdict
        kinds = kinds + ["weak"]
        for a in range(n):
            edges.append((a, L, (a + draw(st.integers(1, n - 1))) % n))
        L += 1
    inits = draw(st.sets(st.integers(0, n - 1), min_size=1, max_size=2))
    P = draw(st.sets(st.integers(0, n - 1)))
    Q = draw(st.sets(st.integers(0, n - 1), max_size=max(0, min(2, n - 1))))
    exits = draw(st.sampled_from([1, 0, 2])) if n > 1 else 0
    if exits and not Q:
        Q = {draw(st.integers(0, n - 1))}
    for _ in range(exits):
        # an "escape hatch": a fair label whose edges all lead into Q.  Such a label is enabled
        # in a component without being taken inside it -- the case that needs SF refinement.
        kinds = kinds + [draw(st.sampled_from(["strong", "weak"]))]
        for a in range(n):
            if a not in Q and draw(st.floats(0, 1)) < 0.4:
                edges.append((a, L, draw(st.sampled_from(sorted(Q)))))
        L += 1
    real = sorted((a, k, b) for a, k, b in edges if a != b)
    interest = draw(st.lists(st.sampled_from(real), max_size=4)) if real else []
    applies = {k for _, k, _ in interest} | draw(st.sets(st.integers(0, L - 1), max_size=1))
    pairs = {(a, b) for a, _, b in interest}
    return n, edges, kinds, sorted(inits), P, Q, applies, pairs


@settings(max_examples=300, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(random_graphs())
def test_oracle_random_graphs(helpers, case):
    n, edges, kinds, inits, P, Q, applies, pairs = case
    m, s = helpers.graph_model(n, edges, kinds, inits)
    notq = set(range(n)) - Q
    m.add_property(LeadsTo("lt", p=helpers.in_set(s, P), q=helpers.in_set(s, Q)))
    m.add_property(Eventually("ev", q=helpers.in_set(s, Q)))
    sp = prime(s)
    edge_pred = or_(*[s.eq(a) & sp.eq(b) for a, b in sorted(pairs)])
    m.add_property(FairCycleFree("fcf", premise=helpers.in_set(s, P), edge=edge_pred,
                                 applies=lambda a: a.args[0] in applies))
    r = check(m)
    g = r.graph
    assert r.complete

    want_lt = oracle_fair_set_exists(n, edges, kinds, inits, P, notq)
    want_ev = oracle_fair_set_exists(n, edges, kinds, inits, set(inits), notq) and \
        any(i in notq for i in inits)
    want_fcf = oracle_fair_set_exists(n, edges, kinds, inits, P, set(range(n)),
                                      need_edge=lambda a, k, b: k in applies and (a, b) in pairs)
    got = {x.name: x.verdict for x in r.results}
    assert got == {"lt": VIOLATED if want_lt else HOLDS,
                   "ev": VIOLATED if want_ev else HOLDS,
                   "fcf": VIOLATED if want_fcf else HOLDS}, case

    # every counterexample is re-verified independently
    qe = helpers.in_set(s, Q)
    if want_lt:
        helpers.verify_lasso(g, r.result("lt").trace, start_pred=and_(helpers.in_set(s, P), ~qe), region_pred=~qe)
    if want_ev:
        tr = r.result("ev").trace
        assert tr.prefix[0].state < g.n_initial
        helpers.verify_lasso(g, tr, start_pred=~qe, region_pred=~qe)
        assert evaluate(~qe, tr.prefix[0].values)
    if want_fcf:
        helpers.verify_lasso(g, r.result("fcf").trace, start_pred=helpers.in_set(s, P), must_edge=edge_pred)
        # the edge of interest is taken by an action it applies to
        tr = r.result("fcf").trace
        pairs_taken = zip([tr.prefix[-1]] + tr.cycle[:-1], tr.cycle)
        assert any(q.action.args[0] in applies and evaluate(edge_pred, p.values, q.values)
                   for p, q in pairs_taken)


# --------------------------------------------------------------------------- SCCs vs networkx


@settings(max_examples=150, derandomize=True, deadline=None, database=None)
@given(st.integers(1, 25).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n),
    st.sets(st.integers(0, n - 1)))))
def test_scc_matches_networkx(case):
    """The SCC routine (SciPy's, on int32 CSR arrays, parallel edges merged first) on induced
    subgraphs with self-loops and parallel edges, against networkx."""
    n, edges, removed = case
    nodes = np.array(sorted(set(range(n)) - removed), dtype=np.int64)
    if nodes.size == 0:
        return
    mask = np.zeros(n, dtype=bool)
    mask[nodes] = True
    local = np.full(n, -1, dtype=np.int64)
    local[nodes] = np.arange(nodes.size)
    inside = sorted((int(local[a]), int(local[b])) for a, b in edges if mask[a] and mask[b])
    indices = np.array([b for _, b in inside], dtype=np.int32)
    indptr = np.zeros(nodes.size + 1, dtype=np.int32)
    np.cumsum(np.bincount(np.array([a for a, _ in inside], dtype=np.int64), minlength=nodes.size),
              out=indptr[1:])
    count, labels = strong_components(indices, indptr, int(nodes.size))
    # the rows with parallel edges given exactly: later copies become self-loops for the call,
    # and the caller's array is restored
    par = sorted({a for (a, b), k in zip(inside, range(len(inside))) if inside.count((a, b)) > 1})
    before = indices.copy()
    count2, labels2 = strong_components(indices, indptr, int(nodes.size), np.array(par, dtype=np.int64))
    assert np.array_equal(indices, before)
    assert count2 == count
    assert len({(int(a), int(b)) for a, b in zip(labels, labels2)}) == count   # the same partition
    ours = {}
    for node, c in zip(nodes.tolist(), labels.tolist()):
        ours.setdefault(c, set()).add(node)
    G = nx.DiGraph()
    G.add_nodes_from(nodes.tolist())
    G.add_edges_from((a, b) for a, b in edges if mask[a] and mask[b])
    theirs = {frozenset(c) for c in nx.strongly_connected_components(G)}
    assert {frozenset(c) for c in ours.values()} == theirs
    assert count == len(theirs)


@settings(max_examples=200, derandomize=True, deadline=None, database=None)
@given(random_graphs())
def test_fair_components_are_fair_sccs(helpers, case):
    """Each reported component is strongly connected, fair by definition, and maximal among the
    fair sets the oracle can find inside the region."""
    n, edges, kinds, inits, P, Q, applies, pairs = case
    E = [(a, k, b) for a, k, b in edges if a != b]
    src = np.array([a for a, _, _ in E], dtype=np.int64)
    dst = np.array([b for _, _, b in E], dtype=np.int64)
    lab = np.array([k for _, k, _ in E], dtype=np.int64)
    kind = np.array([{"none": NONE, "weak": WEAK, "strong": STRONG}[k] for k in kinds], dtype=np.int8)
    g = FairGraph(n, src, dst, lab, kind, np.ones(n, dtype=bool))
    region = np.ones(n, dtype=bool)
    region[list(Q)] = False
    comps = [set(c.tolist()) for c in fair_components(g, region)]
    enabled = {s: {k for a, k, _ in E if a == s} for s in range(n)}
    for D in comps:
        assert all(region[d] for d in D)
        inner = [(a, k, b) for a, k, b in E if a in D and b in D]
        assert _strongly_connected(D, inner)
        taken = {k for _, k, _ in inner}
        for k, kd in enumerate(kinds):
            if kd == "weak":
                assert k in taken or not all(k in enabled[d] for d in D)
            if kd == "strong":
                assert k in taken or not any(k in enabled[d] for d in D)
    # pairwise disjoint
    for c1, c2 in combinations(comps, 2):
        assert not c1 & c2
    # maximal: every fair set of states by definition (a stutter state with no fair label
    # enabled, or a strongly connected set meeting WF/SF) lies inside a reported component
    inside = [x for x in range(n) if region[x]]
    for size in range(1, len(inside) + 1):
        for D in combinations(inside, size):
            D = set(D)
            inner = [(a, k, b) for a, k, b in E if a in D and b in D]
            if not _strongly_connected(D, inner):
                continue
            taken = {k for _, k, _ in inner}
            if all(k in taken or kd == "none"
                   or (kd == "weak" and not all(k in enabled[d] for d in D))
                   or (kd == "strong" and not any(k in enabled[d] for d in D))
                   for k, kd in enumerate(kinds)):
                assert any(D <= C for C in comps), (D, comps)


@st.composite
def larger_graphs(draw):
    n = draw(st.integers(8, 30))
    L = draw(st.integers(2, 5))
    kinds = draw(st.lists(st.sampled_from(["weak", "strong", "none"]), min_size=L, max_size=L))
    density = draw(st.sampled_from([0.4, 0.7, 0.2]))
    rnd = draw(st.randoms(use_true_random=False))
    edges = [(a, k, rnd.randrange(n)) for k in range(L) for a in range(n) if rnd.random() < density]
    Q = set(rnd.sample(range(n), rnd.randint(0, 3)))
    P = set(rnd.sample(range(n), rnd.randint(0, n)))
    if Q:
        kinds = kinds + [rnd.choice(["strong", "weak"])]
        edges += [(a, L, rnd.choice(sorted(Q))) for a in range(n) if a not in Q and rnd.random() < 0.3]
    return n, edges, kinds, P, Q


@settings(max_examples=60, derandomize=True, deadline=None, database=None)
@given(larger_graphs())
def test_larger_random_graphs_match_networkx_oracle(helpers, case):
    """Up to 30 states: the engine's verdict against the networkx re-implementation, and every
    counterexample re-verified."""
    n, edges, kinds, P, Q = case
    m, s = helpers.graph_model(n, edges, kinds, [0])
    m.add_property(LeadsTo("lt", p=helpers.in_set(s, P), q=helpers.in_set(s, Q)))
    r = check(m)
    g = r.graph
    # the oracle works on the model's own numbering (s values), reachable part only
    real = [(a, k, b) for a, k, b in edges if a != b]
    reachable = helpers.reach({0}, real)
    notq = reachable - Q
    region = helpers.reach(P & notq, real, notq)
    fair = helpers.nx_fair_states(n, real, kinds, region)
    res = r.result("lt")
    assert res.verdict == (VIOLATED if fair else HOLDS)
    assert g.n_states == len(reachable)
    if fair:
        qe = helpers.in_set(s, Q)
        helpers.verify_lasso(g, res.trace, start_pred=helpers.in_set(s, P) & ~qe, region_pred=~qe)


@settings(max_examples=150, derandomize=True, deadline=None, database=None)
@given(st.integers(1, 25).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n),
    st.sets(st.integers(0, n - 1)),
    st.sets(st.integers(0, n - 1), min_size=1))))
def test_reach_within_matches_networkx(case):
    """Reachability inside a region: SciPy's search (states outside the region pre-marked as
    visited, one extra node feeding every start) and the NumPy level-by-level search agree with
    networkx, on CSR graphs (edges in (source, label) order) with self-loops and parallel edges."""
    n, edges, outside, starts = case
    edges = sorted(edges)
    src = np.array([a for a, _ in edges], dtype=np.int64)
    dst = np.array([b for _, b in edges], dtype=np.int32)
    lab = np.zeros(len(edges), dtype=np.int8)
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    idx = GraphIndex(n, None, dst, lab, indptr=indptr)
    g = FairGraph(n, None, dst, lab, np.array([NONE], dtype=np.int8), np.ones(n, dtype=bool), idx)
    region = np.ones(n, dtype=bool)
    region[list(outside)] = False
    st_arr = np.array(sorted(starts), dtype=np.int64)
    G = nx.DiGraph()
    G.add_nodes_from(range(n))
    G.add_edges_from((a, b) for a, b in edges if region[a] and region[b])
    want = np.zeros(n, dtype=bool)
    for s0 in st_arr[region[st_arr]].tolist():
        want[list(nx.descendants(G, s0) | {s0})] = True
    assert np.array_equal(reach_within(g, st_arr, region), want)
    inside = st_arr[region[st_arr]]
    assert np.array_equal(_reach_levels(idx, inside, region) if inside.size else np.zeros(n, dtype=bool), want)
    assert np.array_equal(g.src_of(np.arange(len(edges))), src)


@pytest.mark.parametrize("knob,value", [("_FEW_UNFAIR", -1), ("_SMALL_KEYS", -1)])
def test_the_other_paths_match_too(helpers, monkeypatch, knob, value):
    """The paths that small test graphs never take: fair_out by a per-edge mask OR-ed per row
    (many unfair labels), and weak fairness by sorted (component, label) keys (many components):
    the oracle comparisons pass on them too."""
    from certloop.checker import liveness
    monkeypatch.setattr(liveness, knob, value)
    test_oracle_random_graphs(helpers)
    test_fair_components_are_fair_sccs(helpers)


# ---------------------------------------------------------------- closure of a premise (no search)


def _closure_model():
    """``done`` is set once and never cleared by ``finish``; ``undo`` clears it only while ``x``
    is 2 (where ``q`` holds); ``wobble`` writes ``done`` through an ``ite`` that keeps it."""
    from certloop.checker.spec import Model
    sch = Schema()
    x = sch.declare("x", IntRange(0, 2), 0)
    done = sch.declare("done", Bool, False)
    m = Model("closure", sch)
    m.add_action("t.step", "t", guard=[("lt", "x < 2", x.ref < 2)], effect=[{x: x.ref + 1}])
    m.add_action("t.finish", "t", guard=[("no", "not done", ~done.ref)], effect=[{done: True}])
    m.add_action("t.undo", "t", guard=[("at2", "x == 2", x.ref.eq(2))], effect=[{done: False, x: 0}])
    m.add_action("t.wobble", "t", guard=[("lt", "x < 2", x.ref < 2)],
                 effect=[{done: ite(x.ref < 2, done.ref, False), x: x.ref + 1}])
    m.add_init()
    return m, x, done


def test_closed_under_syntactic_then_z3(monkeypatch):
    from certloop.checker import check as check_mod
    from certloop.checker.check import closed_under
    from certloop.checker.expr import FALSE
    m, x, done = _closure_model()
    # undo clears done: not closed when q never holds...
    assert not closed_under(m, done.ref, FALSE)
    # ... closed when leaving through undo ends in q (x == 0 after undo): only Z3 sees it
    q = x.ref.eq(0)
    assert not closed_under(m, done.ref, q, prove=False)
    assert closed_under(m, done.ref, q, prove=True)
    # the proofs have a budget; past it the answer is "not shown" (the caller searches)
    monkeypatch.setattr(check_mod, "_PROVE_BUDGET", 0.0)
    assert not closed_under(m, done.ref, q, prove=True)
    monkeypatch.undo()
    # wobble's ite keeps done under its guard: Z3 proves it, the syntactic check cannot
    m.actions = [a for a in m.actions if a.name != "t.undo"]
    assert not closed_under(m, done.ref, FALSE, prove=False)
    assert closed_under(m, done.ref, FALSE, prove=True)
    # a conjunct that the action keeps: the syntactic check suffices
    m.actions = [a for a in m.actions if a.name == "t.finish"]
    assert closed_under(m, and_(done.ref, x.ref < 2), FALSE, prove=False)


@pytest.mark.parametrize("name", ["seed", "v1.17-external-finalizer-in-flight", "v1.16-namespace-deletion", "v1.18-namespace-deletion"])
def test_closure_shortcut_changes_no_answer(monkeypatch, name):
    """Liveness with the premise's closure proved (by Z3, forced on small graphs) gives the same
    verdicts and the same lassos as with the reachability search it replaces."""
    from certloop.checker import check as check_mod
    from certloop.runner import run
    from certloop.properties.scenarios import get, with_modes

    def answers():
        r = run(with_modes(get(name), gc="abstract"))
        return [(x.name, x.verdict, None if x.trace is None else
                 ([s.state for s in x.trace.prefix], [s.state for s in x.trace.cycle])) for x in r.results]

    monkeypatch.setattr(check_mod, "_PROVE_FROM", 0)
    proved = answers()
    monkeypatch.setattr(check_mod, "closed_under", lambda *a, **k: False)
    searched = answers()
    assert proved == searched
    assert {v for _, v, _ in proved} >= {HOLDS}


@settings(max_examples=200, derandomize=True, deadline=None, database=None)
@given(st.integers(1, 20).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.integers(0, 3)), max_size=3 * n),
    st.sets(st.integers(0, 3)))))
def test_edges_inside_matches_networkx(case):
    """The edges with a marked label inside one SCC, for a CSR graph and for edges in any order
    (ids of the caller's arrays), against networkx."""
    from certloop.checker.liveness import GraphIndex
    n, edges, marked = case
    if not edges:
        return
    G = nx.DiGraph()
    G.add_nodes_from(range(n))
    G.add_edges_from((a, b) for a, b, _ in edges)
    comp = {v: i for i, c in enumerate(nx.strongly_connected_components(G)) for v in c}
    want = sorted(i for i, (a, b, l) in enumerate(edges) if l in marked and comp[a] == comp[b])
    labels = np.array([k in marked for k in range(4)], dtype=bool)
    src = np.array([a for a, _, _ in edges], dtype=np.int32)
    dst = np.array([b for _, b, _ in edges], dtype=np.int32)
    lab = np.array([l for _, _, l in edges], dtype=np.int8)
    assert GraphIndex(n, src, dst, lab).edges_inside(labels).tolist() == want
    o = np.lexsort((lab, src))
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    csr = GraphIndex(n, None, dst[o], lab[o], indptr=indptr)
    assert sorted(o[csr.edges_inside(labels)].tolist()) == want
