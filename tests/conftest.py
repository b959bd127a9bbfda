"""Shared helpers for the engine tests.

Helpers are handed out as *session-scoped* fixtures (a namespace of plain functions) so that the
hypothesis tests can use them without the function-scoped-fixture health check, and so that no
test module imports this file by name (pytest runs with ``--import-mode=importlib``).

Nothing here uses the engine's own graph code: the brute-force explorer evaluates guards and
effects one state at a time with :func:`certloop.checker.expr.evaluate`, and the lasso verifier
re-checks a counterexample against the explored edge arrays with plain Python.
"""

from __future__ import annotations

from collections import deque
from types import SimpleNamespace
from typing import Any, Iterable, Mapping, Sequence

import pytest

from certloop.checker.expr import IntRange, Schema, Var, evaluate, ite, or_
from certloop.checker.spec import Model


# --------------------------------------------------------------------------- graph models


def graph_model(n: int, edges: Iterable[tuple[int, int, int]], kinds: Sequence[str],
                inits: Iterable[int] = (0,), name: str = "graph") -> tuple[Model, Any]:
    """A model whose state is one variable ``s`` in ``0..n-1``.

    ``edges`` are ``(src, label, dst)``; label ``k`` becomes the action instance
    ``edge.take(k)`` with fairness ``kinds[k]`` (one parameterised family, expanded per
    instance).  At most one edge per ``(src, label)``.  A self-loop ``(a, k, a)`` is written
    into the effect as ``s := s`` there, i.e. a no-op, which the engine must not count as a
    transition.  Returns ``(model, s)`` where ``s`` is the expression reading the variable.
    """
    sch = Schema()
    s = sch.var("s", IntRange(0, n - 1), 0)
    m = Model(name, sch)
    by_label: dict[int, dict[int, int]] = {k: {} for k in range(len(kinds))}
    for a, k, b in edges:
        if a in by_label[k]:
            raise ValueError(f"two edges for ({a}, {k})")
        by_label[k][a] = b
    for k, kind in enumerate(kinds):
        table = by_label[k]
        val: Any = s
        for a in sorted(table, reverse=True):
            val = ite(s.eq(a), table[a], val)
        m.add_action("edge.take", "edge", args=(k,), fairness=kind,
                     guard=[("has_edge", f"label {k} has an edge here", or_(*[s.eq(a) for a in table]))],
                     effect=[{sch["s"]: val}])
    for i in inits:
        m.add_init({"s": i})
    return m, s


def in_set(s: Any, members: Iterable[int]) -> Any:
    """``s`` is one of ``members`` (false for the empty set)."""
    return or_(*[s.eq(i) for i in sorted(set(members))])


# --------------------------------------------------------------------------- brute force


def _key(model: Model, st: Mapping[Var, Any]) -> tuple:
    return tuple(st[v] for v in model.schema.vars)


_FINAL: dict[int, tuple[Any, Any]] = {}


def _final(a: Any) -> tuple[Any, dict[Var, Any]]:
    hit = _FINAL.get(id(a))
    if hit is None or hit[0] is not a:
        hit = _FINAL[id(a)] = (a, (a.guard_expr, a.final_values()))
    return hit[1]


def successors(model: Model, st: dict[Var, Any]) -> list[tuple[int, dict[Var, Any]]]:
    """``(action index, post-state)`` for every action that is enabled and changes the state."""
    out = []
    for a in model.actions:
        guard, fv = _final(a)
        if not evaluate(guard, st):
            continue
        nxt = dict(st)
        for v, e in fv.items():
            nxt[v] = evaluate(e, st)
        if _key(model, nxt) != _key(model, st):
            out.append((a.index, nxt))
    return out


def brute_explore(model: Model) -> tuple[list[tuple], list[tuple[int, int, int]], list[int]]:
    """Plain BFS over decoded states.  Returns (state keys in BFS order, edges, depths).

    The order is the sequential BFS order the engine promises: initial states in declaration
    order (duplicates dropped), then successors by (parent id, action index).
    """
    ids: dict[tuple, int] = {}
    keys: list[tuple] = []
    depth: list[int] = []
    states: list[dict[Var, Any]] = []
    q: deque[int] = deque()
    for st in model.inits:
        k = _key(model, st)
        if k not in ids:
            ids[k] = len(keys)
            keys.append(k)
            depth.append(0)
            states.append(dict(st))
            q.append(ids[k])
    edges: list[tuple[int, int, int]] = []
    while q:
        i = q.popleft()
        for a, nxt in successors(model, states[i]):
            k = _key(model, nxt)
            j = ids.get(k)
            if j is None:
                j = ids[k] = len(keys)
                keys.append(k)
                depth.append(depth[i] + 1)
                states.append(nxt)
                q.append(j)
            edges.append((i, a, j))
    return keys, edges, depth


def graph_keys(g: Any) -> list[tuple]:
    """The engine's states as decoded value tuples (schema order)."""
    out = []
    for i in range(g.n_states):
        d = g.decode(i)
        out.append(tuple(d[v] for v in g.layout.vars))
    return out


def verify_lasso(g: Any, trace: Any, *, start_pred: Any = None, region_pred: Any = None,
                 fairness: Any = None, must_edge: Any = None) -> None:
    """Independent re-check of a lasso counterexample against the explored edge arrays.

    * the first state is initial, every arrow ``(s, a, t)`` is an explored transition;
    * the cycle returns to its start (or is empty: stuttering);
    * some state of the prefix satisfies ``start_pred`` and every state from there on satisfies
      ``region_pred`` (both evaluated on decoded states);
    * the cycle is fair by definition: every weakly fair instance enabled in all cycle states is
      taken on the cycle; every strongly fair instance enabled in some cycle state is taken;
      a stutter loop is fair iff no fair instance is enabled in its state;
    * ``must_edge(pre, post)`` holds for some transition of the cycle, if given.
    """
    assert trace is not None and trace.lasso
    model = g.model
    fair_kind = (lambda a: a.fairness) if fairness is None else fairness.kind
    edge: dict[tuple[int, int], int] = {}
    out_labels: dict[int, set[int]] = {}
    for s, a, t in zip(g.src.tolist(), g.lab.tolist(), g.dst.tolist()):
        assert (s, a) not in edge, "an action instance has two successors"
        edge[(s, a)] = t
        out_labels.setdefault(s, set()).add(a)
    steps = trace.prefix + trace.cycle
    assert steps[0].action is None and steps[0].state < g.n_initial
    for prev, cur in zip(steps, steps[1:]):
        assert cur.action is not None
        assert edge.get((prev.state, cur.action.index)) == cur.state, \
            f"{prev.state} --{cur.action.label}--> {cur.state} is not a transition"
        assert g.decode(cur.state) == cur.values
    start = trace.prefix[-1].state
    if trace.cycle:
        assert trace.cycle[-1].state == start
    if start_pred is not None:
        # some state satisfies start_pred and the region holds from there on (the prefix may pass
        # through earlier start states that it leaves again)
        ok_from = len(steps)
        while ok_from > 0 and (region_pred is None or evaluate(region_pred, g.decode(steps[ok_from - 1].state))):
            ok_from -= 1
        assert ok_from < len(steps)
        assert any(evaluate(start_pred, g.decode(st.state)) for st in steps[ok_from:])
    cyc_states = [start] + [st.state for st in trace.cycle[:-1]] if trace.cycle else [start]
    assert all(s < g.n_expanded for s in cyc_states)
    taken = {st.action.index for st in trace.cycle}
    for a in model.actions:
        k = fair_kind(a)
        en = [a.index in out_labels.get(s, set()) for s in cyc_states]
        if k == "weak" and all(en):
            assert a.index in taken, f"weakly fair {a.label} enabled throughout, never taken"
        if k == "strong" and any(en):
            assert a.index in taken, f"strongly fair {a.label} enabled on the cycle, never taken"
    if must_edge is not None:
        assert trace.cycle
        pairs = zip([trace.prefix[-1]] + trace.cycle[:-1], trace.cycle)
        assert any(evaluate(must_edge, g.decode(p.state), g.decode(q.state)) for p, q in pairs)


def nx_fair_states(n: int, edges: Sequence[tuple[int, int, int]], kinds: Sequence[str],
                   region: Iterable[int]) -> set[int]:
    """States of ``region`` that lie in some fair set, by a second, independent implementation
    (networkx SCCs, Python sets, recursion) of the Emerson-Lei refinement.

    A set D is fair when every weak label enabled in all of D and every strong label enabled
    somewhere in D is taken on an edge inside D; a single state is its own set (stuttering).
    Enabledness is read from *all* edges, so an edge leaving the region still counts.
    """
    import networkx as nx
    enabled: dict[int, set[int]] = {s: set() for s in range(n)}
    for a, k, b in edges:
        enabled[a].add(k)
    out: set[int] = set()
    todo = [set(region)]
    while todo:
        nodes = todo.pop()
        G = nx.DiGraph()
        G.add_nodes_from(nodes)
        G.add_edges_from((a, b) for a, _, b in edges if a in nodes and b in nodes)
        for scc in nx.strongly_connected_components(G):
            taken = {k for a, k, b in edges if a in scc and b in scc}
            if any(kinds[k] == "weak" and k not in taken and all(k in enabled[s] for s in scc)
                   for k in range(len(kinds))):
                continue
            bad = {s for s in scc if any(kinds[k] == "strong" and k not in taken for k in enabled[s])}
            if bad:
                if scc - bad:
                    todo.append(scc - bad)
            else:
                out |= scc
    return out


def reach(starts: Iterable[int], edges: Sequence[tuple[int, int, int]], allowed: Any = None) -> set[int]:
    """States reachable from ``starts`` (kept only if allowed) through allowed states."""
    ok = (lambda s: True) if allowed is None else (lambda s: s in allowed)
    succ: dict[int, list[int]] = {}
    for a, _, b in edges:
        succ.setdefault(a, []).append(b)
    seen = {s for s in starts if ok(s)}
    stack = list(seen)
    while stack:
        u = stack.pop()
        for v in succ.get(u, ()):
            if ok(v) and v not in seen:
                seen.add(v)
                stack.append(v)
    return seen


@pytest.fixture(scope="session")
def helpers() -> SimpleNamespace:
    return SimpleNamespace(graph_model=graph_model, in_set=in_set, successors=successors,
                           brute_explore=brute_explore, graph_keys=graph_keys, verify_lasso=verify_lasso,
                           nx_fair_states=nx_fair_states, reach=reach)


# --------------------------------------------------------------------------- slow tests
# Tests marked ``slow`` (large configurations) are skipped unless ``--run-slow`` is given or
# CERTLOOP_RUN_SLOW=1 is set, so that the README's test command (plain ``pytest``) stays fast and
# ``.ci/run`` can opt in without changing that command.


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the tests marked slow (or set CERTLOOP_RUN_SLOW=1)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import os
    if config.getoption("--run-slow") or os.environ.get("CERTLOOP_RUN_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow: run with --run-slow or CERTLOOP_RUN_SLOW=1")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
