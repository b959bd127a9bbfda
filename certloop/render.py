"""Diagrams from saved reports, and whole state graphs of small configurations.

* :func:`load_report` reads a ``certloop check --json`` report (or one counterexample file,
  ``out/<scenario>/<property>.json``) and :func:`trace_from_steps` turns its JSON steps
  (:func:`certloop.checker.trace.to_json_steps`) back into a :class:`~certloop.checker.check.Trace`
  for the checker's renderers.  When the report names a scenario's knobs, the model is rebuilt so
  that the steps carry the real variables and actions (declared initial values, guard glosses and
  fix tags): the diagrams are then the same bytes ``certloop check`` writes.  Without knobs, or
  when a step does not match the rebuilt model (e.g. a report made with extra guards), stand-in
  objects carry what the JSON holds.
* :func:`state_graph` explores a small configuration completely and draws it with
  :func:`certloop.checker.dot.state_graph_to_dot`: SCCs as clusters, the fair components where a
  liveness property fails (a livelock) highlighted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from certloop.checker.check import Step, Trace

__all__ = ["RenderError", "SavedResult", "load_report", "trace_from_steps", "render_result", "state_graph",
           "GraphTooLarge", "TEXT_FORMATS", "IMAGE_FORMATS"]

IMAGE_FORMATS = ("svg", "png", "pdf")
TEXT_FORMATS = ("dot", "txt", "itf")


class RenderError(ValueError):
    """A report that cannot be rendered (exit 2)."""


class GraphTooLarge(RenderError):
    """The state graph is above the drawing limit (exit 2)."""


# --------------------------------------------------------------------------- stand-ins


@dataclass(frozen=True)
class _Var:
    name: str
    index: int
    init: Any = None


@dataclass(frozen=True)
class _Conjunct:
    name: str
    gloss: str = ""
    since: str | None = None
    pr: int | None = None


@dataclass(frozen=True)
class _Action:
    name: str
    actor: str
    args: tuple
    label: str
    guard: tuple
    index: int = -1
    fairness: str = "none"


# --------------------------------------------------------------------------- reports


@dataclass
class SavedResult:
    property: str
    verdict: str
    steps: dict[str, Any] | None          # JSON steps of the counterexample (or a witness's example)
    ledger: list[str] = field(default_factory=list)


@dataclass
class SavedReport:
    path: str
    scenario: str
    knobs: dict[str, Any] | None
    results: list[SavedResult]

    def result(self, name: str) -> SavedResult:
        for r in self.results:
            if r.property == name:
                return r
        raise RenderError(f"{self.path}: no property {name!r} in the report; it has: "
                          + ", ".join(r.property for r in self.results))


def load_report(path: str) -> SavedReport:
    """A ``check --json`` report or a counterexample file; raises :class:`RenderError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RenderError(f"{path}: no such file (write one with `certloop check --json {path}`)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RenderError(f"{path}: cannot read: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise RenderError(f"{path}:{e.lineno}: not JSON: {e.msg} (column {e.colno})") from None
    if not isinstance(data, dict):
        raise RenderError(f"{path}: not a certloop report (expected a JSON object)")
    sc = data.get("scenario")
    if isinstance(sc, dict):
        name = str(sc.get("name", "report"))
        knobs = {k: v for k, v in sc.items() if k not in ("name", "row", "title")}
    else:
        name, knobs = "report", None
    out: list[SavedResult] = []
    if isinstance(data.get("results"), list):
        items = [(r, False) for r in data["results"]] + [(r, True) for r in data.get("witnesses") or []]
    elif "property" in data and "counterexample" in data:
        items = [(data, False)]
    else:
        raise RenderError(f"{path}: not a certloop report: expected the output of `certloop check --json` "
                          f"(with 'results') or a counterexample file out/<scenario>/<property>.json")
    for r, witness in items:
        if not isinstance(r, dict) or "property" not in r:
            raise RenderError(f"{path}: a result without 'property'")
        ce = r.get("example") if witness else r.get("counterexample")
        if ce is not None and not (isinstance(ce, dict) and isinstance(ce.get("prefix"), list) and ce["prefix"]):
            raise RenderError(f"{path}: the trace of {r['property']} has no steps")
        out.append(SavedResult(str(r["property"]), str(r.get("verdict", "?")), ce,
                               list((ce or {}).get("ledger") or []) if not witness else []))
    return SavedReport(path, name, knobs, out)


def _model_for(knobs: Mapping[str, Any] | None) -> Any:
    """The scenario's model rebuilt from its knobs (None if the knobs do not make a Config)."""
    if not knobs:
        return None
    from certloop.checker.expr import ModelError
    from certloop.model.scenario import Config, build
    from certloop.properties import deletion
    names = {f.name for f in fields(Config)}
    kw = {k: v for k, v in knobs.items() if k in names}
    if isinstance(kw.get("gates"), list):
        kw["gates"] = frozenset(kw["gates"])
    try:
        w = build(Config(**kw))
        deletion.attach(w)
    except (ModelError, TypeError, ValueError):
        return None
    return w.model


def trace_from_steps(steps: Mapping[str, Any], model: Any = None) -> Trace:
    """JSON steps back into a :class:`Trace` (real variables and actions when ``model`` matches)."""
    prefix, cycle = list(steps["prefix"]), list(steps.get("cycle") or [])
    if not prefix or "state" not in prefix[0]:
        raise RenderError("the first step carries no 'state': not a to_json_steps() result")
    init = prefix[0]["state"]
    names = list(steps.get("vars") or init)
    real_vars = {v.name: v for v in model.schema.vars} if model is not None else {}
    if model is not None and not all(n in real_vars for n in names):
        real_vars = {}
    var = {n: real_vars.get(n) or _Var(n, i) for i, n in enumerate(names)}
    actions = {a.label: a for a in model.actions} if model is not None else {}

    def action_of(st: Mapping[str, Any]) -> Any:
        a = actions.get(st["label"])
        if a is not None and [c.name for c in a.guard] == list(st.get("guard", [])):
            return a
        fixes = {f["name"]: f for f in st.get("fixes", [])}
        guard = tuple(_Conjunct(c, "", fixes.get(c, {}).get("since"), fixes.get(c, {}).get("pr"))
                      for c in st.get("guard", []))
        return _Action(st["action"], st.get("actor") or "?", tuple(st.get("args", [])), st["label"], guard)

    cur = {n: init[n] for n in names}
    out: list[list[Step]] = [[], []]
    for part, seq in ((0, prefix), (1, cycle)):
        for st in seq:
            first = st is prefix[0]
            ch: dict[str, tuple[Any, Any]] = {}
            if not first:
                for n, (old, new) in st["changes"].items():
                    if n not in cur:
                        raise RenderError(f"step {st['index']} changes an unknown variable {n!r}")
                    if cur[n] != old:
                        raise RenderError(f"step {st['index']}: {n} changes from {old!r} but the state holds "
                                          f"{cur[n]!r}")
                    cur[n] = new
                    ch[n] = (old, new)
            vals = {var[n]: cur[n] for n in names}
            out[part].append(Step(int(st["index"]), None if first else action_of(st), int(st["index"]), vals, ch))
    lasso = steps.get("loop") is not None
    tr = Trace(out[0], out[1], lasso, list(steps.get("obligations") or []))
    return tr


def render_result(rep: SavedReport, res: SavedResult, out_dir: str, formats: Sequence[str],
                  model: Any = None) -> tuple[list[str], str]:
    """Write ``out_dir/<scenario>/<property>.<fmt>`` for each format; returns (files, a hint or '')."""
    from certloop.checker import dot as dotfmt
    from certloop.checker import trace as tracefmt
    from certloop.properties.ledger import LANE_TITLES, LANES
    if res.steps is None:
        raise RenderError(f"{res.property} is {res.verdict.upper()} in {rep.path}: no counterexample to render")
    base = Path(out_dir) / _slug(rep.scenario)
    base.mkdir(parents=True, exist_ok=True)
    stem = base / _slug(res.property)
    tr = trace_from_steps(res.steps, model)
    word = "VIOLATED" if res.verdict == "violated" else res.verdict
    title = f"{rep.scenario}: {res.property} {word}"
    written: list[str] = []
    hint = ""
    if "txt" in formats:
        txt = tracefmt.to_text(tr, title=title, why=False)
        if res.ledger:
            txt += "\n" + "\n".join(res.ledger) + "\n"
        stem.with_suffix(".txt").write_text(txt, encoding="utf-8")
        written.append(stem.with_suffix(".txt").as_posix())
    if "itf" in formats:
        itf = tracefmt.steps_to_itf(res.steps, source=f"certloop {rep.scenario} {res.property}")
        p = Path(str(stem) + ".itf.json")
        p.write_text(json.dumps(itf, indent=1) + "\n", encoding="utf-8")
        written.append(p.as_posix())
    images = [f for f in formats if f in IMAGE_FORMATS]
    if images or "dot" in formats:
        dot = dotfmt.trace_to_dot(tr, lanes=list(LANES), lane_titles=LANE_TITLES, legend=res.ledger or None,
                                  title=title)
        r = dotfmt.render(dot, stem, formats=images)
        written += [Path(p).as_posix() for p in r]
        hint = r.message
    return written, hint


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s)


# --------------------------------------------------------------------------- state graphs


@dataclass
class StateGraphDrawing:
    dot: str
    states: int
    transitions: int
    sccs: int
    fair: int                # states in the fair components where the property fails
    verdict: str


def _reach_within(n: int, src: np.ndarray, dst: np.ndarray, starts: np.ndarray, region: np.ndarray) -> np.ndarray:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import breadth_first_order
    out = np.zeros(n, dtype=bool)
    starts = starts[region[starts]]
    if starts.size == 0:
        return out
    e = np.flatnonzero(region[src] & region[dst])
    root = n
    rows = np.concatenate([src[e], np.full(starts.size, root)])
    cols = np.concatenate([dst[e], starts])
    m = csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n + 1, n + 1))
    order = breadth_first_order(m, root, directed=True, return_predecessors=False)
    out[order[order != root]] = True
    return out


def state_graph(scenario: Any, *, max_states: int = 2000, prop: str = "deletion_completes") -> StateGraphDrawing:
    """The reachable state graph of ``scenario`` as DOT; raises :class:`GraphTooLarge` above ``max_states``.

    The fair components of ``prop`` (a leads-to property) are highlighted: the states of a fair
    cycle that never reaches the goal, i.e. where ``prop`` fails (the livelock)."""
    from certloop.checker.check import VIOLATED, fair_graph
    from certloop.checker.dot import state_graph_to_dot
    from certloop.checker.explore import explore
    from certloop.checker.liveness import fair_components
    from certloop.checker.spec import LeadsTo
    from certloop.model.scenario import build
    from certloop.properties import deletion
    w = build(scenario.config)
    deletion.attach(w)
    props = {p.name: p for p in w.model.properties}
    leads = [n for n, p in props.items() if isinstance(p, LeadsTo)]
    if prop not in leads:
        raise RenderError(f"--property {prop!r} is not a leads-to property of this scenario; valid: "
                          + ", ".join(leads))
    p = props[prop]
    g = explore(w.model, max_states=max_states + 1)
    if not g.complete or g.n_states > max_states:
        more = "more than " if not g.complete else ""
        raise GraphTooLarge(
            f"the state graph of {scenario.name} has {more}{g.n_states:,} states, above the drawing limit "
            f"--max-states {max_states:,}: choose a smaller configuration (e.g. --gc abstract --caches fresh; "
            f"`certloop graph --scenario seed --gc abstract` has a few hundred states) or raise --max-states "
            f"(Graphviz slows down sharply beyond a few thousand nodes); for one behaviour use "
            f"`certloop check` and its swimlane diagram")
    fg = fair_graph(g, p.fairness)
    q = g.evaluate(p.q)
    starts = np.flatnonzero(g.evaluate(p.p) & ~q)
    src, dst = g.src.astype(np.int64), g.dst.astype(np.int64)
    reach = _reach_within(g.n_states, src, dst, starts, ~q)
    comps = fair_components(fg, reach)
    hot = np.zeros(g.n_states, dtype=bool)
    for c in comps:
        hot[np.asarray(c, dtype=np.int64)] = True
    verdict = VIOLATED if comps else "holds"
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components
    m = csr_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(g.n_states, g.n_states))
    _, lab = connected_components(m, directed=True, connection="strong")
    sizes = np.bincount(lab)
    n_scc = int((sizes > 1).sum())
    if comps:
        what = (f"red: the fair cycles where {prop} fails ({int(hot.sum())} states): the system can loop "
                f"there forever")
    else:
        what = f"no fair cycle avoids the goal: {prop} holds"
    title = (f"{scenario.name}: {g.n_states} states, {g.n_transitions} transitions, {n_scc} SCCs (clusters); "
             f"{what}")
    dot = state_graph_to_dot(g, max_states=max_states, highlight=hot, title=title)
    return StateGraphDrawing(dot, g.n_states, g.n_transitions, n_scc, int(hot.sum()), verdict)
