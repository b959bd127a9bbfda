"""Export a model to Promela and run SPIN on it: an independent cross-check of state counts and
liveness verdicts.

Two shapes are printed, both storing **exactly** the model's states (no intermediate states):

* **count / safety** (``property`` is None or an :class:`Always`): one process,
  ``end: do :: d_step { enabled_a -> effect_a } ... od``.  The process never leaves its loop head,
  so a SPIN state is a valuation; with ``-DNOREDUCE -DSAFETY`` (depth-first) SPIN stores exactly
  ``explore(model).n_states`` states and reports ``n_transitions + 1`` transitions (pan counts
  the initial state).
* **liveness** (:class:`LeadsTo`, :class:`Eventually`): one process per weakly fair action
  instance, each parked at its own loop head.  SPIN's ``-f`` weak fairness is per process, so
  this is per-instance weak fairness.  The instances that are *not* fair under the property's
  fairness share one more process with an extra ``:: break``: it may retire at any time, so
  ``-f`` never forces any of them (a behaviour that takes them finitely often retires the process
  after the last step; one that takes some infinitely often keeps it).  Strong fairness has no
  SPIN counterpart and is refused; so are more than 253 weakly fair instances (SPIN runs at most
  255 processes, the never claim included).

Shared conventions:

* Each action is enabled iff ``action.enabled_expr()`` holds: the guard *and* a real change (a
  no-op is not a transition); the change test is left out where Z3 proves the guard implies it.  The effect is a sequence of blocks of simultaneous assignments;
  within a block an assignment whose right side reads a variable already assigned in that block
  goes through a ``hidden`` temporary (hidden globals are not part of the state vector).
* Variables: ``bool`` for Bool, ``byte`` (or ``short``) holding the code for an Enum, and the
  plain value for an IntRange in the smallest of ``byte``/``short``/``int`` that holds it.  Names
  are mangled to ``v<index>_<name>`` (a variable named ``t`` would clash with pan.c).  An
  assignment whose value may leave its range is checked with ``assert``.
* ``%`` is Python's floor modulo: ``((a % k) + k) % k`` unless ``a`` is provably non-negative.
* Several initial states: an ``if`` chooses one (in the liveness shape, in a process of its own
  that the action processes wait for).  This adds one SPIN state, the pre-choice state, which
  :func:`run_spin` subtracts from counts; a ``started`` flag guards the property's propositions
  so that the pre-choice state is invisible to it.
* Properties become never claims, written out as ``spin -f`` prints them for ``!([] p)``,
  ``!([] (p -> <> q))`` and ``!(<> q)``, with ``p``/``q`` as ``#define`` macros: SPIN's LTL parser
  misreads some Promela expressions (``x < (-1)`` lexes as ``<-``, and the conditional
  ``(c -> a : b)`` clashes with implication), and export needs no spin binary.
* Stuttering: certloop lets a behaviour stop in a state where no fair action is enabled.  In SPIN
  such a state is a deadlock once the unfair processes retire; every loop head carries an
  ``end`` label (a valid end state), and SPIN extends a deadlocked run by stuttering (we never
  pass ``-DNOSTUTTER``), so ``<>q`` is violated by a deadlock among ``not q`` states, as in
  certloop.

:func:`run_spin` compiles and runs pan in a temporary directory (never the current one):

* ``spin -o2 -a``: SPIN's dead-variable elimination would reset a variable that no statement
  reads (a variable only written, or only read by properties), merging states: undercounts.
* count: ``gcc -DNOREDUCE -DSAFETY``, ``pan -m<depth> -n`` (depth-first: breadth-first mode
  counts intermediate states; ``-m`` is raised tenfold while pan says it truncated the search).
* liveness: ``gcc -DNOREDUCE -DNFAIR=<k>``, ``pan -a -f -m<depth> -n``, in two builds (default
  storage and ``-DMA``; a SPIN 6.5 ``-f`` run with default storage once missed a fair cycle);
  ``'disagree'`` is reported if their verdicts differ.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from certloop.checker.expr import (
    FALSE, TRUE, Bool, Enum, Expr, IntRange, ModelError, Type, Var, and_, postorder, show, substitute,
    variables,
)
from certloop.checker.spec import Action, Always, Eventually, LeadsTo, Model, Property

__all__ = ["export", "run_spin", "SpinResult", "SpinUnavailable", "SpinError", "spin_available",
           "promela_name", "enabled_expr"]

HOLDS, VIOLATED, DISAGREE = "holds", "violated", "disagree"


class SpinUnavailable(RuntimeError):
    """``spin`` or ``gcc`` is not installed."""


class SpinError(RuntimeError):
    """SPIN, gcc or pan failed (the message carries their output)."""


# --------------------------------------------------------------------------- names and types


def promela_name(v: Var) -> str:
    """The mangled Promela name of a variable: ``v<index>_<sanitised name>``."""
    return f"v{v.index}_" + _ident(v.name)


def _ident(s: str) -> str:
    out = re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_")
    return out or "x"


def _ptype(t: Type) -> str:
    if t is Bool:
        return "bool"
    lo, hi = _bounds(t)
    if 0 <= lo and hi <= 255:
        return "byte"
    if -32768 <= lo and hi <= 32767:
        return "short"
    if -(2 ** 31) <= lo and hi < 2 ** 31:
        return "int"
    raise ModelError(f"promela: type {t!r} does not fit a Promela int")


def _bounds(t: Type) -> tuple[int, int]:
    if t is Bool:
        return 0, 1
    if isinstance(t, IntRange):
        return t.lo, t.hi
    if isinstance(t, Enum):
        return 0, t.size - 1
    raise ModelError(f"promela: no bounds for type {t!r}")


def _code(v: Var, value: Any) -> int:
    """The Promela value of a decoded value of ``v``."""
    t = v.type
    if t is Bool:
        return int(bool(value))
    if isinstance(t, Enum):
        return t.encode(value)
    return int(value)


# --------------------------------------------------------------------------- expressions


_MAX_TEXT = 1_000_000
_MAX_PROCS = 255          # pan: "too many processes" beyond this


class _Printer:
    """Promela text of expressions (trees: Promela has no let), with interval bounds of ints."""

    def __init__(self) -> None:
        self._text: dict[int, str] = {}
        self._iv: dict[int, tuple[int, int]] = {}
        self._keep: list[Expr] = []

    def interval(self, e: Expr) -> tuple[int, int]:
        """Bounds of an integer (or code) expression's value."""
        self.text(e)
        return self._iv[id(e)]

    def text(self, e: Expr) -> str:
        hit = self._text.get(id(e))
        if hit is not None:
            return hit
        for n in postorder(e):
            if id(n) in self._text:
                continue
            self._keep.append(n)
            s, iv = self._node(n)
            if len(s) > _MAX_TEXT:
                raise ModelError(f"promela: an expression prints to more than {_MAX_TEXT} characters "
                                 "(Promela has no let: a shared DAG is printed as a tree)")
            self._text[id(n)] = s
            self._iv[id(n)] = iv
        return self._text[id(e)]

    def _node(self, n: Expr) -> tuple[str, tuple[int, int]]:
        op = n.op
        if op == "const":
            if n.type is Bool:
                return ("true" if n.value else "false"), (int(n.value), int(n.value))
            c = n.type.encode(n.value) if isinstance(n.type, Enum) else int(n.value)
            return (str(c) if c >= 0 else f"({c})"), (c, c)
        if op == "var":
            return promela_name(n.var), _bounds(n.var.type)  # type: ignore[union-attr]
        if op == "prime":
            raise ModelError(f"promela: {show(n)} reads the next state; action properties are not exported")
        a = [self._text[id(x)] for x in n.args]
        iv = [self._iv[id(x)] for x in n.args]
        if op == "not":
            return f"!{a[0]}", (0, 1)
        if op == "and":
            return "(" + " && ".join(a) + ")", (0, 1)
        if op == "or":
            return "(" + " || ".join(a) + ")", (0, 1)
        if op in ("==", "!=", "<", "<="):
            return f"({a[0]} {op} {a[1]})", (0, 1)
        if op == "+":
            return f"({a[0]} + {a[1]})", (iv[0][0] + iv[1][0], iv[0][1] + iv[1][1])
        if op == "-":
            return f"({a[0]} - {a[1]})", (iv[0][0] - iv[1][1], iv[0][1] - iv[1][0])
        if op == "%":
            k = int(n.args[1].value)
            if iv[0][0] >= 0:
                lo, hi = (iv[0][0], iv[0][1]) if iv[0][1] < k else (0, k - 1)
                return f"({a[0]} % {k})", (lo, hi)
            return f"((({a[0]} % {k}) + {k}) % {k})", (0, k - 1)
        if op == "ite":
            return f"({a[0]} -> {a[1]} : {a[2]})", (min(iv[1][0], iv[2][0]), max(iv[1][1], iv[2][1]))
        raise ModelError(f"promela: unknown operator {op!r}")


# --------------------------------------------------------------------------- export


@dataclass
class _Plan:
    """Everything :func:`export` decided, reused by :func:`run_spin`."""

    text: str
    shape: str                       # "count" or "liveness"
    n_inits: int
    prop: Property | None
    vector_estimate: int
    n_procs: int


def _resolve(model: Model, prop: Property | str | None) -> Property | None:
    if prop is None or isinstance(prop, Property):
        return prop
    return model.property(prop)


def _distinct_inits(model: Model) -> list[dict[Var, Any]]:
    out: list[dict[Var, Any]] = []
    seen: set[tuple[int, ...]] = set()
    for st in model.inits:
        key = tuple(_code(v, st[v]) for v in model.schema.vars)
        if key not in seen:
            seen.add(key)
            out.append(st)
    return out


class _Effects:
    """Prints effects, allocating hidden temporaries (shared by all actions)."""

    def __init__(self, pr: _Printer, domain_asserts: bool):
        self.pr = pr
        self.asserts = domain_asserts
        self.n_temps = 0

    def block(self, blk: Sequence[tuple[Var, Expr]]) -> list[str]:
        """Statements for one block of simultaneous assignments."""
        pre: list[str] = []
        post: list[str] = []
        assigned: set[Var] = set()
        k = 0
        for v, e in blk:
            val = self.pr.text(e)
            lo, hi = _bounds(v.type)
            need_check = self.asserts and v.type is not Bool and not (lo <= self.pr.interval(e)[0]
                                                                     and self.pr.interval(e)[1] <= hi)
            if need_check or (variables(e) & assigned):
                t = f"w_t{k}"
                k += 1
                pre.append(f"{t} = {val}")
                if need_check:
                    pre.append(f"assert({lo} <= {t} && {t} <= {hi})")
                val = t
            post.append(f"{promela_name(v)} = {val}")
            assigned.add(v)
        self.n_temps = max(self.n_temps, k)
        return pre + post

    def action(self, a: Action) -> list[str]:
        out: list[str] = []
        for blk in a.effect:
            out.extend(self.block(blk))
        return out


def enabled_expr(a: Action, prove: bool = True) -> Expr:
    """``a.enabled_expr()``, with the no-op test simplified, or dropped where it is implied.

    A guard conjunct ``v == c``, ``v`` or ``not v`` fixes ``v`` wherever the action is enabled, so
    substituting it into the change test is sound; it often folds the test to true.  What remains
    is dropped when Z3 proves that the guard implies it (``prove``): the change test compares the
    composed post-state with the state, which Promela prints as a tree (the composed effect of an
    action that carries the detailed GC's observation blocks prints to ~100-200 KB, and gcc then
    takes minutes on pan.c); on every cert-manager configuration it is implied for every action.
    """
    facts: dict[Var, Expr] = {}
    for c in a.guard:
        parts = c.expr.args if c.expr.op == "and" else (c.expr,)
        for e in parts:
            if e.op == "var":
                facts[e.var] = TRUE  # type: ignore[index]
            elif e.op == "not" and e.args[0].op == "var":
                facts[e.args[0].var] = FALSE  # type: ignore[index]
            elif e.op == "==":
                x, y = e.args
                if x.op == "const":
                    x, y = y, x
                if x.op == "var" and y.op == "const":
                    facts[x.var] = y  # type: ignore[index]
    changes = substitute(a.changes_expr(), lambda v: facts.get(v))
    if prove and changes is not TRUE and _implied(a.guard_expr, changes):
        return a.guard_expr
    return and_(a.guard_expr, changes)


def _implied(guard: Expr, changes: Expr) -> bool:
    """Does Z3 prove ``guard => changes`` (within the domains) in a few seconds?"""
    from certloop.checker.smt import Smt, SmtUnknown
    try:
        ok, _ = Smt(timeout_ms=5000).implies(guard, changes)
    except SmtUnknown:
        return False
    return ok


def export(model: Model, property: Property | str | None = None, *, domain_asserts: bool = True) -> str:
    """The Promela text of ``model`` (see the module docstring for the two shapes).

    Parameters
    ----------
    model:
        Any model; strong fairness is refused in the liveness shape.
    property:
        None for the count shape; an :class:`Always` adds a never claim for ``[] p`` to the count shape;
        a :class:`LeadsTo` (``[] (p -> <> q)``) or :class:`Eventually` (``<> q``) selects the
        liveness shape.  A name is looked up in ``model.properties``.
    domain_asserts:
        Guard assignments that may leave an IntRange with ``assert``.
    """
    return _plan(model, property, domain_asserts).text


def _plan(model: Model, property: Property | str | None, domain_asserts: bool = True) -> _Plan:
    model.validate()
    prop = _resolve(model, property)
    if prop is not None and not isinstance(prop, (Always, LeadsTo, Eventually)):
        raise ModelError(f"promela: cannot export property {prop.name!r} of kind {prop.kind!r}; "
                         "supported: always, leads-to, eventually")
    shape = "liveness" if isinstance(prop, (LeadsTo, Eventually)) else "count"
    fair: dict[int, str] = {}
    if shape == "liveness":
        for a in model.actions:
            k = prop.fairness.kind(a)  # type: ignore[union-attr]
            if k == "strong":
                raise ModelError(f"promela: {a.label} is strongly fair under {prop.fairness.name!r}; "  # type: ignore[union-attr]
                                 "SPIN only has weak fairness (-f)")
            fair[a.index] = k
    inits = _distinct_inits(model)
    multi = len(inits) > 1
    pr = _Printer()
    eff = _Effects(pr, domain_asserts)
    vs = model.schema.vars

    body: list[str] = []
    # ---- actions
    guards = {a.index: pr.text(enabled_expr(a)) for a in model.actions}
    effects = {a.index: eff.action(a) for a in model.actions}

    def dstep(a: Action) -> str:
        stmts = "; ".join(effects[a.index])
        return f"d_step {{ {guards[a.index]} -> {stmts} }}"

    def init_choice(indent: str) -> list[str]:
        out = [f"{indent}if"]
        for st in inits:
            sets = "; ".join(f"{promela_name(v)} = {_code(v, st[v])}" for v in vs)
            out.append(f"{indent}:: d_step {{ {sets}; started = true }}")
        out.append(f"{indent}fi;")
        return out

    first = inits[0]
    header = [
        f"/* certloop export of {model.name} */",
        f"/* shape: {shape}" + (f"; property {prop.name} ({prop.kind})" if prop is not None else "") + " */",
        "/* variables (Promela name: model name : type [enum codes]) */",
    ]
    for v in vs:
        extra = ""
        if isinstance(v.type, Enum):
            extra = " " + ", ".join(f"{i}={x}" for i, x in enumerate(v.type.values))
        header.append(f"/*   {promela_name(v)}: {_comment(v.name)} : {v.type!r}{_comment(extra)} */")
    decls = []
    for v in vs:
        decls.append(f"{_ptype(v.type)} {promela_name(v)} = {_code(v, first[v])};")
    if multi:
        decls.append("bool started = false;")
    for k in range(eff.n_temps):
        decls.append(f"hidden int w_t{k};")

    if shape == "count":
        body.append("active proctype main() {")
        if multi:
            body.extend(init_choice("  "))
        body.append("end_loop:")
        body.append("  do")
        for a in model.actions:
            body.append(f"  /* {a.index}: {_comment(a.label)} */")
            body.append(f"  :: {dstep(a)}")
        body.append("  od")
        body.append("}")
    else:
        if multi:
            # the choice of initial state is its own process; the action processes wait for it
            body.append("active proctype init_choice() {")
            body.extend(init_choice("  "))
            body.append("}")
        unfair = [a for a in model.actions if fair[a.index] == "none"]
        for a in model.actions:
            if fair[a.index] == "none":
                continue
            name = f"a{a.index}_{_ident(a.label)}"[:60]
            body.append(f"/* {a.index}: {_comment(a.label)}, fairness {fair[a.index]} */")
            body.append(f"active proctype {name}() {{")
            if multi:
                body.append("  started;")
            body.append("end_loop:")
            body.append("  do")
            body.append(f"  :: {dstep(a)}")
            body.append("  od")
            body.append("}")
        if unfair:
            # -f never forces this process: it may retire for good at any time (break), so each
            # unfair instance is taken finitely or infinitely often, as the behaviour chooses
            body.append("/* the action instances without fairness, in one process */")
            body.append("active proctype unfair() {")
            if multi:
                body.append("  started;")
            body.append("end_loop:")
            body.append("  do")
            for a in unfair:
                body.append(f"  /* {a.index}: {_comment(a.label)} */")
                body.append(f"  :: {dstep(a)}")
            body.append("  :: break")
            body.append("  od")
            body.append("}")

    claim: list[str] = []
    if prop is not None:
        # Never claims as `spin -f` prints them for the three formula shapes, written out here so
        # that the propositions may use any Promela expression (the LTL parser misreads some,
        # e.g. `x < (-1)` and the conditional `(c -> a : b)`), and export needs no spin binary.
        guard = "started && " if multi else ""
        if isinstance(prop, Always):
            claim += [f"#define prop_p ({'!started || ' if multi else ''}{pr.text(prop.expr)})",
                      f"never {{    /* {prop.name}: !([] prop_p) */",
                      "T0_init:",
                      "\tdo",
                      "\t:: atomic { (! ((prop_p))) -> assert(!(! ((prop_p)))) }",
                      "\t:: (1) -> goto T0_init",
                      "\tod;",
                      "accept_all:",
                      "\tskip",
                      "}"]
        elif isinstance(prop, LeadsTo):
            claim += [f"#define prop_p ({guard}{pr.text(prop.p)})",
                      f"#define prop_q ({guard}{pr.text(prop.q)})",
                      f"never {{    /* {prop.name}: !([] (prop_p -> <> prop_q)) */",
                      "T0_init:",
                      "\tdo",
                      "\t:: (! ((prop_q)) && (prop_p)) -> goto accept_S4",
                      "\t:: (1) -> goto T0_init",
                      "\tod;",
                      "accept_S4:",
                      "\tdo",
                      "\t:: (! ((prop_q))) -> goto accept_S4",
                      "\tod;",
                      "}"]
        else:
            claim += [f"#define prop_q ({guard}{pr.text(prop.q)})",
                      f"never {{    /* {prop.name}: !(<> prop_q) */",
                      "accept_init:",
                      "T0_init:",
                      "\tdo",
                      "\t:: (! ((prop_q))) -> goto T0_init",
                      "\tod;",
                      "}"]

    est = sum(2 if _ptype(v.type) == "short" else 4 if _ptype(v.type) == "int" else 1 for v in vs)
    est += 4 * (len(model.actions) + 2) + 16
    text = "\n".join(header + decls + [""] + body + ([""] if claim else []) + claim) + "\n"
    n_procs = 1
    if shape == "liveness":
        n_procs = sum(1 for k in fair.values() if k != "none") + int("none" in fair.values()) + int(multi)
        if n_procs + 1 > _MAX_PROCS:
            raise ModelError(f"promela: {n_procs} processes (one per fair action instance) and the never "
                             f"claim exceed SPIN's limit of {_MAX_PROCS}")
    return _Plan(text, shape, len(inits), prop, est, n_procs)


def _comment(s: str) -> str:
    return s.replace("*/", "* /")


# --------------------------------------------------------------------------- running


@dataclass
class SpinResult:
    """What one SPIN run found.

    In count mode ``states``/``transitions`` are the model's, comparable with
    ``explore(model).n_states``/``.n_transitions`` (pan's "transitions" minus the initial state;
    a multi-init export's pre-choice state and choice steps are subtracted); they are partial when
    an :class:`Always` property is violated (pan stops at the first error).  In liveness mode they
    are pan's raw counts for the product with the never claim (first build).  pan prints counts
    with 8 significant digits, so above 10**8 they are approximate.  ``verdict`` is
    ``'holds'``/``'violated'`` (``'disagree'`` when liveness builds differ; see ``verdicts``,
    keyed by compiler flags), None in count mode without a property.
    """

    states: int
    transitions: int
    verdict: str | None
    seconds_compile: float
    seconds_run: float
    raw_output: str
    depth: int = 0
    vector_bytes: int = 0
    verdicts: dict[str, str] = field(default_factory=dict)
    workdir: str = ""


def spin_available() -> bool:
    """True iff both ``spin`` and ``gcc`` are on the PATH."""
    return shutil.which("spin") is not None and shutil.which("gcc") is not None


def _run(cmd: list[str], cwd: str, timeout: float | None) -> str:
    """Run a tool in its own process group: on a timeout the whole group is killed (gcc's cc1 is
    a grandchild that would otherwise keep compiling after gcc is gone)."""
    p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        stdout, stderr = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as err:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:  # pragma: no cover - it ended in between
            pass
        p.communicate()
        raise SpinError(f"{' '.join(cmd)}: timed out after {timeout} s") from err
    except BaseException:            # Ctrl-C: leave nothing running behind
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:  # pragma: no cover
            pass
        p.communicate()
        raise
    out = stdout + stderr
    if p.returncode != 0 and not (cmd[0].startswith("./pan") and "errors:" in out):
        raise SpinError(f"{' '.join(cmd)} failed (exit {p.returncode}) in {cwd}:\n{out[-4000:]}")
    return out


_NUM = r"([0-9.e+]+)"


def _parse(out: str) -> dict[str, Any]:
    def num(pat: str) -> int:
        m = re.search(pat, out)
        if m is None:
            raise SpinError(f"cannot find {pat!r} in pan's output:\n{out[-4000:]}")
        return int(float(m.group(1)))
    return {
        "states": num(_NUM + r" states, stored"),
        "transitions": num(_NUM + r" transitions"),
        "errors": num(r"errors: (\d+)"),
        "depth": num(r"depth reached (\d+)"),
        "vector": num(r"State-vector (\d+) byte"),
    }


def _run_pan(exe: str, max_depth: int, hash_bits: int | None, args: list[str], cwd: str,
             timeout: float | None) -> tuple[str, float]:
    """Run pan, raising ``-m`` tenfold while pan says the depth limit truncated the search."""
    depth = max_depth
    wflag = [f"-w{hash_bits}"] if hash_bits else []
    while True:
        t0 = time.monotonic()
        out = _run([f"./{exe}", f"-m{depth}", *wflag, *args], cwd, timeout)
        seconds = time.monotonic() - t0
        if "max search depth too small" not in out:
            return out, seconds
        if depth >= 10 ** 9:
            raise SpinError(f"pan: max search depth too small even at -m{depth}")
        depth *= 10


def run_spin(model: Model, workdir: str | None = None, mode: str = "count",
             property: Property | str | None = None, *, max_depth: int = 1_000_000,
             hash_bits: int | None = None, timeout: float | None = 3600.0, optimize: str = "-O2",
             builds: Sequence[str] | None = None) -> SpinResult:
    """Export ``model``, run ``spin -a``, compile pan with gcc and run it.

    Parameters
    ----------
    model:
        The model.
    workdir:
        A directory to work in (created if missing); default a fresh temporary directory,
        removed afterwards.  Never the current directory unless asked for explicitly.
    mode:
        ``'count'``: ``-DNOREDUCE -DSAFETY`` depth-first search, exact state count (with an
        :class:`Always` property, its verdict too).  ``'liveness'``: ``-DNOREDUCE``, ``pan -a -f``
        on a :class:`LeadsTo`/:class:`Eventually` property, two storage builds.
    property:
        A property or its name (required in liveness mode).
    max_depth:
        pan's ``-m``; raised tenfold (up to 10**9) and rerun when pan reports it too small.
    hash_bits:
        pan's ``-w`` (log2 of hash-table slots; pan's default is 24, i.e. 128 MB).  Storage stays
        exact whatever the size (collisions are chained); small models run faster with ~16.
    optimize:
        gcc's optimisation flag for pan (``-O0`` compiles fastest, for small models).
    builds:
        Extra compiler flags per build (liveness default: ``["", "-DMA=<vector>"]``).

    Raises
    ------
    SpinUnavailable
        ``spin`` or ``gcc`` is missing.
    SpinError
        a tool failed, or pan hit an error other than the property's violation.
    """
    if mode not in ("count", "liveness"):
        raise ValueError(f"mode must be 'count' or 'liveness', not {mode!r}")
    if not spin_available():
        raise SpinUnavailable("spin and gcc are needed on the PATH to run SPIN")
    prop = _resolve(model, property)
    if mode == "liveness" and not isinstance(prop, (LeadsTo, Eventually)):
        raise ModelError("liveness mode needs a LeadsTo or Eventually property")
    if mode == "count" and prop is not None and not isinstance(prop, Always):
        raise ModelError("count mode takes no property or an Always property")
    plan = _plan(model, prop)
    vecsz = max(1024, 2 * plan.vector_estimate + 64)
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="certloop-spin-")
        workdir = tmp.name
    os.makedirs(workdir, exist_ok=True)
    try:
        with open(os.path.join(workdir, "model.pml"), "w") as f:
            f.write(plan.text)
        base = ["-DNOREDUCE", f"-DVECTORSZ={vecsz}"]
        if mode == "liveness":
            base.append(f"-DNFAIR={(plan.n_procs + 6) // 4 + 1}")   # -f allows 4*NFAIR-2 processes (claim included)
        if mode == "count":
            base.append("-DSAFETY")
            pan_args = ["-n"]
        else:
            pan_args = ["-a", "-f", "-n"]
        results: list[tuple[str, float, float, str, dict[str, Any]]] = []
        flag_sets = list(builds) if builds is not None else ([""] if mode == "count" else ["", "MA"])
        t0 = time.monotonic()
        # -o2: no dead-variable elimination; SPIN would otherwise reset a variable that no action
        # reads, merging states that certloop keeps apart
        _run(["spin", "-o2", "-a", "model.pml"], workdir, timeout)
        spin_seconds = time.monotonic() - t0
        for k, flags in enumerate(flag_sets):
            if flags == "MA":
                vec = results[0][4]["vector"] if results else vecsz
                flags = f"-DMA={vec + 8}"
            exe = f"pan{k}"
            t0 = time.monotonic()
            _run(["gcc", optimize, *base, *flags.split(), "-o", exe, "pan.c"], workdir, timeout)
            sc = time.monotonic() - t0 + (spin_seconds if k == 0 else 0.0)
            out, sr = _run_pan(exe, max_depth, hash_bits, pan_args, workdir, timeout)
            info = _parse(out)
            msgs = re.findall(r"^pan:\d+: (.*)$", out, re.M)
            if "out of memory" in out or "MEMLIM" in out:
                raise SpinError(f"pan ran out of memory:\n{out[-4000:]}")
            if info["errors"]:
                # a safety claim fails as "assertion violated !(p)"; domain asserts name a w_t temp
                prop_msgs = [x for x in msgs if "acceptance cycle" in x or "claim violated" in x
                             or ("assertion violated" in x and "w_t" not in x)]
                if prop is None or not prop_msgs:
                    raise SpinError(f"pan found an error that is not the property's ({msgs}):\n{out[-4000:]}")
            results.append((flags, sc, sr, out, info))
        first = results[0][4]
        verdicts: dict[str, str] = {}
        for flags, _, _, out, info in results:
            if prop is not None:
                verdicts[flags or "default"] = VIOLATED if info["errors"] else HOLDS
        verdict: str | None = None
        if verdicts:
            vs = set(verdicts.values())
            verdict = vs.pop() if len(vs) == 1 else DISAGREE
        states, trans = first["states"], first["transitions"]
        if mode == "count":
            trans -= 1                  # pan counts the initial state as a transition
            if plan.n_inits > 1:
                states -= 1             # the pre-choice state
                trans -= plan.n_inits   # the choice steps
        raw = "\n".join(f"==== build {flags or 'default'}\n{out}" for flags, _, _, out, _ in results)
        return SpinResult(states, trans, verdict, sum(r[1] for r in results), sum(r[2] for r in results),
                          raw, first["depth"], first["vector"], verdicts, "" if tmp else workdir)
    finally:
        if tmp is not None:
            tmp.cleanup()
