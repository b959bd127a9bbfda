"""The Z3 back end, and a three-way agreement test of the expression evaluators.

The property test generates random well-typed expressions over random variables and random
states, and checks that the scalar evaluator (``expr.evaluate``), the vectorised evaluator
(``vector.VecEval`` over packed states) and Z3 (``smt.Smt.evaluate``) agree on every value.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from certloop.checker.expr import (
    Bool, Enum, Expr, IntRange, ModelError, Schema, Var, and_, const, evaluate, implies, ite, not_, or_,
    prime, show,
)
from certloop.checker.smt import Comparison, Smt
from certloop.checker.vector import Layout, VecEval

COLOR = Enum("Color", ("red", "green", "blue"))


@pytest.fixture()
def sch() -> Schema:
    return Schema()


# --------------------------------------------------------------------------- unit tests


def test_satisfiable_with_decoded_example(sch: Schema) -> None:
    x = sch.declare("x", IntRange(2, 5))
    c = sch.declare("c", COLOR)
    b = sch.declare("b", Bool)
    smt = Smt(sch.vars)
    ok, ex = smt.is_satisfiable((x.ref + 1).eq(6) & c.ref.eq("blue") & ~b.ref)
    assert ok
    assert ex == {x: 5, c: "blue", b: False}


def test_unsatisfiable_because_of_domains(sch: Schema) -> None:
    x = sch.declare("x", IntRange(0, 3))
    c = sch.declare("c", COLOR)
    smt = Smt(sch.vars)
    assert smt.is_satisfiable(x.ref > 3) == (False, None)
    # an enum has exactly its values: not red, not green, not blue is impossible
    assert smt.is_satisfiable(c.ref.ne("red") & c.ref.ne("green") & c.ref.ne("blue")) == (False, None)


def test_valid_and_counterexample(sch: Schema) -> None:
    x = sch.declare("x", IntRange(-2, 2))
    smt = Smt(sch.vars)
    assert smt.is_valid((x.ref < 0) | (x.ref >= 0)) == (True, None)
    assert smt.is_valid((x.ref + 3) % 3 < 3)[0]
    ok, cex = smt.is_valid(x.ref.ne(0))
    assert not ok and cex == {x: 0}


def test_mod_agrees_with_python_on_negatives(sch: Schema) -> None:
    x = sch.declare("x", IntRange(-5, 5))
    smt = Smt(sch.vars)
    for v in range(-5, 6):
        assert smt.evaluate(x.ref % 3, {x: v}) == v % 3


def test_compare_relations_and_witnesses(sch: Schema) -> None:
    x = sch.declare("x", IntRange(0, 9))
    smt = Smt(sch.vars)
    assert smt.compare(x.ref < 3, x.ref <= 2).relation == "equivalent"
    r = smt.compare(x.ref < 3, x.ref < 5)
    assert isinstance(r, Comparison) and r.relation == "stronger" and str(r) == "stronger"
    assert r.only_a is None and r.only_b is not None and r.only_b[x] in (3, 4)
    assert smt.compare(x.ref < 5, x.ref < 3).relation == "weaker"
    r = smt.compare(x.ref < 5, x.ref > 3)
    assert r.relation == "incomparable"
    assert r.only_a is not None and r.only_a[x] <= 3
    assert r.only_b is not None and r.only_b[x] >= 5


def test_enumerate_models_projects_and_sorts(sch: Schema) -> None:
    x = sch.declare("x", IntRange(0, 3))
    c = sch.declare("c", COLOR)
    b = sch.declare("b", Bool)
    smt = Smt(sch.vars)
    ms = smt.enumerate_models((x.ref < 2) & c.ref.ne("green"), [x, c])
    assert ms == [{x: 0, c: "red"}, {x: 0, c: "blue"}, {x: 1, c: "red"}, {x: 1, c: "blue"}]
    assert len(smt.enumerate_models(b.ref | ~b.ref, [x, c, b], limit=5)) == 5
    assert smt.enumerate_models(x.ref > 7, [x]) == []


def test_primed_reads_are_separate_constants(sch: Schema) -> None:
    x = sch.declare("x", IntRange(0, 3))
    smt = Smt(sch.vars)
    step = x.primed.eq(x.ref + 1)
    ok, ex = smt.is_satisfiable(step & x.ref.eq(3))
    assert not ok                                   # x' = 4 is outside the domain
    ok, ex = smt.is_satisfiable(step & x.ref.eq(2))
    assert ok and ex == {x: 2, x.primed: 3}
    assert smt.evaluate(prime(x.ref + 1), {x: 0}, {x: 2}) == 3
    with pytest.raises(ModelError):
        smt.evaluate(x.primed, {x: 0})


def test_memo_shares_nodes(sch: Schema) -> None:
    x = sch.declare("x", IntRange(0, 3))
    smt = Smt()
    e = x.ref + 1
    assert smt.to_z3(e) is smt.to_z3(e)
    assert smt.to_z3(x.ref) is smt.var(x)


def test_enum_ite_and_decoding(sch: Schema) -> None:
    c = sch.declare("c", COLOR)
    b = sch.declare("b", Bool)
    smt = Smt(sch.vars)
    e = ite(b.ref, c.ref, const("green", COLOR))
    assert smt.evaluate(e, {c: "blue", b: True}) == "blue"
    assert smt.evaluate(e, {c: "blue", b: False}) == "green"
    ok, ex = smt.is_satisfiable(e.eq("red"))
    assert ok and ex is not None and ex[b] is True and ex[c] == "red"


def test_rejects_non_predicates(sch: Schema) -> None:
    x = sch.declare("x", IntRange(0, 3))
    with pytest.raises(ModelError):
        Smt().is_satisfiable(x.ref + 1)


def test_guard_analysis_on_an_example_model() -> None:
    from certloop.checker.examples import peterson
    m = peterson()
    smt = Smt(m.schema.vars)
    for a in m.actions:
        # every Peterson action changes the state whenever its guard holds
        assert smt.implies(a.guard_expr, a.changes_expr())[0], a.label
        ok, ex = smt.is_satisfiable(a.enabled_expr())
        assert ok and ex is not None and evaluate(a.enabled_expr(), ex)


# --------------------------------------------------------------------------- three-way agreement

ENUMS = [Enum("E1", ("a",)), Enum("E3", ("p", "q", "r")), Enum("E5", ("v0", "v1", "v2", "v3", "v4"))]


@st.composite
def _types(draw: Any) -> Any:
    k = draw(st.sampled_from(["bool", "enum", "int"]))
    if k == "bool":
        return Bool
    if k == "enum":
        return draw(st.sampled_from(ENUMS))
    lo = draw(st.integers(-4, 4))
    return IntRange(lo, lo + draw(st.integers(0, 6)))


def _leaf(draw: Any, kind: Any, vs: list[Var], primes: bool) -> Expr:
    """A constant or a variable read (current or primed) of the kind ``kind``."""
    def fits(v: Var) -> bool:
        if kind == "int":
            return isinstance(v.type, IntRange)
        return v.type is kind
    cands = [v for v in vs if fits(v)]
    if cands and not (draw(st.booleans()) and draw(st.booleans())):      # a variable 3 times in 4
        v = draw(st.sampled_from(cands))
        return v.primed if primes and draw(st.booleans()) else v.ref
    if kind == "int":
        return const(draw(st.integers(-6, 6)))
    if kind is Bool:
        return const(draw(st.booleans()))
    return const(draw(st.sampled_from(kind.values)), kind)


def _gen(draw: Any, kind: Any, vs: list[Var], depth: int, primes: bool, root: bool = False) -> Expr:
    """A random well-typed expression of ``kind`` (Bool, an Enum or "int"); a root is never a leaf."""
    if not root and (depth <= 0 or (draw(st.booleans()) and draw(st.booleans()))):  # early leaf: 1 in 4
        return _leaf(draw, kind, vs, primes)
    sub = lambda k: _gen(draw, k, vs, depth - 1, primes)  # noqa: E731
    if kind is Bool:
        c = draw(st.sampled_from(["not", "and", "or", "implies", "eq", "ne", "lt", "le", "gt", "ge", "ite"]))
        if c == "not":
            return not_(sub(Bool))
        if c in ("and", "or"):
            items = [sub(Bool) for _ in range(draw(st.integers(2, 4)))]
            return and_(*items) if c == "and" else or_(*items)
        if c == "implies":
            return implies(sub(Bool), sub(Bool))
        if c in ("eq", "ne"):
            k = draw(st.sampled_from([Bool, "int"] + ENUMS))
            a, b = sub(k), sub(k)
            return a.eq(b) if c == "eq" else a.ne(b)
        if c in ("lt", "le", "gt", "ge"):
            a, b = sub("int"), sub("int")
            return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[c]
        return ite(sub(Bool), sub(Bool), sub(Bool))
    if kind == "int":
        c = draw(st.sampled_from(["+", "-", "%", "ite"]))
        if c == "+":
            return sub("int") + sub("int")
        if c == "-":
            return sub("int") - sub("int")
        if c == "%":
            return sub("int") % draw(st.integers(1, 4))
        return ite(sub(Bool), sub("int"), sub("int"))
    return ite(sub(Bool), sub(kind), sub(kind))


def _state(draw: Any, vs: list[Var]) -> dict[Var, Any]:
    out: dict[Var, Any] = {}
    for v in vs:
        t = v.type
        if t is Bool:
            out[v] = draw(st.booleans())
        elif isinstance(t, Enum):
            out[v] = draw(st.sampled_from(t.values))
        else:
            out[v] = draw(st.integers(t.lo, t.hi))
    return out


@st.composite
def scenarios(draw: Any) -> tuple[list[Var], Expr, list[dict[Var, Any]], list[dict[Var, Any]]]:
    sch = Schema()
    types = [Bool, IntRange(-1, 2)] + draw(st.lists(_types(), min_size=0, max_size=4))
    vs = [sch.declare(f"v{i}", t) for i, t in enumerate(types)]
    primes = draw(st.booleans())
    kind = draw(st.sampled_from([Bool, Bool, "int", ENUMS[1]]))
    e = _gen(draw, kind, vs, draw(st.integers(2, 6)), primes, root=True)
    n = draw(st.integers(1, 4))
    states = [_state(draw, vs) for _ in range(n)]
    nexts = [_state(draw, vs) for _ in range(n)]
    return vs, e, states, nexts


def _vec_value(e: Expr, raw: Any) -> Any:
    """VecEval holds enum values as codes: decode one element for comparison."""
    x = raw.item() if hasattr(raw, "item") else raw
    if isinstance(e.type, Enum):
        return e.type.decode(int(x))
    if e.type is Bool:
        return bool(x)
    return int(x)


@settings(max_examples=300, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios())
def test_three_evaluators_agree(sc: tuple[list[Var], Expr, list[dict[Var, Any]], list[dict[Var, Any]]]) -> None:
    vs, e, states, nexts = sc
    layout = Layout(vs)
    words = np.stack([layout.pack(s) for s in states])
    nwords = np.stack([layout.pack(s) for s in nexts])
    vec = VecEval(layout, words, nxt=nwords)
    vals = vec.full(e) if e.type is Bool else vec(e)
    smt = Smt(vs)
    for i, (s, n) in enumerate(zip(states, nexts)):
        want = evaluate(e, s, n)
        raw = vals[i] if isinstance(vals, np.ndarray) and vals.shape else vals
        got_vec = _vec_value(e, raw)
        got_z3 = smt.evaluate(e, s, n)
        assert got_vec == want, (show(e), s, n)
        assert got_z3 == want, (show(e), s, n)
