"""The CTMC analysis (checker/ctmc.py) on tiny models with closed-form answers.

Every model is built with the public modelling API and explored by the engine; the expected
numbers come from textbook formulas, never from the module's own linear algebra.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from certloop.checker.ctmc import (
    ChainError, analyze, build_chain, edge_mask, phases_by_class, rates_by_class,
)
from certloop.checker.explore import explore
from certloop.checker.expr import Bool, IntRange, Schema, ite, prime
from certloop.checker.spec import Model

BY_NAME = (lambda a: a.name)


def rates(table, **kw):
    return rates_by_class(BY_NAME, table, **kw)


# --------------------------------------------------------------------------- models


def geometric():
    """Each round: ``again`` (flip x, a counted event) at rate l1, or ``finish`` at rate l2."""
    sch = Schema()
    x = sch.declare("x", IntRange(0, 1), 0)
    done = sch.declare("done", Bool, False)
    m = Model("geometric", sch)
    m.add_action("loop.again", "loop", guard=[("running", "not done", ~done.ref)],
                 effect=[{x: ite(x.ref.eq(0), 1, 0)}])
    m.add_action("loop.finish", "loop", guard=[("running", "not done", ~done.ref)],
                 effect=[{done: True}])
    m.add_init()
    g = explore(m)
    again = edge_mask(g, actions=lambda a: a.name == "loop.again")
    return g, g.evaluate(done.ref), again


def graph_model(n, edges, inits=(0,)):
    """State ``s`` in ``0..n-1``; edge ``(a, name, b)`` is action ``edge.<name>(a)``: s == a -> s := b."""
    sch = Schema()
    s = sch.declare("s", IntRange(0, n - 1), inits[0])
    m = Model("graph", sch)
    for a, name, b in edges:
        m.add_action(f"edge.{name}", "edge", args=(a,), guard=[("here", f"s is {a}", s.ref.eq(a))],
                     effect=[{s: b}])
    for i in inits:
        m.add_init({"s": i})
    g = explore(m)
    return g, s


def ids_of(g, s, values):
    return np.array([int(np.flatnonzero(g.evaluate(s.ref.eq(v)))[0]) for v in values])


def mask_of(g, s, values):
    out = np.zeros(g.n_states, dtype=bool)
    for v in values:
        out |= g.evaluate(s.ref.eq(v))
    return out


# --------------------------------------------------------------------------- geometric loop


@pytest.mark.parametrize("l1,l2", [(3.0, 1.0), (1.0, 4.0), (9.0, 0.5)])
def test_geometric_loop(l1, l2):
    g, done, again = geometric()
    ch = build_chain(g, rates({"loop.again": l1, "loop.finish": l2}), [0], done)
    r = analyze(ch, {"again": again, "rounds": np.ones(g.n_transitions)}, before=[0, 1, 2, 5, 20])
    q = l1 / (l1 + l2)
    assert r.ok and not r.conditional and r.p_absorb == pytest.approx(1.0)
    # K = number of continued rounds ~ Geometric: P(K >= n) = q^n
    assert r.rewards["again"].mean == pytest.approx(q / (1 - q), rel=1e-10)
    assert r.rewards["again"].std == pytest.approx(math.sqrt(q) / (1 - q), rel=1e-8)
    # rounds including the final one (every step counted) = K + 1
    assert r.rewards["rounds"].mean == pytest.approx(1 / (1 - q), rel=1e-10)
    # time: (K+1) holding times of mean 1/(l1+l2) = 1/l2; in fact Exp(l2), so std = 1/l2 too
    assert r.time_mean == pytest.approx(1 / ((1 - q) * (l1 + l2)), rel=1e-10)
    assert r.time_mean == pytest.approx(1 / l2, rel=1e-10)
    assert r.time_std == pytest.approx(1 / l2, rel=1e-8)
    for N in (0, 1, 2, 5, 20):
        assert r.rewards["again"].p_before[N] == pytest.approx(1 - q ** N, abs=1e-12)
    # a rounds counter (every step, finish included) is K + 1 >= 1, so P(K+1 < N) = 1 - q^(N-1)
    r2 = analyze(ch, {"rounds": np.ones(g.n_transitions)}, before=[1, 3])
    assert r2.rewards["rounds"].p_before[1] == pytest.approx(0.0, abs=1e-12)
    assert r2.rewards["rounds"].p_before[3] == pytest.approx(1 - q ** 2, abs=1e-12)


def test_counts_depend_on_ratios_time_on_absolute_rates():
    g, done, again = geometric()
    a = analyze(build_chain(g, rates({"loop.again": 2.0, "loop.finish": 1.0}), [0], done), again)
    b = analyze(build_chain(g, rates({"loop.again": 20.0, "loop.finish": 10.0}), [0], done), again)
    assert a.rewards["reward"].mean == pytest.approx(b.rewards["reward"].mean, rel=1e-12)
    assert a.time_mean == pytest.approx(10 * b.time_mean, rel=1e-12)


def test_weighted_rewards_and_integer_weights_in_cdf():
    g, done, again = geometric()
    ch = build_chain(g, rates({"loop.again": 1.0, "loop.finish": 1.0}), [0], done)
    q = 0.5
    r = analyze(ch, {"double": 2.0 * again}, before=[1, 2, 3, 4])
    assert r.rewards["double"].mean == pytest.approx(2 * q / (1 - q))
    # 2K < N  <=>  K < ceil(N/2)
    for N in (1, 2, 3, 4):
        assert r.rewards["double"].p_before[N] == pytest.approx(1 - q ** math.ceil(N / 2), abs=1e-12)
    with pytest.raises(ChainError):
        analyze(ch, {"half": 0.5 * again}, before=[2])
    assert analyze(ch, {"half": 0.5 * again}).rewards["half"].mean == pytest.approx(0.5 * q / (1 - q))


# --------------------------------------------------------------------------- birth-death chains


@pytest.mark.parametrize("lam,mu,n,k", [(2.0, 1.0, 6, 2), (1.0, 3.0, 5, 3), (1.5, 1.0, 8, 1)])
def test_gamblers_ruin(lam, mu, n, k):
    """Both ends absorbing: P(hit n before 0) and the expected number of steps."""
    edges = [(i, "up", i + 1) for i in range(1, n)] + [(i, "down", i - 1) for i in range(1, n)]
    g, s = graph_model(n + 1, edges, inits=(k,))
    absorbing = mask_of(g, s, [0, n])
    ch = build_chain(g, rates({"edge.up": lam, "edge.down": mu}), mask_of(g, s, [k]), absorbing)
    top = edge_mask(g, expr=prime(s.ref).eq(n))
    steps = np.ones(g.n_transitions)
    r = analyze(ch, {"top": top, "steps": steps})
    p, qq = lam / (lam + mu), mu / (lam + mu)
    rho = mu / lam
    p_top = (1 - rho ** k) / (1 - rho ** n)
    e_steps = k / (qq - p) - (n / (qq - p)) * p_top
    assert r.rewards["top"].mean == pytest.approx(p_top, rel=1e-10)
    assert r.rewards["steps"].mean == pytest.approx(e_steps, rel=1e-10)
    assert r.time_mean == pytest.approx(e_steps / (lam + mu), rel=1e-10)
    # P(absorbed within N steps) for N = n - k + 1: only the straight climb or the straight fall
    # (with fewer than N steps) can have finished
    N = min(k, n - k) + 1
    direct = (p ** (n - k) if n - k < N else 0.0) + (qq ** k if k < N else 0.0)
    r2 = analyze(ch, {"steps": steps}, before=[N])
    assert r2.rewards["steps"].p_before[N] == pytest.approx(direct, abs=1e-12)


@pytest.mark.parametrize("lam,mu,n", [(1.0, 1.0, 5), (2.0, 1.0, 7), (1.0, 2.5, 4)])
def test_reflecting_birth_death_hitting_time(lam, mu, n):
    """Reflecting at 0, absorbing at n: E[T_0->n] = sum tau_i, tau_0 = 1/lam, tau_i = 1/lam + mu/lam tau_{i-1}."""
    edges = [(i, "up", i + 1) for i in range(n)] + [(i, "down", i - 1) for i in range(1, n)]
    g, s = graph_model(n + 1, edges)
    ch = build_chain(g, rates({"edge.up": lam, "edge.down": mu}), [0], mask_of(g, s, [n]))
    r = analyze(ch, {"up": edge_mask(g, actions=lambda a: a.name == "edge.up"),
                     "down": edge_mask(g, actions=lambda a: a.name == "edge.down")})
    tau, total = 0.0, 0.0
    for i in range(n):
        tau = 1 / lam + (mu / lam) * tau if i else 1 / lam
        total += tau
    assert r.time_mean == pytest.approx(total, rel=1e-10)
    # expected ups from i to i+1: u_0 = 1, u_i = 1 + (mu/lam) u_{i-1} ... the downs: ups = n + downs
    assert r.rewards["up"].mean == pytest.approx(n + r.rewards["down"].mean, rel=1e-10)
    u, ups = 0.0, 0.0
    for i in range(n):
        u = 1 + (mu / lam) * u if i else 1.0
        ups += u
    assert r.rewards["up"].mean == pytest.approx(ups, rel=1e-10)


# --------------------------------------------------------------------------- stuck / trapped


def test_stuck_and_trapped_states_are_reported_and_conditioned_on():
    # 0 -a-> 1 (absorbing); 0 -b-> 2 (deadlock); 0 -c-> 3 whose only way out (user.poke) has rate 0;
    # 0 -d-> 4 <-> 5 (a livelock that never reaches 1)
    edges = [(0, "a", 1), (0, "b", 2), (0, "c", 3), (3, "poke", 1), (0, "d", 4), (4, "e", 5), (5, "f", 4)]
    g, s = graph_model(6, edges)
    ra = {"edge.a": 1.0, "edge.b": 2.0, "edge.c": 3.0, "edge.d": 4.0, "edge.e": 1.0, "edge.f": 1.0,
          "edge.poke": 0.0}
    ch = build_chain(g, rates(ra), [0], mask_of(g, s, [1]))
    r = analyze(ch, {"a": edge_mask(g, actions=lambda a: a.name == "edge.a")}, before=[1])
    assert not r.ok and r.conditional
    assert r.stuck.count == 2 and sorted(r.stuck.examples) == sorted(ids_of(g, s, [2, 3]).tolist())
    assert r.trapped.count == 4 and sorted(r.trapped.examples) == sorted(ids_of(g, s, [2, 3, 4, 5]).tolist())
    assert r.unexpanded.count == 0
    assert r.p_absorb == pytest.approx(1 / 10)
    # conditioned on absorption: one step out of 0, whose holding time is still 1/10
    assert r.time_mean == pytest.approx(1 / 10)
    assert r.time_std == pytest.approx(1 / 10)
    assert r.rewards["a"].mean == pytest.approx(1.0)
    assert r.rewards["a"].p_before[1] == pytest.approx(0.0)
    d = r.to_dict()
    assert all(v is None or math.isfinite(v) for v in (d["time_mean"], d["time_std"], d["p_absorb"]))


def test_partially_trapped_conditioning_matches_closed_form():
    """0 loops to itself via 1 (again) or finishes (2) or falls into a trap (3)."""
    edges = [(0, "again", 1), (1, "back", 0), (0, "finish", 2), (0, "fall", 3)]
    g, s = graph_model(4, edges)
    la, lf, lx, lb = 3.0, 1.0, 0.5, 2.0
    ch = build_chain(g, rates({"edge.again": la, "edge.back": lb, "edge.finish": lf, "edge.fall": lx}),
                     [0], mask_of(g, s, [2]))
    again = edge_mask(g, actions=lambda a: a.name == "edge.again")
    r = analyze(ch, {"again": again}, before=[1, 3])
    tot = la + lf + lx
    pa, pf = la / tot, lf / tot
    h0 = pf / (1 - pa)                       # P(absorb) from 0
    assert r.p_absorb == pytest.approx(h0)
    assert r.trapped.count == 1 and r.stuck.count == 1
    # conditioned on finishing, the rounds are geometric with continuation pa (the trap only
    # removes the runs that fall): P(K = j | finish) = pa^j (1 - pa)
    qc = pa
    assert r.rewards["again"].mean == pytest.approx(qc / (1 - qc), rel=1e-10)
    assert r.rewards["again"].p_before[3] == pytest.approx(1 - qc ** 3, rel=1e-10)
    # time: K rounds of (1/tot + 1/lb), plus a final 1/tot
    assert r.time_mean == pytest.approx(qc / (1 - qc) * (1 / tot + 1 / lb) + 1 / tot, rel=1e-10)


def test_unexpanded_states_of_a_truncated_search_are_trapped():
    g, s = graph_model(10, [(i, "inc", i + 1) for i in range(9)])
    g2 = explore(g.model, max_states=4)
    assert not g2.complete
    ch = build_chain(g2, rates({"edge.inc": 1.0}), [0], g2.evaluate(s.ref.eq(9)))
    r = analyze(ch)
    assert r.unexpanded.count >= 1 and r.trapped.count >= 1 and r.stuck.count == 0
    assert r.p_absorb == 0.0 and r.time_mean is None


def test_start_in_absorbing_set_and_per_start():
    g, done, again = geometric()
    # start: the initial state (weight 3) and the done state reached from it (weight 1)
    d0 = int(np.flatnonzero(done)[0])
    ch = build_chain(g, rates({"loop.again": 1.0, "loop.finish": 1.0}), [0, d0], done, start_weights=[3, 1])
    r = analyze(ch, again, before=[1], per_start=True)
    assert r.time_mean == pytest.approx(0.75 * 1.0)
    assert r.rewards["reward"].mean == pytest.approx(0.75 * 1.0)
    assert r.rewards["reward"].p_before[1] == pytest.approx(0.25 + 0.75 * 0.5)
    rows = {row["state"]: row for row in r.per_start}
    assert rows[0]["weight"] == pytest.approx(0.75) and rows[0]["time_mean"] == pytest.approx(1.0)
    assert rows[d0]["time_mean"] == 0.0 and rows[d0]["rewards"]["reward"] == 0.0


def test_start_as_mask_equals_start_as_ids_and_is_deterministic():
    g, done, again = geometric()
    rt = rates({"loop.again": 2.0, "loop.finish": 1.0})
    m = np.zeros(g.n_states, dtype=bool)
    m[0] = True
    a = analyze(build_chain(g, rt, [0], done), {"again": again}, before=[3]).to_dict()
    b = analyze(build_chain(g, rt, m, done), {"again": again}, before=[3]).to_dict()
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    c = analyze(build_chain(g, rt, m, done), {"again": again}, before=[3]).to_dict()
    assert json.dumps(a) == json.dumps(c)


def test_iterative_solver_agrees_with_direct():
    edges = [(i, "up", i + 1) for i in range(12)] + [(i, "down", i - 1) for i in range(1, 12)]
    g, s = graph_model(13, edges)
    ch = build_chain(g, rates({"edge.up": 1.0, "edge.down": 1.7}), [0], mask_of(g, s, [12]))
    steps = np.ones(g.n_transitions)
    a = analyze(ch, steps, before=[20])
    b = analyze(ch, steps, before=[20], solver="iterative")
    assert b.time_mean == pytest.approx(a.time_mean, rel=1e-8)
    assert b.rewards["reward"].mean == pytest.approx(a.rewards["reward"].mean, rel=1e-8)
    assert b.rewards["reward"].p_before[20] == pytest.approx(a.rewards["reward"].p_before[20], abs=1e-8)


def test_input_errors():
    g, done, again = geometric()
    with pytest.raises(ChainError, match="no rate for action class"):
        build_chain(g, rates({"loop.again": 1.0}), [0], done)
    # finish at rate 0: the loop never ends (trapped, though never stuck: again is always enabled)
    ch0 = build_chain(g, rates({"loop.again": 1.0}, default=0.0), [0], done)
    assert ch0.trapped.all() and not ch0.stuck.any()
    r0 = analyze(ch0, again, before=[3])
    assert r0.p_absorb == 0.0 and r0.time_mean is None and r0.rewards["reward"].p_before == {3: None}
    with pytest.raises(ChainError, match=">= 0"):
        build_chain(g, rates({"loop.again": -1.0, "loop.finish": 1.0}), [0], done)
    with pytest.raises(ChainError, match="bool mask"):
        build_chain(g, rates({"loop.again": 1.0, "loop.finish": 1.0}), [0], done.astype(int))
    ch = build_chain(g, rates({"loop.again": 1.0, "loop.finish": 1.0}), [0], done)
    with pytest.raises(ChainError, match="one entry per graph transition"):
        analyze(ch, np.ones(3))


# --------------------------------------------------------------------------- Erlang phases


def test_erlang_k1_equals_plain_chain():
    g, done, again = geometric()
    rt = rates({"loop.again": 2.0, "loop.finish": 1.0})
    plain = analyze(build_chain(g, rt, [0], done), again, before=[1, 4]).to_dict()
    k1 = analyze(build_chain(g, rt, [0], done, phases=phases_by_class(BY_NAME, {"loop.again": 1})),
                 again, before=[1, 4]).to_dict()
    assert plain == k1


def sequential(steps=3):
    sch = Schema()
    x = sch.declare("x", IntRange(0, steps), 0)
    m = Model("sequential", sch)
    m.add_action("seq.inc", "seq", guard=[("below", "x below the end", x.ref < steps)], effect=[{x: x.ref + 1}])
    m.add_init()
    g = explore(m)
    return g, g.evaluate(x.ref.eq(steps))


@pytest.mark.parametrize("k", [1, 2, 5, 40])
def test_erlang_sequential_mean_kept_variance_drops(k):
    lam, steps = 2.0, 3
    g, end = sequential(steps)
    ch = build_chain(g, rates({"seq.inc": lam}), [0], end, phases=phases_by_class(BY_NAME, {"seq.inc": k}))
    r = analyze(ch, np.ones(g.n_transitions))
    assert r.n_states == steps * k + 1 and r.n_graph_states == steps + 1
    assert r.time_mean == pytest.approx(steps / lam, rel=1e-10)
    assert r.time_std == pytest.approx(math.sqrt(steps / k) / lam, rel=1e-7)
    assert r.rewards["reward"].mean == pytest.approx(steps)        # phase sub-steps carry no reward
    assert r.phases == ({"seq.inc": k} if k > 1 else {})


@pytest.mark.parametrize("k", [1, 3, 10])
def test_erlang_race_fired_action_restarts(k):
    """``again`` is Erlang-k and restarts after each firing; ``finish`` is exponential."""
    l1, l2 = 2.0, 1.0
    g, done, again = geometric()
    ch = build_chain(g, rates({"loop.again": l1, "loop.finish": l2}), [0], done,
                     phases=phases_by_class(BY_NAME, {"loop.again": k}))
    r = analyze(ch, again, before=[2])
    qk = (k * l1 / (k * l1 + l2)) ** k                # Erlang(k, k l1) beats Exp(l2)
    assert r.rewards["reward"].mean == pytest.approx(qk / (1 - qk), rel=1e-10)
    assert r.rewards["reward"].p_before[2] == pytest.approx(1 - qk ** 2, rel=1e-10)
    assert r.time_mean == pytest.approx(1 / l2, rel=1e-10)     # finish is memoryless: T ~ Exp(l2)


@pytest.mark.parametrize("k", [2, 6])
def test_erlang_phase_kept_while_enabled(k):
    """``b`` toggles z without disabling ``a``: a's clock runs on, so T = Erlang(k, k lam) exactly."""
    lam, mu = 1.0, 5.0
    sch = Schema()
    z = sch.declare("z", IntRange(0, 1), 0)
    done = sch.declare("done", Bool, False)
    m = Model("kept", sch)
    m.add_action("t.a", "t", guard=[("running", "not done", ~done.ref)], effect=[{done: True}])
    m.add_action("t.b", "t", guard=[("running", "not done", ~done.ref)], effect=[{z: ite(z.ref.eq(0), 1, 0)}])
    m.add_init()
    g = explore(m)
    ch = build_chain(g, rates({"t.a": lam, "t.b": mu}), [0], g.evaluate(done.ref),
                     phases=phases_by_class(BY_NAME, {"t.a": k}))
    r = analyze(ch)
    assert r.time_mean == pytest.approx(1 / lam, rel=1e-10)
    assert r.time_std == pytest.approx(1 / (lam * math.sqrt(k)), rel=1e-7)


@pytest.mark.parametrize("k", [1, 4, 12])
def test_erlang_phase_resets_when_disabled(k):
    """``b`` disables ``a`` (y := 1) until ``c`` re-enables it: a restarts from phase 0 each time.

    Each attempt succeeds with p = (k lam / (k lam + mu))^k, so E[#interruptions] = 1/p - 1.
    """
    lam, mu, nu = 1.0, 0.7, 3.0
    sch = Schema()
    y = sch.declare("y", IntRange(0, 1), 0)
    done = sch.declare("done", Bool, False)
    m = Model("reset", sch)
    m.add_action("t.a", "t", guard=[("open", "y is 0", y.ref.eq(0)), ("running", "not done", ~done.ref)],
                 effect=[{done: True}])
    m.add_action("t.b", "t", guard=[("open", "y is 0", y.ref.eq(0)), ("running", "not done", ~done.ref)],
                 effect=[{y: 1}])
    m.add_action("t.c", "t", guard=[("closed", "y is 1", y.ref.eq(1))], effect=[{y: 0}])
    m.add_init()
    g = explore(m)
    ch = build_chain(g, rates({"t.a": lam, "t.b": mu, "t.c": nu}), [0], g.evaluate(done.ref),
                     phases=phases_by_class(BY_NAME, {"t.a": k}))
    r = analyze(ch, {"b": edge_mask(g, actions=lambda a: a.name == "t.b")}, before=[1])
    p = (k * lam / (k * lam + mu)) ** k
    assert r.rewards["b"].mean == pytest.approx(1 / p - 1, rel=1e-10)
    assert r.rewards["b"].p_before[1] == pytest.approx(p, rel=1e-10)
    json.dumps(r.to_dict())


# --------------------------------------------------------------------------- solvers and numerics


def test_auto_solver_on_a_larger_chain_agrees_with_direct():
    """3600 states: "auto" iterates (BiCGSTAB); the LU gives the same numbers."""
    from certloop.checker.examples import grid
    from certloop.checker.expr import and_
    m = grid(2, 60)
    g = explore(m)
    xs = [m.schema[f"x[{i}]"] for i in range(2)]
    ch = build_chain(g, rates({"grid.step": 1.0, "grid.double": 0.3}), [0],
                     g.evaluate(and_(*[x.ref >= 50 for x in xs])))
    dbl = {"double": edge_mask(g, actions=lambda a: a.name == "grid.double")}
    a = analyze(ch, dbl, before=[3], solver="auto")
    b = analyze(ch, dbl, before=[3], solver="direct")
    assert a.reliable and b.reliable
    assert a.time_mean == pytest.approx(b.time_mean, rel=1e-9)
    assert a.time_std == pytest.approx(b.time_std, rel=1e-7)
    assert a.rewards["double"].mean == pytest.approx(b.rewards["double"].mean, rel=1e-9)
    assert a.rewards["double"].p_before[3] == pytest.approx(b.rewards["double"].p_before[3], abs=1e-10)


def test_ill_conditioned_chain_is_flagged():
    """Up at rate 1, down at rate 10, 20 levels: E[T] ~ 1e19 steps, beyond double precision."""
    sch = Schema()
    x = sch.declare("x", IntRange(0, 20), 0)
    m = Model("drift", sch)
    m.add_action("bd.up", "bd", guard=[("below", "x below 20", x.ref < 20)], effect=[{x: x.ref + 1}])
    m.add_action("bd.down", "bd", guard=[("positive", "x above 0", x.ref > 0), ("below", "x below 20", x.ref < 20)],
                 effect=[{x: x.ref - 1}])
    m.add_init()
    g = explore(m)
    r = analyze(build_chain(g, rates({"bd.up": 1.0, "bd.down": 10.0}), [0], g.evaluate(x.ref.eq(20))))
    assert not r.reliable and any("ill-conditioned" in w for w in r.warnings)
    json.dumps(r.to_dict(), allow_nan=False)


def test_erlang_expansion_is_bounded():
    g, end = sequential(3)
    with pytest.raises(ChainError, match="max_states"):
        build_chain(g, rates({"seq.inc": 1.0}), [0], end, phases=phases_by_class(BY_NAME, {"seq.inc": 40}),
                    max_states=50)
