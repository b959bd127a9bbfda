"""Models as data: variables, initial states, guarded actions, fairness and properties.

A model is declarative.  An :class:`Action` is a conjunction of named :class:`Conjunct` s and an
effect written as a sequence of *blocks*; each block is a set of simultaneous assignments, and
blocks run one after the other (so a write followed by a cache refresh is two blocks).  An action
whose effect would leave the state unchanged is **not a transition**: it counts as disabled
(:meth:`Action.enabled_expr`).  Stutter steps never take or enable an action.

>>> from certloop.checker.expr import Schema, IntRange
>>> from certloop.checker.spec import Model, Conjunct
>>> sch = Schema(); x = sch.declare("x", IntRange(0, 2))
>>> m = Model("counter", sch)
>>> a = m.add_action("counter.inc", "counter", guard=[Conjunct("below_max", "x is below 2", x.ref < 2)],
...                  effect=[{x: x.ref + 1}], fairness="weak")
>>> a.label
'counter.inc'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from certloop.checker.expr import (
    Expr, ModelError, Schema, Var, and_, or_, show, substitute, TRUE, lift, compatible, postorder,
)

__all__ = [
    "Conjunct", "Action", "Model", "Fairness", "Property", "Always", "ActionAlways",
    "Sometimes", "SometimesAction", "LeadsTo", "Eventually", "FairCycleFree", "FAIRNESS_KINDS",
]

FAIRNESS_KINDS = ("none", "weak", "strong")


@dataclass(frozen=True)
class Conjunct:
    """One named conjunct of a guard, with a one-line English gloss.

    ``since``/``pr`` tag a conjunct that a fix introduced (e.g. ``since="v1.17.0", pr=7361``).
    """

    name: str
    gloss: str
    expr: Expr
    since: str | None = None
    pr: int | None = None

    def __post_init__(self) -> None:
        if not self.name.replace("_", "").isalnum():
            raise ModelError(f"conjunct name {self.name!r} must be an identifier")
        if not isinstance(self.expr, Expr) or self.expr.type.name != "bool":
            hint = " (a Python value: was == used instead of .eq()?)" if not isinstance(self.expr, Expr) else ""
            raise ModelError(f"conjunct {self.name}: expected a bool expression, got {self.expr!r}{hint}")


Block = tuple[tuple[Var, Expr], ...]


@dataclass
class Action:
    """One action *instance*: a transition with fixed arguments.

    ``name`` reads ``<actor>.<verb>_<object>``; ``label`` adds the arguments.
    """

    name: str
    actor: str
    args: tuple[Any, ...]
    guard: tuple[Conjunct, ...]
    effect: tuple[Block, ...]
    fairness: str = "none"
    tags: frozenset[str] = frozenset()
    doc: str = ""
    index: int = -1

    @property
    def label(self) -> str:
        if not self.args:
            return self.name
        return f"{self.name}({', '.join(str(a) for a in self.args)})"

    @property
    def guard_expr(self) -> Expr:
        return and_(*[c.expr for c in self.guard])

    @property
    def writes(self) -> set[Var]:
        """The declared write set: every variable assigned in some block."""
        return {v for b in self.effect for v, _ in b}

    def final_values(self) -> dict[Var, Expr]:
        """The value of each written variable after all blocks, as an expression of the pre-state."""
        cur: dict[Var, Expr] = {}
        for block in self.effect:
            new = {v: substitute(e, lambda u: cur.get(u)) for v, e in block}
            cur.update(new)
        return cur

    def changes_expr(self) -> Expr:
        """True iff the effect changes the state (the no-op rule)."""
        return or_(*[e.ne(v.ref) for v, e in self.final_values().items()])

    def enabled_expr(self) -> Expr:
        """Guard and a real change: the action's enabling condition as every back end sees it."""
        return and_(self.guard_expr, self.changes_expr())


@dataclass(frozen=True)
class Fairness:
    """A named fairness assumption: a rule giving each action instance none/weak/strong.

    ``lines`` is the human-readable statement printed with every liveness verdict.
    """

    name: str
    lines: tuple[str, ...]
    rule: Callable[[Action], str]

    def kind(self, a: Action) -> str:
        k = self.rule(a)
        if k not in FAIRNESS_KINDS:
            raise ModelError(f"fairness {self.name}: kind {k!r} for {a.label}; valid: {FAIRNESS_KINDS}")
        return k


DECLARED = Fairness("declared", ("each action instance with the fairness it was declared with",),
                    lambda a: a.fairness)


@dataclass
class Property:
    name: str
    doc: str = ""

    kind = "property"


@dataclass
class Always(Property):
    """A state invariant: ``expr`` holds in every reachable state."""

    expr: Expr = TRUE
    kind = "always"


@dataclass
class ActionAlways(Property):
    """An action invariant: for every transition of an action in ``applies``, ``expr`` holds.

    ``expr`` reads the pre-state with plain variables and the post-state with ``prime``.
    """

    expr: Expr = TRUE
    applies: Callable[[Action], bool] = lambda a: True
    kind = "action-always"


@dataclass
class Sometimes(Property):
    """Reachability: some reachable state satisfies ``expr`` (answered with an example)."""

    expr: Expr = TRUE
    kind = "sometimes"


@dataclass
class SometimesAction(Property):
    """Reachability of a transition: some transition of an action in ``applies`` satisfies
    ``expr`` (pre-state plain, post-state primed); answered with a shortest example."""

    expr: Expr = TRUE
    applies: Callable[[Action], bool] = lambda a: True
    kind = "sometimes-action"


@dataclass
class LeadsTo(Property):
    """``p ~> q``: every fair behaviour in which ``p`` holds eventually reaches ``q`` afterwards."""

    p: Expr = TRUE
    q: Expr = TRUE
    fairness: Fairness = DECLARED
    kind = "leads-to"


@dataclass
class Eventually(Property):
    """``<>q`` from the initial states under fairness."""

    q: Expr = TRUE
    fairness: Fairness = DECLARED
    kind = "eventually"


@dataclass
class FairCycleFree(Property):
    """After ``premise``, no fair cycle takes an edge matching (``applies``, ``edge``).

    ``edge`` reads pre- and post-state like :class:`ActionAlways`.  This is ``premise ~> [] not E``
    for an action predicate E (e.g. "no CertificateRequest is created forever").
    """

    premise: Expr = TRUE
    edge: Expr = TRUE
    applies: Callable[[Action], bool] = lambda a: True
    fairness: Fairness = DECLARED
    kind = "fair-cycle-free"


class Model:
    """Variables, initial states, action instances and properties."""

    def __init__(self, name: str, schema: Schema, doc: str = ""):
        self.name = name
        self.schema = schema
        self.doc = doc
        self.actions: list[Action] = []
        self.inits: list[dict[Var, Any]] = []
        self.properties: list[Property] = []
        self.check_deadlock = False
        self.info: dict[str, Any] = {}

    # ---- building
    def add_action(self, name: str, actor: str, *, guard: Sequence[Conjunct | tuple[str, str, Expr]] = (),
                   effect: Sequence[Mapping[Var, Any]] = (), args: Sequence[Any] = (),
                   fairness: str = "none", tags: Iterable[str] = (), doc: str = "") -> Action:
        """Add one action instance.  ``effect`` is a list of blocks ``{var: expr}``."""
        if fairness not in FAIRNESS_KINDS:
            raise ModelError(f"action {name}: fairness {fairness!r}; valid: {FAIRNESS_KINDS}")
        conj = tuple(c if isinstance(c, Conjunct) else Conjunct(*c) for c in guard)
        names = [c.name for c in conj]
        if len(set(names)) != len(names):
            raise ModelError(f"action {name}: duplicate conjunct names {names}")
        blocks: list[Block] = []
        for b in effect:
            items = []
            for v, e in b.items():
                if not isinstance(v, Var):
                    raise ModelError(f"action {name}: assignment target {v!r} is not a variable")
                ex = lift(e, v.type)
                if not compatible(v.type, ex.type):
                    raise ModelError(f"action {name}: {v.name} := {show(ex)} has type {ex.type!r}, "
                                     f"expected {v.type!r}")
                if any(n.op == "prime" for n in postorder(ex)):
                    raise ModelError(f"action {name}: the effect on {v.name} reads the next state")
                items.append((v, ex))
            if items:
                blocks.append(tuple(items))
        for c in conj:
            if c.expr.type.name != "bool":
                raise ModelError(f"action {name}: conjunct {c.name} is not a bool")
        a = Action(name, actor, tuple(args), conj, tuple(blocks), fairness, frozenset(tags), doc,
                   index=len(self.actions))
        if any(x.label == a.label for x in self.actions):
            raise ModelError(f"two action instances are labelled {a.label!r}")
        self.actions.append(a)
        return a

    def add_init(self, values: Mapping[Var | str, Any] | None = None) -> None:
        """Add an initial state: unspecified variables take their declared ``init``."""
        st = {v: v.init for v in self.schema.vars}
        for k, val in (values or {}).items():
            v = self.schema[k] if isinstance(k, str) else k
            v.type.encode(val)
            st[v] = val
        self.inits.append(st)

    def add_property(self, p: Property) -> Property:
        if any(q.name == p.name for q in self.properties):
            raise ModelError(f"property {p.name!r} defined twice")
        self.properties.append(p)
        return p

    def property(self, name: str) -> Property:
        for p in self.properties:
            if p.name == name:
                return p
        raise ModelError(f"unknown property {name!r}; available: {[p.name for p in self.properties]}")

    def validate(self) -> None:
        if not self.inits:
            raise ModelError(f"model {self.name} has no initial state")
        if not self.actions:
            raise ModelError(f"model {self.name} has no action")
