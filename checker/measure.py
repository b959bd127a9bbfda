"""Measurements over an explored graph (no verdicts): longest paths counted in marked edges.

``max_marked`` answers "at most how many marked transitions (e.g. creates) can any behaviour take
after reaching a start state?"  If a cycle reachable from a start contains a marked edge the
answer is unbounded (``None``).  Otherwise it is found in rounds over the shared adjacency
(:class:`~checker.liveness.GraphIndex`, the one the liveness checks built, with its SCCs):
``R_0`` is what the starts reach, ``R_k`` what the targets of the marked edges leaving
``R_{k-1}`` reach; a state is in ``R_k`` iff some path from a start to it takes at least ``k``
marked edges, so the answer is the last ``k`` with ``R_k`` non-empty.  Each round is one compiled
breadth-first search (no edge-sized copies beyond the search's own), and there are
answer + 1 of them.
"""

from __future__ import annotations

import numpy as np

from certloop.checker.liveness import GraphIndex, reach_in

__all__ = ["max_marked", "max_marked_on_paths", "reachable_from"]


def reachable_from(n: int, src: np.ndarray, dst: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Boolean mask of the states reachable from ``starts`` (ids), edges as two arrays."""
    return reach_in(GraphIndex(n, np.asarray(src), np.asarray(dst), np.zeros(len(src), dtype=np.int8)),
                    np.asarray(starts))


def max_marked(idx: GraphIndex, marked: np.ndarray, starts: np.ndarray) -> int | None:
    """Most marked edges on any path from a start; ``None`` if a reachable cycle has one.

    ``marked``: ids of the marked edges (indices into the arrays ``idx`` was built from).
    """
    marked = np.asarray(marked, dtype=np.int64)
    reach = reach_in(idx, starts)
    if not marked.size or not reach.any():
        return 0
    ms = np.asarray(idx.src_of(marked), dtype=np.int64)
    md = np.asarray(idx._dst[marked], dtype=np.int64)
    live = reach[ms]
    ms, md = ms[live], md[live]
    labels, _ = idx.scc()
    if (labels[ms] == labels[md]).any():
        return None                       # a marked edge on a cycle that a start reaches
    k, cur = 0, reach
    while True:
        seeds = md[cur[ms]]
        if not seeds.size:
            return k
        cur = reach_in(idx, seeds)
        k += 1


def max_marked_on_paths(n: int, src: np.ndarray, dst: np.ndarray, marked: np.ndarray,
                        starts: np.ndarray) -> int | None:
    """:func:`max_marked` with the edges as arrays and ``marked`` a mask over them.

    >>> import numpy as np
    >>> src, dst = np.array([0, 1, 1]), np.array([1, 2, 0])
    >>> max_marked_on_paths(3, src, dst, np.array([True, False, False]), np.array([0]))  # 0->1->0 loop
    >>> max_marked_on_paths(3, src, dst, np.array([False, True, False]), np.array([0]))
    1
    """
    idx = GraphIndex(n, np.asarray(src), np.asarray(dst), np.zeros(len(src), dtype=np.int8))
    return max_marked(idx, np.flatnonzero(np.asarray(marked, dtype=bool)), np.asarray(starts))
