"""Run a model's properties: explore once, then answer each property with a three-valued verdict.

Verdicts are ``holds``, ``violated`` (with a counterexample) and ``unknown`` (a bound was hit and
nothing was found).  A truncated search never yields ``holds``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from certloop.checker.expr import FALSE, TRUE, Expr, Var, and_, not_, substitute, variables
from certloop.checker.explore import Progress, StateGraph, explore
from certloop.checker.liveness import (
    NONE, STRONG, WEAK, FairGraph, GraphIndex, fair_labels, find_lasso, reach_within,
    shortest_entry,
)
from certloop.checker.spec import (
    Action, ActionAlways, Always, Conjunct, Eventually, FairCycleFree, Fairness, LeadsTo, Model,
    Property, Sometimes, SometimesAction,
)

__all__ = ["HOLDS", "VIOLATED", "UNKNOWN", "Step", "Trace", "Result", "Report", "check", "check_graph"]

HOLDS, VIOLATED, UNKNOWN = "holds", "violated", "unknown"
_KIND = {"none": NONE, "weak": WEAK, "strong": STRONG}


@dataclass
class Step:
    """One step of a trace: the action that led into ``state`` and what it changed."""

    index: int
    action: Action | None
    state: int
    values: dict[Var, Any]
    changes: dict[str, tuple[Any, Any]]

    @property
    def label(self) -> str:
        return self.action.label if self.action is not None else "init"

    def enabling(self, pre: dict[Var, Any]) -> list[Conjunct]:
        """The guard conjuncts that enabled this step (all of them held in the pre-state)."""
        return list(self.action.guard) if self.action is not None else []


@dataclass
class Trace:
    """A finite trace (``cycle`` empty) or a lasso (``cycle`` returns to ``prefix[-1]``).

    ``stutter`` marks a lasso whose loop is the system doing nothing forever.
    """

    prefix: list[Step]
    cycle: list[Step] = field(default_factory=list)
    lasso: bool = False
    obligations: list[str] = field(default_factory=list)
    component_size: int = 0

    @property
    def stutter(self) -> bool:
        return self.lasso and not self.cycle

    @property
    def loop_index(self) -> int:
        """Index (into prefix) of the state the cycle returns to."""
        return len(self.prefix) - 1

    def steps(self) -> list[Step]:
        return self.prefix + self.cycle


@dataclass
class Result:
    prop: Property
    verdict: str
    trace: Trace | None = None
    note: str = ""
    seconds: float = 0.0
    fairness: Fairness | None = None

    @property
    def name(self) -> str:
        return self.prop.name


@dataclass
class Report:
    model: Model
    graph: StateGraph
    results: list[Result]

    @property
    def complete(self) -> bool:
        return self.graph.complete

    def result(self, name: str) -> Result:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(f"no result for {name!r}; have {[r.name for r in self.results]}")

    @property
    def exit_code(self) -> int:
        """0 all hold, 1 any violated, 3 unknown (and nothing violated)."""
        return exit_code_of(self.results)


def exit_code_of(results: Iterable[Result]) -> int:
    """The CLI contract: 0 every result holds, 1 one is violated, 3 unknown and none violated."""
    verdicts = {r.verdict for r in results}
    if VIOLATED in verdicts:
        return 1
    if UNKNOWN in verdicts:
        return 3
    return 0


def make_trace(g: StateGraph, path: Sequence[tuple[int, int]], cycle: Sequence[tuple[int, int]] = (),
               lasso: bool = False) -> Trace:
    """Decode a path (and a cycle) of ``(action, state)`` pairs into steps with their changes."""
    acts = g.model.actions
    prev: dict[Var, Any] | None = None
    k = 0
    out_prefix: list[Step] = []
    out_cycle: list[Step] = []
    for part, seq in ((out_prefix, path), (out_cycle, cycle)):
        for a, s in seq:
            vals = g.decode(s)
            ch = {} if prev is None else {v.name: (prev[v], vals[v]) for v in g.layout.vars if prev[v] != vals[v]}
            part.append(Step(k, acts[a] if a >= 0 else None, s, vals, ch))
            prev = vals
            k += 1
    return Trace(out_prefix, out_cycle, lasso)


def graph_index(g: StateGraph) -> GraphIndex:
    """The adjacency and SCCs of ``g``, built once and cached on it (shared by every liveness
    property and measurement of the graph)."""
    if g.stats.get("edges") is False:
        raise ValueError("this graph was explored without its transitions (edges=False): "
                         "liveness and measurements need them; explore with edges=True")
    index = g.__dict__.get("_graph_index")
    if index is None or index.n != g.n_states or index.dst.size != g.n_transitions:
        index = g.__dict__["_graph_index"] = GraphIndex(g.n_states, None, g.dst, g.lab,
                                                        g.stats.get("parallel_src"), indptr=g.indptr,
                                                        self_loops=False)
    return index


def fair_graph(g: StateGraph, fairness: Fairness) -> FairGraph:
    """The graph with a fairness kind per action instance.  Cached on ``g`` per assignment of
    kinds; every cached view shares the edge arrays and one :class:`GraphIndex` (adjacency and
    SCCs), so the properties of one graph share that work."""
    kind = np.array([_KIND[fairness.kind(a)] for a in g.model.actions], dtype=np.int8)
    cache = g.__dict__.setdefault("_fair_graphs", {})
    key = (g.n_states, g.n_transitions, g.n_expanded, kind.tobytes())
    hit = cache.get(key)
    if hit is not None:
        return hit
    index = graph_index(g)
    expanded = np.zeros(g.n_states, dtype=bool)
    expanded[:g.n_expanded] = True
    fg = FairGraph(g.n_states, None, g.dst, g.lab, kind, expanded, index)
    cache[key] = fg
    return fg


def _reach_within(fg: FairGraph, starts: np.ndarray, region: np.ndarray) -> np.ndarray:
    """States reachable from ``starts`` (inside region) by edges inside ``region``."""
    return reach_within(fg, starts, region)


#: From this many transitions on, a premise's closure is worth a Z3 proof (importing Z3 and
#: asking it costs ~0.1-0.3 s; the search it replaces, about 10 ns per transition).
_PROVE_FROM = 4_000_000
#: Seconds that the proofs of one premise may take in all (then: search).
_PROVE_BUDGET = 2.0


def _conjuncts(e: Expr) -> list[Expr]:
    return list(e.args) if e.op == "and" else [e]


def closed_under(model: Model, p: Expr, q: Expr, prove: bool = True) -> bool:
    """Does every transition from a ``p and not q`` state to a ``not q`` state end in ``p``?

    Then the states that the ``p and not q`` states reach through ``not q`` states are exactly
    those states, and a liveness check needs no reachability search (a deleted Certificate stays
    deleted: ``userDeleted`` is never unset).  Shown per action: an action that writes none of
    ``p``'s variables keeps ``p``; else ``p`` with the action's final values substituted folds to
    true or to conjuncts of ``p``; else (``prove``) Z3 proves ``p and not q and guard and not q'
    => p'`` within the domains.  False when not shown (the caller then searches): over every
    state of the domains, not only the reachable ones, so it is sound and may be incomplete."""
    reads = variables(p)
    mine = {id(c) for c in _conjuncts(p)}
    hard: list[tuple[Action, dict[Var, Expr], Expr]] = []
    for a in model.actions:
        if not (a.writes & reads):
            continue
        final = a.final_values()
        post = substitute(p, final.get)
        if post is TRUE or all(c is TRUE or id(c) in mine for c in _conjuncts(post)):
            continue
        hard.append((a, final, post))
    if not hard:
        return True
    if not prove:
        return False
    from certloop.checker.smt import Smt, SmtUnknown
    deadline = time.monotonic() + _PROVE_BUDGET
    for a, final, post in hard:
        left_ms = int(1000 * (deadline - time.monotonic()))
        if left_ms <= 0:
            return False                    # not worth more than the search it would save
        post_q = substitute(q, final.get)
        try:
            ok, _ = Smt(timeout_ms=left_ms).implies(and_(p, not_(q), a.guard_expr, not_(post_q)), post)
        except SmtUnknown:
            return False
        if not ok:
            return False
    return True


def _liveness(g: StateGraph, p: Property) -> Result:
    t0 = time.monotonic()
    fairness: Fairness = p.fairness  # type: ignore[attr-defined]
    fg = fair_graph(g, fairness)
    names = [a.label for a in g.model.actions]
    must: np.ndarray | None = None
    closed: np.ndarray | None = None    # the starts, when they reach no other state through the region
    big = g.n_transitions >= _PROVE_FROM
    if isinstance(p, LeadsTo):
        q = g.evaluate(p.q)
        pq = g.evaluate(p.p) & ~q
        starts = np.flatnonzero(pq)
        region = ~q
        if closed_under(g.model, p.p, p.q, prove=big):
            closed = pq
    elif isinstance(p, Eventually):
        q = g.evaluate(p.q)
        starts = np.arange(g.n_initial)[~q[:g.n_initial]]
        region = ~q
    elif isinstance(p, FairCycleFree):
        pq = g.evaluate(p.premise)
        starts = np.flatnonzero(pq)
        region = np.ones(g.n_states, dtype=bool)
        if closed_under(g.model, p.premise, FALSE, prove=big):
            closed = pq
        acts = np.array([p.applies(a) for a in g.model.actions] + [False], dtype=bool)
        # only an edge inside a cycle can lie inside a fair component: the others need no look
        scc = fg.idx.scc()[0]
        cand = fg.idx.edges_inside(acts)
        must = cand[g.evaluate_edges(p.edge, cand)] if cand.size else cand
    else:  # pragma: no cover
        raise TypeError(p)
    if not starts.size or (must is not None and not must.size):
        # no start, or no edge of interest on a cycle (no cycle, fair or not, takes one)
        nodes = cid = np.zeros(0, dtype=np.int64)
    else:
        # The fair components of the part of the region that a start reaches.  Whole SCCs of
        # the graph are judged once per fairness (cached); the reachable part is computed only
        # when the region holds a candidate or cuts an SCC (fair_labels' ``reach``).
        memo: list[np.ndarray] = []

        def reach() -> np.ndarray:
            if not memo:
                memo.append(closed if closed is not None else _reach_within(fg, starts, region))
            return memo[0]

        if must is not None:
            sccs = np.zeros(fg.idx.scc()[1].size, dtype=bool)
            sccs[scc[fg.src_of(must)]] = True            # components with an edge of interest inside
            nodes, cid = fair_labels(fg, region, sccs, reach=reach)
        else:
            nodes, cid = fair_labels(fg, region, reach=reach)
        if must is not None and nodes.size:
            # keep the components with an edge of interest inside
            comp_of = np.full(fg.n, -1, dtype=np.int64)
            comp_of[nodes] = cid
            cs, cd = comp_of[fg.src_of(must)], comp_of[fg.dst[must]]
            wanted = np.zeros(int(cid.max()) + 1, dtype=bool)
            wanted[cs[(cs >= 0) & (cs == cd)]] = True
            sel = wanted[cid]
            nodes, cid = nodes[sel], cid[sel]
    if nodes.size:
        entry = shortest_entry(fg, g.depth, g.parent, g.parent_action, starts, reach(), nodes)
        end = entry[-1][1]
        comp = nodes[cid == cid[np.searchsorted(nodes, end)]]
        lasso = find_lasso(fg, comp, entry, must, names)
        tr = make_trace(g, lasso.prefix, lasso.cycle, lasso=True)
        tr.obligations = lasso.obligations
        tr.component_size = lasso.component_size
        return Result(p, VIOLATED, tr, seconds=time.monotonic() - t0, fairness=fairness)
    if not g.complete:
        return Result(p, UNKNOWN, note=f"search incomplete ({g.reason})", seconds=time.monotonic() - t0,
                      fairness=fairness)
    note = "" if starts.size else "premise unreachable: holds vacuously"
    return Result(p, HOLDS, note=note, seconds=time.monotonic() - t0, fairness=fairness)


def _sometimes_action(g: StateGraph, p: SometimesAction) -> Result:
    """The shallowest transition satisfying ``p`` (ties: lowest source id, then action index)."""
    acts = np.array([p.applies(a) for a in g.model.actions] + [False], dtype=bool)
    cand = np.flatnonzero(acts[g.lab])
    if cand.size:
        cand = cand[g.evaluate_edges(p.expr, cand)]
    if cand.size:
        cs = g.edge_src(cand)
        order = np.lexsort((g.lab[cand], cs, g.depth_of(cs)))
        e = int(cand[order[0]])
        path = g.path_to(int(cs[order[0]])) + [(int(g.lab[e]), int(g.dst[e]))]
        return Result(p, HOLDS, make_trace(g, path), note="reachable")
    if g.complete:
        return Result(p, VIOLATED, note="unreachable")
    return Result(p, UNKNOWN, note=f"search incomplete ({g.reason})")


def _edge_of(g: StateGraph, src: int, action: int) -> int:
    for e in g.out_edges(src):
        if int(g.lab[e]) == action:
            return int(g.dst[e])
    return -1


def check_graph(g: StateGraph, props: Iterable[Property]) -> list[Result]:
    out: list[Result] = []
    for p in props:
        f = g.found.get(p.name)
        if isinstance(p, Always):
            if f is not None:
                out.append(Result(p, VIOLATED, make_trace(g, g.path_to(f.state))))
            else:
                out.append(Result(p, HOLDS if g.complete else UNKNOWN,
                                  note="" if g.complete else f"search incomplete ({g.reason})"))
        elif isinstance(p, ActionAlways):
            if f is not None:
                path = g.path_to(f.state)
                post = _edge_of(g, f.state, f.action)
                if post >= 0:
                    path = path + [(f.action, post)]
                out.append(Result(p, VIOLATED, make_trace(g, path)))
            else:
                out.append(Result(p, HOLDS if g.complete else UNKNOWN,
                                  note="" if g.complete else f"search incomplete ({g.reason})"))
        elif isinstance(p, Sometimes):
            if f is not None:
                out.append(Result(p, HOLDS, make_trace(g, g.path_to(f.state)), note="reachable"))
            else:
                out.append(Result(p, VIOLATED if g.complete else UNKNOWN,
                                  note="unreachable" if g.complete else f"search incomplete ({g.reason})"))
        elif isinstance(p, SometimesAction):
            out.append(_sometimes_action(g, p))
        elif isinstance(p, (LeadsTo, Eventually, FairCycleFree)):
            out.append(_liveness(g, p))
        else:  # pragma: no cover
            raise TypeError(f"unknown property type {type(p).__name__}")
    return out


def deadlocks(g: StateGraph) -> np.ndarray:
    """Expanded states with no outgoing transition."""
    deg = np.diff(g.indptr)
    return np.flatnonzero(deg[:g.n_expanded] == 0)


def check(model: Model, properties: Sequence[str] | None = None, *, max_states: int | None = None,
          max_seconds: float | None = None, progress: Callable[[Progress], None] | None = None) -> Report:
    """Explore ``model`` and answer the named properties (default: all)."""
    props = model.properties if properties is None else [model.property(n) for n in properties]
    sub = Model(model.name, model.schema, model.doc)
    sub.actions, sub.inits, sub.properties, sub.check_deadlock = model.actions, model.inits, list(props), model.check_deadlock
    g = explore(sub, max_states=max_states, max_seconds=max_seconds, progress=progress)
    g.model = model
    results = check_graph(g, props)
    if model.check_deadlock:
        dl = deadlocks(g)
        dp = Always("deadlock_free", "some action is enabled in every reachable state")
        if dl.size:
            results.append(Result(dp, VIOLATED, make_trace(g, g.path_to(int(dl[0])))))
        else:
            results.append(Result(dp, HOLDS if g.complete else UNKNOWN))
    return Report(model, g, results)
