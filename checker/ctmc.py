"""A continuous-time Markov chain over an explored state graph: *race* or *inevitable*?

Weak or strong fairness only says that a loop *can* go on forever.  This module asks how likely it
is to go on, by reading the explored :class:`~certloop.checker.explore.StateGraph` as a CTMC.

**The chain.**  The caller gives every action a rate (``rates(action) -> float``; usually a rate per
*action class*, see :func:`rates_by_class`).  A transition labelled ``a`` fires at rate ``λ(a)``; a
rate of 0 means the action does not happen (e.g. an unfair environment action whose effect is
already in the start states).  The embedded jump chain is ``P(s→t) = λ(a)/Λ(s)`` with
``Λ(s) = Σ_{b enabled in s} λ(b)``; the holding time in ``s`` is exponential with mean ``1/Λ(s)``.
The caller also gives the *start* states (with an initial distribution) and the *absorbing* set
``A``.  The chain keeps only the states reachable from the start through positive-rate edges;
absorbing states keep none of their out-edges.

**Pre-check.**  Every transient state must reach ``A``.  The states that cannot are *trapped*
(``ChainResult.trapped``; the "true stuck states").  Among them, ``stuck`` states have total rate 0
(a deadlock, or only rate-0 actions enabled) and ``unexpanded`` states were never expanded because
the exploration was truncated.  If trapped states are reachable, absorption is not certain:
``p_absorb < 1`` is reported, ``conditional`` is set, and every other metric is **conditioned on
absorption** (a Doob h-transform: ``P'(s→t) = P(s→t)·h(t)/h(s)`` with ``h`` the absorption
probability).  Holding times are unchanged by this conditioning (in a CTMC the holding time is
independent of the jump taken).  No metric is ever infinite or NaN; if the start cannot be absorbed
at all the metrics are ``None``.  ``ChainResult.warnings`` says all this in words.

**Metrics** (all from the initial distribution, all by sparse solves of ``(I − P_TT) x = c``):

* ``time_mean``/``time_std``: time to absorption.  With ``m = (I−P)⁻¹ (1/Λ)``, the second moment
  is ``(I−P)⁻¹ (2·m/Λ)``.  Times depend on absolute rates, everything else on rate ratios only.
* per reward (an edge mask or per-edge weights over the *graph's* transitions): the expected total
  reward of the edges taken before absorption, the edge into ``A`` included (``mean``, ``std``).
  With a 0/1 mask this is the expected number of such steps, e.g. "edges that create an object".
* ``p_before[N]``: the probability that absorption happens after *fewer than* ``N`` counted events
  (``P(K < N)``, ``K`` the total integer reward).  Computed exactly on the product of the chain with
  a bounded counter, one level at a time: ``f_n`` (``P(K ≤ n)`` from each state) solves
  ``(I − P^U) f_n = b_n``, where ``P^U`` holds the uncounted edges and ``b_n`` the absorbing and
  counted edges (reading ``f_{n−w}``).  One factorisation serves every level.

**Solvers.**  Up to :data:`DIRECT_MAX` transient states: a sparse LU (SuperLU), exact and reused
for every right-hand side.  Above: BiCGSTAB to a backward error of :data:`TOL`, checked on the
true residual (the LU's fill-in explodes on big product-shaped graphs, where BiCGSTAB takes a few
hundred matrix-vector products).  ``ChainResult.residual`` is the largest relative residual of
all solves; above :data:`RESIDUAL_WARN` the result is not ``reliable`` (a chain whose absorption
takes ~1e16 steps or more cannot be solved in double precision) and a warning says so.

**Erlang-k phases** (``phases(action) -> k``).  Exponential delays have a high variance; an action
with ``k > 1`` instead takes an Erlang-k delay with the same mean ``1/λ``: ``k`` sub-steps of rate
``k·λ``.  The chain is expanded to states ``(s, φ)`` where ``φ`` holds the phase ``0..k−1`` of every
enabled action instance with ``k > 1`` (its own clock, as each instance has its own rate).
"Enabled" means: has a positive-rate transition in this state (the engine's no-op rule applies, so
an instance whose effect would change nothing is disabled).  Enabledness interacts as in an
*enabling-memory* stochastic Petri net:

* an instance that stays enabled across another action's transition keeps its phase;
* an instance that becomes disabled loses its phase (it restarts at 0 when enabled again);
* an instance that fires restarts at 0 (if it is enabled again in the target state).

A phase sub-step is a chain edge with no graph edge (``Chain.edge == -1``): it carries no reward.
The expansion is a Python BFS over the product and can grow as ``Π k`` over simultaneously enabled
instances, so give phases only to the classes that matter.  ``k = 1`` everywhere gives exactly
the plain chain.

>>> from certloop.checker.expr import Schema, IntRange
>>> from certloop.checker.spec import Model
>>> from certloop.checker.explore import explore
>>> sch = Schema(); x = sch.declare("x", IntRange(0, 2), 0)
>>> m = Model("seq", sch)
>>> _ = m.add_action("step.inc", "step", guard=[("below", "x < 2", x.ref < 2)], effect=[{x: x.ref + 1}])
>>> m.add_init()
>>> g = explore(m)
>>> ch = build_chain(g, rates_by_class(lambda a: a.name, {"step.inc": 2.0}), [0], g.evaluate(x.ref.eq(2)))
>>> r = analyze(ch, {"steps": np.ones(g.n_transitions)})
>>> r.time_mean, r.rewards["steps"].mean
(1.0, 2.0)
"""

from __future__ import annotations

from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy.sparse import csr_matrix, identity
from scipy.sparse.csgraph import breadth_first_order
from scipy.sparse.linalg import splu

from certloop.checker.expr import Expr
from certloop.checker.explore import StateGraph
from certloop.checker.spec import Action

__all__ = [
    "ChainError", "Chain", "StateSample", "RewardStats", "ChainResult",
    "build_chain", "analyze", "rates_by_class", "phases_by_class", "edge_mask",
]

EXAMPLES = 5                    # example state ids kept per reported set
MAX_EXPANDED = 1_000_000        # default bound on the Erlang-expanded chain (memory: ~0.5 kB/state)


class ChainError(ValueError):
    """Bad input to the chain (a negative rate, a mask of the wrong shape, ...)."""


# --------------------------------------------------------------------------- rate tables


def rates_by_class(rate_class: Callable[[Action], str], table: Mapping[str, float], *,
                   default: float | None = None) -> Callable[[Action], float]:
    """``rates`` for :func:`build_chain` from a rate per action class.

    ``rate_class(action)`` names the class; ``table`` gives its rate.  A class missing from the
    table takes ``default``, or is an error when ``default`` is None (so that a typo is loud).
    """
    def rate(a: Action) -> float:
        c = rate_class(a)
        if c in table:
            return float(table[c])
        if default is None:
            raise ChainError(f"no rate for action class {c!r} (action {a.label}); "
                             f"classes with a rate: {sorted(table)}")
        return float(default)
    return rate


def phases_by_class(rate_class: Callable[[Action], str], table: Mapping[str, int], *,
                    default: int = 1) -> Callable[[Action], int]:
    """``phases`` for :func:`build_chain`: Erlang-k per action class (``default`` 1: exponential)."""
    def phases(a: Action) -> int:
        return int(table.get(rate_class(a), default))
    return phases


def edge_mask(graph: StateGraph, *, actions: Callable[[Action], bool] | None = None,
              expr: Expr | None = None) -> np.ndarray:
    """A boolean mask over ``graph``'s transitions: the action passes ``actions`` and the
    (pre, post) pair satisfies ``expr`` (read with plain and primed variables)."""
    out = np.ones(graph.n_transitions, dtype=bool)
    if actions is not None:
        ok = np.array([bool(actions(a)) for a in graph.model.actions] + [False], dtype=bool)
        out &= ok[graph.lab]
    if expr is not None:
        cand = np.flatnonzero(out)
        if cand.size:
            out[cand] = graph.evaluate_edges(expr, cand)
    return out


# --------------------------------------------------------------------------- the chain


@dataclass
class Chain:
    """A finite absorbing CTMC built from a state graph (see the module docstring).

    Chain states are numbered ``0..n-1``; ``orig[i]`` is the graph state of chain state ``i``
    (several chain states share a graph state when Erlang phases are expanded, ``phase[i]``
    then lists ``(action index, phase)`` of its running clocks).  Chain edges carry a rate and
    the graph transition they take (``edge``; -1 for an Erlang phase sub-step).
    """

    graph: StateGraph
    action_rate: np.ndarray        # (n_actions,) float
    action_phases: np.ndarray      # (n_actions,) int, 1 = exponential
    orig: np.ndarray               # (n,) int64 graph state id
    phase: list[tuple[tuple[int, int], ...]] | None
    absorbing: np.ndarray          # (n,) bool
    src: np.ndarray                # (m,) int64
    dst: np.ndarray                # (m,) int64
    rate: np.ndarray               # (m,) float
    edge: np.ndarray               # (m,) int64 graph transition, -1 for a phase step
    init: np.ndarray               # (n,) float, sums to 1
    exit_rate: np.ndarray          # (n,) float
    stuck: np.ndarray              # (n,) bool: transient, expanded, total rate 0
    unexpanded: np.ndarray         # (n,) bool: transient, never expanded (truncated search)
    trapped: np.ndarray            # (n,) bool: transient and cannot reach the absorbing set
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def n(self) -> int:
        return int(self.orig.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.src.shape[0])

    @property
    def start(self) -> np.ndarray:
        """Chain states with positive initial probability."""
        return np.flatnonzero(self.init > 0)

    @property
    def good(self) -> np.ndarray:
        """Transient states that can reach the absorbing set (bool mask)."""
        return ~self.absorbing & ~self.trapped

    def edge_reward(self, reward: np.ndarray) -> np.ndarray:
        """A per-graph-transition reward mapped onto chain edges (0 on phase sub-steps)."""
        r = np.asarray(reward)
        if r.shape != (self.graph.n_transitions,):
            raise ChainError(f"a reward must have one entry per graph transition "
                             f"({self.graph.n_transitions}), got shape {r.shape}")
        r = r.astype(float)
        if not np.isfinite(r).all():
            raise ChainError("a reward must be finite")
        out = np.zeros(self.n_edges)
        real = self.edge >= 0
        out[real] = r[self.edge[real]]
        return out

    def absorption_probability(self, solver: str = "auto") -> np.ndarray:
        """``h(s)``: probability of reaching the absorbing set from each chain state."""
        if "h" not in self._cache:
            self._cache["h"] = _absorption(self, solver)
        return self._cache["h"]


def _resolve_start(start: Any, weights: Any, n: int) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(start)
    if s.dtype == bool:
        if s.shape != (n,):
            raise ChainError(f"a start mask must have one entry per state ({n}), got shape {s.shape}")
        ids = np.flatnonzero(s)
    else:
        ids = s.astype(np.int64).reshape(-1)
    if ids.size and (ids.min() < 0 or ids.max() >= n):
        raise ChainError(f"start state ids must lie in 0..{n - 1}")
    if weights is None:
        w = np.ones(ids.size)
    else:
        w = np.asarray(weights, dtype=float).reshape(-1)
        if w.shape != ids.shape:
            raise ChainError(f"start_weights must align with the {ids.size} start states, got {w.size}")
        if not np.isfinite(w).all() or (w < 0).any():
            raise ChainError("start_weights must be finite and non-negative")
    acc = np.bincount(ids, weights=w, minlength=n) if ids.size else np.zeros(n)
    keep = np.flatnonzero(acc > 0)
    if keep.size == 0:
        raise ChainError("the start is empty (no state with positive weight)")
    return keep, acc[keep] / acc[keep].sum()


def _reach(n: int, src: np.ndarray, dst: np.ndarray, roots: np.ndarray) -> np.ndarray:
    """States reachable from ``roots`` along ``src -> dst`` (a sparse BFS from a virtual root)."""
    out = np.zeros(n, dtype=bool)
    if roots.size == 0:
        return out
    root = n
    rows = np.concatenate([src, np.full(roots.size, root, dtype=np.int64)])
    cols = np.concatenate([dst, roots.astype(np.int64)])
    g = csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n + 1, n + 1))
    order = breadth_first_order(g, root, directed=True, return_predecessors=False)
    out[order[order != root]] = True
    return out


def build_chain(graph: StateGraph, rates: Callable[[Action], float], start: Any, absorbing: Any, *,
                start_weights: Any = None, phases: Callable[[Action], int] | None = None,
                max_states: int | None = None) -> Chain:
    """The CTMC on ``graph`` restricted to the states reachable from ``start``.

    ``rates(action)`` is each action instance's rate (>= 0; evaluated once per action).
    ``start`` is an array of state ids or a bool mask over states; ``start_weights`` (aligned
    with the start ids, default uniform; a repeated id adds up its weights) is the initial
    distribution, e.g. ``start=graph.dst[edge_mask(graph, actions=is_user_delete)]`` weighs
    each post-state of a user action by its number of in-edges.  ``absorbing`` is a bool
    mask over the graph's states.  ``phases(action)`` (default 1) expands actions into Erlang-k
    delays; ``max_states`` (default :data:`MAX_EXPANDED` for an expansion, none otherwise)
    bounds the chain: past it, a :class:`ChainError` (give phases to fewer classes, or smaller k).
    """
    n = graph.n_states
    absorbing = np.asarray(absorbing)
    if absorbing.dtype != bool or absorbing.shape != (n,):
        raise ChainError(f"absorbing must be a bool mask over the {n} states, "
                         f"got {absorbing.dtype} {absorbing.shape}")
    starts, w = _resolve_start(start, start_weights, n)
    acts = graph.model.actions
    arate = np.array([float(rates(a)) for a in acts], dtype=float)
    bad = [a.label for a, r in zip(acts, arate) if not (np.isfinite(r) and r >= 0)]
    if bad:
        raise ChainError(f"rates must be finite and >= 0; bad for {bad[:5]}")
    if phases is None:
        aph = np.ones(len(acts), dtype=np.int64)
    else:
        aph = np.array([int(phases(a)) for a in acts], dtype=np.int64)
        if (aph < 1).any():
            raise ChainError("phases must be >= 1")

    gsrc = graph.src.astype(np.int64)
    gdst = graph.dst.astype(np.int64)
    lab = graph.lab.astype(np.int64)
    erate = arate[lab] if lab.size else np.zeros(0)
    live = np.flatnonzero((erate > 0) & ~absorbing[gsrc])
    reach = _reach(n, gsrc[live], gdst[live], starts)
    keep = np.flatnonzero(reach)
    loc = np.full(n, -1, dtype=np.int64)
    loc[keep] = np.arange(keep.size)
    E = live[reach[gsrc[live]]]
    src, dst, rate, edge = loc[gsrc[E]], loc[gdst[E]], erate[E], E.astype(np.int64)
    init = np.zeros(keep.size)
    init[loc[starts]] = w
    orig = keep.astype(np.int64)
    phase_list = None
    if E.size and (aph[lab[E]] > 1).any():
        orig, phase_list, src, dst, rate, edge, init = _expand_phases(
            orig, src, dst, rate, edge, lab[E], aph, init, MAX_EXPANDED if max_states is None else max_states)
    elif max_states is not None and keep.size > max_states:
        raise ChainError(f"the chain has {keep.size} states, more than max_states={max_states}")

    nn = orig.size
    absorb = absorbing[orig]
    exit_rate = np.bincount(src, weights=rate, minlength=nn) if src.size else np.zeros(nn)
    expanded = orig < graph.n_expanded
    stuck = ~absorb & expanded & (exit_rate <= 0)
    unexpanded = ~absorb & ~expanded
    can = _reach(nn, dst, src, np.flatnonzero(absorb))
    trapped = ~absorb & ~can
    return Chain(graph, arate, aph, orig, phase_list, absorb, src, dst, rate, edge, init, exit_rate,
                 stuck, unexpanded, trapped)


def _expand_phases(orig: np.ndarray, src: np.ndarray, dst: np.ndarray,
                   rate: np.ndarray, edge: np.ndarray, lab: np.ndarray, aph: np.ndarray,
                   init: np.ndarray, max_states: int | None):
    """The product of the chain with one Erlang phase counter per enabled multi-phase instance."""
    n = orig.size
    order = np.lexsort((lab, src))
    ptr = np.searchsorted(src[order], np.arange(n + 1))
    out: list[list[tuple[int, int, float, int, int]]] = []
    erl: list[tuple[int, ...]] = []
    pos: list[dict[int, int]] = []
    for s in range(n):
        rows = order[ptr[s]:ptr[s + 1]]
        lst = [(int(lab[e]), int(dst[e]), float(rate[e]), int(edge[e]), int(aph[lab[e]])) for e in rows]
        out.append(lst)
        ea = tuple(a for a, _, _, _, k in lst if k > 1)
        erl.append(ea)
        pos.append({a: i for i, a in enumerate(ea)})

    ids: dict[tuple[int, tuple[int, ...]], int] = {}
    x_orig: list[int] = []
    x_phase: list[tuple[int, ...]] = []
    x_base: list[int] = []
    q: deque[int] = deque()

    def get(s: int, ph: tuple[int, ...]) -> int:
        key = (s, ph)
        i = ids.get(key)
        if i is None:
            i = ids[key] = len(x_base)
            if max_states is not None and i >= max_states:
                raise ChainError(f"the Erlang expansion exceeds max_states={max_states} (from {n} states): "
                                 f"give phases to fewer action classes, or use a smaller k")
            x_base.append(s)
            x_orig.append(int(orig[s]))
            x_phase.append(ph)
            q.append(i)
        return i

    def carry(s: int, ph: tuple[int, ...], t: int, fired: int) -> tuple[int, ...]:
        ps = pos[s]
        return tuple(ph[ps[b]] if (b != fired and b in ps) else 0 for b in erl[t])

    starts = np.flatnonzero(init > 0)
    x_init = {get(int(s), (0,) * len(erl[s])): float(init[s]) for s in starts}
    es, ed, ee = array("q"), array("q"), array("q")      # compact: the product can be large
    er = array("d")
    while q:
        i = q.popleft()
        s, ph = x_base[i], x_phase[i]
        for a, t, r, e, k in out[s]:
            if k == 1:
                j, rr, ge = get(t, carry(s, ph, t, a)), r, e
            else:
                p = pos[s][a]
                if ph[p] < k - 1:
                    j, rr, ge = get(s, ph[:p] + (ph[p] + 1,) + ph[p + 1:]), k * r, -1
                else:
                    j, rr, ge = get(t, carry(s, ph, t, a)), k * r, e
            es.append(i)
            ed.append(j)
            er.append(rr)
            ee.append(ge)
    nn = len(x_base)
    new_init = np.zeros(nn)
    for i, w in x_init.items():
        new_init[i] = w
    phase_list = [tuple((a, ph[i]) for i, a in enumerate(erl[s]) if ph[i]) for s, ph in zip(x_base, x_phase)]
    return (np.array(x_orig, dtype=np.int64), phase_list, np.frombuffer(es, dtype=np.int64).copy(),
            np.frombuffer(ed, dtype=np.int64).copy(), np.frombuffer(er, dtype=float).copy(),
            np.frombuffer(ee, dtype=np.int64).copy(), new_init)


# --------------------------------------------------------------------------- linear algebra


DIRECT_MAX = 2000       # "auto" factorises up to this many transient states, else iterates
FALLBACK_MAX = 50000    # an iteration that fails falls back to LU only up to this size
TOL = 1e-13             # normwise backward error of the iterative solver
RESIDUAL_WARN = 1e-6    # a larger relative residual is reported as a warning


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum, not np.dot: BLAS level-1 calls can be very slow on an oversubscribed machine
    return float(np.einsum("i,i->", a, b))


def _bicgstab(M: csr_matrix, b: np.ndarray, x0: np.ndarray | None, tol: float,
              maxiter: int) -> tuple[np.ndarray, bool]:
    """BiCGSTAB (van der Vorst) with restarts on breakdown.

    Converged iff the *true* residual meets a normwise backward-error bound:
    ``max|b - M x| <= tol·(‖M‖∞·max|x| + max|b|)``.
    """
    x = np.zeros_like(b) if x0 is None else x0.astype(float).copy()
    norm_m = float(abs(M).sum(axis=1).max()) if M.nnz else 1.0
    bn = float(np.abs(b).max())

    def bound(y: np.ndarray) -> float:
        return tol * (norm_m * float(np.abs(y).max()) + bn)

    it = 0
    while it < maxiter:
        r = b - M @ x
        if float(np.abs(r).max()) <= bound(x):
            return x, True
        rhat = r.copy()
        rho = alpha = omega = 1.0
        v = np.zeros_like(b)
        p = np.zeros_like(b)
        while it < maxiter:
            it += 1
            rho_new = _dot(rhat, r)
            if rho_new == 0.0 or not np.isfinite(rho_new):
                break
            beta = (rho_new / rho) * (alpha / omega)
            p = r + beta * (p - omega * v)
            v = M @ p
            den = _dot(rhat, v)
            if den == 0.0 or not np.isfinite(den):
                break
            alpha = rho_new / den
            s = r - alpha * v
            if float(np.abs(s).max()) <= 0.5 * bound(x):
                x += alpha * p
                break
            t = M @ s
            tt = _dot(t, t)
            omega = _dot(t, s) / tt if tt > 0 else 0.0
            x += alpha * p + omega * s
            r = s - omega * t
            if float(np.abs(r).max()) <= 0.5 * bound(x) or omega == 0.0 or it % 200 == 0:
                break       # check the true residual (and restart to shed rounding drift)
            rho = rho_new
    return x, bool(float(np.abs(b - M @ x).max()) <= bound(x))


class _Solver:
    """Solves ``(I - Q) x = b`` for a substochastic ``Q`` over the good transient states.

    ``direct``: one sparse LU (SuperLU), reused for every right-hand side; exact, but its fill-in
    explodes on large product-shaped graphs.  ``iterative``: BiCGSTAB to a relative residual of
    :data:`TOL` (checked on the true residual), falling back to the LU up to
    :data:`FALLBACK_MAX` states when it does not converge (else :class:`ChainError`).
    ``auto``: direct up to :data:`DIRECT_MAX` states, iterative above.
    """

    def __init__(self, Q: csr_matrix, method: str):
        if method not in ("auto", "direct", "iterative"):
            raise ChainError(f"solver {method!r}; valid: 'auto', 'direct', 'iterative'")
        self.n = Q.shape[0]
        self.M = (identity(self.n, format="csr") - csr_matrix(Q)).tocsr()
        if method == "auto":
            method = "direct" if self.n <= DIRECT_MAX else "iterative"
        self.method = method
        self.lu: Any = None
        self.residual = 0.0

    def _direct(self, b: np.ndarray) -> np.ndarray:
        if self.lu is None:
            self.lu = splu(self.M.tocsc())
        return self.lu.solve(b)

    def solve(self, b: np.ndarray, x0: np.ndarray | None = None) -> np.ndarray:
        if self.n == 0:
            return np.zeros(0)
        bn = float(np.abs(b).max()) if b.size else 0.0
        if bn == 0.0:
            return np.zeros(self.n)
        if self.method == "iterative" and self.lu is None:
            x, ok = _bicgstab(self.M, b, x0, TOL, maxiter=max(20000, 2 * self.n))
            if not ok:
                if self.n > FALLBACK_MAX:
                    raise ChainError(f"BiCGSTAB did not converge on {self.n} transient states "
                                     f"(residual {float(np.abs(self.M @ x - b).max()) / bn:.1e})")
                x = self._direct(b)
        else:
            x = self._direct(b)
        self.residual = max(self.residual, float(np.abs(self.M @ x - b).max()) / max(1.0, bn))
        return x


def _absorption(ch: Chain, solver: str) -> np.ndarray:
    h = np.zeros(ch.n)
    h[ch.absorbing] = 1.0
    good = ch.good
    if not good.any():
        return h
    if not ch.trapped.any():
        h[good] = 1.0
        return h
    gi = np.flatnonzero(good)
    loc = np.full(ch.n, -1, dtype=np.int64)
    loc[gi] = np.arange(gi.size)
    p = ch.rate / np.where(ch.exit_rate[ch.src] > 0, ch.exit_rate[ch.src], 1.0)
    fromg = good[ch.src]
    gg = fromg & good[ch.dst]
    ga = fromg & ch.absorbing[ch.dst]
    Q = csr_matrix((p[gg], (loc[ch.src[gg]], loc[ch.dst[gg]])), shape=(gi.size, gi.size))
    b = np.bincount(loc[ch.src[ga]], weights=p[ga], minlength=gi.size).astype(float)
    x = _Solver(Q, solver).solve(b)
    h[gi] = np.clip(x, 0.0, 1.0)
    return h


# --------------------------------------------------------------------------- results


@dataclass
class StateSample:
    """A set of chain states, reported as a count and a few graph state ids (smallest first)."""

    count: int
    examples: list[int]

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "examples": list(self.examples)}


@dataclass
class RewardStats:
    """Total reward before absorption: mean, standard deviation, ``P(K < N)`` per requested N."""

    mean: float | None
    std: float | None
    p_before: dict[int, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std,
                "p_before": {str(k): v for k, v in sorted(self.p_before.items())}}


@dataclass
class ChainResult:
    """The numbers of one analysis (see the module docstring for their meaning).

    When ``conditional`` is set, trapped states are reachable (``p_absorb < 1``) and every
    metric is conditioned on absorption.  ``residual`` is the largest relative residual of the
    linear solves, ``max|b − M x| / max(1, max|b|)`` (a sanity figure: ~1e-12 or less is normal;
    above :data:`RESIDUAL_WARN` a warning says that the numbers cannot be trusted).  ``warnings``
    lists, in words, everything that qualifies the numbers.
    """

    n_states: int
    n_graph_states: int
    n_edges: int
    n_start: int
    n_absorbing: int
    phases: dict[str, int]
    stuck: StateSample
    unexpanded: StateSample
    trapped: StateSample
    p_absorb: float
    conditional: bool
    time_mean: float | None
    time_std: float | None
    rewards: dict[str, RewardStats]
    residual: float
    warnings: list[str] = field(default_factory=list)
    per_start: list[dict[str, Any]] | None = None

    @property
    def ok(self) -> bool:
        """Every reachable transient state reaches the absorbing set."""
        return self.trapped.count == 0

    @property
    def reliable(self) -> bool:
        """The linear solves were accurate (``residual <= RESIDUAL_WARN``)."""
        return self.residual <= RESIDUAL_WARN

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "n_states": self.n_states, "n_graph_states": self.n_graph_states, "n_edges": self.n_edges,
            "n_start": self.n_start, "n_absorbing": self.n_absorbing,
            "phases": dict(sorted(self.phases.items())),
            "stuck": self.stuck.to_dict(), "unexpanded": self.unexpanded.to_dict(),
            "trapped": self.trapped.to_dict(),
            "p_absorb": self.p_absorb, "conditional": self.conditional,
            "time_mean": self.time_mean, "time_std": self.time_std,
            "rewards": {k: v.to_dict() for k, v in sorted(self.rewards.items())},
            "residual": self.residual, "reliable": self.reliable, "warnings": list(self.warnings),
        }
        if self.per_start is not None:
            d["per_start"] = self.per_start
        return d


def _sample(ch: Chain, mask: np.ndarray) -> StateSample:
    ids = np.unique(ch.orig[mask])
    return StateSample(int(ids.size), [int(i) for i in ids[:EXAMPLES]])


def _std(m1: float | None, m2: float) -> float | None:
    if m1 is None or not np.isfinite(m2):
        return None
    v = m2 - m1 * m1
    return float(np.sqrt(v)) if v > 0 else 0.0


def _or_none(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def _finite(v: float, warn: list[str], what: str) -> float | None:
    if np.isfinite(v):
        return float(v)
    warn.append(f"{what} is not finite (overflow): reported as null")
    return None


def analyze(chain: Chain, rewards: Mapping[str, Any] | np.ndarray | None = None, *,
            before: Sequence[int] = (), per_start: bool = False, solver: str = "auto") -> ChainResult:
    """Expected time and rewards to absorption, and ``P(K < N)`` for each ``N`` in ``before``.

    ``rewards`` maps a name to an edge mask or per-edge weights over the graph's transitions (a
    bare array is named ``"reward"``).  ``before`` needs non-negative integer weights.
    ``per_start`` adds one entry per start state (graph id, weight, ``p_absorb``, conditional
    means).  ``solver``: ``"auto"`` (default), ``"direct"`` (sparse LU) or ``"iterative"``
    (BiCGSTAB, falling back to LU); see :class:`_Solver`.
    """
    ch = chain
    if rewards is None:
        rewards = {}
    elif not isinstance(rewards, Mapping):
        rewards = {"reward": rewards}
    for N in before:
        if int(N) != N or N < 0:
            raise ChainError(f"before: {N!r} is not a non-negative integer")
    h = ch.absorption_probability(solver)
    p_absorb = float(np.clip(ch.init @ h, 0.0, 1.0))
    conditional = bool(ch.trapped.any())
    acts = ch.graph.model.actions
    phases: dict[str, int] = {}
    if ch.phase is not None:
        used = [acts[a] for a in np.unique(ch.graph.lab[ch.edge[ch.edge >= 0]]) if ch.action_phases[a] > 1]
        for a in used:
            same = {int(ch.action_phases[b.index]) for b in used if b.name == a.name}
            phases[a.name if len(same) == 1 else a.label] = int(ch.action_phases[a.index])
    base: dict[str, Any] = dict(n_states=ch.n, n_graph_states=int(np.unique(ch.orig).size), n_edges=ch.n_edges,
                n_start=int(np.unique(ch.orig[ch.start]).size), n_absorbing=int(ch.absorbing.sum()),
                phases=phases, stuck=_sample(ch, ch.stuck), unexpanded=_sample(ch, ch.unexpanded),
                trapped=_sample(ch, ch.trapped), p_absorb=p_absorb, conditional=conditional)
    edge_r = {name: ch.edge_reward(r) for name, r in rewards.items()}
    warn: list[str] = []
    if base["unexpanded"].count:
        warn.append(f"the exploration was truncated: {base['unexpanded'].count} reachable states were "
                    f"never expanded (counted as trapped)")
    if base["stuck"].count:
        warn.append(f"{base['stuck'].count} stuck states (not absorbing, total rate 0)")
    if conditional:
        warn.append(f"{base['trapped'].count} trapped states cannot reach the absorbing set: "
                    f"p_absorb = {p_absorb:.6g}; the metrics are conditioned on absorption")
    if p_absorb <= 0.0:
        warn.append("the start cannot reach the absorbing set: no metric")
        return ChainResult(**base, time_mean=None, time_std=None,
                           rewards={k: RewardStats(None, None, {int(N): None for N in before}) for k in edge_r},
                           residual=0.0, warnings=warn, per_start=[] if per_start else None)

    # the chain conditioned on absorption, over G (good transient) and A
    good = ch.good
    gi = np.flatnonzero(good)
    loc = np.full(ch.n, -1, dtype=np.int64)
    loc[gi] = np.arange(gi.size)
    hs = np.where(h[ch.src] > 0, h[ch.src], 1.0)
    ex = np.where(ch.exit_rate[ch.src] > 0, ch.exit_rate[ch.src], 1.0)
    keep = good[ch.src] & (good[ch.dst] | ch.absorbing[ch.dst])
    p = np.where(keep, ch.rate / ex * h[ch.dst] / hs, 0.0)
    to_g = keep & good[ch.dst]
    to_a = keep & ch.absorbing[ch.dst]
    pi = ch.init * h / p_absorb
    pi_g = pi[gi]
    ng = gi.size

    def mat(sel: np.ndarray) -> csr_matrix:
        return csr_matrix((p[sel], (loc[ch.src[sel]], loc[ch.dst[sel]])), shape=(ng, ng))

    def rowsum(v: np.ndarray, sel: np.ndarray) -> np.ndarray:
        return np.bincount(loc[ch.src[sel]], weights=v[sel], minlength=ng).astype(float)

    S = _Solver(mat(to_g), solver)
    lam = ch.exit_rate[gi]
    m = S.solve(1.0 / lam)
    m2 = S.solve(2.0 * m / lam)
    t1 = float(pi_g @ m)
    t2 = float(pi_g @ m2)
    stats: dict[str, RewardStats] = {}
    means: dict[str, np.ndarray] = {}
    residual = S.residual
    for name, r in edge_r.items():
        x = S.solve(rowsum(p * r, keep))
        xd = np.zeros(ch.n_edges)
        xd[to_g] = x[loc[ch.dst[to_g]]]
        x2 = S.solve(rowsum(p * (r * r + 2.0 * r * xd), keep))
        k1, k2 = float(pi_g @ x), float(pi_g @ x2)
        pb: dict[int, float | None] = {}
        if before:
            cdf = _count_cdf(ch, p, r, keep, to_g, to_a, loc, ng, pi, pi_g, max(int(N) for N in before), solver)
            residual = max(residual, cdf[1])
            for N in before:
                pb[int(N)] = 0.0 if N == 0 else float(np.clip(cdf[0][int(N) - 1], 0.0, 1.0))
        k1f = _finite(k1, warn, f"the mean of {name}")
        stats[name] = RewardStats(k1f, _std(k1f, k2), pb)
        means[name] = x
    residual = max(residual, S.residual)
    ps = None
    if per_start:
        ps = []
        for s in ch.start:
            row: dict[str, Any] = {"state": int(ch.orig[s]), "weight": float(ch.init[s]), "p_absorb": float(h[s])}
            if ch.absorbing[s]:
                row["time_mean"] = 0.0
                row["rewards"] = {k: 0.0 for k in sorted(means)}
            elif good[s]:
                row["time_mean"] = _or_none(m[loc[s]])
                row["rewards"] = {k: _or_none(means[k][loc[s]]) for k in sorted(means)}
            else:
                row["time_mean"] = None
                row["rewards"] = {k: None for k in sorted(means)}
            ps.append(row)
    if residual > RESIDUAL_WARN:
        warn.append(f"the linear solves are inaccurate (relative residual {residual:.1e}): the chain is "
                    f"too ill-conditioned (absorption takes astronomically many steps)")
    t1f = _finite(t1, warn, "the mean time")
    return ChainResult(**base, time_mean=t1f, time_std=_std(t1f, t2), rewards=stats, residual=residual,
                       warnings=warn, per_start=ps)


def _count_cdf(ch: Chain, p: np.ndarray, r: np.ndarray, keep: np.ndarray, to_g: np.ndarray,
               to_a: np.ndarray, loc: np.ndarray, ng: int, pi: np.ndarray, pi_g: np.ndarray,
               N: int, solver: str) -> tuple[np.ndarray, float]:
    """``P(K <= n)`` for ``n = 0..N-1`` (K = total integer reward to absorption) and a residual."""
    w = np.rint(r).astype(np.int64)
    if (np.abs(r - w) > 1e-9).any() or (w < 0).any():
        raise ChainError("P(K < N) needs non-negative integer edge weights")
    counted = keep & (w > 0)
    unc = keep & (w == 0)
    sel_u = unc & to_g
    Q = csr_matrix((p[sel_u], (loc[ch.src[sel_u]], loc[ch.dst[sel_u]])), shape=(ng, ng))
    S = _Solver(Q, solver)
    pa = float(pi[ch.absorbing].sum())
    sg = loc[ch.src]

    def acc(sel: np.ndarray, vals: np.ndarray) -> np.ndarray:
        return np.bincount(sg[sel], weights=vals, minlength=ng).astype(float)

    base = acc(unc & to_a, p[unc & to_a])
    cnt = np.flatnonzero(counted)
    cw, cp, cdst_g = w[cnt], p[cnt], to_g[cnt]
    cdst = loc[ch.dst[cnt]]
    W = int(cw.max()) if cw.size else 1
    hist: deque[np.ndarray] = deque(maxlen=W)      # hist[-j] is f_{n-j}
    out = np.zeros(N)
    for n in range(N):
        b = base.copy()
        ok = cw <= n
        if ok.any():
            vals = np.ones(cnt.size)
            for j in range(1, W + 1):
                sel = ok & cdst_g & (cw == j)
                if sel.any():
                    vals[sel] = hist[-j][cdst[sel]]
            sel = ok
            b += np.bincount(sg[cnt[sel]], weights=cp[sel] * vals[sel], minlength=ng)
        f = S.solve(b, hist[-1] if hist else None)
        hist.append(f)
        out[n] = pa + float(pi_g @ f)
    return out, S.residual
