"""Counterexample text, JSON steps and ITF: golden files and round trips.

Golden files live in ``tests/golden``; run with ``CERTLOOP_UPDATE_GOLDEN=1`` to rewrite them after
an intended change (then review the diff).  ``render_text_outputs`` is also loaded by
``test_dot.py``'s hash-seed test in a subprocess, so it must stay importable by path.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from certloop.checker.check import check
from certloop.checker.examples import counter, peterson, philosophers
from certloop.checker.trace import from_itf, steps_to_itf, to_itf, to_json_steps, to_text

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CERTLOOP_UPDATE_GOLDEN") == "1"

# name -> (model factory, property)
CASES = {
    "peterson_trying_enters": (lambda: peterson("none"), "trying_enters"),
    "philosophers_deadlock": (lambda: philosophers(3, ordered=False), "deadlock_free"),
    "philosophers_ordered_hungry_eats": (lambda: philosophers(3, ordered=True), "hungry_eats"),
}


def case(name: str):
    """``(model, result)`` of one golden case."""
    make, prop = CASES[name]
    m = make()
    return m, check(m).result(prop)


def render_text_outputs() -> dict[str, str]:
    """Every text/ITF golden output, keyed by file name."""
    out: dict[str, str] = {}
    for name in CASES:
        m, r = case(name)
        out[f"{name}.txt"] = to_text(r.trace, title=f"{m.name}: {r.name} {r.verdict}")
        out[f"{name}.itf.json"] = json.dumps(to_itf(r.trace, m.schema.vars, source=m.name,
                                                    description=f"{r.name} {r.verdict}"), indent=1) + "\n"
    return out


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with CERTLOOP_UPDATE_GOLDEN=1 to create it"
    want = path.read_text(encoding="utf-8")
    assert text == want, (f"{name} differs from its golden file; if the change is intended, rerun with "
                          f"CERTLOOP_UPDATE_GOLDEN=1 and review the diff\n--- got ---\n{text}")


# --------------------------------------------------------------------------- golden


def test_golden_glob_finds_files():
    if UPDATE:
        for fname, text in render_text_outputs().items():
            check_golden(fname, text)
    names = {p.name for p in GOLDEN.glob("*.txt")} | {p.name for p in GOLDEN.glob("*.itf.json")}
    assert names, f"no golden files found under {GOLDEN}"
    assert set(render_text_outputs()) <= names


@pytest.mark.parametrize("fname", sorted(render_text_outputs()))
def test_golden_text_and_itf(fname):
    check_golden(fname, render_text_outputs()[fname])


# --------------------------------------------------------------------------- text


def test_text_stutter_lasso_wording():
    _, r = case("peterson_trying_enters")
    t = to_text(r.trace)
    lines = t.splitlines()
    assert r.trace.stutter
    assert lines[0].split() == ["0", "init", "pc[0]=idle,", "pc[1]=idle,", "flag[0]=False,", "flag[1]=False,",
                                "turn=0"]
    assert "process.give_turn(0)" in lines[3] and "pc[0]: turn -> wait, turn: 0 -> 1" in lines[3]
    assert lines[-1].strip() == "-- then nothing is forced to happen: stutters forever in step 3 --"
    assert "cycle starts here" not in t


def test_text_real_cycle_marks_start_and_back():
    _, r = case("philosophers_ordered_hungry_eats")
    tr = r.trace
    assert tr.lasso and tr.cycle
    lines = to_text(tr).splitlines()
    k = tr.loop_index
    start = lines.index("  -- cycle starts here (repeats forever) --")
    assert lines[start - 1].split()[0] == str(tr.prefix[-1].index)     # right after the loop state
    assert lines[start + 1].split()[0] == str(tr.cycle[0].index)
    assert f"  -- back to step {k} --" in lines
    assert any(o in to_text(tr) for o in tr.obligations)


def test_text_safety_trace_ends_normally():
    _, r = case("philosophers_deadlock")
    t = to_text(r.trace)
    assert "--" not in t
    assert t.splitlines()[-1].split()[:2] == ["3", "philosopher.take_first(2)"]


def test_text_changes_in_declaration_order_and_why():
    _, r = case("philosophers_deadlock")
    t = to_text(r.trace, why=True, initial="changed")
    first = t.splitlines()[1]
    # phil[0] is declared before fork[0]
    assert first.index("phil[0]: thinking -> left") < first.index("fork[0]: False -> True")
    assert "because fork_free: fork 0 is free" in t
    assert "(all 6 variables at their declared initial values)" in t


def test_text_initial_modes():
    _, r = case("peterson_trying_enters")
    with pytest.raises(ValueError):
        to_text(r.trace, initial="some")
    assert "turn=0" in to_text(r.trace, initial="all")
    assert "turn=0" not in to_text(r.trace, initial="changed")


def test_text_wraps_long_change_lists():
    _, r = case("philosophers_deadlock")
    t = to_text(r.trace, width=70)
    assert all(len(line) <= 70 for line in t.splitlines())
    assert len(t.splitlines()) > len(to_text(r.trace).splitlines())


def test_text_stutter_at_the_initial_state():
    tr = check(counter(3, fair=False)).result("reaches_top").trace
    assert to_text(tr).splitlines()[-1].endswith("stutters forever in step 0 --")


# --------------------------------------------------------------------------- JSON and ITF


@pytest.mark.parametrize("name", sorted(CASES))
def test_json_steps_shape(name):
    m, r = case(name)
    j = to_json_steps(r.trace)
    json.loads(json.dumps(j))       # plain JSON data
    assert set(j) >= {"prefix", "cycle", "loop"}
    assert j["vars"] == [v.name for v in m.schema.vars]
    init = j["prefix"][0]
    assert init["action"] == "init" and init["index"] == 0
    assert init["state"] == {v.name: v.init for v in m.schema.vars}
    steps = j["prefix"] + j["cycle"]
    assert [s["index"] for s in steps] == list(range(len(steps)))
    all_steps = r.trace.steps()
    for s, st, prev in zip(steps[1:], all_steps[1:], all_steps):
        assert s["action"] == st.action.name and s["actor"] == st.action.actor
        assert s["label"] == st.label and s["args"] == list(st.action.args)
        assert s["changes"] == {k: [a, b] for k, (a, b) in st.changes.items()}
        assert s["guard"] == [c.name for c in st.enabling(prev.values)]
    if r.trace.lasso:
        assert j["loop"] == r.trace.prefix[-1].index
    else:
        assert j["loop"] is None and j["cycle"] == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_itf_round_trip(name):
    m, r = case(name)
    j = to_json_steps(r.trace)
    itf = json.loads(json.dumps(to_itf(r.trace, m.schema.vars)))
    assert itf["#meta"]["format"] == "ITF"
    assert itf["vars"] == [v.name for v in m.schema.vars]
    assert from_itf(itf) == j
    assert from_itf(steps_to_itf(j)) == j
    # every state is a full map; ints as #bigint, bools as JSON bools
    for st in itf["states"]:
        assert set(st) == set(itf["vars"]) | {"#meta"}
    assert [st["#meta"]["index"] for st in itf["states"]] == list(range(len(itf["states"])))


def test_itf_lasso_representation():
    m, r = case("philosophers_ordered_hungry_eats")
    tr = r.trace
    itf = to_itf(tr, m.schema.vars)
    k = tr.loop_index
    # the cycle's closing state equals states[loop] and is not listed twice
    assert itf["loop"] == k
    assert len(itf["states"]) == len(tr.prefix) + len(tr.cycle) - 1
    assert itf["#meta"]["loop_step"]["action"] == tr.cycle[-1].label
    assert tr.cycle[-1].values == tr.prefix[-1].values
    assert itf["states"][1]["fork[0]"] is True


def test_itf_stutter_and_safety():
    m, r = case("peterson_trying_enters")
    itf = to_itf(r.trace)          # vars default to declaration order
    assert itf["loop"] == len(itf["states"]) - 1
    assert itf["#meta"]["stutter"] is True and "loop_step" not in itf["#meta"]
    assert itf["states"][-1]["turn"] == {"#bigint": "1"}
    m, r = case("philosophers_deadlock")
    itf = to_itf(r.trace, [v.name for v in m.schema.vars])
    assert "loop" not in itf


def test_from_itf_foreign_trace():
    """A trace written by another tool: plain #bigint states, no certloop metadata."""
    itf = {"#meta": {"format": "ITF"}, "vars": ["x", "b"],
           "states": [{"x": {"#bigint": "0"}, "b": False}, {"x": {"#bigint": "1"}, "b": False},
                      {"x": {"#bigint": "2"}, "b": True}],
           "loop": 1}
    j = from_itf(itf)
    assert j["prefix"][0]["state"] == {"x": 0, "b": False}
    assert j["loop"] == 1 and len(j["cycle"]) == 2
    assert j["cycle"][-1]["changes"] == {"x": [2, 1], "b": [True, False]}
    with pytest.raises(ValueError, match="unsupported ITF value"):
        from_itf({"vars": ["s"], "states": [{"s": {"#set": []}}]})


def test_itf_rejects_inconsistent_steps():
    _, r = case("philosophers_deadlock")
    j = to_json_steps(r.trace)
    j["prefix"][2]["changes"]["fork[1]"] = [True, False]
    with pytest.raises(ValueError, match="changes from"):
        steps_to_itf(j)
