"""The Kubernetes API server: objects, DELETE with propagation policies, finalizers, create.

Upstream: kubernetes/kubernetes (v1.31–v1.33; the rules below are unchanged across them)
  - staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go
      Store.Delete, deletionFinalizersForGarbageCollection, markAsDeleting (K1, K3);
      Store.Update / ShouldDeleteDuringUpdate (K2); Store.create (K6, AlreadyExists)
  - staging/src/k8s.io/apiserver/pkg/registry/rest/delete.go  BeforeDelete (K3: only graceful
    kinds short-circuit a second DELETE)
  - staging/src/k8s.io/apimachinery/pkg/api/validation/objectmeta.go  ValidateNoNewFinalizers (K4)
  - staging/src/k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle/admission.go (K7)
  - MODEL.md §2.1 and §4.1–§4.3.

Not modelled: graceful deletion (Pods), resourceVersion values (a view is "current" iff it equals
the live record, which is what an RV precondition checks, K9), generateName collisions (never
happen), admission webhooks, RBAC, server-side-apply field ownership.

State (MODEL.md §4.1).  One Certificate ``C``; three CertificateRequest *name slots* ``CR[0..2]``
(the CR of revision r lives in slot r mod 3, so re-creating a revision hits the same name, K6);
the next-private-key Secret ``K``; the spec Secret ``S``.  An absent record keeps only its
incarnation counter ``inc``; every other field reads as its default.

Every write helper returns nothing: it records conditional assignments in a :class:`Writes`
block, so one action is a set of simultaneous assignments, as the engine requires.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from certloop.checker.expr import (
    Bool, Enum, Expr, FALSE, IntRange, ModelError, Record, Schema, TRUE, Var, and_, const, ite, lift,
    or_,
)

__all__ = ["PHASE", "Obj", "Writes", "Cluster", "DEPENDENTS", "OBJECTS", "REV_MOD", "SLOTS", "KEYS"]

PHASE = Enum("Phase", ("Pending", "Issued", "Failed"))
SLOTS = 3          # CertificateRequest name slots
REV_MOD = 6        # status.revision mod 6 tells revision r+1 from r-2 in one slot (MODEL.md §4.1)
KEYS = 3           # private keys are minted modulo 3
INC = 2            # incarnations modulo 2

CR_NAMES = tuple(f"CR[{s}]" for s in range(SLOTS))
DEPENDENTS = CR_NAMES + ("K", "S")
OBJECTS = DEPENDENTS + ("C",)

# Field types of each kind of object.  C has no `inc`: it is never re-created.
C_FIELDS: dict[str, Any] = {
    "present": Bool, "delTS": Bool, "fg": Bool, "orphan": Bool, "test": Bool,
    "issuing": Bool, "nextKeySet": Bool, "rev": IntRange(0, REV_MOD - 1), "failed": Bool,
}
CR_FIELDS: dict[str, Any] = {
    "present": Bool, "inc": IntRange(0, INC - 1), "rev": IntRange(0, REV_MOD - 1), "delTS": Bool,
    "fin": Bool, "phase": PHASE, "key": IntRange(0, KEYS - 1), "ref": Bool,
}
SECRET_FIELDS: dict[str, Any] = {
    "present": Bool, "inc": IntRange(0, INC - 1), "key": IntRange(0, KEYS - 1), "ref": Bool,
}
# Defaults of fields a kind does not have (K and S never carry finalizers, so never delTS).
DEFAULTS: dict[str, Any] = {
    "present": False, "inc": 0, "delTS": False, "fg": False, "orphan": False, "test": False,
    "fin": False, "issuing": False, "nextKeySet": False, "rev": 0, "failed": False,
    "phase": "Pending", "key": 0, "ref": False, "dd": False,
}
FIELD_TYPES: dict[str, Any] = {**C_FIELDS, **CR_FIELDS, **SECRET_FIELDS, "dd": Bool}


def fields_of(name: str) -> dict[str, Any]:
    if name == "C":
        return C_FIELDS
    if name.startswith("CR"):
        return CR_FIELDS
    return SECRET_FIELDS


class Obj:
    """A record (live object, or one process's cached copy of it) as expressions.

    Reading a field the record does not store gives its constant default, so ``K.delTS`` is
    simply false.  ``var(f)`` is the variable to assign.
    """

    def __init__(self, name: str, rec: Record | None, alias: "Obj | None" = None):
        self.name = name
        self.rec = rec
        self.alias = alias

    def has(self, f: str) -> bool:
        if self.alias is not None:
            return self.alias.has(f)
        return self.rec is not None and f in self.rec.fields

    def __getattr__(self, f: str) -> Expr:
        if f.startswith("_") or f in ("name", "rec", "alias"):
            raise AttributeError(f)
        if self.alias is not None:
            return getattr(self.alias, f)
        if self.rec is not None and f in self.rec.fields:
            return self.rec.fields[f].ref
        if f in DEFAULTS:
            return const(DEFAULTS[f], FIELD_TYPES[f] if isinstance(FIELD_TYPES[f], Enum) else None)
        raise ModelError(f"object {self.name} has no field {f!r}")

    def var(self, f: str) -> Var:
        if self.alias is not None:
            return self.alias.var(f)
        if self.rec is None or f not in self.rec.fields:
            raise ModelError(f"object {self.name} stores no field {f!r}")
        return self.rec.fields[f]

    def stored(self) -> list[str]:
        if self.alias is not None:
            return self.alias.stored()
        return list(self.rec.fields) if self.rec is not None else []

    @property
    def absent(self) -> Expr:
        return ~self.present


class Writes:
    """One block of simultaneous, possibly conditional, assignments.

    ``set(v, e, when)`` assigns ``e`` when ``when`` holds; a later ``set`` of the same variable
    overrides an earlier one where its condition holds.  All right-hand sides read the state
    *before* the block.
    """

    def __init__(self) -> None:
        self.d: dict[Var, Expr] = {}

    def set(self, v: Var, value: Any, when: Expr = TRUE) -> None:
        value = lift(value, v.type)
        prev = self.d.get(v, v.ref)
        self.d[v] = ite(when, value, prev)

    def current(self, v: Var) -> Expr:
        """What this block will assign to ``v`` so far (``v`` itself if untouched)."""
        return self.d.get(v, v.ref)

    def block(self) -> dict[Var, Expr]:
        return dict(self.d)


@dataclass
class Cluster:
    """The live state plus the knobs every component needs (filled by :mod:`model.scenario`)."""

    schema: Schema
    live: dict[str, Obj]
    globals: dict[str, Var]
    owner_ref: bool
    gc_mode: str                                 # "detailed" | "abstract"
    gc_removed: dict[str, Var] = field(default_factory=dict)   # detailed: DELETED event pending
    look: Var | None = None                      # abstract: a GC look is pending

    # ---- convenience
    @property
    def C(self) -> Obj:
        return self.live["C"]

    def L(self, name: str) -> Obj:
        return self.live[name]

    @property
    def ns_active(self) -> Expr:
        return ~self.globals["nsTerminating"].ref

    # ---- API semantics (MODEL.md §4.3)
    def remove(self, w: Writes, name: str, when: Expr) -> None:
        """Delete ``name`` from storage: every field back to its default, ``inc`` kept.

        Emits the DELETED watch event: ``gcRemoved`` (detailed GC), or a GC look when the object
        was a dependent of C (abstract GC, G6)."""
        o = self.live[name]
        for f in o.stored():
            if f == "inc":
                continue
            v = o.var(f)
            w.set(v, DEFAULTS[f], when)
        if self.gc_mode == "detailed":
            w.set(self.gc_removed[name], True, when)
        elif name != "C":
            assert self.look is not None
            w.set(self.look, True, when & o.ref)

    def delete(self, w: Writes, name: str, policy: str, when: Expr) -> None:
        """DELETE with a propagation policy (K1, K3): requires the object to exist.

        ``policy`` is ``foreground``, ``background``, ``orphan`` or ``default`` (keep the current
        GC finalizers).  Non-GC finalizers (the issuer's ``fin`` on a CR, ``test`` on C) stay.
        The caller must also require :meth:`delete_changes` (a DELETE that changes nothing is a
        no-op, K3)."""
        o = self.live[name]
        when = when & o.present
        fg, orph = self._wanted(name, policy)
        rest = self._other_fins(name)
        empty = ~(rest | fg | orph)
        self.remove(w, name, when & empty)
        keep = when & ~empty
        if name == "C":
            w.set(o.var("fg"), fg, keep)
            w.set(o.var("orphan"), orph, keep)
        if o.has("delTS"):
            w.set(o.var("delTS"), True, keep)
        if name == "C" and self.gc_mode == "abstract":
            # G2: C enters foreground deletion -> the GC looks (abstract GC, MODEL.md §4.5)
            assert self.look is not None
            entering = keep & fg & ~(o.delTS & o.fg)
            w.set(self.look, True, entering)

    def delete_changes(self, name: str, policy: str) -> Expr:
        """The DELETE would change something (else it is a no-op and the action is disabled)."""
        o = self.live[name]
        fg, orph = self._wanted(name, policy)
        if name == "C":
            return ~o.delTS | fg.ne(o.fg) | orph.ne(o.orphan)
        return ~o.delTS

    def _wanted(self, name: str, policy: str) -> tuple[Expr, Expr]:
        o = self.live[name]
        if policy == "foreground":
            return TRUE, FALSE
        if policy == "orphan":
            return FALSE, TRUE
        if policy == "background":
            return FALSE, FALSE
        if policy == "default":
            return o.fg, o.orphan
        raise ModelError(f"unknown propagation policy {policy!r}")

    def _other_fins(self, name: str) -> Expr:
        o = self.live[name]
        if name == "C":
            return o.test
        return o.fin

    def remove_finalizer(self, w: Writes, name: str, fin: str, when: Expr) -> None:
        """Remove one finalizer; the object goes in the same request if it was the last (K2)."""
        o = self.live[name]
        all_fins = ["fg", "orphan", "test"] if name == "C" else ["fin"]
        others = or_(*[getattr(o, f) for f in all_fins if f != fin])
        w.set(o.var(fin), False, when)
        self.remove(w, name, when & o.delTS & ~others)

    def create(self, w: Writes, name: str, values: dict[str, Any], when: Expr) -> None:
        """Create ``name`` (the caller requires :meth:`can_create`): fresh incarnation, not
        terminating, no owner check (K5)."""
        o = self.live[name]
        for f in o.stored():
            if f == "present":
                w.set(o.var(f), True, when)
            elif f == "inc":
                w.set(o.var(f), ite(o.inc.eq(INC - 1), 0, o.inc + 1), when)
            elif f in values:
                w.set(o.var(f), values[f], when)
            else:
                w.set(o.var(f), DEFAULTS[f], when)

    def can_create(self, name: str) -> list[tuple[str, str, Expr]]:
        """The API server admits the create: namespace not terminating (K7), name free (K6)."""
        return [
            ("namespace_active", "the namespace is not terminating (else 403, K7)", self.ns_active),
            ("name_free", f"no object holds {name}'s name, terminating or not (else 409, K6)",
             self.live[name].absent),
        ]


def record_equal(a: Obj, b: Obj, fields: Iterable[str] | None = None) -> Expr:
    """``a`` and ``b`` hold the same record; two absent records are equal whatever their ``inc``."""
    fs = [f for f in (fields if fields is not None else b.stored()) if f != "present"]
    both_absent = a.absent & b.absent
    same = and_(a.present.eq(b.present), *[getattr(a, f).eq(getattr(b, f)) for f in fs])
    return both_absent | (a.present & b.present & same)


def deps(objs: dict[str, Obj]) -> dict[str, Expr]:
    """``d -> (X[d] present and X[d].ref = C)`` for each dependent: the blocking dependents."""
    return {d: objs[d].present & objs[d].ref for d in DEPENDENTS}
