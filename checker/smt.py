"""The SMT back end of the expression language: Z3 terms for guard analysis.

This is the **only** module of the project that imports ``z3``, and it is used at analysis time
only (never while exploring states).

Encoding
--------
* ``Bool`` variables are Z3 ``Bool`` constants.
* ``Enum`` variables are Z3 ``Int`` constants holding the value's *code* (``0 .. size-1``), with
  domain constraints; enum constants become their code.
* ``IntRange(lo, hi)`` variables are Z3 ``Int`` constants holding the value itself, with
  ``lo <= v <= hi``; intermediate integers (``x + 1``) are unconstrained ``Int`` terms.
* ``%`` (always by a positive constant) is SMT-LIB ``mod``, which agrees with Python's ``%``.
* A primed read ``v'`` is a separate constant named ``v.name + "'"``.

Translation is memoised by node identity (expressions are interned), so a DAG stays a DAG.

Assignments returned to callers (examples, counterexamples, witnesses) are decoded to Python
values with ``Var.type.decode``: ``{Var: value}`` for current-state reads, and ``{v.primed: value}``
(the primed read expression as key) for next-state reads.

>>> from certloop.checker.expr import Schema, IntRange, Bool
>>> sch = Schema(); x = sch.var("x", IntRange(0, 3)); b = sch.var("b", Bool)
>>> smt = Smt(sch.vars)
>>> smt.is_valid((x < 2) | (x >= 2))[0]
True
>>> smt.compare(x < 1, x < 2).relation
'stronger'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import z3

from certloop.checker.expr import Bool, Enum, Expr, IntRange, ModelError, Type, Var, postorder, show

__all__ = ["Smt", "Comparison", "SmtUnknown", "Assignment"]

Assignment = dict[Any, Any]
"""A decoded assignment: ``{Var: value}`` for current reads, ``{var.primed: value}`` for primed reads."""


class SmtUnknown(RuntimeError):
    """Z3 answered ``unknown`` (a timeout or an incomplete theory); no verdict was reached."""


@dataclass(frozen=True)
class Comparison:
    """The logical relation between two predicates ``a`` and ``b``.

    ``relation`` is ``'equivalent'`` (a <=> b), ``'stronger'`` (a => b, not conversely),
    ``'weaker'`` (b => a, not conversely) or ``'incomparable'``.  ``only_a`` is an assignment
    satisfying ``a and not b`` (None if there is none); ``only_b`` one satisfying ``b and not a``.
    """

    relation: str
    only_a: Assignment | None
    only_b: Assignment | None

    def __str__(self) -> str:
        return self.relation


class Smt:
    """A translation context: Z3 constants for variables and a memo of translated nodes.

    Parameters
    ----------
    vars:
        Variables whose domain constraints are always asserted and which every decoded example
        mentions (typically ``model.schema.vars``).  Variables met during translation are added.
    timeout_ms:
        Per-query Z3 timeout; a query that times out raises :class:`SmtUnknown`.
    """

    def __init__(self, vars: Iterable[Var] = (), timeout_ms: int | None = None):
        self.timeout_ms = timeout_ms
        self._memo: dict[int, tuple[Expr, z3.ExprRef]] = {}
        self._consts: dict[tuple[int, bool], tuple[Var, z3.ExprRef]] = {}
        self._names: dict[str, int] = {}
        self._order: list[tuple[Var, bool]] = []
        for v in vars:
            self.var(v)

    # ------------------------------------------------------------------ translation

    def var(self, v: Var, primed: bool = False) -> z3.ExprRef:
        """The Z3 constant for ``v`` (or ``v'``)."""
        key = (id(v), primed)
        hit = self._consts.get(key)
        if hit is not None:
            return hit[1]
        name = v.name + ("'" if primed else "")
        if name in self._names and self._names[name] != id(v):
            name = f"{name}@{len(self._consts)}"     # two distinct Vars with one name
        self._names[name] = id(v)
        c = z3.Bool(name) if v.type is Bool else z3.Int(name)
        self._consts[key] = (v, c)
        self._order.append((v, primed))
        return c

    def to_z3(self, e: Expr) -> z3.ExprRef:
        """The Z3 term of ``e`` (Bool-sorted for predicates, Int-sorted otherwise)."""
        hit = self._memo.get(id(e))
        if hit is not None:
            return hit[1]
        for n in postorder(e):
            if id(n) in self._memo:
                continue
            self._memo[id(n)] = (n, self._node(n))
        return self._memo[id(e)][1]

    def _node(self, n: Expr) -> z3.ExprRef:
        op = n.op
        if op == "const":
            if n.type is Bool:
                return z3.BoolVal(bool(n.value))
            if isinstance(n.type, Enum):
                return z3.IntVal(n.type.encode(n.value))
            return z3.IntVal(int(n.value))
        if op == "var":
            return self.var(n.var)  # type: ignore[arg-type]
        if op == "prime":
            return self.var(n.var, primed=True)  # type: ignore[arg-type]
        a = [self._memo[id(x)][1] for x in n.args]
        if op == "not":
            return z3.Not(a[0])
        if op == "and":
            return z3.And(*a)
        if op == "or":
            return z3.Or(*a)
        if op == "==":
            return a[0] == a[1]
        if op == "!=":
            return a[0] != a[1]
        if op == "<":
            return a[0] < a[1]
        if op == "<=":
            return a[0] <= a[1]
        if op == "+":
            return a[0] + a[1]
        if op == "-":
            return a[0] - a[1]
        if op == "%":
            return a[0] % a[1]          # SMT-LIB mod: in 0..k-1 for k > 0, like Python
        if op == "ite":
            return z3.If(a[0], a[1], a[2])
        raise ModelError(f"smt: unknown operator {op!r} in {show(n)}")

    # ------------------------------------------------------------------ domains and decoding

    def domain(self, v: Var, primed: bool = False) -> z3.BoolRef:
        """The domain constraint of one variable (``True`` for a Bool)."""
        c = self.var(v, primed)
        t = v.type
        if t is Bool:
            return z3.BoolVal(True)
        lo, hi = _bounds(t)
        return z3.And(c >= lo, c <= hi)

    def domain_constraints(self, vars: Iterable[Var] | None = None, primed: bool = False) -> list[z3.BoolRef]:
        """Domain constraints of ``vars`` (default: every variable known to the context, primed
        reads included).  Bool variables need none and are omitted."""
        if vars is None:
            pairs = list(self._order)
        else:
            pairs = [(v, primed) for v in vars]
        return [self.domain(v, p) for v, p in pairs if v.type is not Bool]

    def decode_value(self, t: Type, val: z3.ExprRef) -> Any:
        """A Z3 model value of a term of type ``t`` as a Python value."""
        if t is Bool:
            return z3.is_true(val)
        code = val.as_long()  # type: ignore[attr-defined]
        if isinstance(t, Enum):
            return t.decode(code)
        if isinstance(t, IntRange):
            return t.decode(code - t.lo)
        return code

    def decode(self, model: z3.ModelRef, vars: Iterable[Var] | None = None) -> Assignment:
        """A Z3 model as ``{Var: value}`` (and ``{v.primed: value}`` for primed constants).

        Default: every variable the context knows, in the order it met them.
        """
        pairs = list(self._order) if vars is None else [(v, False) for v in vars]
        out: Assignment = {}
        for v, p in pairs:
            val = model.eval(self.var(v, p), model_completion=True)
            out[v.primed if p else v] = self.decode_value(v.type, val)
        return out

    # ------------------------------------------------------------------ queries

    def solver(self) -> z3.Solver:
        """A fresh solver with the timeout set (constraints are added by the caller)."""
        s = z3.Solver()
        if self.timeout_ms is not None:
            s.set("timeout", int(self.timeout_ms))
        return s

    def _check(self, s: z3.Solver) -> bool:
        r = s.check()
        if r == z3.unknown:
            raise SmtUnknown(f"z3 answered unknown: {s.reason_unknown()}")
        return r == z3.sat

    def _prepared(self, *exprs: Expr) -> tuple[z3.Solver, list[z3.ExprRef]]:
        terms = [self.to_z3(e) for e in exprs]      # registers every variable read
        s = self.solver()
        s.add(*self.domain_constraints())
        return s, terms

    def is_satisfiable(self, e: Expr) -> tuple[bool, Assignment | None]:
        """Is the predicate ``e`` true in some assignment within the domains?

        Returns ``(True, example)`` or ``(False, None)``.
        """
        _need_pred(e)
        s, (t,) = self._prepared(e)
        s.add(t)
        if self._check(s):
            return True, self.decode(s.model())
        return False, None

    def is_valid(self, e: Expr) -> tuple[bool, Assignment | None]:
        """Is ``e`` true in every assignment within the domains?

        Returns ``(True, None)`` or ``(False, counterexample)``.
        """
        _need_pred(e)
        s, (t,) = self._prepared(e)
        s.add(z3.Not(t))
        if self._check(s):
            return False, self.decode(s.model())
        return True, None

    def implies(self, a: Expr, b: Expr) -> tuple[bool, Assignment | None]:
        """Does ``a`` imply ``b`` within the domains?  ``(False, example of a and not b)`` if not."""
        _need_pred(a)
        _need_pred(b)
        s, (ta, tb) = self._prepared(a, b)
        s.add(ta, z3.Not(tb))
        if self._check(s):
            return False, self.decode(s.model())
        return True, None

    def compare(self, a: Expr, b: Expr) -> Comparison:
        """The relation between predicates ``a`` and ``b``, with witnesses of each difference."""
        ab_ok, only_a = self.implies(a, b)
        ba_ok, only_b = self.implies(b, a)
        rel = {(True, True): "equivalent", (True, False): "stronger",
               (False, True): "weaker", (False, False): "incomparable"}[(ab_ok, ba_ok)]
        return Comparison(rel, only_a, only_b)

    def enumerate_models(self, e: Expr, vars: Sequence[Var], limit: int = 1000) -> list[dict[Var, Any]]:
        """The distinct assignments to ``vars`` that extend to a model of ``e`` (at most ``limit``).

        Projection is onto the current-state values of ``vars``.  The result is sorted by the
        variables' codes, so it is deterministic whenever it is complete (``len < limit``).
        """
        _need_pred(e)
        s, (t,) = self._prepared(e)
        for v in vars:
            self.var(v)
        s.add(*[self.domain(v) for v in vars])
        s.add(t)
        consts = [self.var(v) for v in vars]
        out: list[dict[Var, Any]] = []
        while len(out) < limit and self._check(s):
            m = s.model()
            vals = [m.eval(c, model_completion=True) for c in consts]
            out.append({v: self.decode_value(v.type, x) for v, x in zip(vars, vals)})
            if not consts:
                break
            s.add(z3.Or(*[c != x for c, x in zip(consts, vals)]))
        out.sort(key=lambda d: tuple(_code(v, d[v]) for v in vars))
        return out

    def evaluate(self, e: Expr, state: Mapping[Var, Any], nxt: Mapping[Var, Any] | None = None) -> Any:
        """The value of ``e`` in a concrete state, computed by Z3 (a cross-check of the encoding).

        The state's values are asserted as equalities; the result must be *unique* (a second
        query proves no other value is possible), else :class:`ModelError` is raised.
        """
        t = self.to_z3(e)
        s = self.solver()
        for n in postorder(e):
            if n.op == "var":
                v = n.var
                s.add(self.var(v) == self._lit(v.type, state[v]))  # type: ignore[index, union-attr]
            elif n.op == "prime":
                if nxt is None:
                    raise ModelError(f"{show(n)} reads the next state but no next state was given")
                v = n.var
                s.add(self.var(v, True) == self._lit(v.type, nxt[v]))  # type: ignore[index, union-attr]
        res = z3.Bool("__result") if e.type is Bool else z3.Int("__result")
        s.add(res == t)
        if not self._check(s):
            raise ModelError(f"smt: no value for {show(e)} in the given state")
        val = s.model().eval(res, model_completion=True)
        s.add(res != val)
        if self._check(s):
            raise ModelError(f"smt: {show(e)} has several values in the given state")
        return self.decode_value(e.type, val)

    def _lit(self, t: Type, value: Any) -> z3.ExprRef:
        if t is Bool:
            return z3.BoolVal(bool(value))
        if isinstance(t, Enum):
            return z3.IntVal(t.encode(value))
        return z3.IntVal(int(value))


def _bounds(t: Type) -> tuple[int, int]:
    if isinstance(t, IntRange):
        return t.lo, t.hi
    if isinstance(t, Enum):
        return 0, t.size - 1
    raise ModelError(f"smt: type {t!r} has no finite domain")


def _code(v: Var, value: Any) -> int:
    return v.type.encode(value)


def _need_pred(e: Expr) -> None:
    if e.type is not Bool:
        raise ModelError(f"smt: expected a predicate, got {e.type!r}: {show(e)}")
