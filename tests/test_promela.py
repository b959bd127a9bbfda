"""The Promela export, cross-checked against SPIN: equal state counts and equal liveness verdicts.

Tests that run SPIN are marked ``spin`` and skipped when ``spin`` or ``gcc`` is missing.  pan is
compiled with ``-O0`` and a small hash table to keep the suite fast.
"""

from __future__ import annotations

import random
import re
import shutil
from typing import Any

import pytest

from certloop.checker.check import check
from certloop.checker.examples import counter, grid, peterson, philosophers
from certloop.checker.expr import Bool, Enum, IntRange, ModelError, Schema, Var, and_, const, ite, not_, or_
from certloop.checker.promela import SpinResult, export, promela_name, run_spin
from certloop.checker.spec import Always, Eventually, Fairness, LeadsTo, Model

needs_spin = pytest.mark.skipif(shutil.which("spin") is None or shutil.which("gcc") is None,
                                reason="spin and gcc are needed")
FAST: dict[str, Any] = dict(optimize="-O0", hash_bits=16, max_depth=100_000)


def _count(m: Model) -> SpinResult:
    return run_spin(m, mode="count", **FAST)


# --------------------------------------------------------------------------- small models


def swap_model() -> Model:
    """Two variables swapped in one block (simultaneity), then a sequential second block."""
    sch = Schema()
    a = sch.declare("a", IntRange(0, 3), 1)
    b = sch.declare("b", IntRange(0, 3), 2)
    m = Model("swap", sch)
    m.add_action("s.swap", "s", fairness="weak", effect=[{a: b.ref, b: a.ref}])
    m.add_action("s.bump", "s", guard=[("small", "a is small", a.ref < 3)],
                 effect=[{a: a.ref + 1}, {b: ite(a.ref.eq(3), 0, a.ref)}])
    m.add_init()
    return m


def write_only_model() -> Model:
    """``t`` (a name that clashes with pan.c) and ``hist``, which no action reads, multiple inits."""
    sch = Schema()
    t = sch.declare("t", IntRange(-2, 2), 0)
    hist = sch.declare("hist", Enum("H", ("none", "up", "down")), "none")
    m = Model("write_only", sch)
    m.add_action("t.up", "t", fairness="weak", guard=[("below", "t < 2", t.ref < 2)],
                 effect=[{t: t.ref + 1, hist: "up"}])
    m.add_action("t.down", "t", fairness="none", guard=[("above", "t > -2", t.ref > -2)],
                 effect=[{t: t.ref - 1, hist: "down"}])
    m.add_action("t.wrap", "t", fairness="none", guard=[("top", "t == 2", t.ref.eq(2))],
                 effect=[{t: (t.ref - 6) % 5 - 2}])      # (2 - 6) % 5 is 1 in Python, -4 in C
    m.add_init()
    m.add_init({"t": -2, "hist": "down"})
    m.add_init({"t": 0})                     # a duplicate of the first: counted once
    m.add_property(Eventually("reaches_top", q=t.ref.eq(2)))
    m.add_property(LeadsTo("down_then_up", p=hist.ref.eq("down"), q=hist.ref.eq("up")))
    m.add_property(Always("wrap_unseen", expr=~(t.ref.eq(-1) & hist.ref.eq("up"))))
    return m


def stuck_model() -> Model:
    """The only violation of ``<> done`` is a deadlock: the behaviour stops at ``x == 1``."""
    sch = Schema()
    x = sch.declare("x", IntRange(0, 2), 0)
    m = Model("stuck", sch)
    m.add_action("x.go", "x", fairness="weak", guard=[("zero", "x == 0", x.ref.eq(0))], effect=[{x: 1}])
    m.add_action("x.finish", "x", fairness="weak", guard=[("two", "x == 2", x.ref.eq(2))], effect=[{x: 0}])
    m.add_init()
    m.add_property(Eventually("done", q=x.ref.eq(2)))
    m.add_property(LeadsTo("zero_leaves", p=x.ref.eq(0), q=x.ref.eq(1)))
    return m


# --------------------------------------------------------------------------- export (no spin)


def test_export_mangles_names_and_keeps_codes() -> None:
    m = write_only_model()
    text = export(m)
    t = m.schema["t"]
    assert promela_name(t) == "v0_t"
    assert "short v0_t = 0;" in text and "byte v1_hist = 0;" in text
    code = re.sub(r"/\*.*?\*/", "", text)
    assert re.search(r"\bt\b", code) is None             # `t` would clash with pan.c
    assert "bool started = false;" in text            # several initial states
    assert text.count(":: d_step { v0_t =") == 2         # the duplicate initial state is dropped
    assert "0=none, 1=up, 2=down" in text


def test_export_uses_temporaries_for_simultaneous_blocks() -> None:
    text = export(swap_model())
    # a := b; b := a must read the old a: through a hidden temporary (not in the state vector)
    assert "-> w_t0 = v0_a; v0_a = v1_b; v1_b = w_t0 }" in text
    assert "hidden int w_t0;" in text
    # the second block of s.bump reads the a written by the first block
    assert "v0_a = w_t0; v1_b = ((v0_a == 3) -> 0 : v0_a) }" in text


def test_export_python_modulo_on_negative_values() -> None:
    text = export(write_only_model())
    assert "(((v0_t - 6) % 5) + 5) % 5)" in text         # t - 6 is negative: floor modulo


def test_export_noop_rule_in_guards() -> None:
    # grid.double(0): x + x != x is part of the enabling condition (x == 0 doubles to itself)
    text = export(grid(2, 4))
    assert "((v0_x_0 + v0_x_0) != v0_x_0)" in text


def test_export_drops_the_noop_test_only_where_z3_proves_it() -> None:
    """The change test stays where the guard allows a no-op (grid: x == 0 doubles to itself) and
    is dropped where the guard implies a change (counter: x < 3 -> x := x + 1), so the
    cert-manager models' composed post-states are not printed into every guard."""
    from certloop.checker.promela import enabled_expr
    g = grid(2, 4)
    dbl = next(a for a in g.actions if a.label.startswith("grid.double"))
    assert enabled_expr(dbl) is not dbl.guard_expr
    inc = next(a for a in counter().actions if a.label == "counter.inc")
    assert enabled_expr(inc) is inc.guard_expr
    assert enabled_expr(inc, prove=False) is not inc.guard_expr       # x + 1 != x, left to Z3


def test_export_refuses_strong_fairness_and_unsupported_properties() -> None:
    m = peterson()
    strong = Fairness("all_strong", ("every instance strongly fair",), lambda a: "strong")
    m.add_property(LeadsTo("strong_prop", p=m.schema["pc[0]"].ref.eq("wait"),
                           q=m.schema["pc[0]"].ref.eq("critical"), fairness=strong))
    with pytest.raises(ModelError, match="strong"):
        export(m, "strong_prop")
    with pytest.raises(ModelError, match="cannot export"):
        export(m, "both_waiting")                        # a Sometimes


def test_export_groups_unfair_instances_and_limits_processes() -> None:
    def flips(n: int, fairness: str) -> Model:
        sch = Schema()
        x = sch.declare("x", IntRange(0, 1))
        m = Model("flips", sch)
        for k in range(n):
            m.add_action("f.flip", "f", args=(k,), fairness=fairness, effect=[{x: 1 - x.ref}])
        m.add_init()
        m.add_property(Eventually("one", q=x.ref.eq(1)))
        return m
    text = export(flips(300, "none"), "one")            # one process holds every unfair instance
    assert text.count("proctype") == 1 and text.count(":: break") == 1
    with pytest.raises(ModelError, match="limit of 255"):
        export(flips(300, "weak"), "one")


# --------------------------------------------------------------------------- state counts


COUNT_MODELS = [
    lambda: philosophers(3, ordered=False),
    lambda: philosophers(3, ordered=True),
    lambda: peterson("weak"),
    lambda: peterson("none"),
    lambda: counter(3),
    lambda: grid(2, 4),
    lambda: grid(3, 5),
    swap_model,
    write_only_model,
]


@pytest.mark.spin
@needs_spin
@pytest.mark.parametrize("make", COUNT_MODELS, ids=lambda f: f().name)
def test_state_counts_equal_bfs(make: Any) -> None:
    m = make()
    g = check(m).graph
    r = _count(m)
    assert (r.states, r.transitions) == (g.n_states, g.n_transitions), m.name
    assert r.verdict is None


@pytest.mark.spin
@needs_spin
def test_invariant_verdicts() -> None:
    m = write_only_model()
    assert check(m).result("wrap_unseen").verdict == "violated"
    assert run_spin(m, property="wrap_unseen", **FAST).verdict == "violated"
    m = peterson()
    assert run_spin(m, property="mutual_exclusion", **FAST).verdict == "holds"


# --------------------------------------------------------------------------- liveness verdicts


LIVENESS = [
    (lambda: peterson("weak"), "trying_enters", "holds"),
    (lambda: peterson("none"), "trying_enters", "violated"),
    (lambda: counter(3, fair=True), "reaches_top", "holds"),
    (lambda: counter(3, fair=False), "reaches_top", "violated"),
    (lambda: philosophers(3, ordered=True), "hungry_eats", "violated"),
    (stuck_model, "done", "violated"),                 # a deadlock at x == 1 stutters forever
    (stuck_model, "zero_leaves", "holds"),
    (write_only_model, "reaches_top", "violated"),     # up/down forever: up is taken, fairly
    (write_only_model, "down_then_up", "holds"),       # after down, up stays enabled until taken
]


@pytest.mark.spin
@needs_spin
@pytest.mark.parametrize("make,prop,expected", LIVENESS, ids=[f"{i}-{p}" for i, (_, p, _) in enumerate(LIVENESS)])
def test_liveness_verdicts_equal_certloop(make: Any, prop: str, expected: str) -> None:
    m = make()
    assert check(m).result(prop).verdict == expected
    r = run_spin(m, mode="liveness", property=prop, **FAST)
    assert len(r.verdicts) == 2                       # default storage and -DMA
    assert r.verdict == expected, r.verdicts


# --------------------------------------------------------------------------- random models


E3 = Enum("E3", ("p", "q", "r"))


def random_model(seed: int) -> Model:
    """A small random model: random guards, effects (1-2 blocks), fairness, inits, properties."""
    rnd = random.Random(seed)
    sch = Schema()
    vs: list[Var] = [sch.declare(f"x{i}", rnd.choice([Bool, E3, IntRange(0, 2), IntRange(-1, 1)]))
                     for i in range(rnd.randint(2, 4))]

    def gen(kind: Any, d: int) -> Any:
        if d <= 0 or rnd.random() < 0.3:
            cands = [v for v in vs if (isinstance(v.type, IntRange) if kind == "int" else v.type is kind)]
            if cands and rnd.random() < 0.75:
                return rnd.choice(cands).ref
            if kind == "int":
                return const(rnd.randint(-1, 2))
            return const(rnd.random() < 0.5) if kind is Bool else const(rnd.choice(E3.values), E3)
        if kind is Bool:
            c = rnd.choice(["not", "and", "or", "eq", "lt", "eqe"])
            if c == "not":
                return not_(gen(Bool, d - 1))
            if c in ("and", "or"):
                return (and_ if c == "and" else or_)(gen(Bool, d - 1), gen(Bool, d - 1))
            if c == "eq":
                return gen("int", d - 1).eq(gen("int", d - 1))
            if c == "eqe":
                return gen(E3, d - 1).eq(gen(E3, d - 1))
            return gen("int", d - 1) < gen("int", d - 1)
        if kind == "int":
            c = rnd.choice(["+", "-", "ite"])
            if c == "ite":
                return ite(gen(Bool, d - 1), gen("int", d - 1), gen("int", d - 1))
            a, b = gen("int", d - 1), gen("int", d - 1)
            return a + b if c == "+" else a - b
        return ite(gen(Bool, d - 1), gen(kind, d - 1), gen(kind, d - 1))

    def value_for(v: Var) -> Any:
        if not isinstance(v.type, IntRange):
            return gen(v.type, 2)
        e = gen("int", 2)
        if e.op == "const":
            return const(max(v.type.lo, min(v.type.hi, e.value)))
        return (e % v.type.size) + v.type.lo

    m = Model(f"random({seed})", sch)
    for k in range(rnd.randint(3, 7)):
        blocks = [{v: value_for(v) for v in rnd.sample(vs, rnd.randint(1, 2))}
                  for _ in range(rnd.choice([1, 1, 2]))]
        m.add_action("rand.act", "rand", args=(k,), fairness=rnd.choice(["weak", "none"]),
                     guard=[("g", "random guard", gen(Bool, 2))], effect=blocks)
    for _ in range(rnd.choice([1, 1, 2, 3])):
        m.add_init({v: (rnd.random() < 0.5 if v.type is Bool else rnd.choice(v.type.values)
                        if isinstance(v.type, Enum) else rnd.randint(v.type.lo, v.type.hi)) for v in vs})
    m.add_property(Eventually("ev", q=gen(Bool, 2)))
    m.add_property(LeadsTo("lt", p=gen(Bool, 2), q=gen(Bool, 2)))
    return m


@pytest.mark.spin
@needs_spin
@pytest.mark.parametrize("seed", [0, 12, 38])
def test_random_models_agree(seed: int) -> None:
    m = random_model(seed)
    rep = check(m)
    r = _count(m)
    assert (r.states, r.transitions) == (rep.graph.n_states, rep.graph.n_transitions)
    for p in ("ev", "lt"):
        s = run_spin(m, mode="liveness", property=p, builds=[""], **FAST)   # one build: faster
        assert s.verdict == rep.result(p).verdict, (p, s.verdicts)


# --------------------------------------------------------------------------- runner


def test_missing_spin_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import certloop.checker.promela as promela
    monkeypatch.setattr(promela.shutil, "which", lambda name: None)
    with pytest.raises(promela.SpinUnavailable, match="spin and gcc"):
        run_spin(counter(3))


@pytest.mark.spin
@needs_spin
def test_runner_workdir_and_depth_retry(tmp_path: Any) -> None:
    m = grid(2, 4)
    r = run_spin(m, str(tmp_path / "spin"), optimize="-O0", hash_bits=12, max_depth=3)
    assert r.states == 16 and r.depth > 3                 # -m3 was too small: retried with -m30
    assert (tmp_path / "spin" / "model.pml").exists() and r.workdir == str(tmp_path / "spin")
    with pytest.raises(ModelError, match="liveness mode needs"):
        run_spin(m, mode="liveness", property="in_range")


def test_a_timed_out_tool_leaves_no_process_behind(tmp_path: Any) -> None:
    """A timeout kills the tool's whole process group (gcc's cc1 is a grandchild)."""
    import time as _time
    from certloop.checker.promela import SpinError, _run
    marker = tmp_path / "child.pid"
    script = f"sh -c 'echo $$ > {marker}; sleep 30' & wait"
    t0 = _time.monotonic()
    with pytest.raises(SpinError, match="timed out"):
        _run(["sh", "-c", script], str(tmp_path), 0.5)
    assert _time.monotonic() - t0 < 10
    pid = int(marker.read_text())
    _time.sleep(0.2)
    try:                                    # the grandchild is gone too (or a zombie: not running)
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        state = "gone"
    assert state in ("gone", "Z", "X"), state
