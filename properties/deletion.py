"""The named properties of MODEL.md §5, their non-vacuity witnesses, and which apply where.

Every property is a claim named for what it asserts:

==================================  =========================================================
``deletion_completes``              userDeleted ~> C is gone                      (liveness, WF)
``foreground_released``             userDeleted ~> C has no foregroundDeletion    (test finalizer)
``deletion_completes_after_ns``     namespace Terminating ~> C is gone            (namespace knob)
``deletion_completes_after_second_delete``  againDone ~> C is gone              (second delete)
``no_create_after_deletion_seen_e2e``  no CR (ref C) or spec Secret is created by a cert-manager
                                    controller whose cache shows C's deletionTimestamp
``no_create_after_deletion_seen_all``  the same, next-key Secret included
``no_create_after_deletion``        strict: nothing is created once C is terminating *or gone*
``issuance_progresses``             S absent ~> S present, or C deleted          (from fresh)
``no_orphans``                      C gone ~> no object references C
``bounded_churn``                   after the delete, no fair cycle creates anything
``bounded_churn_requests``          ... creates a CertificateRequest (the #7358 loop itself)
``type_ok``, ``type_ok_transitions``  well-formedness (K2, K4, domains)
==================================  =========================================================

Deviation from MODEL.md noted: the strict ``no_create_after_deletion`` there reads
``¬pre(L.C.delTS)``; once C is removed its record reads ``delTS = false`` again, so a create from
a stale cache *after* C is gone would pass.  Here "deleting" is ``L.C.delTS ∨ ¬L.C.present``
(C is present in every initial state and never re-created).
"""

from __future__ import annotations


from certloop.checker.expr import Expr, and_, implies, or_, prime
from certloop.checker.spec import (
    Action, ActionAlways, Always, FairCycleFree, LeadsTo, Property, Sometimes, SometimesAction,
)

from certloop.model.apiserver import CR_NAMES, DEPENDENTS, OBJECTS
from certloop.model.controllers import requestmanager
from certloop.model.scenario import World
from certloop.properties.fairness import SYSTEM_WEAK

__all__ = ["attach", "CERT_MANAGER_ACTORS", "created", "LIVENESS", "SAFETY", "ALL_NAMES"]

CERT_MANAGER_ACTORS = frozenset({"trigger", "keymanager", "requestmanager", "issuing", "signer"})

LIVENESS = ("deletion_completes", "foreground_released", "deletion_completes_after_ns",
            "deletion_completes_after_second_delete", "issuance_progresses", "no_orphans",
            "bounded_churn", "bounded_churn_requests")
SAFETY = ("no_create_after_deletion_seen_e2e", "no_create_after_deletion_seen_all",
          "no_create_after_deletion", "type_ok", "type_ok_transitions")
WITNESSES = ("loop_witness", "best_effort_witness", "issued_witness", "revision_bound_blocked")
ALL_NAMES = LIVENESS + SAFETY + WITNESSES


def by_cert_manager(a: Action) -> bool:
    return a.actor in CERT_MANAGER_ACTORS


def created(w: World, name: str) -> Expr:
    """The transition creates ``name``: its incarnation changes (only a create changes it).

    CRs and K are counted only with a ref to C (every cert-manager create carries it); the spec
    Secret whatever its ref (the #7361 e2e test finds Secrets by annotation, not by owner)."""
    o = w.cluster.live[name]
    made = prime(o.inc).ne(o.inc) & prime(o.present)
    if name == "S":
        return made
    return made & prime(o.ref)


def attach(w: World) -> list[Property]:
    """Add every property that applies to ``w``'s configuration; returns them in report order."""
    cfg, m, cl = w.config, w.model, w.cluster
    L, g, C = cl.live, cl.globals, cl.live["C"]
    V = w.views.cm
    props: list[Property] = []

    def add(p: Property) -> None:
        props.append(m.add_property(p))

    gone = C.absent
    deleted = g["userDeleted"].ref
    e2e = [created(w, n) for n in CR_NAMES + ("S",)]
    all_ = e2e + [created(w, "K")]

    add(LeadsTo("deletion_completes", "a deleted Certificate eventually goes away",
                p=deleted, q=gone, fairness=SYSTEM_WEAK))
    if cfg.test_finalizer:
        add(LeadsTo("foreground_released", "the GC eventually removes foregroundDeletion",
                    p=deleted, q=~C.fg, fairness=SYSTEM_WEAK))
    if cfg.namespace_deletion:
        add(LeadsTo("deletion_completes_after_ns", "once the namespace is terminating, C goes away",
                    p=g["nsTerminating"].ref, q=gone, fairness=SYSTEM_WEAK))
    if cfg.again is not None:
        add(LeadsTo("deletion_completes_after_second_delete", "after a second DELETE, C goes away",
                    p=g["againDone"].ref, q=gone, fairness=SYSTEM_WEAK))
    add(ActionAlways("no_create_after_deletion_seen_e2e",
                     "no CR or spec Secret is created by a controller that has seen C's deletionTimestamp",
                     expr=implies(or_(*e2e), ~V["C"].delTS), applies=by_cert_manager))
    add(ActionAlways("no_create_after_deletion_seen_all",
                     "no CR, next-key Secret or spec Secret is created by a controller that has seen "
                     "C's deletionTimestamp", expr=implies(or_(*all_), ~V["C"].delTS), applies=by_cert_manager))
    add(ActionAlways("no_create_after_deletion",
                     "nothing is created once C is terminating or gone (strict: caches may lag)",
                     expr=implies(or_(*all_), C.present & ~C.delTS), applies=by_cert_manager))
    if cfg.init == "fresh" and cfg.issuer_signs and not cfg.may_fail:
        add(LeadsTo("issuance_progresses", "a Certificate that is not deleted gets its Secret",
                    p=L["S"].absent, q=L["S"].present | C.delTS | gone, fairness=SYSTEM_WEAK))
    refs = or_(*[L[d].present & L[d].ref for d in DEPENDENTS])
    add(LeadsTo("no_orphans", "once C is gone, nothing keeps a reference to it",
                p=deleted & gone, q=~refs, fairness=SYSTEM_WEAK))
    add(FairCycleFree("bounded_churn", "after the delete, no fair cycle creates an object",
                      premise=deleted, edge=or_(*all_), applies=by_cert_manager, fairness=SYSTEM_WEAK))
    add(FairCycleFree("bounded_churn_requests", "after the delete, no fair cycle creates a CertificateRequest",
                      premise=deleted, edge=or_(*[created(w, n) for n in CR_NAMES]),
                      applies=by_cert_manager, fairness=SYSTEM_WEAK))
    add(Always("type_ok", "well-formed states (K2, GC finalizers imply a deletionTimestamp, owner refs)",
               expr=_type_ok(w)))
    add(ActionAlways("type_ok_transitions",
                     "deletionTimestamps are never unset; no finalizer is added to a terminating object (K4); "
                     "no create hits an occupied name", expr=_type_ok_transitions(w)))
    # non-vacuity witnesses
    add(SometimesAction("loop_witness", "a CR is created while C is being deleted",
                        expr=or_(*[created(w, n) for n in CR_NAMES]) & deleted & C.present,
                        applies=by_cert_manager))
    add(Sometimes("best_effort_witness", "C is gone while an object still references it (G10)",
                  expr=gone & refs))
    add(Sometimes("issued_witness", "the spec Secret exists", expr=L["S"].present))
    add(Sometimes("revision_bound_blocked",
                  "requestmanager would create a CR but the slot holds another revision (MODEL.md §4.1 caveat)",
                  expr=requestmanager.revision_bound_blocked(w.ctx)))
    return props


def _type_ok(w: World) -> Expr:
    L = w.cluster.live
    C = L["C"]
    inv = [implies(C.fg | C.orphan, C.delTS & C.present)]
    for n in OBJECTS:
        o = L[n]
        fins = or_(o.fin, o.fg, o.orphan, o.test)
        inv.append(implies(o.present & o.delTS, fins))               # K2: no finalizer-less terminating object
        inv.append(implies(o.absent, ~o.delTS))
    if not w.config.owner_ref:
        inv.append(implies(L["S"].present, ~L["S"].ref))
    gcv = w.views.gc
    if gcv:
        inv.append(implies(gcv["C"].dd, gcv["C"].present))
    return and_(*inv)


def _type_ok_transitions(w: World) -> Expr:
    L = w.cluster.live
    out = []
    for n in OBJECTS:
        o = L[n]
        same = o.present & prime(o.present) & (prime(o.inc).eq(o.inc) if n != "C" else o.present)
        out.append(implies(same & o.delTS, prime(o.delTS)))                 # delTS never unset
        out.append(implies(same & o.delTS, implies(prime(o.fin), o.fin)))    # K4
        out.append(implies(same & o.delTS, implies(prime(o.test), o.test)))
        if n != "C":
            # a create never targets an occupied name
            out.append(implies(prime(o.inc).ne(o.inc), o.absent))
    return and_(*out)
