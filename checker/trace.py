"""Counterexamples people (and other tools) can read: text, JSON steps and ITF.

A :class:`~certloop.checker.check.Trace` is a *prefix* of steps from an initial state and, for a
liveness counterexample, a *cycle*: the cycle's steps start from the state reached by the last
prefix step (``Trace.loop_index``) and the last cycle step returns to exactly that state.  A lasso
with an empty cycle is a *stutter*: from the last prefix state on nothing is forced to happen.

Three renderings, all generic (they know variables, actions and actors, never a domain word) and
deterministic (ordered by variable declaration order and step index; no hash or dict-order
dependence, no timestamps):

* :func:`to_text` -- one line per step, only the fields that changed;
* :func:`to_json_steps` -- the same as plain JSON data (``{"prefix", "cycle", "loop", ...}``);
* :func:`to_itf` / :func:`from_itf` -- the Informal Trace Format of Apalache and Quint
  (https://apalache-mc.org/docs/adr/015adr-trace.html), so that ITF viewers and test harnesses can
  replay a counterexample.  ``from_itf(to_itf(x)) == x`` for the JSON steps ``x``.

**How a lasso is written in ITF.**  ``states`` lists every state of the behaviour *once*: the
prefix states ``0 .. k`` (``k = loop``) and then the cycle states except the last one, which
equals ``states[k]`` and is therefore not repeated.  ``loop = k`` says that the successor of the
last listed state is ``states[k]``, which is how ITF viewers draw the loop.  The action that closes
the loop (the last cycle step) is kept in the top-level ``#meta["loop_step"]``.  A stutter lasso
has ``loop = len(states) - 1`` (the last state repeats forever) and no ``loop_step``.  A finite
(safety) trace has no ``loop`` field.

>>> from certloop.checker.check import check
>>> from certloop.checker.examples import counter
>>> tr = check(counter(3, fair=False)).result("reaches_top").trace
>>> print(to_text(tr), end="")
   0  init  x=0
  -- then nothing is forced to happen: stutters forever in step 0 --
"""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from certloop.checker.check import Step, Trace

__all__ = [
    "to_text", "to_json_steps", "to_itf", "from_itf", "steps_to_itf", "format_value",
    "ordered_changes", "ITF_FORMAT_DESCRIPTION",
]

ITF_FORMAT_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"

#: Print every variable of the initial state when there are at most this many (``initial="auto"``).
AUTO_ALL_VARS = 24


# --------------------------------------------------------------------------- shared helpers


def format_value(v: Any) -> str:
    """A value as the text and diagram renderers print it (``True``, ``3``, ``Issued``)."""
    return str(v)


def _json_value(v: Any) -> Any:
    """A decoded model value as plain JSON data (bool, int, str)."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, str):
        return v
    # numpy scalars and anything else a model may carry
    if hasattr(v, "item"):
        return _json_value(v.item())
    return str(v)


def _var_order(trace: Trace) -> dict[str, int]:
    """Variable name -> declaration index, from the values carried by the steps."""
    steps = trace.steps()
    if not steps:
        return {}
    return {v.name: v.index for v in steps[0].values}


def ordered_changes(step: Step, order: Mapping[str, int] | None = None) -> list[tuple[str, Any, Any]]:
    """``[(name, old, new)]`` of one step, in variable declaration order (then by name)."""
    if order is None:
        order = {v.name: v.index for v in step.values}
    big = len(order)
    return [(n, o, w) for n, (o, w) in sorted(step.changes.items(), key=lambda kv: (order.get(kv[0], big), kv[0]))]


def _state_items(step: Step) -> list[tuple[str, Any]]:
    return [(v.name, step.values[v]) for v in sorted(step.values, key=lambda v: (v.index, v.name))]


def _enabling(step: Step, pre: Step | None) -> list:
    if step.action is None:
        return []
    try:
        return list(step.enabling(pre.values if pre is not None else {}))
    except Exception:  # pragma: no cover - a future enabling() that needs more context
        return list(step.action.guard)


def _wrap(items: Sequence[str], width: int, sep: str = ", ") -> list[str]:
    """Greedy wrap of ``items`` joined by ``sep`` into lines of at most ``width`` (an item is never split)."""
    lines: list[str] = []
    cur = ""
    for it in items:
        if not cur:
            cur = it
        elif len(cur) + len(sep) + len(it) <= width:
            cur = cur + sep + it
        else:
            lines.append(cur + sep.rstrip())
            cur = it
    if cur:
        lines.append(cur)
    return lines


# --------------------------------------------------------------------------- text


def to_text(trace: Trace, *, title: str | None = None, initial: str = "auto", width: int = 100,
            why: bool = False) -> str:
    """One line per step: index, action label, and the fields that changed (``name: old -> new``).

    ``initial`` chooses how the initial state is printed: ``"all"`` (every variable), ``"changed"``
    (only variables whose value differs from their declared initial value, plus a count of the
    others) or ``"auto"`` (all when there are at most 24 variables, else ``"changed"``).  Long
    change lists wrap onto continuation lines at ``width`` columns.  ``why=True`` adds, under each
    step, the guard conjuncts that enabled it (name and gloss; fix conjuncts with ``since``/``pr``).

    A lasso prints ``-- cycle starts here (repeats forever) --`` after step ``k`` and ends with
    ``-- back to step k --``; a stutter lasso ends with ``-- then nothing is forced to happen:
    stutters forever in step k --``.  A finite trace just ends.
    """
    if initial not in ("auto", "all", "changed"):
        raise ValueError(f"initial={initial!r}; valid: 'auto', 'all', 'changed'")
    order = _var_order(trace)
    steps = trace.steps()
    lines: list[str] = []
    if title:
        lines.append(title)
    if not steps:
        lines.append("  (empty trace)")
        return "\n".join(lines) + "\n"
    iw = max(4, len(str(steps[-1].index)) + 2)
    lw = min(44, max(len(s.label) for s in steps))
    head_w = iw + 2 + lw + 2
    avail = max(30, width - head_w)
    pad = " " * head_w

    def emit(step: Step, items: list[str]) -> None:
        head = f"{step.index:>{iw}}  {step.label:<{lw}}"
        if not items:
            lines.append(head.rstrip())
            return
        body = _wrap(items, avail)
        lines.append(f"{head}  {body[0]}")
        lines.extend(pad + b for b in body[1:])

    n_prefix = len(trace.prefix)
    for pos, step in enumerate(steps):
        if step.action is None:
            state = _state_items(step)
            mode = initial
            if mode == "auto":
                mode = "all" if len(state) <= AUTO_ALL_VARS else "changed"
            if mode == "all":
                items = [f"{n}={format_value(v)}" for n, v in state]
            else:
                inits = {v.name: v.init for v in step.values}
                items = [f"{n}={format_value(v)}" for n, v in state if v != inits[n]]
                rest = len(state) - len(items)
                if rest and items:
                    items.append(f"(the other {rest} variables at their declared initial values)")
                elif rest:
                    items.append(f"(all {rest} variables at their declared initial values)")
            emit(step, items)
        else:
            items = [f"{n}: {format_value(o)} -> {format_value(w)}" for n, o, w in ordered_changes(step, order)]
            emit(step, items)
        if why and step.action is not None:
            pre = steps[pos - 1] if pos > 0 else None
            for c in _enabling(step, pre):
                tag = _fix_tag(c)
                lines.append(f"{pad}  because {c.name}: {c.gloss}{tag}")
        if trace.lasso and trace.cycle and pos == n_prefix - 1:
            lines.append("  -- cycle starts here (repeats forever) --")
    if trace.lasso:
        k = steps[trace.loop_index].index
        if trace.cycle:
            lines.append(f"  -- back to step {k} --")
        else:
            lines.append(f"  -- then nothing is forced to happen: stutters forever in step {k} --")
        if trace.obligations:
            lines.append("  each turn of the cycle (this is what makes it fair):")
            lines.extend(f"    - {o}" for o in trace.obligations)
    return "\n".join(lines) + "\n"


def _fix_tag(c: Any) -> str:
    parts = []
    if getattr(c, "since", None):
        parts.append(f"since {c.since}")
    if getattr(c, "pr", None) is not None:
        parts.append(f"PR #{c.pr}")
    return f"  [fix: {', '.join(parts)}]" if parts else ""


# --------------------------------------------------------------------------- JSON steps


def _step_json(step: Step, pre: Step | None, order: Mapping[str, int]) -> dict[str, Any]:
    a = step.action
    guard = _enabling(step, pre)
    out: dict[str, Any] = {
        "index": int(step.index),
        "action": a.name if a is not None else "init",
        "actor": a.actor if a is not None else None,
        "args": [_json_value(x) for x in a.args] if a is not None else [],
        "label": step.label,
        "changes": {n: [_json_value(o), _json_value(w)] for n, o, w in ordered_changes(step, order)},
        "guard": [c.name for c in guard],
    }
    fixes = [{"name": c.name, "since": c.since, "pr": c.pr} for c in guard
             if getattr(c, "since", None) or getattr(c, "pr", None) is not None]
    if fixes:
        out["fixes"] = fixes
    if a is None:
        out["state"] = {n: _json_value(v) for n, v in _state_items(step)}
    return out


def to_json_steps(trace: Trace) -> dict[str, Any]:
    """The trace as plain JSON data.

    ``{"vars": [names], "prefix": [step...], "cycle": [step...], "loop": k | None, "stutter": bool,
    "obligations": [str]}``.  Each step is ``{"index", "action" (Action.name, or "init"), "actor",
    "args", "label", "changes": {field: [old, new]}, "guard": [conjunct names]}`` (plus ``"fixes"``
    when a conjunct carries ``since``/``pr``); the initial step also has ``"state"`` (every
    variable).  ``loop`` is the index of the step whose state the cycle returns to (``None`` for a
    finite trace).  Values are bools, ints and strings.
    """
    order = _var_order(trace)
    steps = trace.steps()
    out_steps = [_step_json(s, steps[i - 1] if i else None, order) for i, s in enumerate(steps)]
    n = len(trace.prefix)
    return {
        "vars": [name for name, _ in sorted(order.items(), key=lambda kv: (kv[1], kv[0]))],
        "prefix": out_steps[:n],
        "cycle": out_steps[n:],
        "loop": int(steps[trace.loop_index].index) if trace.lasso and steps else None,
        "stutter": bool(trace.stutter),
        "obligations": list(trace.obligations),
    }


# --------------------------------------------------------------------------- ITF


def _itf_value(v: Any) -> Any:
    v = _json_value(v)
    if isinstance(v, bool) or isinstance(v, str):
        return v
    if isinstance(v, int):
        return {"#bigint": str(v)}
    raise ValueError(f"cannot write {v!r} as an ITF value")  # pragma: no cover


def _from_itf_value(v: Any) -> Any:
    if isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):          # tolerated: some producers write small ints plainly
        return v
    if isinstance(v, dict) and set(v) == {"#bigint"}:
        return int(v["#bigint"])
    raise ValueError(f"unsupported ITF value {json.dumps(v, sort_keys=True)[:80]}: certloop states hold only "
                     f"bools, integers and strings")


def _step_meta(step: Mapping[str, Any]) -> dict[str, Any]:
    meta = {"index": step["index"], "action": step["label"], "name": step["action"], "actor": step["actor"],
            "args": step["args"], "guard": step["guard"]}
    if "fixes" in step:
        meta["fixes"] = step["fixes"]
    return meta


def steps_to_itf(steps: Mapping[str, Any], vars: Sequence[str] | None = None, *, source: str = "certloop",
                 description: str = "") -> dict[str, Any]:
    """JSON steps (:func:`to_json_steps`) as an ITF trace; see the module docstring for lassos."""
    prefix, cycle = list(steps["prefix"]), list(steps["cycle"])
    if not prefix:
        raise ValueError("an ITF trace needs at least the initial state")
    names = list(vars) if vars is not None else list(steps.get("vars") or prefix[0]["state"])
    init = prefix[0].get("state")
    if init is None:
        raise ValueError("the first step carries no 'state': not a to_json_steps() result")
    missing = [n for n in names if n not in init]
    if missing:
        raise ValueError(f"variables {missing[:5]} are not in the initial state")
    cur = dict(init)
    states: list[dict[str, Any]] = []
    all_steps = prefix + cycle
    closing: dict[str, Any] | None = None
    for i, st in enumerate(all_steps):
        for n, (old, new) in st["changes"].items():
            if cur.get(n) != old:
                raise ValueError(f"step {st['index']}: {n} changes from {old!r} but the state holds {cur.get(n)!r}")
            cur[n] = new
        if cycle and i == len(all_steps) - 1:
            closing = st          # its state equals the loop state: not listed again
            break
        state: dict[str, Any] = {"#meta": _step_meta(st)}
        for n in names:
            state[n] = _itf_value(cur[n])
        states.append(state)
    meta: dict[str, Any] = {
        "format": "ITF",
        "format-description": ITF_FORMAT_DESCRIPTION,
        "source": source,
        "description": description or ("lasso counterexample" if steps.get("loop") is not None
                                        else "finite counterexample"),
    }
    if steps.get("obligations"):
        meta["obligations"] = list(steps["obligations"])
    out: dict[str, Any] = {"#meta": meta, "vars": names, "states": states}
    loop = steps.get("loop")
    if loop is not None:
        pos = next((j for j, s in enumerate(all_steps) if s["index"] == loop), None)
        if pos is None:
            raise ValueError(f"loop {loop} is not the index of a step")
        if closing is not None:
            back = {n: _itf_value(cur[n]) for n in names}
            if any(states[pos][n] != back[n] for n in names):
                raise ValueError(f"the last cycle step does not return to the state of step {loop}")
            meta["loop_step"] = _step_meta(closing)
        meta["stutter"] = closing is None
        out["loop"] = pos
    return out


def to_itf(trace: Trace | Mapping[str, Any], vars: Sequence[Any] | None = None, *, source: str = "certloop",
           description: str = "") -> dict[str, Any]:
    """A trace (or its JSON steps) in the Informal Trace Format.

    ``vars`` are the variables to list, in order (``Var`` objects or names; default: every variable
    in declaration order).  Integers are written ``{"#bigint": "n"}``, bools and strings plainly.
    Each state has ``#meta = {"index", "action" (the label), "name", "actor", "args", "guard"}``.
    For a lasso, ``loop`` is the index of the state the behaviour returns to (see the module
    docstring: the cycle's closing state is not listed twice).
    """
    steps = to_json_steps(trace) if isinstance(trace, Trace) else trace
    names = None if vars is None else [v if isinstance(v, str) else v.name for v in vars]
    return steps_to_itf(steps, names, source=source, description=description)


def from_itf(itf: Mapping[str, Any]) -> dict[str, Any]:
    """An ITF trace back to JSON steps (the inverse of :func:`to_itf` on certloop's traces).

    Changes are recomputed from consecutive states (in ``vars`` order); action, actor, arguments
    and guard come from each state's ``#meta`` when present (a foreign trace without them gets
    ``"action": "?"``).
    """
    names = list(itf["vars"])
    states = list(itf["states"])
    if not states:
        raise ValueError("an ITF trace with no state")
    meta = itf.get("#meta", {})
    vals = [{n: _from_itf_value(s[n]) for n in names} for s in states]

    def step_of(i: int, m: Mapping[str, Any], pre: dict | None, post: dict) -> dict[str, Any]:
        first = pre is None
        st: dict[str, Any] = {
            "index": m.get("index", i),
            "action": "init" if first else m.get("name", m.get("action", "?")),
            "actor": None if first else m.get("actor"),
            "args": [] if first else list(m.get("args", [])),
            "label": "init" if first else m.get("action", m.get("name", "?")),
            "changes": {} if pre is None else {n: [pre[n], post[n]] for n in names if pre[n] != post[n]},
            "guard": [] if first else list(m.get("guard", [])),
        }
        if "fixes" in m:
            st["fixes"] = m["fixes"]
        if first:
            st["state"] = dict(post)
        return st

    out_steps = [step_of(i, states[i].get("#meta", {}), vals[i - 1] if i else None, vals[i])
                 for i in range(len(states))]
    loop = itf.get("loop")
    if loop is None:
        return {"vars": names, "prefix": out_steps, "cycle": [], "loop": None, "stutter": False,
                "obligations": list(meta.get("obligations", []))}
    loop = int(loop)
    if not 0 <= loop < len(states):
        raise ValueError(f"ITF loop {loop} is outside 0..{len(states) - 1}")
    prefix, cycle = out_steps[:loop + 1], out_steps[loop + 1:]
    closing = meta.get("loop_step")
    if closing is not None:
        cycle.append(step_of(len(states), closing, vals[-1], vals[loop]))
    elif loop != len(states) - 1:
        # a foreign lasso without the closing action: the last state is followed by states[loop]
        cycle.append(step_of(len(states), {"action": "?", "name": "?"}, vals[-1], vals[loop]))
    return {"vars": names, "prefix": prefix, "cycle": cycle,
            "loop": prefix[-1]["index"], "stutter": not cycle,
            "obligations": list(meta.get("obligations", []))}
