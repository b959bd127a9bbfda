"""Swimlane diagrams and state-graph drawings: golden DOT, determinism, rendering.

Golden files live in ``tests/golden``; run with ``CERTLOOP_UPDATE_GOLDEN=1`` to rewrite them after
an intended change (then look at the rendered SVG/PNG and review the diff).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from certloop.checker import dot as dotmod
from certloop.checker.check import check
from certloop.checker.dot import render, state_graph_to_dot, trace_to_dot
from certloop.checker.examples import peterson, philosophers
from certloop.checker.expr import Bool, Enum, IntRange, Schema
from certloop.checker.spec import Conjunct, Eventually, Model

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
UPDATE = os.environ.get("CERTLOOP_UPDATE_GOLDEN") == "1"
HAVE_DOT = shutil.which("dot") is not None


def _per_instance(step) -> str:
    return f"{step.action.actor} {step.action.args[0]}"


def render_dot_outputs() -> dict[str, str]:
    """Every DOT golden output, keyed by file name."""
    out: dict[str, str] = {}
    m = peterson("none")
    r = check(m).result("trying_enters")
    out["peterson_trying_enters.dot"] = trace_to_dot(r.trace, title=f"{m.name}: {r.name} {r.verdict}")
    m = philosophers(3, ordered=False)
    r = check(m).result("deadlock_free")
    out["philosophers_deadlock.dot"] = trace_to_dot(r.trace, lane_of=_per_instance,
                                                    title=f"{m.name}: {r.name} {r.verdict}")
    m = philosophers(3, ordered=True)
    r = check(m).result("hungry_eats")
    out["philosophers_ordered_hungry_eats.dot"] = trace_to_dot(
        r.trace, lane_of=_per_instance, lanes=["philosopher 2", "philosopher 1", "philosopher 0"],
        lane_titles={"philosopher 0": "philosopher 0 (hungry)"},
        legend=["per turn of the loop: philosopher 1 takes fork[1] x1, fork[2] x1",
                "philosopher 0 holds fork[0] and never eats"],
        title=f"{m.name}: {r.name} {r.verdict}", highlight_fields=["phil"])
    return out


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with CERTLOOP_UPDATE_GOLDEN=1 to create it"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} differs from its golden file; if the change is intended, rerun with CERTLOOP_UPDATE_GOLDEN=1, "
        f"render it (dot -Tsvg) and review the diff")


def test_golden_glob_finds_files():
    if UPDATE:
        for fname, text in render_dot_outputs().items():
            check_golden(fname, text)
    found = sorted(p.name for p in GOLDEN.glob("*.dot"))
    assert found, f"no golden .dot files under {GOLDEN}"
    assert set(render_dot_outputs()) <= set(found)


@pytest.mark.parametrize("fname", sorted(render_dot_outputs()))
def test_golden_dot(fname):
    check_golden(fname, render_dot_outputs()[fname])


# --------------------------------------------------------------------------- determinism

_SCRIPT = r"""
import importlib.util, json, sys
out = {}
for path, fn in ((sys.argv[1], "render_text_outputs"), (sys.argv[2], "render_dot_outputs")):
    spec = importlib.util.spec_from_file_location("golden_mod_" + fn, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out.update(getattr(mod, fn)())
json.dump(out, sys.stdout, sort_keys=True)
"""


def test_outputs_identical_across_hash_seeds():
    runs = []
    for seed in ("0", "1"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        env.pop("CERTLOOP_UPDATE_GOLDEN", None)
        proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(HERE / "test_trace.py"), str(HERE / "test_dot.py")],
                              capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        runs.append(json.loads(proc.stdout))
    assert runs[0] == runs[1]
    assert len(runs[0]) >= 9
    for name, text in runs[0].items():
        assert (GOLDEN / name).read_text(encoding="utf-8") == text, name


# --------------------------------------------------------------------------- structure


def _lasso():
    return check(philosophers(3, ordered=True)).result("hungry_eats").trace


def test_lanes_in_the_given_order_and_titles_on_top():
    src = render_dot_outputs()["philosophers_ordered_hungry_eats.dot"]
    heads = re.search(r"\{ rank=same; (spine_head;[^}]*)\}", src).group(1)
    assert heads.split("; ") == ["spine_head", "lane0_head", "lane1_head", ""]
    # `lanes` puts philosopher 1 before philosopher 0; philosopher 2 never acts, so it has no lane
    order = [m.group(1) for m in re.finditer(r"lane\d_head \[label=<<B>([^<]*)</B>>", src)]
    assert order == ["philosopher 1", "philosopher 0 (hungry)"]
    assert "philosopher 2" not in src


def test_lane_order_survives_layout():
    """Graphviz keeps the requested left-to-right lane order (checked on the computed layout)."""
    if not HAVE_DOT:
        pytest.skip("Graphviz dot not installed")
    tr = _lasso()
    src = trace_to_dot(tr, lane_of=_per_instance, lanes=["philosopher 1", "philosopher 0"])
    plain = subprocess.run(["dot", "-Tplain"], input=src, capture_output=True, text=True, check=True).stdout
    x = {f[1]: float(f[2]) for f in (ln.split() for ln in plain.splitlines()) if f[0] == "node"}
    assert x["spine_head"] < x["lane0_head"] < x["lane1_head"]
    # every step sits on its lane's lifeline and on its row
    y = {f[1]: float(f[3]) for f in (ln.split() for ln in plain.splitlines()) if f[0] == "node"}
    for s in tr.steps()[1:]:
        assert abs(y[f"s{s.index}"] - y[f"row{s.index}"]) < 1e-6


def test_cycle_highlight_and_back_edge():
    tr = _lasso()
    src = trace_to_dot(tr)
    first, last = tr.cycle[0].index, tr.cycle[-1].index
    back = re.search(rf"  s{last} -> s{first} \[([^\]]*)\]", src)
    assert back and "constraint=false" in back.group(1) and "repeats forever" in back.group(1)
    for s in tr.cycle:
        assert re.search(rf"  s{s.index} \[.*fillcolor=\"{dotmod._CYCLE_FILL}\"", src)
    for s in tr.prefix[1:]:
        assert not re.search(rf"  s{s.index} \[.*fillcolor=\"{dotmod._CYCLE_FILL}\"", src)


def test_stutter_self_loop():
    tr = check(peterson("none")).result("trying_enters").trace
    src = trace_to_dot(tr)
    k = tr.loop_index
    assert re.search(rf"  s{k} -> s{k} \[.*stutters forever", src)
    assert "repeats forever" not in src
    assert "stutters forever in step 3" in src


def test_safety_trace_has_no_loop():
    tr = check(philosophers(3, ordered=False)).result("deadlock_free").trace
    src = trace_to_dot(tr)
    assert "forever" not in src and "legend" not in src


def _odd_model() -> Model:
    """Names and glosses that need escaping, a fix conjunct, and many changes in one step."""
    sch = Schema()
    ph = sch.declare('A.phase', Enum("P", ("a<b", "c&d")), "a<b")
    fl = [sch.declare(f"A.flag[{i}]", Bool, False) for i in range(7)]
    n = sch.declare("B.count", IntRange(0, 1), 0)
    m = Model("odd", sch)
    m.add_action("writer.flip_all", "writer", fairness="weak",
                 guard=[Conjunct("ready", 'phase is "a<b" & nothing else', ph.ref.eq("a<b")),
                        Conjunct("patched", "the fixed check", n.ref.eq(0), since="v1.2.3", pr=4567)],
                 effect=[{ph: "c&d", **{f: True for f in fl}}])
    m.add_action("other.count", "other", fairness="weak", guard=[("zero", "count is zero", n.ref.eq(0))],
                 effect=[{n: 1}])
    m.add_init()
    m.add_property(Eventually("never", q=n.ref.eq(1) & ph.ref.eq("a<b")))
    return m


def test_escaping_truncation_fix_labels_and_tooltips():
    m = _odd_model()
    r = check(m).result("never")
    assert r.verdict == "violated"
    src = trace_to_dot(r.trace, title='a "title" <with> & specials', legend=["x < y & z"],
                       highlight_fields=["B"], max_changes=3)
    assert "a &quot;title&quot; &lt;with&gt; &amp; specials" in src
    assert "x &lt; y &amp; z" in src
    assert "A.phase: a&lt;b → c&amp;d" in src
    assert "+5 more" in src
    assert "fix v1.2.3 #4567: patched" in src
    assert 'ready: phase is \\"a<b\\" & nothing else' in src     # tooltips are escStrings
    assert "(fix v1.2.3 #4567)" in src
    if HAVE_DOT:
        subprocess.run(["dot", "-Tsvg"], input=src, capture_output=True, text=True, check=True)


def test_highlight_fields_come_first_in_bold():
    m = _odd_model()
    s = check(m).result("never").trace
    src = trace_to_dot(s, highlight_fields=["A.flag[6]"], max_changes=2)
    line = next(ln for ln in src.splitlines() if "flip_all</B>" in ln)
    assert line.index("<B>A.flag[6]: False → True</B>") < line.index("A.phase:")


def test_lanes_parameter_with_empty_lanes():
    tr = _lasso()
    src = trace_to_dot(tr, lane_of=_per_instance, lanes=["philosopher 2"], show_empty_lanes=True)
    assert "<B>philosopher 2</B>" in src and src.index("philosopher 2") < src.index("philosopher 0")


# --------------------------------------------------------------------------- rendering


@pytest.mark.parametrize("fname", sorted(render_dot_outputs()))
def test_golden_dot_renders_to_svg(fname, tmp_path):
    if not HAVE_DOT:
        pytest.skip("Graphviz dot not installed")
    paths = render(render_dot_outputs()[fname], tmp_path / "out" / fname[:-4], formats=("svg",))
    assert paths == [str(tmp_path / "out" / fname[:-4]) + ".dot", str(tmp_path / "out" / fname[:-4]) + ".svg"]
    assert paths.message == ""
    svg = Path(paths[1]).read_text(encoding="utf-8")
    assert "<svg" in svg
    if "ordered" in fname:
        assert "repeats forever" in svg


def test_render_without_dot(tmp_path, monkeypatch):
    monkeypatch.setattr(dotmod.shutil, "which", lambda name: None)
    paths = render("digraph { a -> b }\n", tmp_path / "g")
    assert paths == [str(tmp_path / "g.dot")]
    assert (tmp_path / "g.dot").read_text() == "digraph { a -> b }\n"
    assert "dot -Tsvg" in paths.message and str(tmp_path / "g.dot") in paths.message


def test_render_reports_dot_errors(tmp_path):
    if not HAVE_DOT:
        pytest.skip("Graphviz dot not installed")
    with pytest.raises(RuntimeError, match="failed"):
        render("digraph { a -> }\n", tmp_path / "bad")


# --------------------------------------------------------------------------- state graphs


def test_state_graph_clusters_highlight_and_limit():
    rep = check(philosophers(3, ordered=True))
    g = rep.graph
    tr = rep.result("hungry_eats").trace
    hot = np.array(sorted({s.state for s in tr.cycle}))
    src = state_graph_to_dot(g, highlight=hot, title="phil")
    assert src == state_graph_to_dot(g, highlight=hot, title="phil")
    assert "cluster_scc0" in src and f"({g.n_states} states)" in src      # one SCC: everything
    for i in hot:
        assert re.search(rf"  n{i} \[.*fillcolor=\"#ffc9c9\"", src)
    assert "philosopher.take_first(0)" in src
    assert src.count(" -> n") >= len({(int(a), int(b)) for a, b in zip(g.src, g.dst)})
    mask = np.zeros(g.n_states, dtype=bool)
    mask[hot] = True
    assert state_graph_to_dot(g, highlight=mask, title="phil") == src
    with pytest.raises(ValueError, match=r"12 states, more than max_states=5.*trace_to_dot"):
        state_graph_to_dot(g, max_states=5)
    if HAVE_DOT:
        subprocess.run(["dot", "-Tsvg"], input=src, capture_output=True, text=True, check=True)


def test_state_graph_given_clusters_and_acyclic():
    g = check(philosophers(3, ordered=False)).graph
    src = state_graph_to_dot(g)
    # the deadlocking model still has one big SCC plus the deadlock state outside it
    assert "cluster_scc" in src
    src2 = state_graph_to_dot(g, clusters=[np.array([0, 1])])
    assert src2.count("subgraph cluster_") == 1 and "SCC 0 (2 states)" in src2
