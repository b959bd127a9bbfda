"""Measurements over an explored graph (no verdicts): longest paths counted in marked edges.

``max_marked_on_paths`` answers "at most how many marked transitions (e.g. creates) can any
behaviour take after reaching a start state?"  If a cycle reachable from a start contains a
marked edge the answer is unbounded (``None``); otherwise it is the longest path in the DAG of
strongly connected components, each edge weighing 1 if marked (scipy for the SCCs, a vectorised
Kahn peel for the longest path).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

__all__ = ["max_marked_on_paths", "reachable_from"]


def reachable_from(n: int, src: np.ndarray, dst: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Boolean mask of the states reachable from ``starts`` (ids)."""
    out = np.zeros(n, dtype=bool)
    if starts.size == 0:
        return out
    root = n
    rows = np.concatenate([src, np.full(starts.size, root)])
    cols = np.concatenate([dst, starts])
    m = csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n + 1, n + 1))
    order = breadth_first_order(m, root, directed=True, return_predecessors=False)
    out[order[order != root]] = True
    return out


def max_marked_on_paths(n: int, src: np.ndarray, dst: np.ndarray, marked: np.ndarray,
                        starts: np.ndarray) -> int | None:
    """Most marked edges on any path from a start; ``None`` if a reachable cycle has one.

    >>> import numpy as np
    >>> src, dst = np.array([0, 1, 1]), np.array([1, 2, 0])
    >>> max_marked_on_paths(3, src, dst, np.array([True, False, False]), np.array([0]))  # 0->1->0 loop
    >>> max_marked_on_paths(3, src, dst, np.array([False, True, False]), np.array([0]))
    1
    """
    reach = reachable_from(n, src, dst, starts)
    keep = reach[src] & reach[dst]
    s, d, w = src[keep], dst[keep], marked[keep].astype(np.int64)
    m = csr_matrix((np.ones(s.size, dtype=np.int8), (s, d)), shape=(n, n))
    _, comp = connected_components(m, directed=True, connection="strong")
    inside = comp[s] == comp[d]
    if (w[inside] > 0).any():
        return None
    cs, cd, cw = comp[s[~inside]], comp[d[~inside]], w[~inside]
    ncomp = int(comp.max()) + 1 if comp.size else 0
    indeg = np.bincount(cd, minlength=ncomp)
    dist = np.zeros(ncomp, dtype=np.int64)
    alive = np.zeros(ncomp, dtype=bool)
    alive[np.unique(comp[reach])] = True
    frontier = np.flatnonzero(alive & (indeg == 0))
    order = np.argsort(cs, kind="stable")
    cs, cd, cw = cs[order], cd[order], cw[order]
    starts_of = np.searchsorted(cs, np.arange(ncomp + 1))
    best = 0
    while frontier.size:
        lo, hi = starts_of[frontier], starts_of[frontier + 1]
        if not (hi > lo).any():
            best = max(best, int(dist[frontier].max()))
            break
        counts = hi - lo
        idx = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)
        best = max(best, int(dist[frontier].max()))
        if idx.size == 0:
            break
        np.maximum.at(dist, cd[idx], dist[cs[idx]] + cw[idx])
        np.subtract.at(indeg, cd[idx], 1)
        touched = np.unique(cd[idx])
        frontier = touched[indeg[touched] == 0]
    return int(max(best, dist[alive].max() if alive.any() else 0))
