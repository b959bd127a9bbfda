"""Fair cycles: the liveness engine.

``P ~> Q`` fails iff some reachable state satisfies ``P and not Q`` and from it a *fair* behaviour
stays in ``not Q`` forever.  The behaviours that stay in a finite set of states forever end in a
strongly connected component of the ``not Q`` subgraph, so the search is over SCCs of
``H`` = the ``not Q`` states reachable from a ``P and not Q`` state through ``not Q`` states.

Conventions that other checkers get wrong (each has a named regression test):

* **Stuttering.**  A behaviour may stop in any state (a stutter step changes nothing and is not an
  action).  So every state is a one-state "component" whose tour is the stutter; it is fair iff
  no fair action is enabled there.  A deadlock among ``not Q`` states is therefore a violation,
  and so is a state whose only successors come from unfair actions.
* **Enabledness comes from the full graph.**  An action whose edge leaves ``H`` (to a ``Q`` state)
  is still enabled; only edges *inside* a component count as taken.  A self-loop cannot exist
  (a no-op is not a transition), so nothing is taken or enabled by stuttering.
* **Per instance.**  Fairness is a property of each action *instance* (one edge label).
* **Weak fairness** of a component ``D``: for every WF instance ``a``, ``a`` is taken on an edge
  inside ``D`` or disabled in some state of ``D``.  If ``D`` fails this, so does every cycle in
  ``D`` (``a`` is enabled everywhere in ``D`` and taken nowhere), so no refinement is needed.
* **Strong fairness** needs refinement (Emerson-Lei / Streett): an SF instance enabled somewhere
  in ``D`` but taken nowhere inside forbids the states where it is enabled; remove them and
  recompute the SCCs of the rest.  The check runs on these refined sub-components, never on the
  whole SCC once.
* **Truncated graphs.**  The caller removes states that were not expanded: their enabledness is
  unknown.  A fair component among expanded states is a real counterexample; its absence proves
  nothing unless the search was complete.

The lasso is a shortest prefix to the component plus a cycle of real transitions inside it that
discharges every fairness obligation (takes each fair instance that is taken in ``D``, visits a
state disabling each one that is not).  :func:`check_lasso` re-verifies it edge by edge.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

__all__ = ["FairGraph", "Lasso", "fair_components", "find_lasso", "check_lasso", "LassoError"]

NONE, WEAK, STRONG = 0, 1, 2


class LassoError(AssertionError):
    """A produced counterexample failed its own verification (an engine bug)."""


@dataclass
class FairGraph:
    """The full transition graph with a fairness kind per edge label.

    ``expanded`` marks states whose out-edges are all known.
    """

    n: int
    src: np.ndarray
    dst: np.ndarray
    lab: np.ndarray
    kind: np.ndarray          # kind[label] in {NONE, WEAK, STRONG}
    expanded: np.ndarray      # bool[n]

    @property
    def n_labels(self) -> int:
        return int(self.kind.shape[0])


@dataclass
class Lasso:
    """``prefix`` reaches ``cycle_start``; ``cycle`` returns to it (empty: stutter forever).

    Steps are ``(action, state)`` pairs: the action taken to *enter* that state (-1 for the
    initial state of the prefix).
    """

    prefix: list[tuple[int, int]]
    cycle: list[tuple[int, int]]
    component_size: int = 0
    obligations: list[str] = field(default_factory=list)

    @property
    def cycle_start(self) -> int:
        return self.prefix[-1][1]


def _scc(nodes: np.ndarray, g: FairGraph, node_mask: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """SCC label for each node in ``nodes`` (a sorted array); returns (labels, count, inside-edge ids)."""
    local = np.full(g.n, -1, dtype=np.int64)
    local[nodes] = np.arange(nodes.size)
    e = np.flatnonzero(node_mask[g.src] & node_mask[g.dst])
    a = local[g.src[e]]
    b = local[g.dst[e]]
    m = csr_matrix((np.ones(e.size, dtype=np.int8), (a, b)), shape=(nodes.size, nodes.size))
    count, labels = connected_components(m, directed=True, connection="strong")
    return labels.astype(np.int64), int(count), e


def fair_components(g: FairGraph, region: np.ndarray) -> list[np.ndarray]:
    """Maximal fair components (arrays of state ids, sorted) inside the boolean ``region``.

    Every fair behaviour that stays in ``region`` forever ends inside one of them, and the tour
    of each one is itself fair.
    """
    L = g.n_labels
    out: list[np.ndarray] = []
    work = np.flatnonzero(region & g.expanded)
    while work.size:
        mask = np.zeros(g.n, dtype=bool)
        mask[work] = True
        comp_local, count, inside = _scc(work, g, mask)
        comp = np.full(g.n, -1, dtype=np.int64)
        comp[work] = comp_local
        size = np.bincount(comp_local, minlength=count)
        # taken: (component, label) pairs on edges inside one component
        ie = inside[comp[g.src[inside]] == comp[g.dst[inside]]]
        taken = np.unique(comp[g.src[ie]] * L + g.lab[ie])
        # enabled: every out-edge (full graph) of a node in the work set
        oe = np.flatnonzero(mask[g.src])
        okind = g.kind[g.lab[oe]]
        oe = oe[okind != NONE]
        okind = okind[okind != NONE]
        key = comp[g.src[oe]] * L + g.lab[oe]
        is_taken = np.isin(key, taken)
        # strong fairness: enabled, never taken inside -> those states are forbidden
        sbad = oe[(okind == STRONG) & ~is_taken]
        bad_state = np.zeros(g.n, dtype=bool)
        bad_state[g.src[sbad]] = True
        comp_refine = np.zeros(count, dtype=bool)
        comp_refine[comp[g.src[sbad]]] = True
        # weak fairness: enabled in every state of the component, never taken inside
        wk = key[(okind == WEAK) & ~is_taken]
        unfair = np.zeros(count, dtype=bool)
        if wk.size:
            ukeys, counts = np.unique(wk, return_counts=True)
            full = counts == size[ukeys // L]
            unfair[(ukeys[full] // L)] = True
        good = ~unfair & ~comp_refine
        order = np.argsort(comp_local, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(size)])
        members = work[order]
        for c in np.flatnonzero(good):
            out.append(np.sort(members[bounds[c]:bounds[c + 1]]))
        # refine components that had strong-fairness violations
        keep = comp_refine[comp[work]] & ~bad_state[work]
        work = work[keep]
    out.sort(key=lambda a: int(a[0]))
    return out


def _csr(g: FairGraph, edge_ids: np.ndarray) -> tuple[list[int], list[int], list[int]]:
    """Adjacency of the given edges as Python lists (indptr over all nodes, dst, edge id)."""
    o = np.lexsort((g.lab[edge_ids], g.src[edge_ids]))
    e = edge_ids[o]
    indptr = np.zeros(g.n + 1, dtype=np.int64)
    np.add.at(indptr, g.src[e] + 1, 1)
    indptr = np.cumsum(indptr)
    return indptr.tolist(), g.dst[e].tolist(), e.tolist()


def _bfs_within(start: int, targets: set[int] | None, goal_edges: set[int] | None,
                adj: tuple[list[int], list[int], list[int]], g: FairGraph) -> list[tuple[int, int, int]]:
    """Shortest path from ``start`` to a state in ``targets``, or ending with an edge in
    ``goal_edges``; returns steps ``(label, state, edge)`` (empty if ``start`` is already a target)."""
    indptr, dsts, eids = adj
    if targets is not None and start in targets:
        return []
    pred: dict[int, tuple[int, int]] = {start: (-1, -1)}
    q = deque([start])
    while q:
        u = q.popleft()
        for k in range(indptr[u], indptr[u + 1]):
            e = eids[k]
            v = dsts[k]
            if goal_edges is not None and e in goal_edges:
                path = [(int(g.lab[e]), v, e)]
                x = u
                while x != start:
                    pe, px = pred[x]
                    path.append((int(g.lab[pe]), x, pe))
                    x = px
                path.reverse()
                return path
            if v in pred:
                continue
            pred[v] = (e, u)
            if targets is not None and v in targets:
                path = []
                x = v
                while x != start:
                    pe, px = pred[x]
                    path.append((int(g.lab[pe]), x, pe))
                    x = px
                path.reverse()
                return path
            q.append(v)
    raise LassoError("obligation unreachable inside a strongly connected component")


def find_lasso(g: FairGraph, comp: np.ndarray, entry_path: list[tuple[int, int]],
               must_take: np.ndarray | None = None, label_names: Sequence[str] | None = None) -> Lasso:
    """Build a fair cycle inside ``comp`` from the last state of ``entry_path``.

    ``must_take`` (edge ids) adds one more obligation: take one of these edges (used by
    "no fair cycle creates X").
    """
    s0 = entry_path[-1][1]
    inside_mask = np.zeros(g.n, dtype=bool)
    inside_mask[comp] = True
    ie = np.flatnonzero(inside_mask[g.src] & inside_mask[g.dst])
    adj = _csr(g, ie)
    taken_labels = set(np.unique(g.lab[ie]).tolist())
    oe = np.flatnonzero(inside_mask[g.src])
    enabled_labels = sorted(set(g.lab[oe][g.kind[g.lab[oe]] != NONE].tolist()))
    name = (lambda a: label_names[a]) if label_names is not None else str
    obligations: list[tuple[str, object]] = []
    for a in enabled_labels:
        if a in taken_labels:
            obligations.append(("take", a))
        else:
            # weakly fair and not taken: visit a state where it is disabled
            has = set(g.src[oe[g.lab[oe] == a]].tolist())
            dis = set(comp.tolist()) - has
            obligations.append(("visit", (a, dis)))
    if must_take is not None:
        mt = set(np.intersect1d(must_take, ie).tolist())
        if not mt:
            raise LassoError("must-take edge not inside the component")
        obligations.append(("edge", mt))
    cycle: list[tuple[int, int]] = []
    cur = s0
    visited_states = {s0}
    taken_now: set[int] = set()
    taken_edges_now: set[int] = set()
    texts: list[str] = []
    by_label_edges: dict[int, set[int]] = {}
    for e in ie.tolist():
        by_label_edges.setdefault(int(g.lab[e]), set()).add(e)
    for kind, what in obligations:
        if kind == "take":
            texts.append(f"takes {name(what)}")  # type: ignore[arg-type]
        elif kind == "visit":
            texts.append(f"visits a state where {name(what[0])} is disabled")  # type: ignore[index]
        else:
            texts.append("takes the edge of interest")

    def open_obligations() -> list[tuple[str, object]]:
        out = []
        for kind, what in obligations:
            if kind == "take" and what not in taken_now:
                out.append((kind, what))
            elif kind == "visit" and not (visited_states & what[1]):  # type: ignore[index]
                out.append((kind, what))
            elif kind == "edge" and not (taken_edges_now & what):  # type: ignore[operator]
                out.append((kind, what))
        return out

    # Greedy: walk to the nearest state or edge that discharges any open obligation, repeat.
    # Shorter cycles than discharging them one by one in a fixed order.
    while True:
        todo = open_obligations()
        if not todo:
            break
        goal_states: set[int] = set()
        goal_edges: set[int] = set()
        for kind, what in todo:
            if kind == "take":
                goal_edges |= by_label_edges[what]  # type: ignore[index]
            elif kind == "visit":
                goal_states |= what[1]  # type: ignore[index]
            else:
                goal_edges |= what  # type: ignore[arg-type]
        steps = _bfs_within(cur, goal_states or None, goal_edges or None, adj, g)
        for a, s, e in steps:
            cycle.append((a, s))
            taken_now.add(a)
            taken_edges_now.add(e)
            visited_states.add(s)
            cur = s
    if cur != s0:
        for a, s, _e in _bfs_within(cur, {s0}, None, adj, g):
            cycle.append((a, s))
    cycle = _shorten(cycle, s0, obligations, ie, g)
    lasso = Lasso(list(entry_path), cycle, int(comp.size), texts)
    check_lasso(g, lasso, must_take)
    return lasso


def _shorten(cycle: list[tuple[int, int]], s0: int, obligations: list[tuple[str, object]],
             ie: np.ndarray, g: FairGraph) -> list[tuple[int, int]]:
    """Cut sub-loops (a state visited twice) whose removal keeps every obligation discharged."""
    edge_of = {(int(g.src[e]), int(g.lab[e])): int(e) for e in ie.tolist()}

    def ok(cyc: list[tuple[int, int]]) -> bool:
        states = [s0] + [x for _, x in cyc]
        labels = {a for a, _ in cyc}
        visited = set(states)
        edges = {edge_of[(states[i], a)] for i, (a, _) in enumerate(cyc)}
        for kind, what in obligations:
            if kind == "take" and what not in labels:
                return False
            if kind == "visit" and not (visited & what[1]):  # type: ignore[index]
                return False
            if kind == "edge" and not (edges & what):  # type: ignore[operator]
                return False
        return True

    changed = True
    while changed and cycle:
        changed = False
        states = [s0] + [x for _, x in cycle]
        first: dict[int, int] = {}
        for j, x in enumerate(states):
            i = first.get(x)
            if i is not None and not (i == 0 and j == len(states) - 1):
                cand = cycle[:i] + cycle[j:]
                if cand and ok(cand):
                    cycle = cand
                    changed = True
                    break
            first.setdefault(x, j)
    return cycle


def check_lasso(g: FairGraph, lasso: Lasso, must_take: np.ndarray | None = None) -> None:
    """Verify that every arrow is a real transition and that the cycle is fair.

    Raises :class:`LassoError` otherwise.  Cheap: used on every produced counterexample.
    """
    idx: dict[tuple[int, int], int] = {}
    steps = lasso.prefix + lasso.cycle
    srcs = {s for _, s in steps}
    sel = np.flatnonzero(np.isin(g.src, np.fromiter(srcs, dtype=np.int64)))
    for e in sel.tolist():
        idx[(int(g.src[e]), int(g.lab[e]))] = e
    prev = lasso.prefix[0][1]
    used_edges = []
    for a, s in steps[1:]:
        e = idx.get((prev, a))
        if e is None or int(g.dst[e]) != s:
            raise LassoError(f"step {prev} --{a}--> {s} is not a transition")
        used_edges.append(e)
        prev = s
    if lasso.cycle and lasso.cycle[-1][1] != lasso.cycle_start:
        raise LassoError("the cycle does not return to its start")
    cyc_states = [lasso.cycle_start] + [s for _, s in lasso.cycle[:-1]] if lasso.cycle else [lasso.cycle_start]
    cyc_taken = {a for a, _ in lasso.cycle}
    if not all(bool(g.expanded[s]) for s in cyc_states):
        raise LassoError("the cycle visits a state that was not expanded")
    enabled_sets = []
    for s in cyc_states:
        oe = sel[g.src[sel] == s] if s in srcs else np.flatnonzero(g.src == s)
        enabled_sets.append({int(x) for x in g.lab[oe].tolist() if g.kind[int(x)] != NONE})
    always = set.intersection(*enabled_sets) if enabled_sets else set()
    for a in always:
        if a not in cyc_taken:
            raise LassoError(f"label {a} is enabled throughout the cycle and never taken")
    strong = {a for es in enabled_sets for a in es if g.kind[a] == STRONG}
    for a in strong:
        if a not in cyc_taken:
            raise LassoError(f"strongly fair label {a} is enabled on the cycle and never taken")
    if must_take is not None:
        cyc_edges = set(used_edges[len(lasso.prefix) - 1:])
        if not cyc_edges & set(must_take.tolist()):
            raise LassoError("the cycle does not take the edge of interest")


def shortest_entry(g: FairGraph, depth: np.ndarray, parent: np.ndarray, parent_action: np.ndarray,
                   starts: np.ndarray, region: np.ndarray, targets: np.ndarray) -> list[tuple[int, int]]:
    """Shortest path: from an initial state to some ``start`` (the BFS tree), then through
    ``region`` to a state in ``targets``.  Dial's algorithm on integer distances."""
    INF = 1 << 60
    reg_edges = np.flatnonzero(region[g.src] & region[g.dst] & g.expanded[g.src])
    indptr, dsts, eids = _csr(g, reg_edges)
    dist: dict[int, int] = {}
    pred: dict[int, tuple[int, int]] = {}
    buckets: dict[int, list[int]] = {}
    for s in starts.tolist():
        d = int(depth[s])
        if dist.get(s, INF) > d:
            dist[s] = d
            pred[s] = (-1, -1)
            buckets.setdefault(d, []).append(s)
    target = set(targets.tolist())
    best = None
    level = min(buckets) if buckets else 0
    maxlevel = max(buckets) if buckets else -1
    while level <= maxlevel:
        cur = sorted(set(buckets.pop(level, [])))
        hits = [u for u in cur if dist.get(u) == level and u in target]
        if hits:
            best = min(hits)
            break
        for u in cur:
            if dist.get(u) != level:
                continue
            for k in range(indptr[u], indptr[u + 1]):
                v = dsts[k]
                if dist.get(v, INF) > level + 1:
                    dist[v] = level + 1
                    pred[v] = (int(g.lab[eids[k]]), u)
                    buckets.setdefault(level + 1, []).append(v)
                    maxlevel = max(maxlevel, level + 1)
        level += 1
    if best is None:
        raise LassoError("no path to the fair component")
    tail: list[tuple[int, int]] = []
    x = best
    while pred[x][1] != -1:
        a, u = pred[x]
        tail.append((a, x))
        x = u
    tail.reverse()
    head: list[tuple[int, int]] = []
    y = x
    while y >= 0:
        head.append((int(parent_action[y]), y))
        y = int(parent[y])
    head.reverse()
    return head + tail
