"""Graphviz diagrams of counterexamples and of small state graphs.

:func:`trace_to_dot` draws a trace as a *swimlane* diagram: one column per lane (by default one
per actor), one row per step from top to bottom, each step a box in its lane with the action and
the fields it changed.  The cycle of a lasso is drawn in orange, with a red back edge from its
last step to its first labelled "repeats forever"; a stutter lasso gets a dashed "stutters
forever" loop on its last step.  Hovering a step (in SVG) shows the guard conjuncts that enabled
it; conjuncts that a fix introduced (``since``/``pr``) are also printed under the step.

:func:`state_graph_to_dot` draws a whole (small) reachable state graph with its strongly
connected components as clusters.  :func:`render` runs the ``dot`` binary when it is installed.

Everything here is generic: lane order, lane titles and the legend (e.g. a per-cycle ledger) are
parameters.  The output is deterministic: no timestamps, and every list is ordered by step index,
state id or an explicit parameter -- never by hash or set order.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
from typing import Any, Callable, Collection, Iterable, Mapping, Sequence

import numpy as np

from certloop.checker.check import Step, Trace
from certloop.checker.trace import format_value, ordered_changes, _enabling, _var_order

__all__ = ["trace_to_dot", "state_graph_to_dot", "render", "Rendered", "DOT_HINT"]

# ---- palette (Open Color): calm lanes, orange cycle, red back edge, blue fixes
_LANE_HEAD = ("#e7f5ff", "#f3f0ff", "#ebfbee", "#fff9db", "#fff0f6", "#e3fafc")
_LANE_LINE = "#adb5bd"
_LANE_BORDER = "#ced4da"
_STEP_BORDER = "#495057"
_CYCLE_FILL = "#fff4e6"
_CYCLE_BORDER = "#e8590c"
_BACK = "#c92a2a"
_FIX = "#1864ab"
_MUTED = "#868e96"
_FONT = "Helvetica"

DOT_HINT = "dot -Tsvg {dot} -o {svg}"


# --------------------------------------------------------------------------- escaping


def _h(s: Any) -> str:
    """Text for an HTML-like label."""
    return html.escape(str(s), quote=True)


def _q(s: Any) -> str:
    """A double-quoted DOT string (escString): backslashes and quotes escaped, newlines as ``\\n``."""
    t = str(s).replace("\\", "\\\\").replace('"', '\\"')
    t = t.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{t}"'


def _attrs(**kw: Any) -> str:
    """``[k=v, ...]`` in the given order; values starting with ``<`` are HTML labels."""
    parts = []
    for k, v in kw.items():
        if v is None:
            continue
        if isinstance(v, str) and v.startswith("<") and v.endswith(">"):
            parts.append(f"{k}={v}")
        elif isinstance(v, bool):
            parts.append(f"{k}={'true' if v else 'false'}")
        elif isinstance(v, (int, float)):
            parts.append(f"{k}={v}")
        else:
            parts.append(f"{k}={_q(v)}")
    return "[" + ", ".join(parts) + "]"


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: max(1, n - 1)] + "\u2026"


def _clip_change(name: str, old: str, new: str, n: int) -> str:
    """``name: old → new`` in at most ``n`` characters, shortening the middle of a long name first."""
    tail = f": {old} \u2192 {new}"
    line = name + tail
    if len(line) <= n:
        return line
    budget = n - len(tail)
    if budget >= 9:
        keep_end = (budget - 1) * 2 // 3
        return name[: budget - 1 - keep_end] + "\u2026" + name[len(name) - keep_end:] + tail
    return _clip(line, n)


def _matches(name: str, pats: Collection[str]) -> bool:
    for p in pats:
        if name == p or (name.startswith(p) and name[len(p)] in ".["):
            return True
    return False


def _fix_text(c: Any) -> str:
    parts = []
    if getattr(c, "since", None):
        parts.append(str(c.since))
    if getattr(c, "pr", None) is not None:
        parts.append(f"#{c.pr}")
    return " ".join(parts)


# --------------------------------------------------------------------------- the swimlane diagram


def _default_lane(step: Step) -> str:
    return step.action.actor if step.action is not None else ""


def trace_to_dot(trace: Trace, *, lanes: Sequence[str] | None = None, lane_titles: Mapping[str, str] | None = None,
                 legend: Sequence[str] | None = None, title: str = "",
                 highlight_fields: Collection[str] | None = None,
                 lane_of: Callable[[Step], str] | None = None, max_changes: int = 4, max_chars: int = 44,
                 initial_lines: int = 4, show_empty_lanes: bool = False) -> str:
    """A deterministic Graphviz swimlane diagram of ``trace``.

    * ``lanes``: lane order, left to right (default: order of first appearance); lanes met in the
      trace but not listed follow in order of first appearance.  A lane is an actor unless
      ``lane_of(step)`` says otherwise.  ``show_empty_lanes`` also draws listed lanes that never act.
    * ``lane_titles``: the title at the top of each lane (default: the lane key).
    * ``legend``: lines for a box under the diagram (e.g. a per-cycle ledger).
    * ``highlight_fields``: field names (or record prefixes such as ``"C"`` for ``C.x``) listed
      first and in bold among a step's changes.
    * Each step shows at most ``max_changes`` changed fields (then "+N more"), each line clipped
      to ``max_chars``; the full list and the enabling guard conjuncts are in the tooltip.

    Layout: a grid.  Row ``r`` holds step ``r``'s number in the left "step" column and one cell per
    lane (the step's box in its own lane, an invisible point elsewhere); the cells of a row share a
    rank and are chained left to right (which fixes the lane order), the cells of a lane are
    chained top to bottom by the lane's lifeline.  Lanes are deliberately *not* Graphviz clusters:
    with clusters (and ``newrank``, needed for rows across clusters) dot reorders the lanes to save
    edge crossings and ignores the requested order; coloured titles and dashed lifelines separate
    the lanes instead.
    """
    lane_of = lane_of or _default_lane
    hl = tuple(highlight_fields or ())
    titles = dict(lane_titles or {})
    order = _var_order(trace)
    steps = trace.steps()
    cycle_ix = {s.index for s in trace.cycle}
    loop_step = steps[trace.loop_index] if trace.lasso and steps else None

    # lanes: the explicit order, then first appearance
    seen: list[str] = []
    for s in steps:
        if s.action is not None:
            k = lane_of(s)
            if k not in seen:
                seen.append(k)
    lane_keys: list[str] = []
    for k in (lanes or ()):
        if (k in seen or show_empty_lanes) and k not in lane_keys:
            lane_keys.append(k)
    lane_keys += [k for k in seen if k not in lane_keys]
    lane_id = {k: f"lane{i}" for i, k in enumerate(lane_keys)}
    lane_at = {s.index: lane_of(s) for s in steps if s.action is not None}
    stuck = loop_step.index if loop_step is not None and not trace.cycle else None

    def spine(s: Step) -> str:
        return "init" if s.action is None else f"row{s.index}"

    def cell(s: Step, k: str) -> str:
        return f"s{s.index}" if lane_at.get(s.index) == k else f"{lane_id[k]}_r{s.index}"

    def node_of(s: Step) -> str:
        return "init" if s.action is None else f"s{s.index}"

    out: list[str] = []
    w = out.append
    w("digraph trace {")
    glabel = f"<<B>{_h(title)}</B>>" if title else None
    w("  graph " + _attrs(rankdir="TB", nodesep=0.35, ranksep=0.3, pad=0.3, fontname=_FONT, fontsize=14,
                          label=glabel, labelloc="t", labeljust="l", outputorder="edgesfirst", bgcolor="white"))
    w("  node " + _attrs(fontname=_FONT, fontsize=11, shape="box", style="rounded,filled", fillcolor="white",
                         color=_STEP_BORDER, margin="0.12,0.06"))
    w("  edge " + _attrs(fontname=_FONT, fontsize=10, color="#495057", arrowsize=0.7))
    w("")

    # ---- header row: the step column and one title per lane
    w("  // header: lane titles")
    w("  spine_head " + _attrs(shape="plaintext", style="", label="<<B>step</B>>", fontcolor=_MUTED, group="spine"))
    for i, k in enumerate(lane_keys):
        w(f"  {lane_id[k]}_head " + _attrs(label=f"<<B>{_h(titles.get(k, k))}</B>>", fontsize=13,
                                           fillcolor=_LANE_HEAD[i % len(_LANE_HEAD)], color=_LANE_BORDER,
                                           penwidth=1.5, margin="0.2,0.08", group=lane_id[k]))
    w("")

    # ---- one row per step
    for pos, s in enumerate(steps):
        w(f"  // step {s.index}")
        if s.action is None:
            w("  init " + _init_attrs(s, initial_lines, max_chars, stuck == s.index))
        else:
            in_cycle = s.index in cycle_ix
            if in_cycle:
                w(f"  row{s.index} " + _attrs(shape="circle", style="filled", fillcolor=_CYCLE_FILL,
                                             color=_CYCLE_BORDER, penwidth=1.5, fixedsize=True, width=0.36,
                                             label=f"<<B>{s.index}</B>>", fontcolor=_CYCLE_BORDER, group="spine",
                                             tooltip=f"step {s.index}: {s.label} (in the cycle)"))
            elif stuck == s.index:
                w(f"  row{s.index} " + _attrs(shape="circle", style="filled", fillcolor="#ffe3e3", color=_BACK,
                                             penwidth=1.5, fixedsize=True, width=0.36, label=f"<<B>{s.index}</B>>",
                                             fontcolor=_BACK, group="spine",
                                             tooltip=f"step {s.index}: {s.label} (then stutters forever)"))
            else:
                w(f"  row{s.index} " + _attrs(shape="plaintext", style="", label=str(s.index), fontcolor=_MUTED,
                                             group="spine", tooltip=f"step {s.index}: {s.label}"))
        for k in lane_keys:
            if lane_at.get(s.index) == k:
                pre = steps[pos - 1] if pos > 0 else None
                w(f"  s{s.index} " + _step_attrs(s, pre, k, order, hl, s.index in cycle_ix, stuck == s.index,
                                                 max_changes, max_chars, lane_id[k]))
            else:
                w(f"  {cell(s, k)} " + _attrs(shape="point", style="invis", width=0.01, height=0.01,
                                             group=lane_id[k]))
        row = [spine(s)] + [cell(s, k) for k in lane_keys]
        w("  { rank=same; " + "; ".join(row) + "; }")
        if len(row) > 1:
            w("  " + " -> ".join(row) + " " + _attrs(style="invis"))
    w("")

    # ---- footer row, lifelines and the step column
    w("  // lifelines")
    foot = ["spine_foot"] + [f"{lane_id[k]}_foot" for k in lane_keys]
    w("  spine_foot " + _attrs(shape="point", style="invis", width=0.01, height=0.01, group="spine"))
    for k in lane_keys:
        w(f"  {lane_id[k]}_foot " + _attrs(shape="point", style="invis", width=0.01, height=0.01, group=lane_id[k]))
    w("  { rank=same; " + "; ".join(foot) + "; }")
    heads = ["spine_head"] + [f"{lane_id[k]}_head" for k in lane_keys]
    w("  { rank=same; " + "; ".join(heads) + "; }")
    if len(heads) > 1:
        w("  " + " -> ".join(heads) + " " + _attrs(style="invis"))
        w("  " + " -> ".join(foot) + " " + _attrs(style="invis"))
    for k in lane_keys:
        # the lifeline, minus the segments that a flow edge already draws (no doubled, bowed edges)
        col = [f"{lane_id[k]}_head"] + [cell(s, k) for s in steps] + [f"{lane_id[k]}_foot"]
        segs: list[list[str]] = []
        for j in range(1, len(col)):
            if col[j - 1].startswith("s") and col[j].startswith("s"):
                continue
            if segs and segs[-1][-1] == col[j - 1]:
                segs[-1].append(col[j])
            else:
                segs.append([col[j - 1], col[j]])
        for seg in segs:
            w("  " + " -> ".join(seg) + " " + _attrs(color=_LANE_LINE, penwidth=1.5, style="dashed",
                                                      arrowhead="none", weight=10, tooltip=titles.get(k, k)))
    # the step column: invisible, except a thick bracket joining the cycle's step numbers
    col = ["spine_head"] + [spine(s) for s in steps] + ["spine_foot"]
    in_bracket = [False] + [s.index in cycle_ix for s in steps] + [False]
    segments: list[tuple[bool, list[str]]] = []
    for j in range(1, len(col)):
        bracket = in_bracket[j - 1] and in_bracket[j]
        if segments and segments[-1][0] == bracket:
            segments[-1][1].append(col[j])
        else:
            segments.append((bracket, [col[j - 1], col[j]]))
    for bracket, seg in segments:
        if bracket:
            w("  " + " -> ".join(seg) + " " + _attrs(color=_CYCLE_BORDER, penwidth=4, arrowhead="none", weight=10,
                                                      tooltip="the cycle"))
        else:
            w("  " + " -> ".join(seg) + " " + _attrs(style="invis", weight=10))
    w("")

    # ---- the behaviour
    w("  // the behaviour, step by step")
    for a, b in zip(steps, steps[1:]):
        # within a lane the flow edge is the lifeline's segment (keeps the lane straight); across
        # lanes it must not pull the lanes together
        same = a.action is not None and lane_at.get(a.index) == lane_at.get(b.index)
        if a.index in cycle_ix and b.index in cycle_ix:
            w(f"  {node_of(a)} -> {node_of(b)} " + _attrs(color=_CYCLE_BORDER, penwidth=2, weight=10 if same else 0,
                                                          tooltip=f"step {a.index} -> step {b.index}"))
        else:
            w(f"  {node_of(a)} -> {node_of(b)} " + _attrs(penwidth=1.2, weight=10 if same else 0,
                                                          tooltip=f"step {a.index} -> step {b.index}"))
    if loop_step is not None:
        k = loop_step.index
        if trace.cycle:
            first, last = trace.cycle[0], trace.cycle[-1]
            w(f"  {node_of(last)} -> {node_of(first)} " + _attrs(
                constraint=False, color=_BACK, fontcolor=_BACK, penwidth=2.5, label="<<B>repeats forever</B>>",
                tooltip=f"after step {last.index} the state is again the one after step {k}: "
                        f"steps {first.index}..{last.index} repeat forever"))
        else:
            w(f"  {node_of(loop_step)} -> {node_of(loop_step)} " + _attrs(
                tailport="ne", headport="se", color=_BACK, fontcolor=_BACK, penwidth=2, style="dashed",
                label="<<B>stutters forever</B>>",
                tooltip=f"then nothing is forced to happen: stutters forever in step {k}"))
    w("")

    # ---- legend under everything
    lines: list[tuple[str, str]] = []
    if loop_step is not None and trace.cycle:
        first, last = trace.cycle[0], trace.cycle[-1]
        again = "the initial state" if loop_step.action is None else f"the one after step {loop_step.index}"
        lines.append((_CYCLE_BORDER, f"the cycle: steps {first.index}..{last.index} (orange); after step {last.index} "
                                     f"the state is {again} again, so they repeat forever"))
    elif loop_step is not None:
        lines.append((_BACK, f"then nothing is forced to happen: stutters forever in step {loop_step.index}"))
    for ln in legend or ():
        lines.append(("black", ln))
    if lines:
        rows = [f"<TR><TD ALIGN=\"LEFT\"><FONT COLOR=\"{c}\">{_h(t)}</FONT></TD></TR>" for c, t in lines]
        w("  legend " + _attrs(label=_table(rows), shape="box", style="filled", fillcolor="#fff9db",
                               color="#adb5bd", fontsize=10))
        w("  spine_foot -> legend " + _attrs(style="invis"))
    w("}")
    return "\n".join(out) + "\n"


def _init_attrs(init: Step, initial_lines: int, max_chars: int, stuck: bool) -> str:
    vals = [(v.name, init.values[v], v.init) for v in sorted(init.values, key=lambda v: (v.index, v.name))]
    nondef = [(n, x) for n, x, d in vals if x != d]
    shown = nondef if len(vals) > initial_lines else [(n, x) for n, x, _ in vals]
    rows = [f"<TR><TD ALIGN=\"LEFT\"><B>initial state</B></TD></TR>"]
    for n, x in shown[:initial_lines]:
        rows.append(f"<TR><TD ALIGN=\"LEFT\"><FONT POINT-SIZE=\"9\">{_h(_clip(f'{n}={format_value(x)}', max_chars))}"
                    f"</FONT></TD></TR>")
    if len(shown) > initial_lines:
        rows.append(f"<TR><TD ALIGN=\"LEFT\"><FONT POINT-SIZE=\"9\" COLOR=\"{_MUTED}\">+{len(shown) - initial_lines} more"
                    f"</FONT></TD></TR>")
    if len(vals) > initial_lines:
        rest = len(vals) - len(nondef)
        if rest:
            rows.append(f"<TR><TD ALIGN=\"LEFT\"><FONT POINT-SIZE=\"9\" COLOR=\"{_MUTED}\">"
                        f"{'the other ' if nondef else 'all '}{rest} variables at their defaults</FONT></TD></TR>")
    tip = "step 0: the initial state\n" + "\n".join(f"{n} = {format_value(x)}" for n, x, _ in vals)
    if stuck:
        return _attrs(label=_table(rows), fillcolor="#ffe3e3", color=_BACK, penwidth=2, tooltip=tip, group="spine")
    return _attrs(label=_table(rows), fillcolor="#f1f3f5", color=_MUTED, tooltip=tip, group="spine")


def _table(rows: Sequence[str]) -> str:
    return "<<TABLE BORDER=\"0\" CELLBORDER=\"0\" CELLSPACING=\"0\" CELLPADDING=\"1\">" + "".join(rows) + "</TABLE>>"


def _step_attrs(s: Step, pre: Step | None, lane: str, order: Mapping[str, int], hl: Sequence[str],
                in_cycle: bool, stuck: bool, max_changes: int, max_chars: int, group: str) -> str:
    a = s.action
    assert a is not None
    label = s.label
    if lane and label.startswith(lane + "."):
        label = label[len(lane) + 1:]     # the lane title already names the actor
    elif label.startswith(a.actor + "."):
        label = label[len(a.actor) + 1:]
    ch = ordered_changes(s, order)
    if hl:
        ch = [c for c in ch if _matches(c[0], hl)] + [c for c in ch if not _matches(c[0], hl)]
    rows = [f"<TR><TD ALIGN=\"LEFT\"><B>{_h(_clip(label, max_chars))}</B></TD></TR>"]
    for n, o, nw in ch[:max_changes]:
        text = _h(_clip_change(n, format_value(o), format_value(nw), max_chars))
        if hl and _matches(n, hl):
            text = f"<B>{text}</B>"
        rows.append(f"<TR><TD ALIGN=\"LEFT\"><FONT POINT-SIZE=\"9\">{text}</FONT></TD></TR>")
    if len(ch) > max_changes:
        rows.append(f"<TR><TD ALIGN=\"LEFT\"><FONT POINT-SIZE=\"9\" COLOR=\"{_MUTED}\">"
                    f"+{len(ch) - max_changes} more</FONT></TD></TR>")
    guard = _enabling(s, pre)
    for c in guard:
        tag = _fix_text(c)
        if tag:
            rows.append(f"<TR><TD ALIGN=\"LEFT\"><FONT POINT-SIZE=\"8\" COLOR=\"{_FIX}\">"
                        f"{_h(_clip(f'fix {tag}: {c.name}', max_chars))}</FONT></TD></TR>")
    tip = [f"step {s.index}: {s.label}"]
    if guard:
        tip.append("enabled because:")
        for c in guard:
            tag = _fix_text(c)
            tip.append(f"  {c.name}: {c.gloss}" + (f" (fix {tag})" if tag else ""))
    if ch:
        tip.append("changes:")
        tip.extend(f"  {n}: {format_value(o)} -> {format_value(nw)}" for n, o, nw in ordered_changes(s, order))
    if in_cycle:
        return _attrs(label=_table(rows), fillcolor=_CYCLE_FILL, color=_CYCLE_BORDER, penwidth=2,
                      tooltip="\n".join(tip), group=group)
    if stuck:
        return _attrs(label=_table(rows), fillcolor="#fff5f5", color=_BACK, penwidth=2, tooltip="\n".join(tip),
                      group=group)
    return _attrs(label=_table(rows), tooltip="\n".join(tip), group=group)


# --------------------------------------------------------------------------- state graphs


def state_graph_to_dot(graph: Any, *, max_states: int = 2000, clusters: Sequence[np.ndarray] | None = None,
                       highlight: np.ndarray | None = None, title: str = "", max_lines: int = 4) -> str:
    """The whole reachable state graph: states as boxes, transitions labelled with actions.

    Strongly connected components with more than one state are drawn as clusters (computed with
    SciPy unless ``clusters`` -- arrays of state ids -- are given).  ``highlight`` (a boolean mask
    or an array of state ids, e.g. a fair component) is filled red and its inner edges drawn bold.
    Each state shows the variables that differ from the first initial state (all in the tooltip).
    States never expanded by a bounded search are dashed.  Raises :class:`ValueError` above
    ``max_states``.
    """
    n = int(graph.n_states)
    if n > max_states:
        raise ValueError(f"the state graph has {n} states, more than max_states={max_states} that can be drawn "
                         f"readably; draw a counterexample with trace_to_dot() instead, shrink the model's "
                         f"parameters, or pass a larger max_states= (Graphviz slows down sharply beyond a few "
                         f"thousand nodes)")
    src = np.asarray(graph.src, dtype=np.int64)
    dst = np.asarray(graph.dst, dtype=np.int64)
    lab = np.asarray(graph.lab, dtype=np.int64)
    labels = [a.label for a in graph.model.actions]
    if clusters is None:
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components
        m = csr_matrix((np.ones(src.size, dtype=np.int8), (src, dst)), shape=(n, n))
        _, comp = connected_components(m, directed=True, connection="strong")
        groups: dict[int, list[int]] = {}
        for i in range(n):
            groups.setdefault(int(comp[i]), []).append(i)
        clusters = [np.array(g) for g in groups.values() if len(g) > 1]
    cl = sorted((sorted(int(x) for x in np.asarray(c).ravel()) for c in clusters if np.asarray(c).size),
                key=lambda c: c[0])
    hmask = np.zeros(n, dtype=bool)
    if highlight is not None:
        h = np.asarray(highlight)
        if h.dtype == bool:
            hmask[: h.size] = h[:n]
        else:
            hmask[h.astype(np.int64)] = True

    base = graph.decode(0) if n else {}
    vars_sorted = sorted(base, key=lambda v: (v.index, v.name))

    def state_node(i: int, indent: str) -> str:
        vals = graph.decode(i)
        diff = [f"{v.name}={format_value(vals[v])}" for v in vars_sorted if vals[v] != base[v]]
        rows = [f"<TR><TD><B>{i}</B></TD></TR>"]
        for d in diff[:max_lines]:
            rows.append(f"<TR><TD><FONT POINT-SIZE=\"9\">{_h(_clip(d, 40))}</FONT></TD></TR>")
        if len(diff) > max_lines:
            rows.append(f"<TR><TD><FONT POINT-SIZE=\"9\" COLOR=\"{_MUTED}\">+{len(diff) - max_lines} more</FONT></TD></TR>")
        tip = f"state {i}\n" + "\n".join(f"{v.name} = {format_value(vals[v])}" for v in vars_sorted)
        style = "rounded,filled" + (",dashed" if i >= graph.n_expanded else "")
        return (f"{indent}n{i} " + _attrs(label=_table(rows), style=style,
                                           fillcolor="#ffc9c9" if hmask[i] else "white",
                                           color=_BACK if hmask[i] else _STEP_BORDER,
                                           penwidth=2 if i < graph.n_initial else 1, tooltip=tip))

    out: list[str] = []
    w = out.append
    w("digraph states {")
    w("  graph " + _attrs(rankdir="TB", fontname=_FONT, fontsize=14, label=f"<<B>{_h(title)}</B>>" if title else None,
                          labelloc="t", labeljust="l", nodesep=0.25, ranksep=0.4))
    w("  node " + _attrs(fontname=_FONT, fontsize=10, shape="box", style="rounded,filled", fillcolor="white",
                         margin="0.06,0.03"))
    w("  edge " + _attrs(fontname=_FONT, fontsize=8, color="#868e96", arrowsize=0.6))
    in_cluster = np.zeros(n, dtype=bool)
    for ci, members in enumerate(cl):
        w(f"  subgraph cluster_scc{ci} {{")
        hot = bool(hmask[members].all())
        w("    graph " + _attrs(label=f"SCC {ci} ({len(members)} states)", fontsize=10, style="filled,rounded",
                                fillcolor="#ffe3e3" if hot else "#f1f3f5", color=_BACK if hot else _LANE_BORDER))
        for i in members:
            in_cluster[i] = True
            w(state_node(i, "    "))
        w("  }")
    for i in range(n):
        if not in_cluster[i]:
            w(state_node(i, "  "))
    for i in range(int(graph.n_initial)):
        w(f"  start{i} " + _attrs(shape="point", width=0.08, color="black"))
        w(f"  start{i} -> n{i}")
    # parallel edges merged, ordered by (src, dst) then action index
    merged: dict[tuple[int, int], list[int]] = {}
    for e in np.lexsort((lab, dst, src)):
        merged.setdefault((int(src[e]), int(dst[e])), []).append(int(lab[e]))
    for (a, b), ls in merged.items():
        text = "\n".join(labels[x] for x in ls)
        hot = hmask[a] and hmask[b]
        w(f"  n{a} -> n{b} " + _attrs(label=text, color=_BACK if hot else None, penwidth=2 if hot else None,
                                      fontcolor=_BACK if hot else None))
    w("}")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- rendering


class Rendered(list):
    """The files written by :func:`render` (a list of paths); ``message`` says how to finish by hand
    when the ``dot`` binary is missing (empty otherwise)."""

    message: str = ""


def render(dot_source: str, path_without_ext: str | os.PathLike, formats: Iterable[str] = ("svg",),
           *, timeout: float = 120.0) -> Rendered:
    """Write ``<path>.dot`` and, when Graphviz's ``dot`` is on the PATH, ``<path>.<fmt>`` per format.

    Returns the written paths (the ``.dot`` first).  Without ``dot`` only the ``.dot`` is written
    and ``result.message`` tells the user the command to run.  A failing ``dot`` raises
    :class:`RuntimeError` with its error output.
    """
    base = os.fspath(path_without_ext)
    d = os.path.dirname(base)
    if d:
        os.makedirs(d, exist_ok=True)
    dot_path = base + ".dot"
    with open(dot_path, "w", encoding="utf-8", newline="\n") as f:
        f.write(dot_source)
    out = Rendered([dot_path])
    exe = shutil.which("dot")
    fmts = list(formats)
    if exe is None:
        cmds = "; ".join(f"dot -T{fm} {dot_path} -o {base}.{fm}" for fm in fmts) or DOT_HINT.format(
            dot=dot_path, svg=base + ".svg")
        out.message = (f"Graphviz 'dot' was not found on the PATH: wrote only {dot_path}. Install Graphviz "
                       f"(e.g. apt-get install graphviz) and run: {cmds}")
        return out
    for fm in fmts:
        if not fm.replace("_", "").replace(":", "").isalnum():
            raise ValueError(f"bad output format {fm!r}")
        target = f"{base}.{fm}"
        proc = subprocess.run([exe, f"-T{fm}", dot_path, "-o", target], capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"dot -T{fm} {dot_path} failed (exit {proc.returncode}): {proc.stderr.strip()}")
        out.append(target)
    return out
