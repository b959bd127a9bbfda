"""Exhaustive breadth-first exploration over packed states, vectorised with NumPy.

Why this shape:

* The frontier of one BFS level is a ``(m, W)`` array of packed states.  Each guard conjunct is
  evaluated over the whole chunk at once (:class:`checker.vector.VecEval`), so the per-state cost
  is a handful of NumPy element operations instead of Python bytecode.
* The visited set is an open-addressing table of state ids tagged with fingerprint bits
  (:class:`_Table`; the reference engine keeps sorted runs of 64-bit fingerprints).  A hit is
  confirmed against the stored full state, so exploration is **exact**: a fingerprint collision
  is detected and reported, never silently merged.
* State ids are assigned deterministically: a new state's id orders by (parent id, action index)
  of its first discovery, which is exactly the order of a sequential BFS.  Traces are shortest.
* Every transition is kept for the liveness analysis, in CSR form: the edges are produced in
  (source, action) order, so a state's out-edges are one run ``indptr[s]:indptr[s+1]`` of the
  ``dst``/``lab`` arrays and no per-edge source is stored (5 bytes per edge instead of 9; during
  the search only the out-degree of each state, one byte).  Since an action instance is
  deterministic and a no-op is not a transition, "action ``a`` is enabled in ``s``" is simply
  "``s`` has an out-edge labelled ``a``".
* A state's depth is its BFS level: the level boundaries are kept, not a depth per state.
* Bounds (``max_states``, ``max_seconds``) and Ctrl-C end the search early with
  ``complete=False``; the states not yet expanded are known (ids ``>= n_expanded``), so verdicts
  that depend on them become UNKNOWN.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from certloop.checker.expr import Expr, ModelError, Var, show, variables
from certloop.checker.liveness import row_of
from certloop.checker.spec import Action, ActionAlways, Always, Model, Sometimes
from certloop.checker.vector import DomainError, Layout, VecEval, fingerprint

__all__ = ["explore", "StateGraph", "Progress", "FingerprintCollision"]

U64 = np.uint64


class FingerprintCollision(RuntimeError):
    """Two distinct states share a 64-bit fingerprint (never merged; reported)."""


@dataclass
class Progress:
    states: int
    transitions: int
    depth: int
    frontier: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0


@dataclass
class Found:
    """The first state (or transition) in BFS order that violates / witnesses a property."""

    state: int
    action: int = -1          # for action properties: the offending transition's action
    target: int = -1          # ... and its post-state id (-1 if not stored)
    post: np.ndarray | None = None


@dataclass
class StateGraph:
    """The explored graph: states, BFS tree, every transition, and what was found on the way."""

    model: Model
    layout: Layout
    states: "PackedRows | np.ndarray"   # (n, W) packed uint64 words (see PackedRows)
    parent: np.ndarray            # (n,) int32/int64, -1 for initial states
    parent_action: np.ndarray     # (n,) int8..int32, -1 for initial states
    levels: np.ndarray            # (d+2,) int64: the first id of each BFS level, then n
    indptr: np.ndarray            # (n+1,) int32/int64: out-edges of s are indptr[s]:indptr[s+1]
    dst: np.ndarray               # (e,) int32
    lab: np.ndarray               # (e,) int8..int32, in (source, label) order
    n_initial: int
    n_expanded: int
    complete: bool
    reason: str                   # "" when complete; else what stopped the search
    seconds: float
    found: dict[str, Found] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)   # engine, visited-set size, ...

    @property
    def n_states(self) -> int:
        return int(self.states.shape[0])

    @property
    def n_transitions(self) -> int:
        """Transitions found (stored ones; a safety-only search, ``edges=False``, counts them)."""
        return int(self.stats["transitions"]) if "transitions" in self.stats else int(self.dst.shape[0])

    @property
    def max_depth(self) -> int:
        return max(0, int(self.levels.size) - 2)

    @property
    def depth(self) -> np.ndarray:
        """(n,) the BFS depth of every state (materialised from the level boundaries)."""
        d = self.max_depth
        t = np.int8 if d < 128 else np.int16 if d < 32768 else np.int32
        return np.repeat(np.arange(d + 1, dtype=t), np.diff(self.levels))

    def depth_of(self, ids: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.levels, ids, side="right") - 1

    @property
    def src(self) -> np.ndarray:
        """(e,) the source of every transition, materialised from ``indptr`` (4 bytes per edge:
        on large graphs prefer :meth:`edge_src` on the edges at hand)."""
        n = self.n_states
        return np.repeat(np.arange(n, dtype=np.int32 if n < 2 ** 31 else np.int64), np.diff(self.indptr))

    def edge_src(self, e: np.ndarray | int) -> np.ndarray:
        """The source state of the given edge ids."""
        return row_of(self.indptr, e)

    def out_edges(self, s: int) -> range:
        """The edge ids of state ``s``'s out-edges (in label order)."""
        return range(int(self.indptr[s]), int(self.indptr[s + 1]))

    def decode(self, i: int) -> dict[Var, Any]:
        return self.layout.unpack(self.states[i])

    def path_to(self, i: int) -> list[tuple[int, int]]:
        """``[(action, state), ...]`` from an initial state to ``i``; the first action is -1."""
        out = []
        while i >= 0:
            out.append((int(self.parent_action[i]), i))
            i = int(self.parent[i])
        out.reverse()
        return out

    def evaluate(self, e: Expr, ids: np.ndarray | None = None, chunk: int = 1 << 18) -> np.ndarray:
        """A state predicate (or integer expression) over all states (or ``ids``), chunked.
        Predicates run as code compiled once per expression (:mod:`checker.compile`), on the
        words they read only; a predicate over all states is kept (expressions are interned, so
        two properties with one premise evaluate it once): the array returned is read-only."""
        boolean = e.type.name == "bool"
        memo = self.__dict__.setdefault("_masks", {}) if boolean and ids is None else None
        if memo is not None:
            hit = memo.get(id(e))
            if hit is not None:
                return hit[1]
        k_all = self.n_states if ids is None else int(ids.shape[0])
        out = np.empty(k_all, dtype=bool if boolean else np.int64)
        fn, reads = self._compiled(e) if boolean else (None, frozenset())
        for k in range(0, k_all, chunk):
            sel = slice(k, k + chunk) if ids is None else ids[k:k + chunk]
            if fn is not None:
                cols = self._columns(sel, reads)
                out[k:k + chunk] = fn(cols, cols)
            else:
                out[k:k + chunk] = VecEval(self.layout, self.states[sel]).full(e)
        if memo is not None:
            out.flags.writeable = False
            memo[id(e)] = (e, out)
        return out

    def evaluate_edges(self, e: Expr, edge_ids: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
        """A pre/post predicate over the given transitions (compiled once per expression)."""
        out = np.empty(edge_ids.shape[0], dtype=bool)
        fn, reads = self._compiled(e)
        for k in range(0, edge_ids.shape[0], chunk):
            ids = edge_ids[k:k + chunk]
            out[k:k + chunk] = fn(self._columns(self.edge_src(ids), reads), self._columns(self.dst[ids], reads))
        return out

    def _compiled(self, e: Expr) -> tuple[Callable, frozenset[int]]:
        """``(fn(pre_cols, post_cols) -> bool array, words read)`` for ``e``, compiled on first use."""
        from certloop.checker.compile import compile_pair_predicate
        cache = self.__dict__.setdefault("_predicates", {})
        hit = cache.get(id(e))
        if hit is None:
            reads = frozenset(self.layout.word[v] for v in variables(e))
            hit = cache[id(e)] = (e, compile_pair_predicate(self.layout, e), reads)   # keeps e alive
        return hit[1], hit[2]

    def _columns(self, sel: Any, reads: "frozenset[int] | None" = None) -> list[np.ndarray]:
        """The packed words of the selected states (a slice or ids), one contiguous uint64 array
        per word; ``reads``: only these words are gathered, the others are zero-stride
        placeholders of the right length (never read)."""
        st = self.states
        tail = st.tail if isinstance(st, PackedRows) else None
        head = st.head if isinstance(st, PackedRows) else st
        W = int(st.shape[1])
        n = len(range(self.n_states)[sel]) if isinstance(sel, slice) else int(np.shape(sel)[0])
        out: list[np.ndarray] = []
        for j in range(W):
            if reads is not None and j not in reads:
                out.append(np.broadcast_to(U64(0), (n,)))
            elif tail is not None and j == W - 1:
                out.append(tail[sel].astype(U64))
            else:
                out.append(np.ascontiguousarray(head[sel, j]))
        return out

    def bytes_per_state(self) -> float:
        n = max(1, self.n_states)
        return (self.states.nbytes + self.parent.nbytes + self.parent_action.nbytes
                + self.levels.nbytes) / n


class _Compiled:
    """An action prepared for vectorised expansion."""

    def __init__(self, a: Action, layout: Layout):
        self.action = a
        self.index = a.index
        self.conjuncts = [c.expr for c in a.guard]
        self.blocks = a.effect
        writes = sorted(a.writes, key=lambda v: v.index)
        self.writes = writes
        W = layout.W
        clear = [0] * W
        for v in writes:
            clear[layout.word[v]] |= ((1 << layout.bits[v]) - 1) << layout.shift[v]
        self.keep = np.array([(~c) & 0xFFFFFFFFFFFFFFFF for c in clear], dtype=U64)
        self.words_touched = sorted({layout.word[v] for v in writes})


class _Visited:
    """Sorted runs of (fingerprint, id); lookups search every run (few: merged geometrically)."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, fp: np.ndarray, ids: np.ndarray) -> None:
        o = np.argsort(fp, kind="stable")
        run = (fp[o], ids[o])
        self.runs.append(run)
        while len(self.runs) > 1 and self.runs[-1][0].size * 2 >= self.runs[-2][0].size:
            b = self.runs.pop()
            a = self.runs.pop()
            f = np.concatenate([a[0], b[0]])
            i = np.concatenate([a[1], b[1]])
            o = np.argsort(f, kind="stable")
            self.runs.append((f[o], i[o]))

    def lookup(self, fp: np.ndarray) -> np.ndarray:
        """State id for each fingerprint, or -1."""
        out = np.full(fp.shape[0], -1, dtype=np.int64)
        for rf, ri in self.runs:
            if rf.size == 0:
                continue
            pos = np.searchsorted(rf, fp)
            pos[pos >= rf.size] = rf.size - 1
            hit = rf[pos] == fp
            out[hit] = ri[pos[hit]]
        return out


class _Store:
    """A growable array of rows.

    ``inplace``: grow and shrink with ``ndarray.resize`` (``realloc``, which moves large blocks
    by remapping pages instead of copying them), so growth never holds two copies; the caller
    keeps no view across an :meth:`extend`.
    """

    def __init__(self, W: int, dtype: Any = U64, inplace: bool = False):
        self.a = np.zeros((1024, W) if W else 1024, dtype=dtype)
        self.n = 0
        self.inplace = inplace

    def _reserve(self, need: int) -> None:
        if need > self.a.shape[0]:
            grow = 1.125 if self.inplace else 2      # realloc moves pages (mremap), never copies:
            # a small step costs little and keeps the zero-filled, resident slack small
            cap = max(need, int(grow * self.a.shape[0]))
            if self.inplace:
                self.a.resize((cap,) + self.a.shape[1:], refcheck=False)
                return
            b = np.zeros((cap,) + self.a.shape[1:], dtype=self.a.dtype)
            b[:self.n] = self.a[:self.n]
            self.a = b

    def extend(self, rows: np.ndarray) -> None:
        need = self.n + rows.shape[0]
        self._reserve(need)
        self.a[self.n:need] = rows
        self.n = need

    def extend_const(self, value: int, count: int) -> None:
        """Append ``count`` copies of ``value`` (widening the dtype if it does not fit)."""
        if np.issubdtype(self.a.dtype, np.integer) and value > np.iinfo(self.a.dtype).max:
            wide = next(t for t in (np.int16, np.int32, np.int64) if value <= np.iinfo(t).max)
            self.a = self.a.astype(wide)
        need = self.n + count
        self._reserve(need)
        self.a[self.n:need] = value
        self.n = need

    @property
    def dtype(self) -> np.dtype:
        return self.a.dtype

    def view(self) -> np.ndarray:
        return self.a[:self.n]

    def final(self) -> np.ndarray:
        """The stored rows as an array of their own (no copy for an in-place store)."""
        if self.inplace:
            self.a.resize((self.n,) + self.a.shape[1:], refcheck=False)
            return self.a
        return self.a[:self.n].copy()


class _SegStore:
    """An append-only 1-D array kept as fixed-size segments (the compiled engine's parents,
    actions, out-degrees and edges).

    Growing never copies and never touches memory ahead of use (``ndarray.resize`` zero-fills
    the whole new capacity, so a 1.5x growth step costs up to 50 % more resident memory);
    :meth:`final` builds the one contiguous array segment by segment, freeing each as it goes,
    so the peak is the data plus one segment.
    """

    SEG = 1 << 24

    def __init__(self, dtype: Any):
        self.dtype = np.dtype(dtype)
        self.segs: list[np.ndarray] = []
        self._n = 0

    @property
    def n(self) -> int:
        return self._n

    @n.setter
    def n(self, value: int) -> None:          # a rollback: shrink to ``value`` entries
        self._n = value
        keep = (value + self.SEG - 1) // self.SEG
        del self.segs[keep:]

    @property
    def nbytes(self) -> int:
        return self._n * self.dtype.itemsize

    def _widen(self, value: int) -> None:
        if np.issubdtype(self.dtype, np.integer) and value > np.iinfo(self.dtype).max:
            self.dtype = np.dtype(next(t for t in (np.int16, np.int32, np.int64) if value <= np.iinfo(t).max))
            self.segs = [x.astype(self.dtype) for x in self.segs]

    def extend(self, rows: np.ndarray) -> None:
        k, off = int(rows.shape[0]), 0
        while off < k:
            si, at = divmod(self._n, self.SEG)
            if si == len(self.segs):
                self.segs.append(np.empty(self.SEG, dtype=self.dtype))
            take = min(k - off, self.SEG - at)
            self.segs[si][at:at + take] = rows[off:off + take]
            self._n += take
            off += take

    def extend_const(self, value: int, count: int) -> None:
        self._widen(value)
        k = 0
        while k < count:
            si, at = divmod(self._n, self.SEG)
            if si == len(self.segs):
                self.segs.append(np.empty(self.SEG, dtype=self.dtype))
            take = min(count - k, self.SEG - at)
            self.segs[si][at:at + take] = value
            self._n += take
            k += take

    def final(self) -> np.ndarray:
        if len(self.segs) == 1:
            # one segment: shrunk in place (the untouched tail was never resident), no copy
            seg = self.segs.pop()
            seg.resize(self._n, refcheck=False)
            return seg
        out = np.empty(self._n, dtype=self.dtype)
        for i in range(len(self.segs)):
            lo = i * self.SEG
            hi = min(self._n, lo + self.SEG)
            out[lo:hi] = self.segs[i][:hi - lo]
            self.segs[i] = np.empty(0, dtype=self.dtype)      # freed as soon as it is copied
        self.segs = []
        return out


def tail_dtype(layout: Layout) -> Any:
    """The narrowest unsigned dtype holding the last packed word (its used bits)."""
    used = max([layout.shift[v] + layout.bits[v] for v in layout.vars if layout.word[v] == layout.W - 1],
               default=0)
    return next(t for t, b in ((np.uint8, 8), (np.uint16, 16), (np.uint32, 32), (np.uint64, 64)) if used <= b)


class PackedRows:
    """The stored states: ``(n, W)`` packed uint64 words, kept as the first ``W - 1`` words and a
    last word in the narrowest dtype that holds its bits (26 bytes instead of 32 for a 203-bit
    state).  Indexing gives uint64 words: ``rows[i]`` one row, ``rows[ids]`` / ``rows[lo:hi]``
    an ``(k, W)`` array; ``np.asarray(rows)`` all of them (a copy)."""

    dtype = np.dtype(U64)

    def __init__(self, head: np.ndarray, tail: np.ndarray):
        self.head = head          # (n, W-1) uint64
        self.tail = tail          # (n,) uint8..uint64
        self.W = head.shape[1] + 1

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.tail.shape[0]), self.W)

    @property
    def nbytes(self) -> int:
        return int(self.head.nbytes + self.tail.nbytes)

    def __len__(self) -> int:
        return int(self.tail.shape[0])

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            row = np.empty(self.W, dtype=U64)
            row[:-1] = self.head[key]
            row[-1] = self.tail[key]
            return row
        t = self.tail[key]
        out = np.empty((t.shape[0], self.W), dtype=U64)
        out[:, :-1] = self.head[key]
        out[:, -1] = t
        return out

    def col(self, j: int) -> np.ndarray:
        """Word ``j`` of every row (a view; the last word in its narrow dtype)."""
        return self.tail if j == self.W - 1 else self.head[:, j]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self[0:len(self)]
        return a if dtype is None else a.astype(dtype)


class _RowStore:
    """A growable :class:`PackedRows` (two in-place stores)."""

    def __init__(self, layout: Layout, inplace: bool = True):
        self.W = layout.W
        self.head = _Store(self.W - 1, inplace=inplace)
        if self.W == 1:                           # no head words: a zero-width 2-D store
            self.head.a = np.zeros((1024, 0), dtype=U64)
        self.tail = _Store(0, tail_dtype(layout), inplace=inplace)

    @property
    def n(self) -> int:
        return self.tail.n

    @n.setter
    def n(self, value: int) -> None:
        self.head.n = self.tail.n = value

    def extend(self, rows: np.ndarray) -> None:
        self.head.extend(rows[:, :-1])
        self.tail.extend(rows[:, -1].astype(self.tail.a.dtype))

    def view(self) -> PackedRows:
        return PackedRows(self.head.view(), self.tail.view())

    def col(self, j: int) -> np.ndarray:
        """Word ``j`` of the stored rows (the whole buffer: index with ids below ``n``)."""
        return self.tail.a if j == self.W - 1 else self.head.a[:, j]

    def rows(self, lo: int, hi: int) -> np.ndarray:
        out = np.empty((hi - lo, self.W), dtype=U64)
        out[:, :-1] = self.head.a[lo:hi]
        out[:, -1] = self.tail.a[lo:hi]
        return out

    def final(self) -> PackedRows:
        return PackedRows(self.head.final(), self.tail.final())


# --------------------------------------------------------------------------- the compiled engine


class _Table:
    """The exact visited set of the compiled engine: open addressing with linear probing.

    A slot is an int32: -1 when empty, else ``tag << id_bits | id`` where ``id`` is a state id and
    ``tag`` holds the spare bits (``31 - id_bits``, ``id_bits`` just enough for the capacity) of the
    state's fingerprint.  The key of an id is the stored state itself; the home slot comes from
    the fingerprint's high half, the tag from its low half.  A probe whose tag differs moves on
    without touching the states; a tag match is confirmed against the stored state, so distinct
    states never merge.  Two distinct states with the *same* 64-bit fingerprint are still
    reported (:class:`FingerprintCollision`), as by the sorted-run set.  4 bytes per slot at a load
    factor between 0.47 and 0.7 (a bucketised table, 8 slots compared at once, measured slower
    in NumPy).
    """

    MAX_LOAD = 0.7
    GROW = 1.5

    def __init__(self, states: "_RowStore", cap: int = 1 << 12):
        self.states = states
        self.n = 0
        self._alloc(cap)

    def _alloc(self, cap: int) -> None:
        self.cap = cap
        self.t = np.full(cap, -1, dtype=np.int32)
        self.id_bits = max(1, int(cap).bit_length())
        if self.id_bits > 31:
            raise ModelError("more than 2**31 states: beyond this explorer")
        self.id_mask = np.int32((1 << self.id_bits) - 1)
        self.tag_mask = (1 << (31 - self.id_bits)) - 1

    @property
    def nbytes(self) -> int:
        return int(self.t.nbytes)

    def _home(self, fp: np.ndarray) -> np.ndarray:
        return (((fp >> U64(32)) * U64(self.cap)) >> U64(32)).astype(np.int64)

    def _tag(self, fp: np.ndarray) -> np.ndarray:
        return (fp & U64(self.tag_mask)).astype(np.int32)

    def lookup(self, fp: np.ndarray, Ct: np.ndarray, cidx: np.ndarray) -> np.ndarray:
        """The id of each candidate ``Ct[:, cidx]`` (word-major candidates) in the set, or -1."""
        k = fp.shape[0]
        out = np.full(k, -1, dtype=np.int32)        # ids are below 2**31 (checked on insert)
        slot = self._home(fp)
        tag = self._tag(fp)
        t = self.t
        cap = self.cap
        ib = np.int32(self.id_bits)
        cols = [self.states.col(j) for j in range(self.states.W)]
        W = len(cols)
        pend: np.ndarray | None = None        # the candidates still probing (None: all, in order)
        while True:
            v = t[slot]
            # a tag match (an empty slot, -1, never matches: tags are >= 0)
            ti = np.flatnonzero((v >> ib) == tag)
            alive = v >= 0                    # an empty slot ends the probe: absent
            if ti.size:
                ids = v[ti] & self.id_mask
                ci = cidx[ti] if pend is None else cidx[pend[ti]]
                eq = cols[0][ids] == Ct[0, ci]
                for j in range(1, W):
                    eq &= cols[j][ids] == Ct[j, ci]
                if not eq.all():
                    ne = ~eq
                    who = ti[ne] if pend is None else pend[ti[ne]]
                    if (fingerprint(self.states.view()[ids[ne]]) == fp[who]).any():
                        raise FingerprintCollision("two distinct states share a 64-bit fingerprint; "
                                                   "this is astronomically rare: please report it")
                hit = ti[eq]
                out[hit if pend is None else pend[hit]] = ids[eq]
                alive[hit] = False
            sel = np.flatnonzero(alive)
            if not sel.size:
                break
            pend = sel if pend is None else pend[sel]
            slot, tag = slot[sel] + 1, tag[sel]
            slot[slot == cap] = 0
        return out

    def insert(self, fp: np.ndarray, ids: np.ndarray) -> None:
        """Add states known to be absent (and distinct)."""
        if self.n + ids.size > self.MAX_LOAD * self.cap:
            self._grow(self.n + ids.size)
        self._place(self._home(fp), (self._tag(fp) << np.int32(self.id_bits)) | ids.astype(np.int32))
        self.n += ids.size

    def _place(self, slot: np.ndarray, vals: np.ndarray) -> None:
        t = self.t
        cap = self.cap
        while vals.size:
            free = t[slot] < 0
            sf, vf = slot[free], vals[free]
            t[sf] = vf                        # several may claim one slot: one of them wins
            placed = np.zeros(vals.size, dtype=bool)
            placed[free] = t[sf] == vf
            keep = ~placed
            slot, vals = slot[keep] + 1, vals[keep]
            slot[slot == cap] = 0

    def _grow(self, need: int) -> None:
        cap = self.cap
        while need > self.MAX_LOAD * cap:
            cap = int(cap * self.GROW) + 1
        self._alloc(cap)
        step = 1 << 20
        for lo in range(0, self.n, step):
            hi = min(self.n, lo + step)
            fp = fingerprint(self.states.rows(lo, hi))
            ids = np.arange(lo, hi, dtype=np.int32)
            self._place(self._home(fp), (self._tag(fp) << np.int32(self.id_bits)) | ids)


def _confirm_equal(cols: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """Candidates ``a`` and ``b`` (columns of the word-major ``cols``) share a fingerprint: they
    must be equal, or two distinct states collided (reported, never merged)."""
    same = cols[0, a] == cols[0, b]
    for j in range(1, cols.shape[0]):
        same &= cols[j, a] == cols[j, b]
    if not same.all():
        raise FingerprintCollision("two distinct states share a 64-bit fingerprint; "
                                   "this is astronomically rare: please report it")


class _Fast:
    """Chunk expansion with compiled actions and the exact hash set (``engine="compiled"``)."""

    SUB = 1 << 14  # rows per call of the generated code (cache-sized temporaries)

    def __init__(self, model: Model, layout: Layout, aprops: Sequence[ActionAlways],
                 states: "_RowStore", parent: "_Store", pact: "_Store",
                 deg: "_Store", e_dst: "_Store", e_lab: "_Store", table: _Table):
        from certloop.checker.compile import CompiledModel
        self.model = model
        self.layout = layout
        self.aprops = list(aprops)
        self.cm = CompiledModel(model, layout, self.aprops)
        self.states, self.parent, self.pact = states, parent, pact
        self.deg, self.e_dst, self.e_lab = deg, e_dst, e_lab
        self.table = table
        self.lab_dtype = e_lab.dtype
        self.parallel: list[np.ndarray] = []      # states with two actions leading to one state
        self.keep_edges = True                    # False: a safety-only search (count them only)
        self.n_edges = 0

    def expand(self, lo: int, hi: int, found: dict) -> None:
        """Expand states ``lo:hi``: new states, their out-edges, one out-degree per state."""
        layout = self.layout
        W = layout.W
        states = self.states
        m = hi - lo
        Ft = np.array(states.rows(lo, hi).T, order="C")   # a copy: the stores grow in place
        out: list = []
        errs: list = []
        afound: list = []
        pend = [p.name not in found for p in self.aprops]
        sub = self.SUB
        if m <= sub:
            self.cm.expand([Ft[j] for j in range(W)], m, out, errs, pend, afound)
        else:
            # the generated code runs on slices small enough for its temporaries to stay in cache;
            # the results are merged per action in row order (the same arrays as one call)
            parts: dict[int, list] = {}
            for s0 in range(0, m, sub):
                s1 = min(m, s0 + sub)
                o: list = []
                f0 = len(afound)
                self.cm.expand([Ft[j, s0:s1] for j in range(W)], s1 - s0, o, errs, pend, afound)
                for i in range(f0, len(afound)):
                    pi, a, row, post = afound[i]
                    afound[i] = (pi, a, row + s0, post)
                for a, rows, cols in o:
                    parts.setdefault(a, []).append((rows + s0, cols))
            for a, lst in parts.items():
                if len(lst) == 1:
                    out.append((a, lst[0][0], lst[0][1]))
                else:
                    out.append((a, np.concatenate([r for r, _ in lst]),
                                tuple(np.concatenate([c[j] for _, c in lst]) for j in range(W))))
        if errs:
            a, vi, value = min(errs, key=lambda x: (x[0], x[1]))
            act = self.model.actions[a]
            v = self.model.schema.vars[vi]
            raise ModelError(f"action {act.label}: {DomainError(v, value, 0)}")
        if self.cm.split and out:
            out = self._apply_suffix(Ft, out, pend, afound)
        if errs:  # pragma: no cover - raised above
            a, vi, value = min(errs, key=lambda x: (x[0], x[1]))
            act = self.model.actions[a]
            v = self.model.schema.vars[vi]
            raise ModelError(f"action {act.label}: {DomainError(v, value, 0)}")
        if afound:
            # the first transition in BFS order: the lowest source state, then the lowest action
            # (whatever the chunk and sub-chunk sizes)
            for pi in sorted({x[0] for x in afound}):
                pa, a, row, post = min((x for x in afound if x[0] == pi), key=lambda x: (x[2], x[1]))
                p = self.aprops[pi]
                if p.name not in found:
                    found[p.name] = Found(lo + row, a, -1, np.array(post, dtype=U64))
        if not out:
            if self.keep_edges:
                self.deg.extend_const(0, m)
            return
        out.sort(key=lambda x: x[0])
        self._commit(out, lo, m)

    def _apply_suffix(self, Ft: np.ndarray, out: list, pend: list, afound: list) -> list:
        """The trailing effect blocks every action shares, once per distinct intermediate state;
        then the no-op rule and the action properties (as the composed path does them)."""
        W = self.layout.W
        out.sort(key=lambda x: x[0])
        sizes = [len(x[1]) for x in out]
        k = sum(sizes)
        many = len(out) > 1
        C1 = np.empty((W, k), dtype=U64)
        for j in range(W):
            if many:
                np.concatenate([x[2][j] for x in out], out=C1[j])
            else:
                C1[j] = out[0][2][j]
        # the shared blocks read only some fields: run them once per distinct projection onto
        # those fields, then merge the fields they write into each candidate
        rmask, wmask = self.cm.suffix_read, self.cm.suffix_write
        P = np.empty((W, k), dtype=U64)
        for j in range(W):
            np.bitwise_and(C1[j], U64(rmask[j]), out=P[j])
        fp = fingerprint(P.T)
        o = np.argsort(fp)
        sfp = fp[o]
        first = np.empty(k, dtype=bool)
        first[0] = True
        np.not_equal(sfp[1:], sfp[:-1], out=first[1:])
        group = np.cumsum(first) - 1
        reps = o[first]
        if not first.all():
            dup = np.flatnonzero(~first)
            _confirm_equal(P, o[dup], reps[group[dup]])
        R = P[:, reps]
        u = reps.size
        sub = self.SUB
        parts = [self.cm.suffix([R[j, s0:s0 + sub] for j in range(W)], min(u, s0 + sub) - s0)  # type: ignore[misc]
                 for s0 in range(0, u, sub)]
        inv = np.empty(k, dtype=np.int64)
        inv[o] = group
        N2 = []
        for j in range(W):
            if not wmask[j]:
                N2.append(C1[j])
                continue
            sj = np.concatenate([p[j] for p in parts]) if len(parts) > 1 else parts[0][j]
            keep = U64(~wmask[j] & 0xFFFFFFFFFFFFFFFF)
            N2.append((C1[j] & keep) | (sj[inv] & U64(wmask[j])))
        rows = np.concatenate([x[1] for x in out]) if many else out[0][1]
        changed = N2[0] != Ft[0][rows]
        for j in range(1, W):
            changed |= N2[j] != Ft[j][rows]
        new: list = []
        off = 0
        for (a, r, _), sz in zip(out, sizes):
            ci = np.flatnonzero(changed[off:off + sz])
            if ci.size:
                new.append((a, r[ci], tuple(N2[j][off:off + sz][ci] for j in range(W))))
            off += sz
        # action properties: the first violating row of each action (the caller picks the first
        # transition in BFS order among them)
        for pi, p in enumerate(self.aprops):
            if not pend[pi]:
                continue
            for a, r, cols in new:
                if not p.applies(self.model.actions[a]):
                    continue
                ok = self.cm.pair_preds[pi]([Ft[j][r] for j in range(W)], list(cols))
                bad = np.flatnonzero(~np.asarray(ok, dtype=bool))
                if bad.size:
                    afound.append((pi, a, int(r[bad[0]]), tuple(c[bad[0]] for c in cols)))
        return new

    def _commit(self, out: list, lo: int, m: int) -> None:
        """Deduplicate the chunk's candidates, assign ids in (parent, action) order, store."""
        W = self.layout.W
        states = self.states
        sizes = [len(x[1]) for x in out]
        k = sum(sizes)
        many = len(out) > 1
        rows = np.concatenate([x[1] for x in out]) if many else out[0][1]
        labs = np.repeat(np.array([x[0] for x in out], dtype=self.lab_dtype), sizes)
        Ct = np.empty((W, k), dtype=U64)              # candidates, one row per word (action-major)
        for j in range(W):
            if many:
                np.concatenate([x[2][j] for x in out], out=Ct[j])
            else:
                Ct[j] = out[0][2][j]
        C = Ct.T                                      # (k, W) view
        # (src, action) order: actions were concatenated in index order, so sort by row, stably
        key = rows.astype(np.uint16) if m <= (1 << 16) else rows
        order = np.argsort(key, kind="stable")
        fp = fingerprint(C)
        # ---- distinct candidates: one sort of (fingerprint high bits | rank in (src, action) order)
        b = max(1, int(k - 1).bit_length())
        rank = np.empty(k, dtype=np.int64)
        rank[order] = np.arange(k)
        hi_mask = U64(((1 << 64) - 1) ^ ((1 << b) - 1))
        skey = np.sort((fp & hi_mask) | rank.astype(U64))
        r_sorted = (skey & U64((1 << b) - 1)).astype(np.int64)   # ranks, grouped by fingerprint
        c_sorted = order[r_sorted]                              # candidate index of each
        f_sorted = fp[c_sorted]
        first = np.empty(k, dtype=bool)
        first[0] = True
        np.not_equal(f_sorted[1:], f_sorted[:-1], out=first[1:])
        pre = skey >> U64(b)
        if ((pre[1:] == pre[:-1]) & first[1:]).any():
            # two fingerprints share their high bits: fall back to a stable sort on the full ones
            o2 = np.lexsort((r_sorted, f_sorted))
            r_sorted, c_sorted, f_sorted = r_sorted[o2], c_sorted[o2], f_sorted[o2]
            np.not_equal(f_sorted[1:], f_sorted[:-1], out=first[1:])
        group = np.cumsum(first) - 1                  # group of each sorted candidate
        reps = c_sorted[first]                        # the first (in (src, action) order) of each group
        if self.keep_edges:
            # parallel edges: two actions of one state with the same successor sit side by side
            rs = rows[c_sorted]
            par = np.flatnonzero(~first[1:] & (rs[1:] == rs[:-1]))
            if par.size:
                self.parallel.append(rs[par + 1] + lo)
        if not first.all():
            dup = np.flatnonzero(~first)
            _confirm_equal(Ct, c_sorted[dup], reps[group[dup]])
        rfp = f_sorted[first]
        rid = self.table.lookup(rfp, Ct, reps)
        miss = np.flatnonzero(rid < 0)
        if miss.size:
            base = states.n
            if base + miss.size >= np.iinfo(np.int32).max:
                raise ModelError("more than 2**31 states: beyond this explorer")
            # new ids in (src, action) order of discovery
            mo = np.argsort(rank[reps[miss]], kind="stable")
            newg = miss[mo]
            rid[newg] = np.arange(base, base + newg.size, dtype=np.int32)
            new_c = reps[newg]
            states.extend(C[new_c])
            self.parent.extend(rows[new_c] + lo)
            self.pact.extend(labs[new_c])
            self.table.insert(rfp[newg], base + np.arange(newg.size))
        self.n_edges += k
        if not self.keep_edges:
            return
        # the edges in (source, action) order: a candidate's rank is its position there
        dst = np.empty(k, dtype=np.int32)
        dst[r_sorted] = rid[group]
        self.deg.extend(np.bincount(rows, minlength=m).astype(self.deg.dtype))
        self.e_dst.extend(dst)
        self.e_lab.extend(labs[order])


def explore(model: Model, *, max_states: int | None = None, max_seconds: float | None = None,
            chunk: int = 1 << 16, progress: Callable[[Progress], None] | None = None,
            progress_every: float = 1.0, stop_at_first: bool = False,
            engine: str = "compiled", edges: bool = True) -> StateGraph:
    """Explore every reachable state of ``model`` breadth-first.

    Invariants (:class:`Always`), action invariants (:class:`ActionAlways`) and reachability
    (:class:`Sometimes`) are evaluated on the fly; the first violation / witness of each, in BFS
    order, is recorded in ``StateGraph.found``.

    ``engine``: ``"compiled"`` (generated NumPy code per action, an exact hash set, compact
    dtypes) or ``"reference"`` (the interpretive evaluator and sorted fingerprint runs).  Both give
    the same states, ids, parents, depths and transitions (:mod:`tests.test_perf_equivalence`).
    """
    if engine not in ("compiled", "reference"):
        raise ValueError(f"engine must be 'compiled' or 'reference', not {engine!r}")
    if not edges and engine != "compiled":
        raise ValueError("edges=False (a safety-only search) needs the compiled engine")
    model.validate()
    layout = Layout(model.schema.vars)
    W = layout.W
    t0 = time.monotonic()
    acts = [_Compiled(a, layout) for a in model.actions]
    invariants = [p for p in model.properties if isinstance(p, (Always, Sometimes))]
    aprops = [p for p in model.properties if isinstance(p, ActionAlways)]
    aprops_for: dict[int, list[ActionAlways]] = {a.index: [p for p in aprops if p.applies(a)] for a in model.actions}
    found: dict[str, Found] = {}

    fast: _Fast | None = None
    na = len(model.actions)
    # an action instance is deterministic: a state has at most one out-edge per action
    deg_t = np.uint8 if na < (1 << 8) else np.uint16 if na < (1 << 16) else np.uint32
    if engine == "reference":
        states = _Store(W)
        parent = _Store(0, np.int64)
        pact = _Store(0, np.int32)
        deg = _Store(0, deg_t)
        e_dst = _Store(0, np.int32)
        e_lab = _Store(0, np.int32)
        visited = _Visited()
    else:
        lab_t = np.int8 if na < (1 << 7) else np.int16 if na < (1 << 15) else np.int32
        states = _RowStore(layout)  # type: ignore[assignment]
        parent = _SegStore(np.int32)  # type: ignore[assignment]
        pact = _SegStore(lab_t)  # type: ignore[assignment]
        deg = _SegStore(deg_t)  # type: ignore[assignment]
        e_dst = _SegStore(np.int32)  # type: ignore[assignment]
        e_lab = _SegStore(lab_t)  # type: ignore[assignment]
        visited = _Table(states)  # type: ignore[assignment, arg-type]
        fast = _Fast(model, layout, aprops, states, parent, pact, deg, e_dst, e_lab,  # type: ignore[arg-type]
                     visited)  # type: ignore[arg-type]
        fast.keep_edges = edges
    stores = [states, parent, pact, deg, e_dst, e_lab]
    snapshot = [0] * len(stores)

    # ---- initial states, deduplicated, in declaration order
    init_rows: list[np.ndarray] = []
    seen_rows: set[bytes] = set()
    seen_fp: set[int] = set()
    for st in model.inits:
        row = layout.pack(st)
        if row.tobytes() in seen_rows:      # a duplicate: compare states, never fingerprints alone
            continue
        f = int(fingerprint(row[None, :])[0])
        if f in seen_fp:
            raise FingerprintCollision("two distinct initial states share a 64-bit fingerprint; "
                                       "this is astronomically rare: please report it")
        seen_rows.add(row.tobytes())
        seen_fp.add(f)
        init_rows.append(row)
    init = np.array(init_rows, dtype=U64).reshape(len(init_rows), W)
    states.extend(init)
    parent.extend(np.full(len(init_rows), -1, dtype=np.int64))
    pact.extend(np.full(len(init_rows), -1, dtype=np.int32))
    if fast is None:
        visited.add(fingerprint(init), np.arange(len(init_rows), dtype=np.int64))
    else:
        visited.insert(fingerprint(init), np.arange(len(init_rows), dtype=np.int64))  # type: ignore[attr-defined]
    n_initial = len(init_rows)

    level_start, level_end, d = 0, n_initial, 0
    levels = [0, n_initial]          # the first id of each depth (the last one: still growing)
    complete, reason = True, ""
    last_report = t0
    n_expanded = 0

    checked_to = 0

    def check_states(lo: int, hi: int) -> None:
        nonlocal checked_to
        checked_to = max(checked_to, hi)
        # in pieces: a level of tens of millions of states would otherwise need its words and
        # every evaluated column (8 bytes per state each) at once
        for c0 in range(lo, hi, chunk):
            pending = [p for p in invariants if p.name not in found]
            if not pending:
                return
            c1 = min(hi, c0 + chunk)
            ev = VecEval(layout, np.asarray(states.view()[c0:c1]))
            for p in pending:
                val = ev.full(p.expr)
                hit = np.flatnonzero(~val if isinstance(p, Always) else val)
                if hit.size:
                    found[p.name] = Found(c0 + int(hit[0]))

    check_states(0, n_initial)
    try:
        while level_start < level_end:
            for lo in range(level_start, level_end, chunk):
                now = time.monotonic()
                if max_seconds is not None and now - t0 > max_seconds:
                    complete, reason = False, f"time bound {max_seconds:g} s"
                    raise _Stop
                if max_states is not None and states.n >= max_states:
                    complete, reason = False, f"state bound {max_states}"
                    raise _Stop
                hi = min(level_end, lo + chunk)
                snapshot = [st.n for st in stores]
                if fast is not None:
                    fast.expand(lo, hi, found)
                else:
                    _expand_chunk(layout, acts, aprops_for, states, parent, pact, deg, e_dst, e_lab,
                                  visited, lo, hi, found)
                n_expanded = hi
                snapshot = [st.n for st in stores]   # the chunk is committed: never roll it back
                if progress is not None and time.monotonic() - last_report >= progress_every:
                    last_report = time.monotonic()
                    progress(Progress(states.n, e_dst.n if edges else fast.n_edges,  # type: ignore[union-attr]
                                      d, level_end - hi, last_report - t0))
                if stop_at_first and len(found) == len(invariants) + len(aprops) and found:
                    complete, reason = False, "stopped at first violation"
                    raise _Stop
            check_states(level_end, states.n)
            level_start, level_end, d = level_end, states.n, d + 1
            levels.append(level_end)
    except _Stop:
        pass
    except KeyboardInterrupt:
        # roll back the chunk that was under way so that every store is consistent
        for st, n in zip(stores, snapshot):
            st.n = min(st.n, n)
        complete, reason = False, "interrupted"
    if complete:
        n_expanded = states.n
    elif checked_to < states.n:
        # a stop in the middle of a level: the states found so far are still checked
        check_states(checked_to, states.n)
    seconds = time.monotonic() - t0
    if progress is not None:
        n_edges = e_dst.n if edges else fast.n_edges  # type: ignore[union-attr]
        progress(Progress(states.n, n_edges, d, 0, seconds))
    stats: dict[str, Any] = {"engine": engine}
    if fast is not None:
        stats.update(visited_bytes=visited.nbytes, visited_slots=visited.cap)  # type: ignore[attr-defined]
        par = np.concatenate(fast.parallel) if fast.parallel else np.zeros(0, dtype=np.int64)
        stats["parallel_src"] = np.unique(par[par < states.n])   # exact: for the liveness index
        if not edges:
            stats.update(edges=False, transitions=fast.n_edges)
    else:
        stats.update(visited_bytes=sum(f.nbytes + i.nbytes for f, i in visited.runs))
    del visited, fast
    n = states.n
    lv = np.array([x for x in levels if x < n] + [n], dtype=np.int64)
    # out-degrees to offsets; the states never expanded (a bound, Ctrl-C) have none
    e = e_dst.n
    indptr = np.zeros(n + 1, dtype=np.int32 if e < 2 ** 31 - 1 else np.int64)
    nd = deg.n
    np.cumsum(deg.final(), out=indptr[1:nd + 1])
    indptr[nd + 1:] = e
    del deg
    return StateGraph(model, layout, states.final(), parent.final(), pact.final(),
                      lv, indptr, e_dst.final(), e_lab.final(),
                      n_initial, n_expanded, complete, reason, seconds, found, stats)


class _Stop(Exception):
    pass


def _expand_chunk(layout: Layout, acts: Sequence[_Compiled], aprops_for: dict[int, list[ActionAlways]],
                  states: _Store, parent: _Store, pact: _Store,
                  deg: _Store, e_dst: _Store, e_lab: _Store, visited: _Visited,
                  lo: int, hi: int, found: dict) -> None:
    F = states.view()[lo:hi].copy()
    m = F.shape[0]
    afirst: dict[str, tuple[int, int, np.ndarray]] = {}   # the first violating transition (row, action)
    ev = VecEval(layout, F)
    cand_w: list[np.ndarray] = []
    cand_src: list[np.ndarray] = []
    cand_lab: list[np.ndarray] = []
    for ca in acts:
        g: np.ndarray | None = None
        for c in ca.conjuncts:
            val = ev(c)
            if not isinstance(val, np.ndarray):
                if val:
                    continue
                g = np.zeros(m, dtype=bool)
                break
            g = val if g is None else (g & val)
            if not g.any():
                break
        rows = np.arange(m) if g is None else np.flatnonzero(g)
        if rows.size == 0:
            continue
        sub = F[rows]
        N = _apply(layout, ca, sub)
        changed = (N != sub).any(axis=1)
        if not changed.all():
            rows, sub, N = rows[changed], sub[changed], N[changed]
        if rows.size == 0:
            continue
        for p in aprops_for.get(ca.index, ()):
            if p.name in found:
                continue
            ok = VecEval(layout, sub, nxt=N).full(p.expr)
            bad = np.flatnonzero(~ok)
            if bad.size:
                at = (int(rows[bad[0]]), ca.index)
                if p.name not in afirst or at < afirst[p.name][:2]:
                    afirst[p.name] = (*at, N[bad[0]].copy())
        cand_w.append(N)
        cand_src.append(rows.astype(np.int64) + lo)
        cand_lab.append(np.full(rows.size, ca.index, dtype=np.int32))
    for name, (row, a, post) in afirst.items():           # BFS order: lowest source, then action
        found[name] = Found(lo + row, a, -1, post)
    if not cand_w:
        deg.extend_const(0, m)
        return
    C = np.concatenate(cand_w)
    src = np.concatenate(cand_src)
    lab = np.concatenate(cand_lab)
    fp = fingerprint(C)
    dst = visited.lookup(fp)
    hit = dst >= 0
    if hit.any():
        stored = states.view()[dst[hit]]
        if not (stored == C[hit]).all():
            raise FingerprintCollision("two distinct states share a 64-bit fingerprint; "
                                       "this is astronomically rare: please report it")
    miss = np.flatnonzero(~hit)
    if miss.size:
        mfp, msrc, mlab = fp[miss], src[miss], lab[miss]
        o = np.lexsort((mlab, msrc, mfp))
        sfp = mfp[o]
        first = np.ones(o.size, dtype=bool)
        first[1:] = sfp[1:] != sfp[:-1]
        group = np.cumsum(first) - 1                 # group number of each sorted candidate
        reps = o[first]                              # index into miss of each group's representative
        # confirm that every member of a group equals its representative
        rep_of_sorted = reps[group]
        if not (C[miss[o]] == C[miss[rep_of_sorted]]).all():
            raise FingerprintCollision("two distinct states share a 64-bit fingerprint; "
                                       "this is astronomically rare: please report it")
        # new ids in (parent, action) order of the representatives
        ro = np.lexsort((mlab[reps], msrc[reps]))
        new_id_of_group = np.empty(reps.size, dtype=np.int64)
        base = states.n
        new_id_of_group[ro] = base + np.arange(reps.size)
        ids_sorted = new_id_of_group[group]
        dst[miss[o]] = ids_sorted
        rep_rows = miss[reps[ro]]
        states.extend(C[rep_rows])
        parent.extend(src[rep_rows])
        pact.extend(lab[rep_rows])
        visited.add(fp[rep_rows], base + np.arange(reps.size, dtype=np.int64))
    o = np.lexsort((lab, src))                       # CSR: (source, label) order
    deg.extend(np.bincount(src - lo, minlength=m).astype(deg.dtype))
    e_dst.extend(dst[o].astype(np.int32))
    e_lab.extend(lab[o])


def _apply(layout: Layout, ca: _Compiled, sub: np.ndarray) -> np.ndarray:
    """The post-states of one action over the rows ``sub`` where its guard holds."""
    m = sub.shape[0]
    cur: dict[Var, Any] = {}
    for block in ca.blocks:
        sev = VecEval(layout, sub, overrides=cur)
        new = {v: sev.full(e) for v, e in block}
        cur = {**cur, **new}
    N = sub & ca.keep[None, :]
    for v in ca.writes:
        try:
            code = layout.encode_column(v, cur[v])
        except DomainError as err:
            raise ModelError(f"action {ca.action.label}: {err}") from None
        w = layout.word[v]
        N[:, w] |= code << U64(layout.shift[v])
    return N
