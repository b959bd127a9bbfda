"""The optimised engines against straightforward reference implementations.

* Exploration: ``explore(engine="compiled")`` (generated NumPy code, exact hash set, compact
  dtypes) against ``explore(engine="reference")`` (the interpretive evaluator and sorted
  fingerprint runs): the same states array, parents, actions, depths, transitions, bounds and
  on-the-fly findings, on toy models and small cert-manager configurations, with several chunk
  sizes and a state bound.
* Liveness: :func:`checker.check.check_graph` (shared adjacency and SCCs, vectorised reachability,
  fair components by labels, vectorised Dial) against the original code, copied below verbatim as
  an oracle: the same verdicts and the same lassos, step by step.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

from certloop.checker import examples
from certloop.checker.check import HOLDS, UNKNOWN, VIOLATED, _KIND, check_graph
from certloop.checker.explore import explore
from certloop.checker.liveness import (
    NONE, STRONG, WEAK, FairGraph, LassoError, fair_components, find_lasso, shortest_entry,
)
from certloop.checker.spec import Eventually, FairCycleFree, LeadsTo
from certloop.model.scenario import Config, build
from certloop.properties import deletion


# --------------------------------------------------------------------------- exploration


def _edges(g):
    o = np.lexsort((g.lab, g.src))
    return [np.asarray(g.src)[o].astype(np.int64), np.asarray(g.dst)[o].astype(np.int64),
            np.asarray(g.lab)[o].astype(np.int64)]


def assert_same_graph(ref, new):
    assert new.states.dtype == np.uint64 and np.array_equal(ref.states, new.states)
    for a, b in ((ref.parent, new.parent), (ref.parent_action, new.parent_action), (ref.depth, new.depth)):
        assert np.array_equal(np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64))
    for a, b in zip(_edges(ref), _edges(new)):
        assert np.array_equal(a, b)
    # edges come in (source, action) order, whatever the chunking
    e = _edges(new)
    assert np.array_equal(e[0], np.asarray(new.src, dtype=np.int64))
    assert np.array_equal(e[2], np.asarray(new.lab, dtype=np.int64))
    assert (ref.n_initial, ref.n_expanded, ref.complete, ref.reason) == \
        (new.n_initial, new.n_expanded, new.complete, new.reason)
    assert {k: (f.state, f.action) for k, f in ref.found.items()} == \
        {k: (f.state, f.action) for k, f in new.found.items()}
    for k, f in ref.found.items():
        if f.post is not None:
            assert np.array_equal(f.post, new.found[k].post)


TOYS = [
    ("philosophers(3)", lambda: examples.philosophers(3, False)),
    ("philosophers(4,ordered)", lambda: examples.philosophers(4, True)),
    ("peterson", lambda: examples.peterson()),
    ("peterson(none)", lambda: examples.peterson("none")),
    ("counter", lambda: examples.counter()),
    ("grid(3,6)", lambda: examples.grid(3, 6)),
    ("grid(4,8)", lambda: examples.grid(4, 8)),
]


@pytest.mark.parametrize("name,make", TOYS, ids=[t[0] for t in TOYS])
def test_toys_explore_identically(name, make):
    m = make()
    ref = explore(m, engine="reference")
    for chunk in (1 << 16, 5, 1):
        assert_same_graph(ref, explore(m, chunk=chunk))


def _world(cfg):
    w = build(cfg)
    deletion.attach(w)
    return w


CONFIGS = [
    ("abstract/fresh", Config(gc="abstract").with_caches("fresh"), None),
    ("detailed/fresh", Config().with_caches("fresh"), None),
    ("abstract/lagging<=60000", Config(gc="abstract"), 60000),
    ("v1.18-abstract-cm-lagging<=40000",
     Config(gc="abstract", version="v1.18", cache_cm="lagging", cache_ext="fresh", cache_gc="fresh"), 40000),
    ("ns-deletion/detailed/fresh", Config(namespace_deletion=True).with_caches("fresh"), None),
    ("in-tree/idle/owner-ref/detailed/fresh<=50000",
     Config(issuer="in-tree", init="idle", owner_ref=True).with_caches("fresh"), 50000),
]


@pytest.mark.parametrize("name,cfg,bound", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_cert_manager_configs_explore_identically(name, cfg, bound):
    m = _world(cfg).model
    ref = explore(m, engine="reference", max_states=bound)
    assert_same_graph(ref, explore(m, max_states=bound))
    if bound is None and ref.n_states < 10000:
        assert_same_graph(ref, explore(m, max_states=bound, chunk=97))


@pytest.mark.parametrize("seg", [1, 7, 1000])
def test_segmented_stores_and_a_narrow_last_word(monkeypatch, seg):
    """Tiny segments (every append crosses a boundary) give the same graph; the last packed word
    is stored narrow and read back as uint64 words."""
    from certloop.checker import explore as explore_mod
    m = _world(Config(gc="abstract").with_caches("fresh")).model
    ref = explore(m, engine="reference")
    monkeypatch.setattr(explore_mod._SegStore, "SEG", seg)
    new = explore(m, chunk=33)
    assert_same_graph(ref, new)
    assert isinstance(new.states, explore_mod.PackedRows)
    assert new.states.tail.dtype.itemsize < 8 or new.layout.total_bits % 64 > 32
    assert np.array_equal(new.states[5], np.asarray(ref.states)[5])
    assert np.array_equal(new.states[np.array([3, 1, 4])], np.asarray(ref.states)[[3, 1, 4]])
    # a bound mid-level: the segments roll back with the stores
    b_ref = explore(m, engine="reference", max_states=100, chunk=7)
    assert_same_graph(b_ref, explore(m, max_states=100, chunk=7))


def test_bounded_search_stops_at_the_same_chunk():
    m = _world(Config(gc="abstract")).model
    for bound, chunk in ((1000, 1 << 16), (5000, 333), (123, 7)):
        assert_same_graph(explore(m, engine="reference", max_states=bound, chunk=chunk),
                          explore(m, max_states=bound, chunk=chunk))


def test_a_shared_fingerprint_is_reported_by_both_engines(monkeypatch):
    """A degenerate fingerprint (every state the same): neither engine merges distinct states,
    both report the collision."""
    from certloop.checker import explore as explore_mod
    from certloop.checker.explore import FingerprintCollision
    m = examples.grid(2, 3)
    monkeypatch.setattr(explore_mod, "fingerprint", lambda w: np.zeros(w.shape[0], dtype=np.uint64))
    for engine in ("reference", "compiled"):
        with pytest.raises(FingerprintCollision):
            explore(m, engine=engine)


# --------------------------------------------------------------------------- liveness oracle
# The original liveness code, verbatim but for names: the reference the new code must match.


def _ref_fair_graph(g, fairness):
    kind = np.array([_KIND[fairness.kind(a)] for a in g.model.actions], dtype=np.int8)
    expanded = np.zeros(g.n_states, dtype=bool)
    expanded[:g.n_expanded] = True
    return FairGraph(g.n_states, g.src.astype(np.int64), g.dst.astype(np.int64), g.lab.astype(np.int64),
                     kind, expanded)


def _ref_reach_within(fg, starts, region):
    out = np.zeros(fg.n, dtype=bool)
    starts = starts[region[starts]]
    if starts.size == 0:
        return out
    e = np.flatnonzero(region[fg.src] & region[fg.dst])
    root = fg.n
    rows = np.concatenate([fg.src[e], np.full(starts.size, root)])
    cols = np.concatenate([fg.dst[e], starts])
    m = csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(fg.n + 1, fg.n + 1))
    order = breadth_first_order(m, root, directed=True, return_predecessors=False)
    order = order[order != root]
    out[order] = True
    return out


def _ref_scc(nodes, g, node_mask):
    local = np.full(g.n, -1, dtype=np.int64)
    local[nodes] = np.arange(nodes.size)
    e = np.flatnonzero(node_mask[g.src] & node_mask[g.dst])
    a = local[g.src[e]]
    b = local[g.dst[e]]
    m = csr_matrix((np.ones(e.size, dtype=np.int8), (a, b)), shape=(nodes.size, nodes.size))
    count, labels = connected_components(m, directed=True, connection="strong")
    return labels.astype(np.int64), int(count), e


def ref_fair_components(g, region):
    L = g.n_labels
    out = []
    work = np.flatnonzero(region & g.expanded)
    while work.size:
        mask = np.zeros(g.n, dtype=bool)
        mask[work] = True
        comp_local, count, inside = _ref_scc(work, g, mask)
        comp = np.full(g.n, -1, dtype=np.int64)
        comp[work] = comp_local
        size = np.bincount(comp_local, minlength=count)
        ie = inside[comp[g.src[inside]] == comp[g.dst[inside]]]
        taken = np.unique(comp[g.src[ie]] * L + g.lab[ie])
        oe = np.flatnonzero(mask[g.src])
        okind = g.kind[g.lab[oe]]
        oe = oe[okind != NONE]
        okind = okind[okind != NONE]
        key = comp[g.src[oe]] * L + g.lab[oe]
        is_taken = np.isin(key, taken)
        sbad = oe[(okind == STRONG) & ~is_taken]
        bad_state = np.zeros(g.n, dtype=bool)
        bad_state[g.src[sbad]] = True
        comp_refine = np.zeros(count, dtype=bool)
        comp_refine[comp[g.src[sbad]]] = True
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
        keep = comp_refine[comp[work]] & ~bad_state[work]
        work = work[keep]
    out.sort(key=lambda a: int(a[0]))
    return out


def _ref_csr(g, edge_ids):
    o = np.lexsort((g.lab[edge_ids], g.src[edge_ids]))
    e = edge_ids[o]
    indptr = np.zeros(g.n + 1, dtype=np.int64)
    np.add.at(indptr, g.src[e] + 1, 1)
    indptr = np.cumsum(indptr)
    return indptr.tolist(), g.dst[e].tolist(), e.tolist()


def ref_shortest_entry(g, depth, parent, parent_action, starts, region, targets):
    INF = 1 << 60
    reg_edges = np.flatnonzero(region[g.src] & region[g.dst] & g.expanded[g.src])
    indptr, dsts, eids = _ref_csr(g, reg_edges)
    dist, pred, buckets = {}, {}, {}
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
    tail = []
    x = best
    while pred[x][1] != -1:
        a, u = pred[x]
        tail.append((a, x))
        x = u
    tail.reverse()
    head = []
    y = x
    while y >= 0:
        head.append((int(parent_action[y]), y))
        y = int(parent[y])
    head.reverse()
    return head + tail


def ref_liveness(g, p):
    """(verdict, prefix, cycle) by the original algorithm."""
    fg = _ref_fair_graph(g, p.fairness)
    names = [a.label for a in g.model.actions]
    must = None
    if isinstance(p, LeadsTo):
        q = g.evaluate(p.q)
        starts = np.flatnonzero(g.evaluate(p.p) & ~q)
        region = ~q
    elif isinstance(p, Eventually):
        q = g.evaluate(p.q)
        starts = np.arange(g.n_initial)[~q[:g.n_initial]]
        region = ~q
    else:
        starts = np.flatnonzero(g.evaluate(p.premise))
        region = np.ones(g.n_states, dtype=bool)
        acts = np.array([p.applies(a) for a in g.model.actions] + [False], dtype=bool)
        cand = np.flatnonzero(acts[g.lab])
        must = cand[g.evaluate_edges(p.edge, cand)] if cand.size else cand
    reach = _ref_reach_within(fg, starts, region)
    comps = ref_fair_components(fg, reach)
    if must is not None:
        inside_any = []
        for c in comps:
            cm = np.zeros(fg.n, dtype=bool)
            cm[c] = True
            if (cm[fg.src[must]] & cm[fg.dst[must]]).any():
                inside_any.append(c)
        comps = inside_any
    if comps:
        targets = np.concatenate(comps)
        entry = ref_shortest_entry(fg, g.depth, g.parent, g.parent_action, starts, reach, targets)
        end = entry[-1][1]
        comp = next(c for c in comps if end in set(c.tolist()))
        lasso = find_lasso(fg, comp, entry, must, names)
        return VIOLATED, lasso.prefix, lasso.cycle
    if not g.complete:
        return UNKNOWN, None, None
    return HOLDS, None, None


def assert_same_liveness(g, props):
    for p, r in zip(props, check_graph(g, props)):
        verdict, prefix, cycle = ref_liveness(g, p)
        assert r.verdict == verdict, p.name
        if verdict == VIOLATED:
            assert [(s.action.index if s.action else -1, s.state) for s in r.trace.prefix] == prefix, p.name
            assert [(s.action.index, s.state) for s in r.trace.cycle] == cycle, p.name


LIVE_TOYS = [
    ("peterson", lambda: examples.peterson()),
    ("peterson(none)", lambda: examples.peterson("none")),
    ("peterson(strong)", lambda: examples.peterson("strong")),
    ("philosophers(3)", lambda: examples.philosophers(3, False)),
    ("philosophers(4,ordered)", lambda: examples.philosophers(4, True)),
    ("philosophers(3,ordered,strong)", lambda: examples.philosophers(3, True, "strong")),
    ("counter(unfair)", lambda: examples.counter(3, fair=False)),
    ("grid(3,4)", lambda: examples.grid(3, 4)),
]


@pytest.mark.parametrize("name,make", LIVE_TOYS, ids=[t[0] for t in LIVE_TOYS])
def test_toy_liveness_is_identical(name, make):
    m = make()
    g = explore(m)
    props = [p for p in m.properties if isinstance(p, (LeadsTo, Eventually, FairCycleFree))]
    assert props
    assert_same_liveness(g, props)


LIVE_CONFIGS = [
    ("seed/abstract/fresh", Config(gc="abstract").with_caches("fresh"), None),
    ("seed/detailed/fresh", Config().with_caches("fresh"), None),
    ("v1.18/abstract/fresh", Config(version="v1.18", gc="abstract").with_caches("fresh"), None),
    ("ns-deletion/detailed/fresh", Config(namespace_deletion=True).with_caches("fresh"), None),
    ("in-tree/abstract/fresh", Config(issuer="in-tree", gc="abstract").with_caches("fresh"), None),
    ("seed/abstract/lagging<=30000", Config(gc="abstract"), 30000),
    ("seed/abstract/lagging", Config(gc="abstract"), None),
]


@pytest.mark.parametrize("name,cfg,bound", LIVE_CONFIGS, ids=[c[0] for c in LIVE_CONFIGS])
def test_cert_manager_liveness_is_identical(name, cfg, bound):
    w = _world(cfg)
    g = explore(w.model, max_states=bound)
    props = [p for p in w.model.properties if isinstance(p, (LeadsTo, Eventually, FairCycleFree))]
    assert_same_liveness(g, props)


# --------------------------------------------------------------------------- random graphs


@st.composite
def fair_graphs(draw):
    n = draw(st.integers(1, 14))
    L = draw(st.integers(1, 4))
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, L - 1), st.integers(0, n - 1)),
                          max_size=4 * n))
    seen, E = set(), []
    for a, k, b in pairs:
        if (a, k) not in seen:
            seen.add((a, k))
            E.append((a, k, b))
    if draw(st.booleans()):
        E.sort()
    kinds = draw(st.lists(st.sampled_from([NONE, WEAK, STRONG]), min_size=L, max_size=L))
    region = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    expanded = draw(st.lists(st.booleans(), min_size=n, max_size=n)) if draw(st.booleans()) else [True] * n
    return n, E, kinds, region, expanded


def _fg(n, E, kinds, expanded, dtype=np.int64):
    E = [(a, k, b) for a, k, b in E if expanded[a]]      # unexpanded states have no out-edges
    return FairGraph(n, np.array([a for a, _, _ in E], dtype=dtype), np.array([b for _, _, b in E], dtype=dtype),
                     np.array([k for _, k, _ in E], dtype=dtype), np.array(kinds, dtype=np.int8),
                     np.array(expanded, dtype=bool))


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(fair_graphs())
def test_fair_components_match_the_original(case):
    n, E, kinds, region, expanded = case
    region = np.array(region, dtype=bool)
    ref = ref_fair_components(_fg(n, E, kinds, expanded), region)
    new = fair_components(_fg(n, E, kinds, expanded, np.int32), region)
    assert [c.tolist() for c in new] == [c.tolist() for c in ref]


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(fair_graphs(), st.data())
def test_shortest_entry_matches_dial(case, data):
    n, E, kinds, region, expanded = case
    region = np.array(region, dtype=bool)
    g = _fg(n, E, kinds, expanded)
    depth = np.array(data.draw(st.lists(st.integers(0, 6), min_size=n, max_size=n)), dtype=np.int64)
    parent = np.full(n, -1, dtype=np.int64)          # every state is its own root here
    pact = np.full(n, -1, dtype=np.int64)
    starts = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=5)), dtype=np.int64)
    targets = np.array(sorted(data.draw(st.sets(st.integers(0, n - 1), max_size=4))), dtype=np.int64)
    try:
        want = ref_shortest_entry(g, depth, parent, pact, starts, region, targets)
    except LassoError:
        with pytest.raises(LassoError):
            shortest_entry(_fg(n, E, kinds, expanded, np.int32), depth.astype(np.int16), parent, pact,
                           starts, region, targets)
        return
    got = shortest_entry(_fg(n, E, kinds, expanded, np.int32), depth.astype(np.int16), parent, pact,
                         starts, region, targets)
    assert got == want


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(st.integers(1, 30), st.data())
def test_strong_components_match_networkx_with_parallel_edges(n, data):
    """SciPy's SCC routine loops forever on a CSR row holding one edge twice: the wrapper
    merges parallel edges first (two actions often lead to the same state)."""
    import networkx as nx
    from certloop.checker.liveness import strong_components
    pairs = data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=4 * n))
    pairs.sort(key=lambda p: p[0])
    src = np.array([a for a, _ in pairs], dtype=np.int64)
    dst = np.array([b for _, b in pairs], dtype=np.int32)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    count, labels = strong_components(dst, indptr, n)
    G = nx.DiGraph()
    G.add_nodes_from(range(n))
    G.add_edges_from(pairs)
    theirs = {frozenset(c) for c in nx.strongly_connected_components(G)}
    ours: dict[int, set] = {}
    for v, c in enumerate(labels.tolist()):
        ours.setdefault(c, set()).add(v)
    assert {frozenset(c) for c in ours.values()} == theirs and count == len(theirs)


# --------------------------------------------------------------------------- shared trailing blocks


def _suffix_model(overwrite_x: bool = False, top: int = 3):
    """Counters and flags; every action ends with the same two observation-like blocks (as a
    fresh GC graph appends its observations to every action)."""
    from certloop.checker.expr import Bool, IntRange, Schema, and_, ite, or_, prime
    from certloop.checker.spec import ActionAlways, Always, Model
    sch = Schema()
    x = sch.declare("x", IntRange(0, 3), 0)
    y = sch.declare("y", IntRange(0, 2), 0)
    live = [sch.declare(f"live[{i}]", Bool, False) for i in range(12)]
    view = [sch.declare(f"view[{i}]", Bool, False) for i in range(12)]
    seen = sch.declare("seen", Bool, False)
    m = Model("suffix", sch)
    outdated = or_(*[v.ref.ne(l.ref) for v, l in zip(view, live)])
    b1 = {v: ite(outdated, l.ref, v.ref) for v, l in zip(view, live)}
    b1[seen] = or_(seen.ref, outdated)
    b2 = {y: ite(and_(*[v.ref for v in view[:3]]), 2, ite(outdated, 1, y.ref))}
    if overwrite_x:
        b2[x] = ite(x.ref < 3, x.ref, 3)
    blocks = [b1, b2]
    m.add_action("c.inc", "c", guard=[("below", "x is below the top", x.ref < top)],
                 effect=[{x: x.ref + 1}] + blocks)
    for i in range(12):
        m.add_action("c.flip", "c", args=(i,), guard=[("off", "off", ~live[i].ref)],
                     effect=[{live[i]: True}] + blocks)
    m.add_action("c.reset", "c", guard=[("at_top", "x at 3", x.ref.eq(3))], effect=[{x: 0}] + blocks)
    m.add_init()
    m.add_property(ActionAlways("y_small", expr=prime(y.ref) <= 1))
    m.add_property(Always("x_small", expr=x.ref < 3))
    return m


def test_shared_trailing_blocks_run_once_per_intermediate_state():
    from certloop.checker.compile import CompiledModel
    from certloop.checker.vector import Layout
    m = _suffix_model()
    cm = CompiledModel(m, Layout(m.schema.vars), [p for p in m.properties if p.kind == "action-always"])
    assert cm.split == 2
    ref = explore(m, engine="reference")
    for chunk in (1 << 16, 37):
        assert_same_graph(ref, explore(m, chunk=chunk))
    assert "y_small" in ref.found


def test_shared_trailing_blocks_keep_domain_errors():
    from certloop.checker.compile import CompiledModel
    from certloop.checker.expr import ModelError
    from certloop.checker.vector import Layout
    m = _suffix_model(top=4)                      # x := x + 1 reaches 4: out of its domain
    assert CompiledModel(m, Layout(m.schema.vars)).split == 2
    msgs = []
    for engine in ("reference", "compiled"):
        with pytest.raises(ModelError) as ei:
            explore(m, engine=engine)
        msgs.append(str(ei.value))
    assert msgs[0] == msgs[1] and "c.inc" in msgs[0] and "x := 4" in msgs[0]
    # when a shared block would overwrite an unproven write, the actions stay composed whole
    m2 = _suffix_model(overwrite_x=True, top=4)
    assert CompiledModel(m2, Layout(m2.schema.vars)).split == 0
    assert_same_graph(explore(m2, engine="reference"), explore(m2))


@pytest.mark.parametrize("make", [lambda: examples.grid(3, 6), lambda: examples.philosophers(4, True),
                                  lambda: _world(Config(gc="abstract").with_caches("fresh")).model])
def test_parallel_edge_hint_is_exact(make):
    """The explorer lists exactly the states with two actions leading to one successor (the
    liveness index merges only those rows before SciPy's SCC routine)."""
    g = explore(make(), chunk=50)
    pairs = np.stack([np.asarray(g.src, np.int64), np.asarray(g.dst, np.int64)], axis=1)
    u, c = np.unique(pairs, axis=0, return_counts=True)
    want = np.unique(u[c > 1, 0])
    assert np.array_equal(g.stats["parallel_src"], want)


def test_compiled_predicates_over_the_graph_equal_the_interpreter():
    """StateGraph.evaluate / evaluate_edges run compiled predicates: the same answers as the
    interpretive evaluator for every state and action predicate of a cert-manager model."""
    from certloop.checker.expr import postorder
    from certloop.checker.vector import VecEval
    m = _world(Config(gc="abstract")).model
    g = explore(m, max_states=30000)
    words = np.asarray(g.states)
    exprs = []
    for p in m.properties:
        for name in ("expr", "p", "q", "premise"):
            e = getattr(p, name, None)
            if e is not None and e.type.name == "bool":
                exprs.append((name, e))
    assert len(exprs) >= 6
    edges = np.arange(g.n_transitions)
    src, dst = g.src[edges], g.dst[edges]
    for name, e in exprs:
        if any(n.op == "prime" for n in postorder(e)):
            want = VecEval(g.layout, words[src], nxt=words[dst]).full(e)
            assert np.array_equal(g.evaluate_edges(e, edges), want), name
        else:
            assert np.array_equal(g.evaluate(e), VecEval(g.layout, words).full(e)), name
            ids = np.arange(0, g.n_states, 7)
            assert np.array_equal(g.evaluate(e, ids), VecEval(g.layout, words[ids]).full(e)), name
    # a FairCycleFree edge predicate too
    fc = next(p for p in m.properties if p.name == "bounded_churn")
    want = VecEval(g.layout, words[src], nxt=words[dst]).full(fc.edge)
    assert np.array_equal(g.evaluate_edges(fc.edge, edges), want)
