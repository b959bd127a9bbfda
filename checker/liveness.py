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
from typing import Any, Callable, Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

try:  # the SCC routine behind connected_components, on int32 CSR arrays without its float64 copy
    from scipy.sparse.csgraph._traversal import _connected_components_directed as _scc_int32
except ImportError:  # pragma: no cover - another SciPy layout: the public API is used
    _scc_int32 = None
try:  # ... and the breadth-first search behind breadth_first_order
    from scipy.sparse.csgraph._traversal import _breadth_first_directed as _bfs_int32
except ImportError:  # pragma: no cover - another SciPy layout: the NumPy level-by-level search
    _bfs_int32 = None

__all__ = ["FairGraph", "GraphIndex", "Lasso", "fair_components", "fair_labels", "components_of", "reach_within", "reach_in",
           "find_lasso", "check_lasso", "LassoError"]

NONE, WEAK, STRONG = 0, 1, 2
_EDGE_STEP = 1 << 22      # edges per pass over the edge arrays (bounded temporaries)
_FEW_UNFAIR = 8           # up to this many unfair labels, fair_out locates the unfair edges only
_SMALL_KEYS = 1 << 20     # up to this many (component, label) pairs, fairness counts in a table


class LassoError(AssertionError):
    """A produced counterexample failed its own verification (an engine bug)."""


@dataclass
class FairGraph:
    """The full transition graph with a fairness kind per edge label.

    ``expanded`` marks states whose out-edges are all known.  ``src`` may be None when ``index``
    is given (a CSR graph, edges in (source, label) order): sources then come from its offsets.
    """

    n: int
    src: np.ndarray | None
    dst: np.ndarray
    lab: np.ndarray
    kind: np.ndarray          # kind[label] in {NONE, WEAK, STRONG}
    expanded: np.ndarray      # bool[n]
    index: "GraphIndex | None" = None   # shared adjacency / SCCs (built on first use)

    @property
    def n_labels(self) -> int:
        return int(self.kind.shape[0])

    @property
    def idx(self) -> "GraphIndex":
        if self.index is None:
            if self.src is None:
                raise ValueError("FairGraph without src needs its GraphIndex")
            self.index = GraphIndex(self.n, self.src, self.dst, self.lab)
        return self.index

    def src_of(self, e: np.ndarray) -> np.ndarray:
        """The source state of the given edge ids."""
        return self.src[e] if self.src is not None else self.idx.src_of(e)

    def fair_out(self) -> np.ndarray:
        """bool[n]: the state has an out-edge of a fair (weak or strong) action instance."""
        hit = self.__dict__.get("_fair_out")
        if hit is None:
            hit = np.zeros(self.n, dtype=bool)
            idx = self.idx
            unfair = np.flatnonzero(self.kind == NONE)
            if idx.perm is None and self.src is None and unfair.size <= _FEW_UNFAIR:
                # CSR with few unfair labels (the user's actions): a state has a fair out-edge
                # iff it has more out-edges than unfair ones; the unfair edges are found by a
                # few comparisons over the labels and are rare, so only they are located
                lab_t = self.lab.dtype.type
                rows: list[np.ndarray] = []
                for _, _, lo, hi in idx.row_chunks():
                    part = self.lab[lo:hi]
                    mask = np.zeros(hi - lo, dtype=bool)
                    for u in unfair.tolist():
                        mask |= part == lab_t(u)
                    pos = np.flatnonzero(mask)
                    if pos.size:
                        rows.append(np.asarray(idx.src_of(pos + lo), dtype=np.int32))
                unfair_deg = (np.bincount(np.concatenate(rows), minlength=self.n) if rows
                              else np.zeros(self.n, dtype=np.int64))
                hit = np.diff(np.asarray(idx.indptr, dtype=np.int64)) > unfair_deg
            elif idx.perm is None and self.src is None:
                # CSR: one "or" per row over the fair-label mask, no sources expanded
                ip = idx.indptr
                for r0, r1, lo, hi in idx.row_chunks():
                    if hi == lo:
                        continue
                    fair = self.kind[self.lab[lo:hi]] != NONE
                    st = np.asarray(ip[r0:r1], dtype=np.int64) - lo
                    nz = np.asarray(ip[r0 + 1:r1 + 1], dtype=np.int64) - lo > st
                    hit[r0:r1][nz] = np.logical_or.reduceat(fair, st[nz])
            else:
                for lo, hi, s, _ in idx.edge_chunks():
                    fair = self.kind[self.lab[lo:hi]] != NONE
                    hit[s[fair]] = True
            self.__dict__["_fair_out"] = hit
        return hit


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


class GraphIndex:
    """What every liveness question about one graph shares: the edges in (source, label) order
    with a CSR offset per state, and the strongly connected components of the whole graph.

    Built once per explored graph (and shared by every fairness assumption and property), so a
    property costs a reachability pass and work proportional to the cycles it touches.
    """

    def __init__(self, n: int, src: np.ndarray | None, dst: np.ndarray, lab: np.ndarray,
                 parallel: np.ndarray | None = None, indptr: np.ndarray | None = None,
                 self_loops: bool = True):
        """Either ``src`` (edges in any order) or ``indptr`` (CSR: edges already in (source,
        label) order, ``src`` None).  ``parallel``: when known exactly, the states with two
        out-edges to one state (parallel edges, merged before the SCC routine); None: look at
        every state.  ``self_loops=False``: the graph has none (an explored graph: a self-loop
        would be a no-op, which is not a transition), so no pass looks for them."""
        self.n = n
        self.parallel = parallel
        self.perm: np.ndarray | None = None
        if indptr is not None:
            self.dst, self.lab, self.indptr = dst, lab, indptr
            self._src = None
        else:
            if src is None:
                raise ValueError("GraphIndex needs src or indptr")
            if src.size and not _sorted_pairs(src, lab):
                self.perm = np.lexsort((lab, src))
                s, self.dst, self.lab = src[self.perm], dst[self.perm], lab[self.perm]
            else:
                s, self.dst, self.lab = src, dst, lab
            self.indptr = np.zeros(n + 1, dtype=np.int32 if s.size < 2 ** 31 - 1 else np.int64)
            np.cumsum(np.bincount(s, minlength=n), out=self.indptr[1:])
            self._src = src                     # the caller's array (edge ids index it)
        self._dst = dst
        self.selfloop = np.zeros(n, dtype=bool)
        if self_loops:
            for _, _, a, b in self.edge_chunks():
                self.selfloop[a[a == b]] = True
        self._scc: tuple[np.ndarray, np.ndarray] | None = None
        self._cyclic: np.ndarray | None = None
        self._inside: dict[bytes, np.ndarray] = {}

    def src_of(self, e: np.ndarray) -> np.ndarray:
        """The source of the given edge ids (indices into the caller's arrays)."""
        if self._src is not None:
            return self._src[e]
        return row_of(self.indptr, e)

    def row_chunks(self, step: int = _EDGE_STEP):
        """``(r0, r1, lo, hi)``: consecutive states ``r0:r1`` whose out-edges (positions
        ``lo:hi``) number about ``step``."""
        ip = self.indptr
        r0 = 0
        while r0 < self.n:
            r1 = int(np.searchsorted(ip, ip.dtype.type(min(int(ip[r0]) + step, int(ip[-1]))), side="right")) - 1
            r1 = min(self.n, max(r1, r0 + 1))
            yield r0, r1, int(ip[r0]), int(ip[r1])
            r0 = r1

    def edge_chunks(self, step: int = _EDGE_STEP):
        """``(lo, hi, src, dst)`` over the caller's edge ids ``lo:hi`` in bounded pieces (the
        sources of a CSR graph are expanded piece by piece, never all at once)."""
        e = int(self._dst.size)
        if self._src is not None:
            for lo in range(0, e, step):
                hi = min(e, lo + step)
                yield lo, hi, self._src[lo:hi], self._dst[lo:hi]
            return
        ip = self.indptr
        for r0, r1, lo, hi in self.row_chunks(step):
            if hi > lo:
                s = np.repeat(np.arange(r0, r1, dtype=np.int32 if self.n < 2 ** 31 else np.int64),
                              np.diff(ip[r0:r1 + 1]))
                yield lo, hi, s, self._dst[lo:hi]

    def edge_ids(self, pos: np.ndarray) -> np.ndarray:
        """Edge ids (indices into the graph's arrays) of positions in (source, label) order."""
        return pos if self.perm is None else self.perm[pos]

    def out_positions(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions of the out-edges of ``nodes`` (in their order, each in label order), and the
        out-degree of each node."""
        st = self.indptr[nodes]
        cnt = self.indptr[nodes + 1] - st
        tot = int(cnt.sum())
        if tot == 0:
            return np.zeros(0, dtype=np.int64), cnt
        ex = np.cumsum(cnt) - cnt
        return np.repeat(st - ex, cnt) + np.arange(tot), cnt

    def scc(self) -> tuple[np.ndarray, np.ndarray]:
        """(component label per state, size per component) of the whole graph."""
        if self._scc is None:
            count, labels = strong_components(self.dst, self.indptr, self.n, self.parallel)
            self._scc = (labels, np.bincount(labels, minlength=count))
        return self._scc

    def edges_inside(self, labels: np.ndarray) -> np.ndarray:
        """Ids (into the graph's arrays, ascending) of the edges whose label is marked in
        ``labels`` (bool per label) and that lie inside one SCC: the only such edges a cycle can
        take.  The labels are filtered first (one pass over a byte per edge), the SCCs of the
        few edges left are looked up after.  Cached per marking."""
        key = np.asarray(labels, dtype=bool).tobytes()
        hit = self._inside.get(key)
        if hit is not None:
            return hit
        scc = self.scc()[0]
        ip = self.indptr
        parts = []
        for r0, r1, lo, hi in self.row_chunks():
            p = np.flatnonzero(labels[self.lab[lo:hi]])
            if p.size:
                p += lo
                # the rows of these positions, searched in this chunk's offsets only
                rows = r0 + np.searchsorted(ip[r0:r1 + 1], p.astype(ip.dtype), side="right") - 1
                parts.append(p[scc[rows] == scc[self.dst[p]]])
        pos = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        out = self.edge_ids(pos) if self.perm is None else np.sort(self.edge_ids(pos))
        self._inside[key] = out
        return out

    def cyclic(self) -> np.ndarray:
        """bool[n]: the state lies on a cycle (a non-trivial SCC or a self-loop)."""
        if self._cyclic is None:
            labels, size = self.scc()
            self._cyclic = (size[labels] > 1) | self.selfloop
        return self._cyclic


def row_of(indptr: np.ndarray, e: Any) -> np.ndarray:
    """The row (source state) of each edge position ``e`` of a CSR graph.  The query is cast to
    the offsets' dtype first: NumPy would otherwise convert the whole offset array on every call."""
    e = np.asarray(e)
    if e.dtype != indptr.dtype and (e.size == 0 or int(e.max()) <= np.iinfo(indptr.dtype).max):
        e = e.astype(indptr.dtype)
    return np.searchsorted(indptr, e, side="right") - 1


def strong_components(indices: np.ndarray, indptr: np.ndarray, n: int,
                      parallel: np.ndarray | None = None) -> tuple[int, np.ndarray]:
    """(count, label per node) of the strongly connected components of a CSR graph.

    SciPy's ``connected_components`` first converts its input to a float64 CSR matrix (8 bytes per
    edge); its int32 routine is called directly when available and the graph fits int32.  That
    routine loops forever on a row holding one edge twice (a self-loop twice is fine).  When the
    caller knows exactly which rows hold parallel edges (``parallel``), the later copies are turned
    into self-loops for the call and restored afterwards (self-loops change no component), so no
    copy of the edges is made; otherwise every row is deduplicated into a new array."""
    if indices.size < 2 ** 31 - 1 and n < 2 ** 31 - 1 and _scc_int32 is not None:
        ind = np.ascontiguousarray(indices, dtype=np.int32)
        if parallel is not None:
            ip = np.ascontiguousarray(indptr, dtype=np.int32)
            drop, rows = _later_copies(ind, ip, n, parallel)
            saved = ind[drop]
            labels = np.full(n, -1, dtype=np.int32)      # as the public wrapper prepares it
            try:
                ind[drop] = rows
                count = _scc_int32(ind, ip, labels)
            finally:
                ind[drop] = saved
            return int(count), labels
        ind, ip = _simple_csr(ind, indptr, n)
        labels = np.full(n, -1, dtype=np.int32)
        count = _scc_int32(ind, ip, labels)
        return int(count), labels
    if indices.size < 2 ** 31 - 1 and n < 2 ** 31 - 1:  # pragma: no cover - SciPy without the routine
        ind, ip = _simple_csr(np.asarray(indices), indptr, n)
        m = csr_matrix((np.ones(ind.size, dtype=np.int8), ind, ip), shape=(n, n))
    else:  # pragma: no cover - beyond int32: let SciPy merge parallel edges from coordinates
        rows = np.repeat(np.arange(n), np.diff(indptr))
        m = csr_matrix((np.ones(indices.size, dtype=np.int8), (rows, indices)), shape=(n, n))
    count, labels = connected_components(m, directed=True, connection="strong")
    return int(count), labels.astype(np.int32)


def _later_copies(ind: np.ndarray, indptr: np.ndarray, n: int, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of the later copies of an edge within the listed rows, and the row of each."""
    ip64 = np.asarray(indptr, dtype=np.int64)
    rows = np.asarray(rows, dtype=np.int64)
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
    st = ip64[rows]
    deg = ip64[rows + 1] - st
    pos = np.repeat(st - (np.cumsum(deg) - deg), deg) + np.arange(int(deg.sum()))
    owner = np.repeat(rows, deg)
    key = np.repeat(np.arange(rows.size, dtype=np.int64) * n, deg) + ind[pos]
    o = np.argsort(key, kind="stable")
    k_sorted = key[o]
    dup = np.zeros(pos.size, dtype=bool)
    dup[o[1:][k_sorted[1:] == k_sorted[:-1]]] = True      # a later copy of an edge of its row
    return pos[dup], owner[dup].astype(np.int32)


def _simple_csr(indices: np.ndarray, indptr: np.ndarray, n: int, step: int = 1 << 22) -> tuple[np.ndarray, np.ndarray]:
    """int32 CSR arrays with parallel edges merged (each row sorted), built in bounded chunks of
    rows (SciPy's SCC routine needs a simple graph; its public wrapper merges them the same way)."""
    indptr = np.asarray(indptr, dtype=np.int64)
    out_ind: list[np.ndarray] = []
    counts = np.zeros(n, dtype=np.int64)
    r0 = 0
    while r0 < n:
        # rows r0..r1 holding about ``step`` edges
        r1 = int(np.searchsorted(indptr, indptr[r0] + step, side="right")) - 1
        r1 = min(n, max(r1, r0 + 1))
        lo, hi = int(indptr[r0]), int(indptr[r1])
        if hi > lo:
            deg = np.diff(indptr[r0:r1 + 1])
            rows = np.repeat(np.arange(r1 - r0, dtype=np.int64), deg) * n
            key = np.sort(rows + indices[lo:hi])       # rows ascending already: sorting keeps them
            keep = np.empty(key.size, dtype=bool)
            keep[0] = True
            np.not_equal(key[1:], key[:-1], out=keep[1:])
            if keep.all():
                out_ind.append((key - rows).astype(np.int32))
                counts[r0:r1] = deg
            else:
                out_ind.append((key[keep] - rows[keep]).astype(np.int32))
                counts[r0:r1] = np.diff(np.searchsorted(rows[keep], np.arange(r1 - r0 + 1, dtype=np.int64) * n))
        r0 = r1
    ip = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(counts, out=ip[1:])
    return (np.concatenate(out_ind) if out_ind else np.zeros(0, dtype=np.int32)), ip


def _sorted_pairs(src: np.ndarray, lab: np.ndarray) -> bool:
    """Are the edges in (source, label) order?  (In chunks: no full-size temporaries.)"""
    for lo in range(0, max(0, src.size - 1), _EDGE_STEP):
        hi = min(src.size, lo + _EDGE_STEP + 1)
        a, b = src[lo:hi], lab[lo:hi]
        if (a[1:] < a[:-1]).any() or ((a[1:] == a[:-1]) & (b[1:] < b[:-1])).any():
            return False
    return True


_CHUNK = 1 << 18     # states per pass of the fair-component analysis (bounded temporaries)


def _fair_core(g: FairGraph, work: np.ndarray, first: np.ndarray | None = None,
               whole: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The fair-component analysis (WF on maximal SCCs, Emerson-Lei refinement for SF) of the
    subgraph induced by the sorted states ``work``.  Returns ``(nodes, cid)``: the states that
    lie in some fair component and a component number for each.

    ``first``: SCC labels of ``work`` when already known (skips the first SCC computation);
    ``whole``: the graph's SCC label per state, when ``work`` is a union of whole SCCs of the graph
    (then an edge stays inside a component iff both ends carry one label: one lookup per edge).
    The edges are visited in chunks of states (one pass: what is taken inside a component and
    what is enabled; a second only for strongly fair labels), so the temporaries stay bounded
    whatever the graph's size.
    """
    L = g.n_labels
    idx = g.idx
    kind_of = g.kind
    out_n: list[np.ndarray] = []
    out_c: list[np.ndarray] = []
    base = 0
    # local ids of the states being analysed, -1 elsewhere: a scratch array kept on the graph
    # between calls (every round resets what it set); taken off while in use, so an exception
    # never leaves a dirty one behind
    local = g.__dict__.pop("_local", None)
    if local is None or local.size != g.n:
        local = np.full(g.n, -1, dtype=np.int32)

    def edges(c0: int, c1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(local source, local destination or -1, label) of the out-edges of work[c0:c1]."""
        pos, deg = idx.out_positions(work[c0:c1])
        s_loc = np.repeat(np.arange(c0, c1, dtype=np.int32), deg)
        return s_loc, local[idx.dst[pos]], idx.lab[pos]

    while work.size:
        nw = work.size
        local[work] = np.arange(nw, dtype=np.int32)
        if first is not None:
            comp_local = np.asarray(first, dtype=np.int32)
            count = int(comp_local.max()) + 1 if comp_local.size else 0
            first = None
        else:
            ip = np.zeros(nw + 1, dtype=np.int64)
            parts = []
            for c0 in range(0, nw, _CHUNK):
                c1 = min(nw, c0 + _CHUNK)
                s_loc, d_loc, _ = edges(c0, c1)
                inside = d_loc >= 0
                ip[c0 + 1:c1 + 1] = np.bincount(s_loc[inside] - c0, minlength=c1 - c0)
                parts.append(d_loc[inside])
            np.cumsum(ip, out=ip)
            count, comp_local = strong_components(np.concatenate(parts) if parts else np.zeros(0, np.int32), ip, nw)
        size = np.bincount(comp_local, minlength=count)
        # one pass: the (component, label) pairs taken on an edge inside a component, and how
        # many states of each component enable each weakly fair label (a state has at most one
        # edge per label, so edges count states)
        space = count * L
        dense = space <= (1 << 25)
        tbl = np.zeros(space, dtype=bool) if dense else None
        taken_parts: list[np.ndarray] = []
        wk_keys: list[np.ndarray] = []
        wk_counts: list[np.ndarray] = []
        # few (component, label) pairs (a few large SCCs): count them in a table, no sorting
        small = space <= _SMALL_KEYS
        wk_table = np.zeros(space, dtype=np.int64) if small else None
        # (the pairs of unfair labels are recorded too and never looked at: no filtering pass)
        comp_ext = np.append(comp_local, np.int32(-1)).astype(np.int32)   # local -1: outside work
        weak_lab = kind_of == WEAK
        for c0 in range(0, nw, _CHUNK):
            c1 = min(nw, c0 + _CHUNK)
            pos, deg = idx.out_positions(work[c0:c1])
            if not pos.size:
                continue
            lab = idx.lab[pos]
            cs = np.repeat(comp_local[c0:c1], deg)
            if whole is not None:
                ins = whole[idx.dst[pos]] == np.repeat(whole[work[c0:c1]], deg)
            else:
                ins = comp_ext[local[idx.dst[pos]]] == cs
            key = cs.astype(np.int64) * L + lab
            if dense:
                tbl[key[ins]] = True  # type: ignore[index]
            else:
                taken_parts.append(_distinct(key[ins]))
            wk = key[weak_lab[lab]]
            if wk.size and small:
                wk_table += np.bincount(wk, minlength=space)  # type: ignore[operator]
            elif wk.size:
                k_, n_ = _distinct_counts(wk)
                wk_keys.append(k_)
                wk_counts.append(n_)
        taken = None if dense else _distinct(np.concatenate(taken_parts)) if taken_parts else np.zeros(0, np.int64)
        # strong fairness (a second pass, only if some label is strongly fair): a state enabling
        # an SF label that its component never takes is cut off, and the component refined
        bad_state = np.zeros(nw, dtype=bool)
        comp_refine = np.zeros(count, dtype=bool)
        if (kind_of == STRONG).any():
            for c0 in range(0, nw, _CHUNK):
                s_loc, _, lab = edges(c0, min(nw, c0 + _CHUNK))
                sf = kind_of[lab] == STRONG
                s_loc, lab = s_loc[sf], lab[sf]
                cs = comp_local[s_loc]
                key = cs.astype(np.int64) * L + lab
                taken_f = tbl[key] if dense else np.isin(key, taken)  # type: ignore[index, arg-type]
                if not taken_f.all():
                    bad_state[s_loc[~taken_f]] = True
                    comp_refine[cs[~taken_f]] = True
        # weak fairness: enabled in every state of the component, never taken inside
        unfair = np.zeros(count, dtype=bool)
        if small:
            full = np.flatnonzero(wk_table == np.repeat(size, L))  # type: ignore[operator]
            if full.size:
                tk = tbl[full] if dense else np.isin(full, taken)  # type: ignore[index, arg-type]
                unfair[full[~tk] // L] = True
        elif wk_keys:
            keys = np.concatenate(wk_keys)
            cnts = np.concatenate(wk_counts)
            o = np.argsort(keys, kind="stable")
            keys, cnts = keys[o], cnts[o]
            start = np.empty(keys.size, dtype=bool)
            start[0] = True
            np.not_equal(keys[1:], keys[:-1], out=start[1:])
            at = np.flatnonzero(start)
            ukeys, counts = keys[at], np.add.reduceat(cnts, at)
            full = counts == size[ukeys // L]
            if full.any():
                fk = ukeys[full]
                tk = tbl[fk] if dense else np.isin(fk, taken)  # type: ignore[index, arg-type]
                unfair[fk[~tk] // L] = True
        good = ~unfair & ~comp_refine
        sel = good[comp_local]
        if sel.any():
            out_n.append(work[sel])
            out_c.append(comp_local[sel].astype(np.int64) + base)
        base += count
        local[work] = -1
        keep = comp_refine[comp_local] & ~bad_state
        work = work[keep]
        whole = None
    g.__dict__["_local"] = local
    if not out_n:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    nodes = np.concatenate(out_n)
    cid = np.concatenate(out_c)
    o = np.argsort(nodes, kind="stable")
    return nodes[o], cid[o]


def _cyclic_base(g: FairGraph, want: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fair components inside the cyclic SCCs of the whole graph marked in ``want`` (bool per
    SCC), each SCC taken whole.  Judged once per fairness and SCC (cached): an SCC that lies
    entirely inside a property's region is judged the same way for every property."""
    labels, size = g.idx.scc()
    cache = g.__dict__.get("_cyclic_base")
    if cache is None:
        cache = g.__dict__["_cyclic_base"] = {"done": np.zeros(size.size, dtype=bool), "n": [], "c": [], "next": 0}
    miss = want & ~cache["done"]
    if miss.any():
        work = np.flatnonzero(g.idx.cyclic() & g.expanded & miss[labels])
        present = np.zeros(size.size, dtype=bool)
        present[labels[work]] = True
        dense = np.cumsum(present) - 1            # SCC labels renumbered 0.. over these
        bn, bc = _fair_core(g, work, dense[labels[work]], labels)
        if bn.size:
            cache["n"].append(bn)
            cache["c"].append(bc + cache["next"])
            cache["next"] += int(bc.max()) + 1
        cache["done"] |= miss
    if not cache["n"]:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    nodes = np.concatenate(cache["n"])
    cid = np.concatenate(cache["c"])
    sel = want[labels[nodes]]
    return nodes[sel], cid[sel]


def fair_labels(g: FairGraph, region: np.ndarray, sccs: np.ndarray | None = None,
                reach: "Callable[[], np.ndarray] | None" = None) -> tuple[np.ndarray, np.ndarray]:
    """Maximal fair components inside the boolean ``region`` as ``(nodes, cid)``: the sorted
    states that lie in one, and a component number per state (see :func:`fair_components`).

    A state on no cycle is a component of its own, fair iff no fair action is enabled there
    (stuttering).  A cyclic SCC of the whole graph lying entirely in the region is judged once per
    fairness (cached); only SCCs that the region cuts are analysed again.  ``sccs`` (bool per SCC
    of the whole graph, :meth:`GraphIndex.scc`): only components with a cycle inside these are
    wanted (no stuttering states).

    ``reach``: when given, only the components inside the states it returns (a bool mask closed
    under the region's edges, e.g. what a start reaches through the region) are wanted.  It is
    called at most once, and only when needed: to cut down the SCCs that the region cuts (which
    are analysed again) or to filter what was found; never when the region holds no candidate.
    A component of the region that meets such a set lies inside it, so the answer is that of
    ``fair_labels(g, reach())``.
    """
    memo: list[np.ndarray] = []

    def within() -> np.ndarray:
        if not memo:
            memo.append(reach())  # type: ignore[misc]
        return memo[0]

    idx = g.idx
    labels, size = idx.scc()
    # masks over the states rather than id arrays: n bytes per step instead of 8 per state
    inside = region & g.expanded
    cyclic = idx.cyclic()
    cyc = inside & cyclic
    if sccs is not None:
        cyc &= sccs[labels]
        singles = np.zeros(0, dtype=np.int64)
    else:
        inside &= ~cyclic
        inside &= ~g.fair_out()
        singles = np.flatnonzero(inside)
    parts_n = [singles]
    parts_c = [np.arange(singles.size, dtype=np.int64)]
    off = singles.size
    lc = labels[cyc]
    if lc.size:
        whole = np.bincount(lc, minlength=size.size) == size
        del lc
        bn, bc = _cyclic_base(g, whole)
        if bn.size:
            parts_n.append(bn)
            parts_c.append(bc + off)
            off += int(bc.max()) + 1
        cyc &= ~whole[labels]
        cut = np.flatnonzero(cyc)
        if cut.size and reach is not None:
            cut = cut[within()[cut]]
        if cut.size:
            pn, pc = _fair_core(g, cut)
            if pn.size:
                parts_n.append(pn)
                parts_c.append(pc + off)
    nodes = np.concatenate(parts_n)
    cid = np.concatenate(parts_c)
    if reach is not None and nodes.size:
        sel = within()[nodes]
        nodes, cid = nodes[sel], cid[sel]
    if nodes.size > 1 and (nodes[1:] < nodes[:-1]).any():
        o = np.argsort(nodes, kind="stable")
        nodes, cid = nodes[o], cid[o]
    return nodes, cid


def fair_components(g: FairGraph, region: np.ndarray) -> list[np.ndarray]:
    """Maximal fair components (arrays of state ids, sorted) inside the boolean ``region``.

    Every fair behaviour that stays in ``region`` forever ends inside one of them, and the tour
    of each one is itself fair.  Sorted by their smallest state.
    """
    nodes, cid = fair_labels(g, region)
    return components_of(nodes, cid)


def components_of(nodes: np.ndarray, cid: np.ndarray) -> list[np.ndarray]:
    """``(nodes, cid)`` as a list of sorted arrays ordered by their smallest state."""
    if not nodes.size:
        return []
    o = np.lexsort((nodes, cid))
    n_sorted, c_sorted = nodes[o], cid[o]
    cut = np.flatnonzero(np.diff(c_sorted)) + 1
    comps = np.split(n_sorted, cut)
    comps.sort(key=lambda a: int(a[0]))
    return comps


def reach_within(g: FairGraph, starts: np.ndarray, region: np.ndarray) -> np.ndarray:
    """bool[n]: states reachable from ``starts`` (those inside ``region``) by edges inside
    ``region`` (see :func:`reach_in`)."""
    return reach_in(g.idx, starts, region)


def reach_in(idx: "GraphIndex", starts: np.ndarray, region: np.ndarray | None = None) -> np.ndarray:
    """bool[n]: states reachable from ``starts`` (those inside ``region``; None: everywhere) by
    edges inside ``region``.

    SciPy's compiled breadth-first search over the whole adjacency plus one extra node with an
    edge to every start; the states outside the region are marked as already visited, so the
    search never enters them (no filtered copy of the edges).  The level-by-level NumPy search
    where that routine is missing or the graph is beyond int32."""
    n = idx.n
    out = np.zeros(n, dtype=bool)
    st = np.asarray(starts, dtype=np.int64)
    if region is not None:
        st = st[region[st]]
    if st.size == 0:
        return out
    if _bfs_int32 is not None and n + 1 < 2 ** 31 - 1 and idx.dst.size + st.size < 2 ** 31 - 1:
        st = _distinct(st).astype(np.int32)
        ind = np.concatenate([np.asarray(idx.dst, dtype=np.int32), st])
        ip = np.empty(n + 2, dtype=np.int32)
        ip[:n + 1] = idx.indptr
        ip[n + 1] = ip[n] + st.size
        order = np.empty(n + 1, dtype=np.int32)
        pred = np.full(n + 1, -9999, dtype=np.int32)      # SciPy's "not visited"
        if region is not None:
            pred[:n][~region] = -1                         # outside the region: never entered
        k = int(_bfs_int32(n, ind, ip, order, pred))
        out[order[1:k]] = True
        return out
    return _reach_levels(idx, st, np.ones(n, dtype=bool) if region is None else region)


def _reach_levels(idx: "GraphIndex", st: np.ndarray, region: np.ndarray) -> np.ndarray:
    """:func:`reach_in` level by level over the adjacency (NumPy only)."""
    out = np.zeros(idx.n, dtype=bool)
    out[st] = True
    frontier = np.flatnonzero(out)
    while frontier.size:
        nxt = []
        for part in _by_edges(idx, frontier):
            pos, _ = idx.out_positions(part)
            d = idx.dst[pos]
            d = d[region[d] & ~out[d]]
            if d.size:
                d = _distinct(d)
                out[d] = True
                nxt.append(d)
        if not nxt:
            break
        frontier = nxt[0] if len(nxt) == 1 else _distinct(np.concatenate(nxt))
    return out


def _by_edges(idx: "GraphIndex", nodes: np.ndarray, step: int = 1 << 22) -> list[np.ndarray]:
    """``nodes`` cut into consecutive pieces of about ``step`` out-edges each."""
    if nodes.size == 0:
        return []
    deg = idx.indptr[nodes + 1] - idx.indptr[nodes]
    tot = int(deg.sum())
    if tot <= step:
        return [nodes]
    cuts = np.searchsorted(np.cumsum(deg), np.arange(step, tot, step), side="left") + 1
    return [p for p in np.split(nodes, cuts) if p.size]


def _distinct_counts(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of ``a`` (sorted) and how often each occurs."""
    a = np.sort(a)
    start = np.empty(a.size, dtype=bool)
    start[0] = True
    np.not_equal(a[1:], a[:-1], out=start[1:])
    at = np.flatnonzero(start)
    return a[at], np.diff(np.append(at, a.size))


def _distinct(a: np.ndarray) -> np.ndarray:
    """The distinct values of ``a``, sorted (a plain sort: faster than ``np.unique`` here)."""
    if a.size < 2:
        return a
    a = np.sort(a)
    keep = np.empty(a.size, dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]


def _csr(g: FairGraph, edge_ids: np.ndarray) -> tuple[dict[int, tuple[int, int]], list[int], list[int]]:
    """Adjacency of the given edges for a Python BFS: ``({state: (first, end)}, dst, edge id)``,
    each state's edges in label order; only states with one of the edges appear (so the cost is
    that of the edges, not of the whole graph)."""
    src = g.src_of(edge_ids)
    o = np.lexsort((g.lab[edge_ids], src))
    e = edge_ids[o]
    s = src[o]
    if not s.size:
        return {}, [], []
    first = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]]))
    end = np.append(first[1:], s.size)
    span = dict(zip(s[first].tolist(), zip(first.tolist(), end.tolist())))
    return span, g.dst[e].tolist(), e.tolist()


def _bfs_within(start: int, targets: set[int] | None, goal_edges: set[int] | None,
                adj: tuple[dict[int, tuple[int, int]], list[int], list[int]], g: FairGraph) -> list[tuple[int, int, int]]:
    """Shortest path from ``start`` to a state in ``targets``, or ending with an edge in
    ``goal_edges``; returns steps ``(label, state, edge)`` (empty if ``start`` is already a target)."""
    span, dsts, eids = adj
    if targets is not None and start in targets:
        return []
    pred: dict[int, tuple[int, int]] = {start: (-1, -1)}
    q = deque([start])
    while q:
        u = q.popleft()
        for k in range(*span.get(u, (0, 0))):
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
    # the out-edges of the component (edge ids, ascending) and those inside it
    idx = g.idx
    pos, _ = idx.out_positions(np.sort(np.asarray(comp, dtype=np.int64)))
    oe = np.sort(idx.edge_ids(pos))
    ie = oe[inside_mask[g.dst[oe]]]
    adj = _csr(g, ie)
    present = np.zeros(g.n_labels, dtype=bool)
    present[g.lab[ie]] = True
    taken_labels = set(np.flatnonzero(present).tolist())
    enabled_labels = sorted(set(g.lab[oe][g.kind[g.lab[oe]] != NONE].tolist()))
    name = (lambda a: label_names[a]) if label_names is not None else str
    obligations: list[tuple[str, object]] = []
    for a in enabled_labels:
        if a in taken_labels:
            obligations.append(("take", a))
        else:
            # weakly fair and not taken: visit a state where it is disabled
            dis = set(np.setdiff1d(comp, g.src_of(oe[g.lab[oe] == a])).tolist())
            obligations.append(("visit", (a, dis)))
    if must_take is not None:
        mt_in = must_take[inside_mask[g.src_of(must_take)] & inside_mask[g.dst[must_take]]]
        mt = set(mt_in.tolist())                     # the edges of interest inside the component
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
    if ie.size:
        lab_ie = np.asarray(g.lab[ie], dtype=np.int64)
        o = np.argsort(lab_ie, kind="stable")
        cut = np.flatnonzero(np.diff(lab_ie[o])) + 1
        for part in np.split(ie[o], cut):
            by_label_edges[int(g.lab[part[0]])] = set(part.tolist())
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
    on_cycle = np.array(sorted({s0} | {x for _, x in cycle}), dtype=np.int64)
    ie_src = g.src_of(ie)
    on = np.isin(ie_src, on_cycle)                # only the cycle's states are ever looked up
    mine = ie[on]
    edge_of = {(int(s), int(a)): int(e) for s, a, e in zip(ie_src[on].tolist(), g.lab[mine].tolist(), mine.tolist())}

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
    # the out-edges of the lasso's states (edge ids, ascending), through the shared adjacency
    pos, _ = g.idx.out_positions(np.array(sorted(srcs), dtype=np.int64))
    sel = np.sort(g.idx.edge_ids(pos))
    sel_src = g.src_of(sel)
    for s, e in zip(sel_src.tolist(), sel.tolist()):
        idx[(int(s), int(g.lab[e]))] = e
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
        oe = sel[sel_src == s]                  # every cycle state is a step of the lasso
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
    ``region`` to a state in ``targets``.

    Dial's algorithm on integer distances (a start's distance is its depth, every edge costs 1),
    run level by level with whole arrays: the states of one level are expanded in increasing id,
    each one's edges in label order, and the first relaxation of a state wins; the answer is the
    smallest target id on the lowest level that holds one.
    """
    n = g.n
    INF = np.iinfo(np.int64).max
    idx = g.idx
    starts = np.asarray(starts, dtype=np.int64)
    dist = np.full(n, INF, dtype=np.int64)
    sd = np.asarray(depth)[starts].astype(np.int64)
    np.minimum.at(dist, starts, sd)
    pred_lab = np.full(n, -1, dtype=np.int64)
    pred_src = np.full(n, -1, dtype=np.int64)
    is_target = np.zeros(n, dtype=bool)
    is_target[targets] = True
    usable = region & g.expanded                 # an edge is used iff region[src] & region[dst] & expanded[src]
    pending = _distinct(sd)                       # start depths not yet reached
    best = -1
    level = int(pending[0]) if pending.size else 0
    relaxed = np.zeros(0, dtype=np.int64)        # states whose distance became ``level`` by an edge
    while True:
        at = starts[(sd == level)]
        at = at[dist[at] == level]
        cur = _distinct(np.concatenate([relaxed, at])) if at.size else relaxed
        pending = pending[pending > level]
        if not cur.size and not pending.size:
            break
        if cur.size:
            hits = cur[is_target[cur]]
            if hits.size:
                best = int(hits.min())
                break
            u = cur[usable[cur]]
            pos, deg = idx.out_positions(u)
            v = idx.dst[pos]
            ok = region[v] & (dist[v] > level + 1)
            if ok.any():
                src_u = np.repeat(u, deg)[ok]
                v, labs = v[ok], idx.lab[pos][ok]
                first_v, first_i = np.unique(v, return_index=True)   # first relaxation wins
                dist[first_v] = level + 1
                pred_lab[first_v] = labs[first_i]
                pred_src[first_v] = src_u[first_i]
                relaxed = first_v
            else:
                relaxed = np.zeros(0, dtype=np.int64)
        else:
            relaxed = np.zeros(0, dtype=np.int64)
        level += 1
    if best < 0:
        raise LassoError("no path to the fair component")
    tail: list[tuple[int, int]] = []
    x = best
    while pred_src[x] != -1:
        tail.append((int(pred_lab[x]), x))
        x = int(pred_src[x])
    tail.reverse()
    head: list[tuple[int, int]] = []
    y = x
    while y >= 0:
        head.append((int(parent_action[y]), y))
        y = int(parent[y])
    head.reverse()
    return head + tail
