"""Compile a model's actions (and properties) into generated NumPy code, once per model.

The interpretive evaluator (:class:`checker.vector.VecEval`) walks an expression DAG on every
call.  Here the same DAG is turned into straight-line Python source, once: every node becomes one
NumPy operation on a named local array, so a chunk of ``m`` states costs a fixed sequence of
NumPy calls and no Python per node beyond the call itself.  The source is generated from our own
interned :class:`~checker.expr.Expr` DAG (never from user text) and executed with ``exec``.

What the generated ``expand`` function does with a chunk of packed states (one column per word):

* **Guards on shrinking row sets.**  The guard conjuncts of all actions form a trie (actions with
  the same leading conjuncts share a path).  A trie node evaluates its conjunct over the rows that
  passed its parent and keeps only the rows where it holds, so a selective conjunct makes every
  later one cheap.  Conjuncts are pure, so their order does not change the result.
* **Common subexpressions** are computed once per row set (a memo keyed by node identity).
* **Decoding** reads only the variables a node needs, straight from the packed word (one shift
  and one mask); a comparison of a variable with a constant is done on the packed word itself.
* **Effects** are composed into one simultaneous assignment per written variable
  (:meth:`Action.final_values`), so a sequence of blocks (e.g. the GC observations appended to
  every action in detailed/fresh mode) costs one pass; constant writes are folded into one mask
  and one constant per word; a copy between variables of one encoding moves bits without decoding.
* **The no-op rule**: rows whose post-state equals the pre-state are dropped (word comparison).
* **Domain checks** only where interval analysis cannot prove the value in range.

Results are identical to the interpretive path: same candidates, same values, same errors (the
explorer raises the error of the lowest action index in a chunk, as the sequential code did).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from certloop.checker.expr import Bool, Enum, Expr, IntRange, Var, and_, not_, or_, postorder, rebuild, show, TRUE, FALSE
from certloop.checker.spec import Action, ActionAlways, Model
from certloop.checker.vector import Layout, const_value

__all__ = ["CompiledModel", "compile_predicates", "intervals"]

U64 = np.uint64
_FULL = (1 << 64) - 1


# --------------------------------------------------------------------------- DAG helpers


def final_values(a: Action, post_cache: dict[int, list[Expr]] | None = None) -> dict[Var, Expr]:
    """:meth:`Action.final_values` with one substitution memo per block (same interned result).

    ``post_cache``: post-orders of blocks by identity, shared between actions (a fresh GC graph
    appends the same observation blocks to every action)."""
    return compose(a.effect, post_cache)


def compose(blocks: Sequence[Any], post_cache: dict[int, list[Expr]] | None = None) -> dict[Var, Expr]:
    """The value of each written variable after ``blocks`` (sequences of simultaneous
    assignments), as an expression of the state before them."""
    cur: dict[Var, Expr] = {}
    for block in blocks:
        if not cur:
            cur.update(block)
            continue
        if post_cache is not None:
            nodes = post_cache.get(id(block))
            if nodes is None:
                nodes = post_cache[id(block)] = postorder(*[e for _, e in block])
        else:
            nodes = postorder(*[e for _, e in block])
        memo: dict[int, Expr] = {}
        for n in nodes:
            if n.op == "var":
                r = cur.get(n.var)  # type: ignore[arg-type]
                memo[id(n)] = n if r is None else r
            elif n.op in ("prime", "const"):
                memo[id(n)] = n
            else:
                args = [memo[id(x)] for x in n.args]
                memo[id(n)] = n if all(x is y for x, y in zip(args, n.args)) else rebuild(n, args)
        cur.update({v: memo[id(e)] for v, e in block})
    return cur


def simplify(roots: Sequence[Expr]) -> dict[int, Expr]:
    """Exact local rewrites of Boolean selects, bottom-up over the DAG (``id(root) -> result``):
    ``c ? a : c  =  c and a``, ``c ? c : b  =  c or b``, ``c ? false : b  =  not c and b`` (and the
    other constant branches), and the builders' own folding of the rebuilt nodes.  Composed effect blocks are full of them
    (``removed ? false : removed`` is ``false``)."""
    memo: dict[int, Expr] = {}
    for n in postorder(*roots):
        if not n.args:
            memo[id(n)] = n
            continue
        args = [memo[id(x)] for x in n.args]
        if n.op == "ite" and n.type is Bool:
            c, a, b = args
            if b is c:
                memo[id(n)] = and_(c, a)
                continue
            if a is c:
                memo[id(n)] = or_(c, b)
                continue
            if a is FALSE and b is TRUE:
                memo[id(n)] = not_(c)
                continue
            # a constant branch: a Boolean select is a connective
            if a is FALSE:
                memo[id(n)] = and_(not_(c), b)
                continue
            if a is TRUE:
                memo[id(n)] = or_(c, b)
                continue
            if b is FALSE:
                memo[id(n)] = and_(c, a)
                continue
            if b is TRUE:
                memo[id(n)] = or_(not_(c), a)
                continue
        memo[id(n)] = n if all(x is y for x, y in zip(args, n.args)) else rebuild(n, args)
    return {id(r): memo[id(r)] for r in roots}


def _same_block(a: Any, b: Any) -> bool:
    """Two effect blocks assign the same expressions to the same variables (expressions are
    interned: identity is structural equality)."""
    return a is b or (len(a) == len(b) and all(u is v and e is f for (u, e), (v, f) in zip(a, b)))


def _simplified(fv: dict[Var, Expr]) -> dict[Var, Expr]:
    simple = simplify(list(fv.values()))
    return {v: simple[id(e)] for v, e in fv.items()}


def _bounds(v: Var) -> tuple[int, int]:
    t = v.type
    return (t.lo, t.hi) if isinstance(t, IntRange) else (0, t.size - 1)


def _in_domain(fv: dict[Var, Expr]) -> bool:
    """Every assigned value provably lies in its variable's domain (interval analysis)."""
    rng = intervals(list(fv.values()))
    for v, e in fv.items():
        lo, hi = _bounds(v)
        r = rng[id(e)]
        if r[0] < lo or r[1] > hi:
            return False
    return True


# --------------------------------------------------------------------------- interval analysis


def intervals(roots: Sequence[Expr]) -> dict[int, tuple[int, int]]:
    """A sound range ``(lo, hi)`` of every integer / enum-code / bool node below ``roots``."""
    out: dict[int, tuple[int, int]] = {}
    for n in postorder(*roots):
        op = n.op
        if op == "const":
            v = const_value(n)
            v = int(v)
            r = (v, v)
        elif op in ("var", "prime"):
            t = n.type
            if isinstance(t, IntRange):
                r = (t.lo, t.hi)
            else:
                r = (0, t.size - 1)
        elif n.type is Bool:
            r = (0, 1)
        else:
            a = [out[id(x)] for x in n.args]
            if op == "+":
                r = (a[0][0] + a[1][0], a[0][1] + a[1][1])
            elif op == "-":
                r = (a[0][0] - a[1][1], a[0][1] - a[1][0])
            elif op == "%":
                k = int(n.args[1].value)
                r = (0, k - 1) if a[0][0] >= 0 and a[0][1] < k else ((0, a[0][1]) if a[0][0] >= 0 and a[0][1] < k
                                                                     else (0, k - 1))
            elif op == "ite":
                r = (min(a[1][0], a[2][0]), max(a[1][1], a[2][1]))
            else:  # pragma: no cover - every int operator is listed above
                r = (-(1 << 62), 1 << 62)
        out[id(n)] = r
    return out


# --------------------------------------------------------------------------- code generation


class _Src:
    """Lines of Python with indentation and fresh names."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ind = 1
        self.k = 0
        self.consts: dict[str, Any] = {}

    def fresh(self, p: str = "t") -> str:
        self.k += 1
        return f"{p}{self.k}"

    def emit(self, s: str) -> None:
        self.lines.append("    " * self.ind + s)

    def u64(self, v: int) -> str:
        """A named np.uint64 constant (uint64 arithmetic never meets a Python int)."""
        name = f"K{v:x}"
        self.consts[name] = U64(v)
        return name


class _Rows:
    """A row set inside the generated code: the names of its word columns (and of its rows)."""

    def __init__(self, src: _Src, layout: Layout, words: dict[int, str], nwords: dict[int, str] | None = None):
        self.src = src
        self.layout = layout
        self.words = words              # word index -> local name (current state)
        self.nwords = nwords or {}      # word index -> local name (next state, for primed reads)
        self.memo: dict[int, str] = {}
        self.decoded: dict[tuple[int, bool], str] = {}
        self._plans: dict[int, tuple | None] = {}

    # ---- variables
    def _word(self, v: Var, primed: bool) -> str:
        w = self.layout.word[v]
        return (self.nwords if primed else self.words)[w]

    def code_of(self, v: Var, primed: bool = False) -> str:
        """The unshifted code of ``v`` as uint64."""
        L = self.layout
        s, b = L.shift[v], L.bits[v]
        w = self._word(v, primed)
        x = w if s == 0 else f"({w} >> {self.src.u64(s)})"
        if s + b < 64:
            x = f"({x} & {self.src.u64((1 << b) - 1)})"
        return x

    def var(self, v: Var, primed: bool = False) -> str:
        key = (id(v), primed)
        hit = self.decoded.get(key)
        if hit is not None:
            return hit
        L = self.layout
        name = self.src.fresh("v")
        if v.type is Bool:
            w = self._word(v, primed)
            self.src.emit(f"{name} = ({w} & {self.src.u64(1 << L.shift[v])}) != {self.src.u64(0)}")
        else:
            lo = v.type.lo if isinstance(v.type, IntRange) else 0
            x = f"{self.code_of(v, primed)}.astype(INT64)"
            if lo:
                x = f"{x} + {lo}"
            self.src.emit(f"{name} = {x}")
        self.decoded[key] = name
        return name

    def packed_cmp(self, op: str, n: Expr, c: Expr, flip: bool) -> str | None:
        """``var op const`` (or ``const op var`` when ``flip``) on the packed word, or None."""
        v = n.var
        assert v is not None
        L = self.layout
        t = v.type
        cv = int(const_value(c))
        lo = t.lo if isinstance(t, IntRange) else 0
        hi = t.hi if isinstance(t, IntRange) else t.size - 1
        s, b = L.shift[v], L.bits[v]
        w = self._word(v, n.op == "prime")
        M = ((1 << b) - 1) << s
        fld = w if (s == 0 and b == 64) else f"({w} & {self.src.u64(M)})"
        if op in ("==", "!="):
            if not lo <= cv <= hi:
                return "FALSE_" if op == "==" else "TRUE_"
            if t is Bool and cv == 0 and op == "==":
                return f"({fld} == {self.src.u64(0)})"
            return f"({fld} {op} {self.src.u64((cv - lo) << s)})"
        # order: normalise to  var < k, var <= k, k < var, k <= var
        if not flip:
            # var < c  /  var <= c
            lim = cv if op == "<" else cv + 1       # var < lim
            if lim <= lo:
                return "FALSE_"
            if lim > hi:
                return "TRUE_"
            return f"({fld} < {self.src.u64((lim - lo) << s)})"
        # c < var  /  c <= var   ->  var > c  /  var >= c  ->  var >= lim
        lim = cv + 1 if op == "<" else cv
        if lim <= lo:
            return "TRUE_"
        if lim > hi:
            return "FALSE_"
        return f"({fld} >= {self.src.u64((lim - lo) << s)})"

    # ---- expressions
    def value(self, n: Expr) -> str:
        """The value of an already visited node (variables are decoded on first use)."""
        if n.op in ("var", "prime"):
            return self.var(n.var, n.op == "prime")  # type: ignore[arg-type]
        return self.memo[id(n)]

    def expr(self, e: Expr) -> str:
        """Emit code for ``e``; returns a local name or a Python literal."""
        if e.op in ("var", "prime"):
            return self.value(e)
        memo = self.memo
        hit = memo.get(id(e))
        if hit is not None:
            return hit
        # post-order walk that never descends below a node already computed in this row set
        stack: list[tuple[Expr, bool]] = [(e, False)]
        while stack:
            n, done = stack.pop()
            if done:
                if id(n) not in memo:
                    memo[id(n)] = self._node(n)
                continue
            if id(n) in memo:
                continue
            stack.append((n, True))
            skip = self._absorbed(n) if n.op in ("and", "or") else ()
            for x in reversed(n.args):
                if x.op not in ("var", "prime") and id(x) not in memo and id(x) not in skip:
                    stack.append((x, False))
        return memo[id(e)]

    # ---- packed literals: and/or of field tests on one word become one masked comparison
    def _lit(self, x: Expr, positive: bool) -> tuple[str, Any] | None:
        """``x`` as a field test: ``("lit", (word, mask, pattern))`` meaning field == pattern when
        ``positive`` (an and) / field != pattern (an or); ``("pair", ...)`` for var-var tests."""
        isv = lambda y: y.op in ("var", "prime")  # noqa: E731
        L = self.layout

        def field(y: Expr) -> tuple[str, int, int]:
            v = y.var
            return self._word(v, y.op == "prime"), L.shift[v], L.bits[v]  # type: ignore[arg-type]

        def lit(y: Expr, code: int) -> tuple[str, Any]:
            w, sh, b = field(y)
            return "lit", (w, ((1 << b) - 1) << sh, code << sh)

        eq_op, bool_code = ("==", 1) if positive else ("!=", 0)
        if isv(x) and x.type is Bool:
            return lit(x, bool_code)
        if x.op == "not" and isv(x.args[0]) and x.args[0].type is Bool:
            return lit(x.args[0], 1 - bool_code)
        if x.op == eq_op:
            a, b = x.args
            vn, cn = (a, b) if isv(a) else (b, a)
            if isv(a) != isv(b) and cn.op == "const":
                t = vn.type
                cv = int(const_value(cn))
                lo = t.lo if isinstance(t, IntRange) else 0
                hi = t.hi if isinstance(t, IntRange) else t.size - 1
                if not lo <= cv <= hi:
                    return None
                return lit(vn, cv - lo)
            if not (isv(a) and isv(b)):
                # select trees on both sides (``removed ? default : view.f == live.f``)
                if a.op == "prime" or b.op == "prime":
                    return None
                anc = _anchor(a) or _anchor(b)
                if anc is None:
                    return None
                ca: list[int] = []
                cb: list[int] = []
                conds: dict[int, Expr] = {}
                sa = _shape_of(L, a, anc, ca, conds)
                sb = _shape_of(L, b, anc, cb, conds) if sa is not None else None
                if sa is None or sb is None:
                    return None
                return "shape", (L.word[anc], sa, sb, L.shift[anc], L.bits[anc], ca, cb, conds)
            if isv(a) and isv(b):
                ta, tb = a.type, b.type
                same = ta is tb or (isinstance(ta, IntRange) and isinstance(tb, IntRange)
                                    and ta.lo == tb.lo and L.bits[a.var] == L.bits[b.var])  # type: ignore[index]
                if not same:
                    return None
                (wa, xa, ba), (wb, xb, _) = field(a), field(b)
                if (wa, xa) > (wb, xb):
                    (wa, xa), (wb, xb) = (wb, xb), (wa, xa)
                return "pair", (wa, wb, xa - xb, ((1 << ba) - 1) << xb)
        return None

    def _absorbed(self, n: Expr) -> set[int]:
        plan = self._plan(n)
        return plan[0] if plan is not None else set()

    def _plan(self, n: Expr) -> tuple | None:
        """Split an and/or into word groups, var-var pair groups, select-tree comparisons and the
        rest (None: no gain)."""
        cached = self._plans
        if id(n) in cached:
            return cached[id(n)]
        positive = n.op == "and"
        lits: dict[str, list[tuple[Expr, int, int]]] = {}
        pairs: dict[tuple[str, str, int], list[tuple[Expr, int]]] = {}
        shapes: dict[tuple, list[tuple]] = {}
        rest: list[Expr] = []
        for x in n.args:
            r = self._lit(x, positive)
            if r is None:
                rest.append(x)
            elif r[0] == "lit":
                w, mk, pat = r[1]
                lits.setdefault(w, []).append((x, mk, pat))
            elif r[0] == "shape":
                w, sha, shb, sh, bits, ca, cb, cds = r[1]
                shapes.setdefault((w, sha, shb), []).append((x, sh, bits, ca, cb, cds))
            else:
                wa, wb, d, mk = r[1]
                pairs.setdefault((wa, wb, d), []).append((x, mk))
        absorbed: set[int] = set()
        glits: dict[str, tuple[int, int]] = {}
        for w, litems in lits.items():
            # a lone literal on a word: plain evaluation is as cheap (and may reuse a decode)
            if len(litems) < 2:
                rest += [x for x, _, _ in litems]
                continue
            mk = pat = 0
            bad = False
            for x, m1, p1 in litems:
                if mk & m1 and (pat & m1) != p1:
                    bad = True          # contradictory tests of one field: leave it to the general path
                mk |= m1
                pat = (pat & ~m1) | p1
            if bad:
                rest += [x for x, _, _ in litems]
                continue
            glits[w] = (mk, pat)
            absorbed |= {id(x) for x, _, _ in litems}
        gpairs: dict[tuple[str, str, int], int] = {}
        for key, pitems in pairs.items():
            gpairs[key] = 0
            for x, mk in pitems:
                gpairs[key] |= mk
            absorbed |= {id(x) for x, _ in pitems}
        gshapes: list[tuple] = []
        for (w, sha, shb), items in shapes.items():
            M = 0
            pa = [0] * len(items[0][3])
            pb = [0] * len(items[0][4])
            conds: dict[int, Expr] = {}
            for x, sh, bits, ca, cb, cd in items:
                M |= ((1 << bits) - 1) << sh
                for i, c in enumerate(ca):
                    pa[i] |= c << sh
                for i, c in enumerate(cb):
                    pb[i] |= c << sh
                conds.update(cd)
            gshapes.append((sha, shb, M, pa, pb, conds))
            absorbed |= {id(x) for x, *_ in items}
        plan = (absorbed, glits, gpairs, rest, gshapes) if absorbed else None
        cached[id(n)] = plan
        return plan

    def _grouped(self, n: Expr) -> str | None:
        plan = self._plan(n)
        if plan is None:
            return None
        _, glits, gpairs, rest, gshapes = plan
        positive = n.op == "and"
        cmp = "==" if positive else "!="
        terms: list[str] = []
        for sa, sb, M, pa, pb, conds in gshapes:
            A = self.packed(sa, M, pa, [0], conds)
            B = self.packed(sb, M, pb, [0], conds)
            terms.append(self._assign(f"(({A} ^ {B}) & {self.src.u64(M)}) {cmp} {self.src.u64(0)}"))
        for w, (mk, pat) in glits.items():
            terms.append(self._assign(f"({w} & {self.src.u64(mk)}) {cmp} {self.src.u64(pat)}"))
        for (wa, wb, d), mk in gpairs.items():
            if d > 0:
                x = f"({wa} >> {self.src.u64(d)}) ^ {wb}"
            elif d < 0:
                x = f"({wa} << {self.src.u64(-d)}) ^ {wb}"
            else:
                x = f"{wa} ^ {wb}"
            terms.append(self._assign(f"(({x}) & {self.src.u64(mk)}) {cmp} {self.src.u64(0)}"))
        terms += [self.value(x) for x in rest]
        return self._assign((" & " if positive else " | ").join(terms))

    def _node(self, n: Expr) -> str:
        op = n.op
        if op == "const":
            v = const_value(n)
            return repr(bool(v)) if isinstance(v, bool) else repr(int(v))
        a = n.args
        if op in ("==", "!=", "<", "<=") and len(a) == 2:
            isv = [x.op in ("var", "prime") for x in a]
            if isv[0] != isv[1]:
                vi = 0 if isv[0] else 1
                vn, cn = a[vi], a[1 - vi]
                decoded = (id(vn.var), vn.op == "prime") in self.decoded
                if cn.op == "const" and not decoded:
                    r = self.packed_cmp(op, vn, cn, flip=vi == 1)
                    if r == "TRUE_" or r == "FALSE_":
                        return self._assign(f"np.full(NROWS({self._anyword()}), {r == 'TRUE_'})")
                    return self._assign(r)  # type: ignore[arg-type]
        if op in ("and", "or"):
            g = self._grouped(n)
            if g is not None:
                return g
        if op == "not" and a[0].op in ("var", "prime") and a[0].type is Bool \
                and (id(a[0].var), a[0].op == "prime") not in self.decoded:
            v = a[0].var
            w = self._word(v, a[0].op == "prime")  # type: ignore[arg-type]
            bit = self.src.u64(1 << self.layout.shift[v])  # type: ignore[index]
            return self._assign(f"({w} & {bit}) == {self.src.u64(0)}")
        x = [self.value(y) for y in a]
        if op == "not":
            return self._assign(f"~{x[0]}")
        if op == "and":
            return self._assign(" & ".join(x))
        if op == "or":
            return self._assign(" | ".join(x))
        if op in ("==", "!=", "<", "<="):
            return self._assign(f"{x[0]} {op} {x[1]}")
        if op in ("+", "-"):
            return self._assign(f"{x[0]} {op} {x[1]}")
        if op == "%":
            return self._assign(f"{x[0]} % {x[1]}")
        if op == "ite":
            return self._assign(f"np.where({x[0]}, {x[1]}, {x[2]})")
        raise ValueError(f"unknown operator {op}")  # pragma: no cover

    def packed(self, shape: tuple, M: int, packs: list[int], k: list[int], conds: dict[int, Expr]) -> str:
        """Emit a select tree's packed value: every member's field at its own position (mask ``M``)."""
        kind = shape[0]
        if kind == "c":
            c = packs[k[0]]
            k[0] += 1
            return self.src.u64(c)
        if kind == "f":
            _, w, d = shape
            wn = self.words[w]
            if d > 0:
                x = f"({wn} >> {self.src.u64(d)})"
            elif d < 0:
                x = f"({wn} << {self.src.u64(-d)})"
            else:
                x = wn
            return self._assign(f"{x} & {self.src.u64(M)}")
        cond = self.bool_array(conds[shape[1]])
        a = self.packed(shape[2], M, packs, k, conds)
        b = self.packed(shape[3], M, packs, k, conds)
        return self._assign(f"np.where({cond}, {a}, {b})")

    def _anyword(self) -> str:
        return next(iter(self.words.values()))

    def _assign(self, code: str) -> str:
        name = self.src.fresh()
        self.src.emit(f"{name} = {code}")
        return name

    def bool_array(self, e: Expr) -> str:
        """``e`` (a bool) as an array of the row set's length."""
        if e.op == "const":
            return self._assign(f"np.full(NROWS({self._anyword()}), {bool(e.value)})")
        return self.expr(e)


def _words_of(layout: Layout, exprs: Sequence[Expr], primed: bool | None = None) -> set[int]:
    out = set()
    for n in postorder(*exprs):
        if n.op == "var" and primed is not True:
            out.add(layout.word[n.var])  # type: ignore[index]
        if n.op == "prime" and primed is not False:
            out.add(layout.word[n.var])  # type: ignore[index]
    return out


# --------------------------------------------------------------------------- the action trie


class _Node:
    def __init__(self, conj: Expr | None):
        self.conj = conj
        self.children: list[_Node] = []
        self.by_conj: dict[int, _Node] = {}
        self.leaves: list[Action] = []
        self.first = 1 << 60          # lowest action index below (evaluation order)
        self.words: set[int] = set()  # words read in the subtree (including effects)


def _field_masks(layout: Layout, vars: Any) -> list[int]:
    """Per packed word, the mask of the bits of ``vars``."""
    out = [0] * layout.W
    for v in vars:
        out[layout.word[v]] |= ((1 << layout.bits[v]) - 1) << layout.shift[v]
    return out


class CompiledModel:
    """Generated code for one model: ``expand`` over a chunk, and action-property checks.

    ``expand(cols, m, out, errs, pend, afound)``

    * ``cols``: the chunk's word columns (``W`` contiguous uint64 arrays of length ``m``);
    * ``out``: receives ``(action index, rows, new word columns)`` per action with transitions;
    * ``errs``: receives ``(action index, var index, value)`` for each domain error;
    * ``pend``: a list of booleans, one per action property still unanswered;
    * ``afound``: receives ``(property index, action index, row, post word columns)``.
    """

    def __init__(self, model: Model, layout: Layout, aprops: Sequence[ActionAlways] = (),
                 order: str = "given", timing: dict | None = None):
        self.timing = timing      # a dict to accumulate seconds per trie node / leaf (profiling)
        self.model = model
        self.layout = layout
        self.aprops = list(aprops)
        self.final = {}
        post_cache: dict[int, list[Expr]] = {}
        self.split = self._plan_split(post_cache)
        for a in model.actions:
            fv = compose(a.effect[:len(a.effect) - self.split], post_cache)
            self.final[a.index] = _simplified(fv)
        self.source, self.expand = self._generate(order)
        self.suffix: Callable | None = None
        self.pair_preds: list[Callable] = []
        self.suffix_read: list[int] = []
        self.suffix_write: list[int] = []
        if self.split:
            self.suffix = self._generate_suffix()
            self.pair_preds = [compile_pair_predicate(layout, p.expr) for p in self.aprops]
            # the fields the shared blocks read and write, as masks per word: their result
            # depends on the read fields only, so the explorer runs them once per distinct
            # projection onto those fields (far fewer than distinct states)
            read = {n.var for n in postorder(*self.suffix_final.values()) if n.op == "var"}
            self.suffix_read = _field_masks(layout, read)
            self.suffix_write = _field_masks(layout, self.suffix_final.keys())

    # ---- a shared trailing sequence of effect blocks
    def _plan_split(self, post_cache: dict[int, list[Expr]]) -> int:
        """How many trailing effect blocks every action shares and the explorer may
        apply once per distinct intermediate state (0: compose every action whole).

        Only when it cannot change an error: the shared blocks provably keep every value in its
        domain, and no action's own write that is not provably in its domain is overwritten by
        them (so a domain error is raised for the same action, variable and row)."""
        acts = self.model.actions
        if not acts or any(not a.effect for a in acts):
            return 0
        first = acts[0].effect
        k = len(first)
        for a in acts[1:]:
            e = a.effect
            j = 0
            while j < min(k, len(e)) and _same_block(e[len(e) - 1 - j], first[len(first) - 1 - j]):
                j += 1
            k = j
            if not k:
                return 0
        if k == len(first) or any(len(a.effect) == k for a in acts):
            k = min(k, min(len(a.effect) for a in acts) - 1)
        if k <= 0:
            return 0
        sfv = _simplified(compose(first[len(first) - k:], post_cache))
        if len(postorder(*sfv.values())) < 64:
            return 0                                       # too small to be worth a second pass
        if not _in_domain(sfv):
            return 0
        for a in acts:
            own = compose(a.effect[:len(a.effect) - k], post_cache)
            rng = intervals(list(own.values()))
            for v, e in own.items():
                lo, hi = _bounds(v)
                r = rng[id(e)]
                if (r[0] < lo or r[1] > hi) and v in sfv:
                    return 0
        self.suffix_final = sfv
        return k

    def _generate_suffix(self) -> Callable:
        """``suffix(cols, m) -> cols``: the shared trailing blocks applied to intermediate states."""
        L = self.layout
        src = _Src()
        ctx = _Rows(src, L, {j: f"w_{j}" for j in range(L.W)})
        new = self._emit_values(src, ctx, self.suffix_final, "m", -1)
        head = ["def suffix(cols, m):"] + [f"    w_{j} = cols[{j}]" for j in range(L.W)]
        src.emit("return [" + ", ".join(new.get(j, f"w_{j}") for j in range(L.W)) + "]")
        text = "\n".join(head + src.lines) + "\n"
        ns: dict[str, Any] = {"np": np, "INT64": np.int64, "NROWS": len, "U64": U64, "FLATNZ": np.flatnonzero}
        ns.update(src.consts)
        exec(compile(text, f"<certloop compiled {self.model.name} suffix>", "exec"), ns)  # noqa: S102
        self.source += "\n" + text
        return ns["suffix"]

    # ---- trie
    def _trie(self, order: str) -> _Node:
        acts = self.model.actions
        freq: dict[int, int] = {}
        conj_lists: list[list[Expr]] = []
        for a in acts:
            cs: list[Expr] = []
            seen: set[int] = set()
            dead = False
            for c in a.guard:
                e = c.expr
                if e.op == "const":
                    if not e.value:
                        dead = True
                    continue
                if id(e) in seen:
                    continue
                seen.add(id(e))
                cs.append(e)
            conj_lists.append([] if dead else cs)
            if dead:
                conj_lists[-1] = None  # type: ignore[call-overload]
            for e in cs:
                freq[id(e)] = freq.get(id(e), 0) + 1
        root = _Node(None)
        for a, cs in zip(acts, conj_lists):
            if cs is None:
                continue            # a constant-false conjunct: never enabled
            if order == "shared":
                # most shared first (stable): longer common prefixes, fewer evaluations
                cs = sorted(cs, key=lambda e: -freq[id(e)])
            node = root
            node.first = min(node.first, a.index)
            for e in cs:
                nxt = node.by_conj.get(id(e))
                if nxt is None:
                    nxt = _Node(e)
                    node.by_conj[id(e)] = nxt
                    node.children.append(nxt)
                node = nxt
                node.first = min(node.first, a.index)
            node.leaves.append(a)
        L = self.layout

        def words(n: _Node) -> set[int]:
            ws: set[int] = set()
            if n.conj is not None:
                ws |= _words_of(L, [n.conj])
            for a in n.leaves:
                ws |= self._leaf_words(a)
            for c in n.children:
                ws |= words(c)
            n.words = ws
            return ws

        words(root)
        return root

    def _shape(self, e: Expr, v: Var, consts: list[int]) -> tuple | None:
        """The shape of ``v``'s new value as a select tree (see :func:`_shape_of`)."""
        self._conds = getattr(self, "_conds", {})
        return _shape_of(self.layout, e, v, consts, self._conds)

    def _packed(self, src: _Src, sub: _Rows, shape: tuple, M: int, packs: list[int], k: list[int]) -> str:
        return sub.packed(shape, M, packs, k, self._conds)

    def _leaf_words(self, a: Action) -> set[int]:
        """Words a leaf reads from its row set: the effect's inputs and the written words."""
        L = self.layout
        fv = self.final[a.index]
        ws = _words_of(L, list(fv.values()))
        ws |= {L.word[v] for v in fv}
        return ws

    # ---- generation
    def _generate(self, order: str) -> tuple[str, Callable]:
        """One function per top-level branch of the trie (compiled one by one: CPython's compiler
        needs time and memory superlinear in the size of a single function), and ``expand``."""
        L = self.layout
        root = self._trie(order)
        W = L.W
        self.root_words = {j: f"w0_{j}" for j in range(W)}
        params = "cols, m, out, errs, pend, afound, r0, " + ", ".join(self.root_words.values())
        ns: dict[str, Any] = {"np": np, "INT64": np.int64, "ARANGE": np.arange, "NROWS": len,
                              "FLATNZ": np.flatnonzero, "U64": U64}
        if self.timing is not None:
            import time
            ns["PC"], ns["TIMES"] = time.perf_counter, self.timing
        items: list[tuple[int, str, Any]] = [(a.index, "leaf", a) for a in root.leaves]
        items += [(c.first, "child", c) for c in root.children]
        items.sort(key=lambda x: x[0])
        texts: list[str] = []
        calls: list[str] = []
        for k, (_, kind, what) in enumerate(items):
            src = _Src()
            ctx = _Rows(src, L, dict(self.root_words))
            self._emit_item(src, kind, what, ctx, "r0", "m", 0)
            if not src.lines:
                continue
            text = "\n".join([f"def part{k}({params}):"] + src.lines) + "\n"
            ns.update(src.consts)
            exec(compile(text, f"<certloop compiled {self.model.name} part {k}>", "exec"), ns)  # noqa: S102
            texts.append(text)
            calls.append(f"    part{k}({params})")
        head = ["def expand(cols, m, out, errs, pend, afound):"]
        head += [f"    {nm} = cols[{j}]" for j, nm in self.root_words.items()]
        head += ["    r0 = ARANGE(m)"] + calls + ["    return None"]
        text = "\n".join(head) + "\n"
        exec(compile(text, f"<certloop compiled {self.model.name}>", "exec"), ns)  # noqa: S102
        return "\n".join(texts + [text]), ns["expand"]

    def _emit_node(self, src: _Src, node: _Node, ctx: _Rows, rows: str, nrows: str, depth: int) -> None:
        """Code for the children and leaves of a trie node whose row set is ``ctx``."""
        items: list[tuple[int, str, Any]] = [(a.index, "leaf", a) for a in node.leaves]
        items += [(c.first, "child", c) for c in node.children]
        items.sort(key=lambda x: x[0])
        for _, kind, what in items:
            self._emit_item(src, kind, what, ctx, rows, nrows, depth)

    def _emit_item(self, src: _Src, kind: str, what: Any, ctx: _Rows, rows: str, nrows: str, depth: int) -> None:
        if kind == "leaf":
            self._emit_leaf(src, what, ctx, rows, nrows)
            return
        child: _Node = what
        if self.timing is not None:
            tk = f"{depth}:{show(child.conj)[:60]}"  # type: ignore[arg-type]
            src.emit("_t = PC()")
        k = ctx.bool_array(child.conj)  # type: ignore[arg-type]
        idx = src.fresh("i")
        src.emit(f"{idx} = FLATNZ({k})")
        if self.timing is not None:
            src.emit(f"TIMES[{tk!r}] = TIMES.get({tk!r}, 0) + PC() - _t")
        src.emit(f"if {idx}.size:")
        src.ind += 1
        cw = {j: src.fresh(f"w{depth + 1}_{j}_") for j in sorted(child.words)}
        crow, cn = src.fresh("r"), src.fresh("n")
        src.emit(f"{cn} = {idx}.size")
        src.emit(f"if {cn} == {nrows}:")
        src.ind += 1
        src.emit(f"{crow} = {rows}")
        for j, nm in cw.items():
            src.emit(f"{nm} = {ctx.words[j]}")
        src.ind -= 1
        src.emit("else:")
        src.ind += 1
        src.emit(f"{crow} = {rows}[{idx}]")
        for j, nm in cw.items():
            src.emit(f"{nm} = {ctx.words[j]}[{idx}]")
        src.ind -= 1
        sub = _Rows(src, self.layout, cw)
        self._emit_node(src, child, sub, crow, cn, depth + 1)
        src.ind -= 1

    def _emit_leaf(self, src: _Src, a: Action, ctx: _Rows, rows: str, nrows: str) -> None:
        """Effects of ``a`` on the rows where its guard holds; append the changed rows to ``out``."""
        if self.timing is None:
            return self._emit_leaf_code(src, a, ctx, rows, nrows)
        src.emit("_t = PC()")
        n0 = len(src.lines)
        self._emit_leaf_code(src, a, ctx, rows, nrows)
        # the leaf code may 'return' nowhere: time it as a straight block
        tk = "leaf:" + a.label
        src.emit(f"TIMES[{tk!r}] = TIMES.get({tk!r}, 0) + PC() - _t")
        return None

    def _emit_values(self, src: _Src, sub: _Rows, fv: dict[Var, Expr], nrows: str, err: int) -> dict[int, str]:
        """Emit the new value of every word written by the simultaneous assignments ``fv``
        (evaluated in the row set ``sub``); returns ``{word: local name}``.  Domain errors are
        appended to ``errs`` as ``(err, var index, value)``."""
        L = self.layout
        W = L.W
        ctx = sub
        writes = sorted(fv, key=lambda v: v.index)
        rng = intervals(list(fv.values()))
        keep = [_FULL] * W
        const_or = [0] * W
        parts: dict[int, list[str]] = {j: [] for j in range(W)}
        checks: list[tuple[Var, str, int, int]] = []
        # ---- packed selects: variables of one word whose values have one shape
        groups: dict[tuple, list[tuple[Var, list[int]]]] = {}
        for v in writes:
            e = fv[v]
            if e.op == "const":
                continue
            consts: list[int] = []
            shape = self._shape(e, v, consts)
            if shape is not None:
                groups.setdefault((L.word[v], shape), []).append((v, consts))
        grouped: set[Var] = set()
        for (j, shape), members in groups.items():
            M = 0
            for v, _ in members:
                M |= ((1 << L.bits[v]) - 1) << L.shift[v]
            packs = [0] * len(members[0][1])
            for v, consts in members:
                for i, c in enumerate(consts):
                    packs[i] |= c << L.shift[v]
            keep[j] &= ~M & _FULL
            parts[j].append(self._packed(src, sub, shape, M, packs, [0]))
            grouped |= {v for v, _ in members}
        for v in writes:
            if v in grouped:
                continue
            e = fv[v]
            j, s, b = L.word[v], L.shift[v], L.bits[v]
            keep[j] &= ~(((1 << b) - 1) << s) & _FULL
            t = v.type
            lo = t.lo if isinstance(t, IntRange) else 0
            hi = t.hi if isinstance(t, IntRange) else t.size - 1
            if e.op == "const":
                cv = int(const_value(e))
                if not lo <= cv <= hi:
                    checks.append((v, repr(cv), lo, hi))   # out of domain on every row
                    continue
                const_or[j] |= (cv - lo) << s
                continue
            if e.op == "var" and _same_encoding(e.var.type, t):   # type: ignore[union-attr]
                code = sub.code_of(e.var)  # type: ignore[arg-type]
            else:
                val = sub.expr(e)
                r = rng[id(e)]
                if r[0] < lo or r[1] > hi:
                    checks.append((v, val, lo, hi))
                if t is Bool:
                    code = f"{val}.astype(U64)"
                elif lo:
                    code = f"({val} - {lo}).astype(U64)"
                else:
                    code = f"{val}.astype(U64)"
            parts[j].append(code if s == 0 else f"({code} << {src.u64(s)})")
        for v, val, lo, hi in checks:
            if val.lstrip("-").isdigit():
                src.emit(f"errs.append(({err}, {v.index}, {val}))")
                continue
            bad = src.fresh("bad")
            src.emit(f"{bad} = ({val} < {lo}) | ({val} > {hi})")
            src.emit(f"if {bad}.any():")
            src.emit(f"    errs.append(({err}, {v.index}, int({val}[{bad}][0])))")
        touched = [j for j in range(W) if keep[j] != _FULL or const_or[j] or parts[j]]
        new: dict[int, str] = {}
        for j in touched:
            terms = []
            if keep[j] == _FULL:
                terms.append(ctx.words[j])
            elif keep[j] != 0:
                terms.append(f"({ctx.words[j]} & {src.u64(keep[j])})")
            terms += parts[j]
            if not terms:
                code = (f"np.full({nrows}, {src.u64(const_or[j])}, dtype=U64)" if const_or[j]
                        else f"np.zeros({nrows}, dtype=U64)")
            else:
                if const_or[j]:
                    terms.append(src.u64(const_or[j]))
                code = " | ".join(terms)
            nm = src.fresh("nw")
            src.emit(f"{nm} = {code}")
            new[j] = nm
        return new

    def _emit_leaf_code(self, src: _Src, a: Action, ctx: _Rows, rows: str, nrows: str) -> None:
        L = self.layout
        W = L.W
        src.emit(f"# ---- {a.label}")
        sub = _Rows(src, L, dict(ctx.words))      # a fresh memo: the leaf's own CSE scope
        new = self._emit_values(src, sub, self.final[a.index], nrows, a.index)
        touched = sorted(new)
        if self.split:
            # intermediate states for every row where the guard holds (the shared blocks and the
            # no-op rule come later, once per distinct intermediate state)
            cols = [new[j] if j in new else f"{self.root_words[j]}[{rows}]" for j in range(W)]
            src.emit(f"out.append(({a.index}, {rows}, ({', '.join(cols)},)))")
            return
        if not touched:
            return
        ch = src.fresh("ch")
        src.emit(f"{ch} = " + " | ".join(f"({new[j]} != {ctx.words[j]})" for j in touched))
        ci = src.fresh("ci")
        src.emit(f"{ci} = FLATNZ({ch})")
        src.emit(f"if {ci}.size:")
        src.ind += 1
        fr = src.fresh("fr")
        fc = [src.fresh("fc") for _ in range(W)]
        src.emit(f"if {ci}.size == {nrows}:")
        src.emit(f"    {fr} = {rows}")
        for j in touched:
            src.emit(f"    {fc[j]} = {new[j]}")
        src.emit("else:")
        src.emit(f"    {fr} = {rows}[{ci}]")
        for j in touched:
            src.emit(f"    {fc[j]} = {new[j]}[{ci}]")
        for j in range(W):
            if j not in new:
                src.emit(f"{fc[j]} = {self.root_words[j]}[{fr}]")
        src.emit(f"out.append(({a.index}, {fr}, ({', '.join(fc)},)))")
        props = [(pi, p) for pi, p in enumerate(self.aprops) if p.applies(a)]
        if props:
            fo = [src.fresh("fo") for _ in range(W)]
            for j in range(W):
                src.emit(f"{fo[j]} = {self.root_words[j]}[{fr}]")
            for pi, p in props:
                src.emit(f"if pend[{pi}]:")
                src.ind += 1
                pc = _Rows(src, L, {j: fo[j] for j in range(W)}, {j: fc[j] for j in range(W)})
                ok = pc.bool_array(p.expr)
                bi = src.fresh("bi")
                src.emit(f"{bi} = FLATNZ(~{ok})")
                src.emit(f"if {bi}.size:")
                src.emit(f"    afound.append(({pi}, {a.index}, int({fr}[{bi}[0]]), "
                         f"({', '.join(f'{c}[{bi}[0]]' for c in fc)},)))")
                src.ind -= 1
        src.ind -= 1


def _shape_of(model: Any, e: Expr, v: Var, consts: list[int], conds: dict[int, Expr] | None = None) -> tuple | None:
    """The shape of ``e`` as a tree of selects (``ite`` with conditions that do not depend on the
    field) over field reads and constants, with field reads relative to ``v``'s bit position and
    every leaf in ``v``'s encoding; constants (codes) are appended to ``consts``, conditions
    recorded in ``conds``.  None when ``e`` is not of that form."""
    L = model.layout if not isinstance(model, Layout) else model
    t = v.type
    lo = t.lo if isinstance(t, IntRange) else 0
    hi = t.hi if isinstance(t, IntRange) else t.size - 1
    if e.op == "const":
        c = int(const_value(e))
        if not lo <= c <= hi:
            return None
        consts.append(c - lo)
        return ("c",)
    if e.op == "var":
        u = e.var
        if not _same_bits(L, u, v):  # type: ignore[arg-type]
            return None
        return ("f", L.word[u], L.shift[u] - L.shift[v])  # type: ignore[index]
    if e.op == "ite":
        a = _shape_of(L, e.args[1], v, consts, conds)
        if a is None:
            return None
        b = _shape_of(L, e.args[2], v, consts, conds)
        if b is None:
            return None
        if conds is not None:
            conds[id(e.args[0])] = e.args[0]
        return ("ite", id(e.args[0]), a, b)
    if e.op in ("and", "or") and v.type is Bool:
        # ``cond and field`` is ``cond ? field : false``; ``cond or field`` is ``cond ? true : field``
        fields = [x for x in e.args if x.op == "var"]
        if len(fields) != 1:
            return None
        f = fields[0]
        rest = [x for x in e.args if x is not f]
        cond = and_(*rest) if e.op == "and" else or_(*rest)
        sub = _shape_of(L, f, v, [], conds)
        if sub is None:
            return None
        if conds is not None:
            conds[id(cond)] = cond
        if e.op == "and":
            consts.append(0)
            return ("ite", id(cond), sub, ("c",))
        consts.append(1)
        return ("ite", id(cond), ("c",), sub)
    return None


def _anchor(e: Expr) -> Var | None:
    """The first variable read (current state) in a select tree, depth first."""
    stack = [e]
    while stack:
        x = stack.pop()
        if x.op == "var":
            return x.var
        if x.op == "ite":
            stack += [x.args[2], x.args[1]]
    return None


def _same_bits(L: Layout, u: Var, v: Var) -> bool:
    """Codes of ``u`` are codes of ``v`` (same values, same width): a field copy moves bits."""
    a, b = u.type, v.type
    if L.bits[u] != L.bits[v]:
        return False
    if a is b:
        return True
    return isinstance(a, IntRange) and isinstance(b, IntRange) and a.lo == b.lo and a.hi == b.hi


def _same_encoding(a: Any, b: Any) -> bool:
    if a is b:
        return True
    if isinstance(a, IntRange) and isinstance(b, IntRange):
        return a.lo == b.lo and a.hi <= b.hi
    return False


# --------------------------------------------------------------------------- state predicates


def compile_predicates(layout: Layout, exprs: Sequence[Expr], name: str = "preds") -> Callable:
    """``fn(cols, m) -> [array per expr]`` over word columns (state predicates, no primes)."""
    src = _Src()
    head = ["def preds(cols, m):"]
    for j in range(layout.W):
        src.emit(f"w_{j} = cols[{j}]")
    ctx = _Rows(src, layout, {j: f"w_{j}" for j in range(layout.W)})
    outs = []
    for e in exprs:
        if e.op == "const":
            outs.append(f"np.full(m, {bool(e.value) if e.type is Bool else int(const_value(e))})")
        else:
            outs.append(ctx.expr(e))
    src.emit(f"return [{', '.join(outs)}]")
    text = "\n".join(head + src.lines) + "\n"
    ns: dict[str, Any] = {"np": np, "INT64": np.int64, "NROWS": len, "U64": U64}
    ns.update(src.consts)
    exec(compile(text, f"<certloop {name}>", "exec"), ns)  # noqa: S102
    fn = ns["preds"]
    fn.source = text  # type: ignore[attr-defined]
    return fn


def compile_pair_predicate(layout: Layout, expr: Expr) -> Callable:
    """``fn(pre_cols, post_cols) -> bool array``: an action property over transitions (primed
    reads from the post-state words)."""
    src = _Src()
    head = ["def pair(pre, post):"]
    head += [f"    w_{j} = pre[{j}]" for j in range(layout.W)]
    head += [f"    n_{j} = post[{j}]" for j in range(layout.W)]
    ctx = _Rows(src, layout, {j: f"w_{j}" for j in range(layout.W)}, {j: f"n_{j}" for j in range(layout.W)})
    out = ctx.bool_array(expr)
    src.emit(f"return {out}")
    text = "\n".join(head + src.lines) + "\n"
    ns: dict[str, Any] = {"np": np, "INT64": np.int64, "NROWS": len, "U64": U64}
    ns.update(src.consts)
    exec(compile(text, "<certloop action property>", "exec"), ns)  # noqa: S102
    return ns["pair"]
