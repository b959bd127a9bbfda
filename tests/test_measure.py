"""MaxLateCreates' measurement (checker/measure.py) against a brute-force longest path."""

from __future__ import annotations

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from certloop.checker.measure import max_marked_on_paths, reachable_from


def _brute(n, edges, marked, starts):
    """None if a marked edge lies on a cycle reachable from a start; else the most marked edges
    on a path from a start (networkx on the multigraph condensation)."""
    G = nx.MultiDiGraph()
    G.add_nodes_from(range(n))
    for i, (a, b) in enumerate(edges):
        G.add_edge(a, b, key=i, w=int(marked[i]))
    reach = set()
    for s in starts:
        reach |= nx.descendants(G, s) | {s}
    H = G.subgraph(reach)
    comp = {}
    for k, c in enumerate(nx.strongly_connected_components(H)):
        for v in c:
            comp[v] = k
    for a, b, d in H.edges(data=True):
        if d["w"] and comp[a] == comp[b]:
            return None
    D = nx.DiGraph()
    D.add_nodes_from(set(comp.values()))
    for a, b, d in H.edges(data=True):
        if comp[a] != comp[b]:
            w = max(d["w"], D.edges[comp[a], comp[b]]["w"]) if D.has_edge(comp[a], comp[b]) else d["w"]
            D.add_edge(comp[a], comp[b], w=w)
    best = {}
    for c in nx.topological_sort(D):
        best.setdefault(c, 0)
        for _, c2, d in D.out_edges(c, data=True):
            best[c2] = max(best.get(c2, 0), best[c] + d["w"])
    return max(best.values(), default=0)


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(st.integers(1, 12).flatmap(lambda n: st.tuples(
    st.just(n),
    st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.booleans()), max_size=3 * n),
    st.sets(st.integers(0, n - 1), min_size=1))))
def test_max_marked_matches_brute_force(case):
    n, raw, starts = case
    edges = [(a, b) for a, b, _ in raw]
    marked = np.array([m for _, _, m in raw], dtype=bool)
    src = np.array([a for a, _ in edges], dtype=np.int64)
    dst = np.array([b for _, b in edges], dtype=np.int64)
    st_arr = np.array(sorted(starts), dtype=np.int64)
    assert max_marked_on_paths(n, src, dst, marked, st_arr) == _brute(n, edges, marked, st_arr)
    want = np.zeros(n, dtype=bool)
    G = nx.DiGraph()
    G.add_nodes_from(range(n))
    G.add_edges_from(edges)
    for s in starts:
        want[list(nx.descendants(G, s) | {s})] = True
    assert np.array_equal(reachable_from(n, src, dst, st_arr), want)


def test_max_marked_examples():
    src, dst = np.array([0, 1, 1]), np.array([1, 2, 0])
    assert max_marked_on_paths(3, src, dst, np.array([True, False, False]), np.array([0])) is None
    assert max_marked_on_paths(3, src, dst, np.array([False, True, False]), np.array([0])) == 1
    # a chain of three marked edges, and a shortcut with one
    src, dst = np.array([0, 1, 2, 0]), np.array([1, 2, 3, 3])
    assert max_marked_on_paths(4, src, dst, np.array([True, True, True, True]), np.array([0])) == 3
    assert max_marked_on_paths(4, src, dst, np.array([True, True, True, True]), np.array([2])) == 1
    assert max_marked_on_paths(4, src, dst, np.zeros(4, dtype=bool), np.array([0])) == 0
