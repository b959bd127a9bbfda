"""The expression language: types, interning, folding, printing, evaluation, substitution, errors."""

from __future__ import annotations

import numpy as np
import pytest

from certloop.checker.expr import (
    FALSE, TRUE, Bool, Enum, Expr, IntRange, ModelError, Schema, and_, all_, any_, const, evaluate,
    implies, ite, not_, or_, prime, select, show, substitute, variables,
)
from certloop.checker.spec import Conjunct, Model
from certloop.checker.vector import Layout, VecEval

PHASE = Enum("Phase", ("Pending", "Issued", "Failed"))


@pytest.fixture
def env():
    sch = Schema()
    x = sch.var("x", IntRange(0, 3))
    y = sch.var("y", IntRange(-2, 2), 1)
    b = sch.var("b", Bool)
    c = sch.var("c", Bool, True)
    ph = sch.var("cr.phase", PHASE, "Issued")
    return sch, x, y, b, c, ph


# --------------------------------------------------------------------------- types


def test_types_encode_decode():
    assert Bool.size == 2 and Bool.encode(True) == 1 and Bool.decode(0) is False
    r = IntRange(-2, 5)
    assert r.size == 8 and r.bits == 3 and r.encode(-2) == 0 and r.decode(7) == 5
    assert IntRange(0, 0).bits == 1 and IntRange(0, 8).bits == 4
    assert PHASE.encode("Failed") == 2 and PHASE.decode(1) == "Issued" and PHASE.bits == 2
    assert r.contains(5) and not r.contains(6) and not r.contains(True) and not r.contains("1")
    with pytest.raises(ModelError, match="outside -2..5"):
        r.encode(9)
    with pytest.raises(ModelError, match=r"not a value of enum Phase; valid: \['Pending'"):
        PHASE.encode("Done")
    with pytest.raises(ModelError, match="not a bool"):
        Bool.encode(2)
    with pytest.raises(ModelError, match="empty range"):
        IntRange(3, 2)
    with pytest.raises(ModelError, match="distinct"):
        Enum("E", ("a", "a"))


def test_expression_types(env):
    sch, x, y, b, c, ph = env
    assert x.type.name == "0..3" and b.type is Bool and ph.type is PHASE
    assert (x + y).type.name == "int"                       # intermediate integers
    assert (x + 1).eq(y).type is Bool
    assert ite(b, x, y).type.name == "int" and ite(b, x, x + 0).type.name == "int"
    assert ite(b, x, x).type is x.type
    assert ite(b, ph, "Failed").type is PHASE
    assert {v.name for v in variables((x + y).eq(2) & prime(b))} == {"x", "y", "b"}


# --------------------------------------------------------------------------- interning, folding


def test_interning(env):
    sch, x, y, b, c, ph = env
    assert (x + 1).eq(3) is (x + 1).eq(3)
    assert (b & c) is and_(b, c) and ~b is not_(b)
    assert ph.eq("Issued") is ph.eq(const("Issued", PHASE))
    assert const(2) is const(2) and const(True) is TRUE
    assert const(1) is not const(True)                      # same Python hash, different types
    assert ite(b, x, y) is ite(b, x, y)
    assert and_(b, c, b) is and_(b, c)                      # duplicates dropped, flattened
    assert and_(and_(b, c), x.eq(1)) is and_(b, c, x.eq(1))
    # identity is structural equality; expressions are hashable
    assert (x + 1) == (x + 1) and (x + 1) != (x + 2)
    assert len({x + 1, x + 1, x + 2}) == 2


def test_constant_folding(env):
    sch, x, y, b, c, ph = env
    assert const(2).eq(2) is TRUE and (const(1) < 0) is FALSE
    assert (const(2) + 3).eq(5) is TRUE
    assert and_(b, TRUE) is b and and_(b, FALSE) is FALSE and and_() is TRUE
    assert or_(b, TRUE) is TRUE and or_(b, FALSE) is b and or_() is FALSE
    assert not_(not_(b)) is b and not_(TRUE) is FALSE
    assert ite(TRUE, x, y) is x and ite(FALSE, x, y) is y and ite(b, x, x) is x
    assert ite(b, TRUE, FALSE) is b
    assert implies(FALSE, b) is TRUE and implies(TRUE, b) is b
    assert const("Issued", PHASE).eq("Issued") is TRUE
    assert any_([], lambda i: b) is FALSE and all_([], lambda i: b) is TRUE
    assert any_(range(3), lambda i: x.eq(i) if i != 1 else FALSE) is or_(x.eq(0), x.eq(2))


def test_reflected_arithmetic(env):
    sch, x, *_ = env
    assert evaluate(1 + x, {sch["x"]: 2}) == 3
    assert evaluate(3 - x, {sch["x"]: 1}) == 2
    assert (1 < x) is (x > 1)


# --------------------------------------------------------------------------- show


@pytest.mark.parametrize("build,text", [
    (lambda x, y, b, c, ph: (x + 1).eq(3) & ~b, "x + 1 == 3 and not b"),
    (lambda x, y, b, c, ph: (b | c) & x.eq(1), "(b or c) and x == 1"),
    (lambda x, y, b, c, ph: b | (c & x.eq(1)), "b or c and x == 1"),
    (lambda x, y, b, c, ph: ~(b & c), "not (b and c)"),
    (lambda x, y, b, c, ph: ~x.eq(1), "not x == 1"),
    (lambda x, y, b, c, ph: x - (y - 1), "x - (y - 1)"),
    (lambda x, y, b, c, ph: (x - y) - 1, "x - y - 1"),
    (lambda x, y, b, c, ph: x - (y + 1), "x - (y + 1)"),
    (lambda x, y, b, c, ph: (x + y) % 3, "(x + y) % 3"),
    (lambda x, y, b, c, ph: b.eq(c).eq(b), "(b == c) == b"),
    (lambda x, y, b, c, ph: b.eq(c.eq(b)), "b == (c == b)"),
    (lambda x, y, b, c, ph: (x < y).ne(c), "(x < y) != c"),
    (lambda x, y, b, c, ph: ph.eq("Issued") & ~c, "cr.phase == Issued and not c"),
    (lambda x, y, b, c, ph: ite(b, x, y) + 1, "(x if b else y) + 1"),
    (lambda x, y, b, c, ph: prime(x).eq(x + 1), "x' == x + 1"),
])
def test_show(env, build, text):
    sch, x, y, b, c, ph = env
    e = build(x, y, b, c, ph)
    assert show(e) == text
    assert repr(e) == f"Expr({text})"


def test_show_round_trips_through_python(env):
    # the printed text of a Boolean/integer expression means the same thing in Python
    sch, x, y, b, c, ph = env
    exprs = [b.eq(c).eq(b), b.eq(c.eq(b)), (x < y).ne(c), ~(b & c) | x.eq(2), x - (y - 1) < 2,
             (x + y) % 3 <= 1, ~x.eq(1) & (b | c)]
    for xv in range(0, 4):
        for yv in (-2, 0, 2):
            for bv in (False, True):
                for cv in (False, True):
                    st = {sch["x"]: xv, sch["y"]: yv, sch["b"]: bv, sch["c"]: cv, sch["cr.phase"]: "Issued"}
                    for e in exprs:
                        assert eval(show(e), {}, {"x": xv, "y": yv, "b": bv, "c": cv}) == evaluate(e, st), show(e)


# --------------------------------------------------------------------------- evaluate, substitute


def test_evaluate(env):
    sch, x, y, b, c, ph = env
    st = {v: v.init for v in sch.vars}
    assert st[sch["y"]] == 1 and st[sch["c"]] is True and st[sch["cr.phase"]] == "Issued"
    assert evaluate((x + y).eq(1) & c, st) is True
    assert evaluate(ite(ph.eq("Issued"), y - 3, x), st) == -2
    assert evaluate((y - 3) % 4, st) == 2                   # floor modulo, like NumPy
    assert evaluate(select(x, [10, 20, 30, 40], lambda v: const(v)), {**st, sch["x"]: 2}) == 30
    assert evaluate(prime(x).eq(x + 1), st, {**st, sch["x"]: 1}) is True
    with pytest.raises(ModelError, match="next state"):
        evaluate(prime(x), st)


def test_vectorised_evaluation_agrees(env):
    sch, x, y, b, c, ph = env
    lay = Layout(sch.vars)
    states = [{sch["x"]: xv, sch["y"]: yv, sch["b"]: bv, sch["c"]: not bv, sch["cr.phase"]: p}
              for xv in range(4) for yv in (-2, 1) for bv in (False, True) for p in PHASE.values]
    words = np.stack([lay.pack(s) for s in states])
    assert all(lay.unpack(words[i]) == s for i, s in enumerate(states))
    exprs = [(x + y).eq(1) & c, ite(ph.eq("Failed"), y - 3, x), (y - 3) % 4, ph.ne("Pending") | b,
             select(x, [0, 1, 2, 3], lambda v: y.eq(v - 2))]
    ev = VecEval(lay, words)
    for e in exprs:
        got = ev.full(e).tolist()
        assert got == [evaluate(e, s) for s in states], show(e)


def test_substitute(env):
    sch, x, y, b, c, ph = env
    e = (x + 1).eq(3) & b
    assert substitute(e, lambda v: const(2) if v.name == "x" else None) is b
    assert substitute(e, lambda v: None) is e
    assert substitute(e, lambda v: y if v.name == "x" else None) is (y + 1).eq(3) & b
    f = prime(x).eq(x + 1)
    g = substitute(f, lambda v: None, primed=lambda v: const(3))
    assert g is const(3).eq(x + 1) and not any(n.op == "prime" for n in [g])


# --------------------------------------------------------------------------- errors


def test_comparing_enum_with_int_is_an_error(env):
    sch, x, y, b, c, ph = env
    with pytest.raises(ModelError, match="enum Phase"):
        ph.eq(1)
    with pytest.raises(ModelError, match=r"cannot compare Enum\(Phase\) with IntRange\(0, 3\): cr.phase == x"):
        ph.eq(x)
    with pytest.raises(ModelError, match="cannot compare"):
        b.eq(x)
    with pytest.raises(ModelError, match="expected an integer"):
        ph < 2
    with pytest.raises(ModelError, match="expected a bool"):
        and_(b, x)
    with pytest.raises(ModelError, match="differ in type"):
        ite(b, ph, x)


def test_unknown_variable_lists_similar_names():
    sch = Schema()
    sch.records("cr", range(2), {"phase": PHASE, "ready": Bool})
    with pytest.raises(ModelError) as ei:
        sch["cr[0].phse"]
    msg = str(ei.value)
    assert "unknown variable 'cr[0].phse'" in msg and "cr[0].phase" in msg
    with pytest.raises(ModelError, match=r"cr\[0\]\.ready.*cr\[1\]\.ready|cr\[1\]\.ready.*cr\[0\]\.ready"):
        sch["ready"]
    with pytest.raises(ModelError, match="declared twice"):
        sch.var("cr[0].ready", Bool)
    rec = sch.record("c", {"delTS": Bool})
    with pytest.raises(ModelError, match=r"no field 'deleted'; fields: \['delTS'\]"):
        rec.deleted


def test_double_equals_on_an_expression_is_a_helpful_error(env):
    sch, x, y, b, c, ph = env
    with pytest.raises(ModelError, match=r"write x\.eq\(1\)"):
        if x == 1:
            pass
    with pytest.raises(ModelError, match=r"write cr\.phase\.ne\('Issued'\)"):
        ph != "Issued"
    with pytest.raises(ModelError, match=r"\(x \+ 1\)\.eq\(2\)"):
        and_(b, x + 1 == 2)
    with pytest.raises(ModelError, match="no Python truth value"):
        if x.eq(1):
            pass
    with pytest.raises(ModelError, match="no Python truth value"):
        b and c
    # an Expr == Expr slip yields a Python bool; a guard refuses it
    with pytest.raises(ModelError, match=r"was == used instead of \.eq\(\)"):
        Conjunct("same", "x equals y", x == y)
    m = Model("m", sch)
    with pytest.raises(ModelError, match="expected a bool expression"):
        m.add_action("a.b", "a", guard=[("num", "a number", x + 1)])


def test_constants_need_types():
    with pytest.raises(ModelError, match="pass typ="):
        const("Issued")
    with pytest.raises(ModelError, match="not a value of enum"):
        const("Done", PHASE)
    with pytest.raises(ModelError, match="positive integer"):
        Schema().var("x", IntRange(0, 3)) % 0
