"""One run: a scenario -> the model -> exploration -> verdicts, ledgers, measurements, artifacts.

Shared by ``certloop check``, ``gate`` and ``verify-guard``.  Output is deterministic: the JSON
report carries no timings unless ``timings=True``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from certloop.checker.check import HOLDS, VIOLATED, Report, Result, check, exit_code_of, graph_index
from certloop.checker.explore import Progress
from certloop.checker.expr import ModelError
from certloop.checker.measure import max_marked
from certloop.checker.spec import FairCycleFree, LeadsTo, Eventually
from certloop.checker import trace as tracefmt
from certloop.checker import dot as dotfmt
from certloop.model.scenario import World, build
from certloop.properties import deletion
from certloop.properties.deletion import CERT_MANAGER_ACTORS, WITNESSES
from certloop.properties.ledger import LANE_TITLES, LANES, ledger_lines
from certloop.properties.scenarios import Scenario

__all__ = ["Run", "run", "report_json", "write_artifacts", "select_properties"]


@dataclass
class Run:
    scenario: Scenario
    world: World
    report: Report
    results: list[Result]
    witnesses: list[Result]
    max_late_creates: int | None | str = "n/a"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """0 all hold, 1 a property is violated, 3 unknown (witnesses do not count)."""
        return exit_code_of(self.results)

    @property
    def graph(self):  # noqa: ANN201
        return self.report.graph

    def result(self, name: str) -> Result:
        for r in self.results + self.witnesses:
            if r.name == name:
                return r
        raise KeyError(name)


def select_properties(world: World, names: Sequence[str] | None) -> list[str]:
    """The properties to check: all that apply (default) or the named ones, validated."""
    applicable = [p.name for p in world.model.properties if p.name not in WITNESSES]
    if not names:
        return applicable
    out = []
    for n in names:
        if n in applicable:
            out.append(n)
        elif n in deletion.ALL_NAMES:
            raise ModelError(f"property {n!r} does not apply to this scenario (it needs a knob: "
                             f"test finalizer, namespace deletion, second delete or a fresh start); "
                             f"applicable: {', '.join(applicable)}")
        else:
            raise ModelError(f"unknown property {n!r}; valid: {', '.join(applicable)}")
    return out


def run(scenario: Scenario, properties: Sequence[str] | None = None, *, max_states: int | None = None,
        max_seconds: float | None = None, progress: Callable[[Progress], None] | None = None,
        guard_hook: Any = None, witnesses: bool = True, measure: bool = True) -> Run:
    world = build(scenario.config, guard_hook)
    deletion.attach(world)
    names = select_properties(world, properties)
    wnames = [w for w in WITNESSES] if witnesses else []
    rep = check(world.model, names + wnames, max_states=max_states, max_seconds=max_seconds, progress=progress)
    res = [r for r in rep.results if r.name not in WITNESSES]
    wit = [r for r in rep.results if r.name in WITNESSES]
    out = Run(scenario, world, rep, res, wit)
    if measure:
        out.max_late_creates = _max_late_creates(out)
    return out


def _max_late_creates(r: Run) -> int | None | str:
    """MaxLateCreates (MODEL.md §5): most cert-manager creates on any path after the delete."""
    g = r.graph
    if not g.complete:
        return "unknown"
    deleted = g.evaluate(r.world.cluster.globals["userDeleted"].ref)
    starts = np.flatnonzero(deleted)
    if starts.size == 0:
        return "n/a"
    acts = np.array([a.actor in CERT_MANAGER_ACTORS for a in g.model.actions] + [False])
    cand = np.flatnonzero(acts[g.lab])
    if cand.size:
        prop = next(p for p in g.model.properties if p.name == "bounded_churn")
        cand = cand[g.evaluate_edges(prop.edge, cand)]  # type: ignore[attr-defined]
    return max_marked(graph_index(g), cand, starts)


def describe_max_late_creates(r: Run) -> str:
    """MaxLateCreates in words (MODEL.md §5): a number, or why there is none."""
    mlc = r.max_late_creates
    if isinstance(mlc, int):
        return str(mlc)
    if mlc is None:
        churn = next((x for x in r.results if x.name == "bounded_churn"), None)
        if churn is not None and churn.verdict == HOLDS:
            return ("unbounded only on unfair runs (a cache that never refreshes); "
                    "finite on every fair run (bounded_churn holds)")
        return "unbounded (a fair cycle creates objects)"
    return str(mlc)


def _verdict_word(r: Result, witness: bool = False) -> str:
    if witness:
        return {HOLDS: "reachable", VIOLATED: "unreachable"}.get(r.verdict, r.verdict)
    return r.verdict


def result_json(r: Result, timings: bool = False, witness: bool = False) -> dict[str, Any]:
    d: dict[str, Any] = {"property": r.name, "kind": r.prop.kind, "verdict": _verdict_word(r, witness),
                         "doc": r.prop.doc, "note": r.note}
    if isinstance(r.prop, (LeadsTo, Eventually, FairCycleFree)) and r.fairness is not None:
        d["fairness"] = {"name": r.fairness.name, "assumptions": list(r.fairness.lines)}
    ce = None
    if r.trace is not None and not witness and r.verdict == VIOLATED:
        ce = tracefmt.to_json_steps(r.trace)
        ce["ledger"] = ledger_lines(r.trace)
    d["counterexample"] = ce
    if witness and r.trace is not None:
        d["example"] = tracefmt.to_json_steps(r.trace)
    if timings:
        d["seconds"] = round(r.seconds, 3)
    return d


def report_json(r: Run, timings: bool = False) -> dict[str, Any]:
    g = r.graph
    d: dict[str, Any] = {
        "scenario": {"name": r.scenario.name, "row": r.scenario.row, "title": r.scenario.title,
                     **r.scenario.config.knobs()},
        "states": g.n_states, "transitions": g.n_transitions, "depth": g.max_depth,
        "complete": g.complete, "bound": g.reason or None,
        "results": [result_json(x, timings) for x in r.results],
        "witnesses": [result_json(x, timings, witness=True) for x in r.witnesses],
        "max_late_creates": r.max_late_creates,
        "max_late_creates_text": describe_max_late_creates(r),
        "caveats": caveats(r),
    }
    if timings:
        d["seconds"] = round(g.seconds, 3)
    return d


def caveats(r: Run) -> list[str]:
    out = []
    for w in r.witnesses:
        if w.name == "revision_bound_blocked" and w.verdict == HOLDS:
            out.append("revision_bound_blocked is reachable: the model disabled a CR create that would succeed "
                       "in reality (a slot held by another revision, MODEL.md §4.1); verdicts that depend on "
                       "it are approximate")
    for x in r.results:
        if x.verdict == HOLDS and x.note:
            out.append(f"{x.name}: {x.note}")
    return out


def _slug(s: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in s)


def write_artifacts(r: Run, out_dir: str | os.PathLike, formats: Sequence[str] = ("svg",)) -> list[Path]:
    """Per violated property: ``<prop>.txt``, ``.json``, ``.itf.json``, ``.dot`` and rendered images."""
    base = Path(out_dir) / _slug(r.scenario.name)
    written: list[Path] = []
    for x in r.results:
        if x.verdict != VIOLATED or x.trace is None:
            continue
        base.mkdir(parents=True, exist_ok=True)
        stem = base / _slug(x.name)
        led = ledger_lines(x.trace)
        title = f"{r.scenario.name}: {x.name} VIOLATED"
        txt = tracefmt.to_text(x.trace, title=title, why=False)
        if led:
            txt += "\n" + "\n".join(led) + "\n"
        (stem.with_suffix(".txt")).write_text(txt)
        js = result_json(x)
        js["scenario"] = {"name": r.scenario.name, **r.scenario.config.knobs()}
        (stem.with_suffix(".json")).write_text(json.dumps(js, indent=2, sort_keys=False) + "\n")
        itf = tracefmt.to_itf(x.trace, source=f"certloop {r.scenario.name} {x.name}")
        Path(str(stem) + ".itf.json").write_text(json.dumps(itf, indent=1) + "\n")
        dot = dotfmt.trace_to_dot(x.trace, lanes=list(LANES), lane_titles=LANE_TITLES, legend=led, title=title)
        (stem.with_suffix(".dot")).write_text(dot)
        written += [stem.with_suffix(".txt"), stem.with_suffix(".json"), Path(str(stem) + ".itf.json"),
                    stem.with_suffix(".dot")]
        if formats:
            rendered = dotfmt.render(dot, stem, formats=formats)
            for p in rendered if isinstance(rendered, list) else []:
                pp = Path(p)
                if pp.suffix != ".dot" and pp not in written:
                    written.append(pp)
    return written
