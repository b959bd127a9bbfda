"""Exhaustive breadth-first exploration over packed states, vectorised with NumPy.

Why this shape:

* The frontier of one BFS level is a ``(m, W)`` array of packed states.  Each guard conjunct is
  evaluated over the whole chunk at once (:class:`checker.vector.VecEval`), so the per-state cost
  is a handful of NumPy element operations instead of Python bytecode.
* The visited set is a list of sorted runs of 64-bit fingerprints with the state id beside each
  (merged geometrically, an LSM tree in miniature).  A fingerprint hit is confirmed against the
  stored full state, so exploration is **exact**: a collision is detected and reported, never
  silently merged.
* State ids are assigned deterministically: a new state's id orders by (parent id, action index)
  of its first discovery, which is exactly the order of a sequential BFS.  Traces are shortest.
* Every transition ``(src, dst, action)`` is kept (compact int32 arrays) for the liveness
  analysis: since an action instance is deterministic and a no-op is not a transition, "action
  ``a`` is enabled in ``s``" is simply "``s`` has an out-edge labelled ``a``".
* Bounds (``max_states``, ``max_seconds``) and Ctrl-C end the search early with
  ``complete=False``; the states not yet expanded are known (ids ``>= n_expanded``), so verdicts
  that depend on them become UNKNOWN.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from certloop.checker.expr import Expr, ModelError, Var, show
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
    states: np.ndarray            # (n, W) uint64
    parent: np.ndarray            # (n,) int64, -1 for initial states
    parent_action: np.ndarray     # (n,) int32, -1 for initial states
    depth: np.ndarray             # (n,) int32
    src: np.ndarray               # (e,) int32
    dst: np.ndarray               # (e,) int32
    lab: np.ndarray               # (e,) int32
    n_initial: int
    n_expanded: int
    complete: bool
    reason: str                   # "" when complete; else what stopped the search
    seconds: float
    found: dict[str, Found] = field(default_factory=dict)

    @property
    def n_states(self) -> int:
        return int(self.states.shape[0])

    @property
    def n_transitions(self) -> int:
        return int(self.src.shape[0])

    @property
    def max_depth(self) -> int:
        return int(self.depth.max()) if self.depth.size else 0

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
        """A state predicate over all states (or ``ids``), vectorised and chunked."""
        words = self.states if ids is None else self.states[ids]
        out = np.empty(words.shape[0], dtype=bool if e.type.name == "bool" else np.int64)
        for k in range(0, words.shape[0], chunk):
            part = words[k:k + chunk]
            out[k:k + chunk] = VecEval(self.layout, part).full(e)
        return out

    def evaluate_edges(self, e: Expr, edge_ids: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
        """A pre/post predicate over the given transitions."""
        out = np.empty(edge_ids.shape[0], dtype=bool)
        for k in range(0, edge_ids.shape[0], chunk):
            ids = edge_ids[k:k + chunk]
            out[k:k + chunk] = VecEval(self.layout, self.states[self.src[ids]],
                                       nxt=self.states[self.dst[ids]]).full(e)
        return out

    def bytes_per_state(self) -> float:
        n = max(1, self.n_states)
        return (self.states.nbytes + self.parent.nbytes + self.parent_action.nbytes
                + self.depth.nbytes) / n


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
    """A growable array of rows."""

    def __init__(self, W: int, dtype: Any = U64):
        self.a = np.zeros((1024, W) if W else 1024, dtype=dtype)
        self.n = 0

    def extend(self, rows: np.ndarray) -> None:
        need = self.n + rows.shape[0]
        if need > self.a.shape[0]:
            cap = max(need, 2 * self.a.shape[0])
            b = np.zeros((cap,) + self.a.shape[1:], dtype=self.a.dtype)
            b[:self.n] = self.a[:self.n]
            self.a = b
        self.a[self.n:need] = rows
        self.n = need

    def view(self) -> np.ndarray:
        return self.a[:self.n]


def explore(model: Model, *, max_states: int | None = None, max_seconds: float | None = None,
            chunk: int = 1 << 16, progress: Callable[[Progress], None] | None = None,
            progress_every: float = 1.0, stop_at_first: bool = False) -> StateGraph:
    """Explore every reachable state of ``model`` breadth-first.

    Invariants (:class:`Always`), action invariants (:class:`ActionAlways`) and reachability
    (:class:`Sometimes`) are evaluated on the fly; the first violation / witness of each, in BFS
    order, is recorded in ``StateGraph.found``.
    """
    model.validate()
    layout = Layout(model.schema.vars)
    W = layout.W
    t0 = time.monotonic()
    acts = [_Compiled(a, layout) for a in model.actions]
    invariants = [p for p in model.properties if isinstance(p, (Always, Sometimes))]
    aprops = [p for p in model.properties if isinstance(p, ActionAlways)]
    aprops_for: dict[int, list[ActionAlways]] = {a.index: [p for p in aprops if p.applies(a)] for a in model.actions}
    found: dict[str, Found] = {}

    states = _Store(W)
    parent = _Store(0, np.int64)
    pact = _Store(0, np.int32)
    depth = _Store(0, np.int32)
    e_src = _Store(0, np.int32)
    e_dst = _Store(0, np.int32)
    e_lab = _Store(0, np.int32)
    visited = _Visited()
    stores = [states, parent, pact, depth, e_src, e_dst, e_lab]
    snapshot = [0] * len(stores)

    # ---- initial states, deduplicated, in declaration order
    init_rows: list[np.ndarray] = []
    seen_fp: set[int] = set()
    for st in model.inits:
        row = layout.pack(st)
        f = int(fingerprint(row[None, :])[0])
        if f in seen_fp:
            continue
        seen_fp.add(f)
        init_rows.append(row)
    init = np.array(init_rows, dtype=U64).reshape(len(init_rows), W)
    states.extend(init)
    parent.extend(np.full(len(init_rows), -1, dtype=np.int64))
    pact.extend(np.full(len(init_rows), -1, dtype=np.int32))
    depth.extend(np.zeros(len(init_rows), dtype=np.int32))
    visited.add(fingerprint(init), np.arange(len(init_rows), dtype=np.int64))
    n_initial = len(init_rows)

    level_start, level_end, d = 0, n_initial, 0
    complete, reason = True, ""
    last_report = t0
    n_expanded = 0

    def check_states(lo: int, hi: int) -> None:
        pending = [p for p in invariants if p.name not in found]
        if not pending:
            return
        words = states.view()[lo:hi]
        ev = VecEval(layout, words)
        for p in pending:
            val = ev.full(p.expr)
            hit = np.flatnonzero(~val if isinstance(p, Always) else val)
            if hit.size:
                found[p.name] = Found(lo + int(hit[0]))

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
                _expand_chunk(layout, acts, aprops_for, states, parent, pact, depth, e_src, e_dst, e_lab,
                              visited, lo, hi, d + 1, found)
                n_expanded = hi
                if progress is not None and time.monotonic() - last_report >= progress_every:
                    last_report = time.monotonic()
                    progress(Progress(states.n, e_src.n, d, level_end - hi, last_report - t0))
                if stop_at_first and len(found) == len(invariants) + len(aprops) and found:
                    complete, reason = False, "stopped at first violation"
                    raise _Stop
            check_states(level_end, states.n)
            level_start, level_end, d = level_end, states.n, d + 1
    except _Stop:
        pass
    except KeyboardInterrupt:
        # roll back the chunk that was under way so that every store is consistent
        for st, n in zip(stores, snapshot):
            st.n = min(st.n, n)
        complete, reason = False, "interrupted"
    if complete:
        n_expanded = states.n
    seconds = time.monotonic() - t0
    if progress is not None:
        progress(Progress(states.n, e_src.n, d, 0, seconds))
    return StateGraph(model, layout, states.view().copy(), parent.view().copy(), pact.view().copy(),
                      depth.view().copy(), e_src.view().copy(), e_dst.view().copy(), e_lab.view().copy(),
                      n_initial, n_expanded, complete, reason, seconds, found)


class _Stop(Exception):
    pass


def _expand_chunk(layout: Layout, acts: Sequence[_Compiled], aprops_for: dict[int, list[ActionAlways]],
                  states: _Store, parent: _Store, pact: _Store, depth: _Store,
                  e_src: _Store, e_dst: _Store, e_lab: _Store, visited: _Visited,
                  lo: int, hi: int, new_depth: int, found: dict) -> None:
    F = states.view()[lo:hi].copy()
    m = F.shape[0]
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
                found[p.name] = Found(lo + int(rows[bad[0]]), ca.index, -1, N[bad[0]].copy())
        cand_w.append(N)
        cand_src.append(rows.astype(np.int64) + lo)
        cand_lab.append(np.full(rows.size, ca.index, dtype=np.int32))
    if not cand_w:
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
        depth.extend(np.full(rep_rows.size, new_depth, dtype=np.int32))
        visited.add(fp[rep_rows], base + np.arange(reps.size, dtype=np.int64))
    e_src.extend(src.astype(np.int32))
    e_dst.extend(dst.astype(np.int32))
    e_lab.extend(lab)


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
