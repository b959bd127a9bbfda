"""The Kubernetes garbage collector: graph builder, attemptToDelete and attemptToOrphan.

Upstream: kubernetes/kubernetes v1.33, pkg/controller/garbagecollector/
  - graph_builder.go   processGraphChanges, processTransitions, deletionStartsWithFinalizer,
                       addUnblockedOwnersToDeleteQueue, insertNode/removeNode (G1, G2, G6, G7, G8)
  - garbagecollector.go attemptToDeleteItem, processDeletingDependentsItem, classifyReferences,
                       attemptToOrphanWorker (G3, G4, G5, G9)
  - graph.go           node.blockingDependents, beingDeleted, deletingDependents
  - operations.go, patch.go  removeFinalizer (RV-guarded patch retried on conflict)
  - MODEL.md §2.2, §4.4 (detailed mode), §4.5 (abstract mode), §4.6.

**Detailed mode.**  The graph is a cache (``V_gc``, metadata only) fed by two kinds of events:
``gc.observe_removal(o)`` delivers a DELETED event (never lost; two removals of one slot between
observations merge, harmless because the queue is a set), ``gc.observe(o)`` an ADD/UPDATE, and
only after any pending removal of ``o``.  The attemptToDelete queue is a set of ``C`` and
``(dependent, incarnation)`` entries; the incarnation plays the role of the UID precondition.

The crux (G7): a dependent *added* while its owner is ``deletingDependents`` enqueues nothing.
The owner is looked at again only when one of its dependents' removal is observed (G6).

**Abstract mode** (MODEL.md §4.5): a fresh graph and one flag ``look``, set by the removal of a
dependent and by C entering foreground deletion; ``gc.look`` deletes every blocking dependent or
removes ``foregroundDeletion``.  It keeps G6/G7 and loses the graph's lag.

**Fresh graph** (``CACHE_GC = fresh``): the observations a write causes are applied inside the
same step, right after it — first every pending removal, then every changed object, each pass in
slot order ``CR[0..2], K, S`` and then ``C`` (MODEL.md §4.8).

Not modelled: the 20 workers (one worker; interleavings cover the others' orders), rate-limited
requeues after errors (no API error is modelled other than no-ops), virtual nodes for owners
never observed (C is always observed first here), a GC restart, dependents of dependents.
"""

from __future__ import annotations

from dataclasses import dataclass

from certloop.checker.expr import Bool, Expr, TRUE, Var, and_, or_
from certloop.checker.spec import Model

from certloop.model.apiserver import DEFAULTS, DEPENDENTS, INC, OBJECTS, Cluster, Obj, Writes, deps
from certloop.model.informers import Views, meta_fields

__all__ = ["GCQueues", "declare_gc", "add_gc_actions", "gc_sync_blocks", "SYNC_ORDER"]

SYNC_ORDER = DEPENDENTS + ("C",)


@dataclass
class GCQueues:
    owner: Var                # C is in attemptToDelete
    dep: dict                 # (d, i) -> Var: (dependent, incarnation) is in attemptToDelete
    orphan: Var               # C is in attemptToOrphan


def declare_gc(sch, cl: Cluster) -> GCQueues | None:
    """Declare the GC's variables; the graph itself (``V_gc``) is declared with the views."""
    if cl.gc_mode == "abstract":
        cl.look = sch.declare("gc.look", Bool, False, "a GC look at C is pending (abstract GC)")
        return None
    for n in OBJECTS:
        cl.gc_removed[n] = sch.declare(f"gc.removed[{n}]", Bool, False, "a DELETED event not yet in the graph")
    owner = sch.declare("gc.queue[C]", Bool, False)
    dep = {(d, i): sch.declare(f"gc.queue[{d}#{i}]", Bool, False) for d in DEPENDENTS for i in range(INC)}
    orphan = sch.declare("gc.orphanQueue[C]", Bool, False)
    return GCQueues(owner, dep, orphan)


def _blocking(g: dict[str, Obj], d: str) -> Expr:
    return g[d].present & g[d].ref


def _enqueue_blocking(w: Writes, q: GCQueues, g: dict[str, Obj], when: Expr) -> None:
    """attemptToDelete gets every blocking dependent in the graph, with its incarnation."""
    for d in DEPENDENTS:
        for i in range(INC):
            w.set(q.dep[d, i], True, when & _blocking(g, d) & g[d].inc.eq(i))


def observe_removal_writes(w: Writes, cl: Cluster, q: GCQueues, g: dict[str, Obj], o: str, when: Expr) -> None:
    """G6/G8: deliver the DELETED event of ``o`` to the graph builder."""
    w.set(cl.gc_removed[o], False, when)
    if o == "C":
        _enqueue_blocking(w, q, g, when)            # the owner's removal enqueues its dependents (G8)
    else:
        w.set(q.owner, True, when & g["C"].present & g["C"].dd)   # a dependent went away (G6)
    for f in meta_fields(o):
        w.set(g[o].var(f), DEFAULTS[f], when)


def observe_enabled(cl: Cluster, g: dict[str, Obj], o: str) -> Expr:
    live = cl.live[o]
    fs = [f for f in meta_fields(o) if f not in ("present", "dd")]
    differs = ~((g[o].absent & live.absent) |
                (g[o].present & live.present & and_(*[getattr(g[o], f).eq(getattr(live, f)) for f in fs])))
    return ~cl.gc_removed[o].ref & differs


def observe_writes(w: Writes, cl: Cluster, q: GCQueues, g: dict[str, Obj], o: str, when: Expr) -> None:
    """G1/G2/G7/G8: an ADD or UPDATE of ``o`` reaches the graph (it keeps ``dd``)."""
    live, old = cl.live[o], g[o]
    for f in meta_fields(o):
        if f == "dd":
            continue
        w.set(old.var(f), getattr(live, f) if f != "present" else live.present, when & live.present)
        w.set(old.var(f), DEFAULTS[f], when & live.absent)
    if o == "C":
        fg_now = live.present & live.delTS & live.fg
        entering = when & fg_now & (old.absent | ~old.delTS | ~old.fg)
        w.set(old.var("dd"), True, entering)                         # G2: deletingDependents
        w.set(q.owner, True, entering)
        _enqueue_blocking(w, q, g, entering)                         # kubernetes #121113: all of them
        orph_now = live.present & live.delTS & live.orphan
        w.set(q.orphan, True, when & orph_now & (old.absent | ~old.delTS | ~old.orphan))
    else:
        new_blocking = live.present & live.ref
        # G8 shortcut: a dependent whose owner is absent from the graph is checked (dangling)
        for i in range(INC):
            w.set(q.dep[o, i], True, when & new_blocking & g["C"].absent & live.inc.eq(i))
        # addUnblockedOwnersToDeleteQueue: a blocking ref went away while the owner waits
        w.set(q.owner, True, when & _blocking(g, o) & ~new_blocking & g["C"].dd)
        # G7: an ADD of a dependent while C is deletingDependents enqueues nothing.


def gc_sync_blocks(cl: Cluster, q: GCQueues, g: dict[str, Obj]) -> list[dict]:
    """A fresh graph: the observations a write causes, applied right after it (one block each)."""
    blocks = []
    for o in SYNC_ORDER:
        w = Writes()
        observe_removal_writes(w, cl, q, g, o, cl.gc_removed[o].ref)
        blocks.append(w.block())
    for o in SYNC_ORDER:
        w = Writes()
        observe_writes(w, cl, q, g, o, observe_enabled(cl, g, o))
        blocks.append(w.block())
    return blocks


def add_gc_actions(m: Model, cl: Cluster, views: Views, q: GCQueues | None, fresh_graph: bool) -> None:
    if cl.gc_mode == "abstract":
        _abstract(m, cl)
        return
    assert q is not None
    g = views.gc
    C = cl.C
    if not fresh_graph:
        for o in SYNC_ORDER:
            w = Writes()
            observe_removal_writes(w, cl, q, g, o, TRUE)
            m.add_action("gc.observe_removal", "gc", args=(o,), fairness="weak", tags={"gc", "observe"},
                         guard=[("removal_pending", f"a DELETED event of {o} has not reached the graph yet",
                                 cl.gc_removed[o].ref)],
                         effect=[w.block()], doc="The graph builder processes a DELETED event (G6, G8).")
        for o in SYNC_ORDER:
            w = Writes()
            observe_writes(w, cl, q, g, o, TRUE)
            m.add_action("gc.observe", "gc", args=(o,), fairness="weak", tags={"gc", "observe"},
                         guard=[("graph_outdated", f"the graph's copy of {o} differs from the live object "
                                 "and no removal of it is pending", observe_enabled(cl, g, o))],
                         effect=[w.block()], doc="The graph builder processes an ADD/UPDATE event (G1, G2, G7).")

    # G4: the deleting owner
    w = Writes()
    w.set(q.owner, False)
    blocking = or_(*[_blocking(g, d) for d in DEPENDENTS])
    cl.remove_finalizer(w, "C", "fg", C.present & ~blocking & C.fg)
    _enqueue_blocking(w, q, g, C.present & blocking)
    m.add_action("gc.process_owner", "gc", args=("C",), fairness="weak", tags={"gc", "look"},
                 guard=[("owner_queued", "C is in the attemptToDelete queue", q.owner.ref),
                        ("graph_deleting_dependents", "the graph marks C deletingDependents",
                         g["C"].present & g["C"].dd)],
                 effect=[w.block()],
                 doc="processDeletingDependentsItem: no blocking dependent in the graph -> remove "
                     "foregroundDeletion; else enqueue the blocking dependents and forget C (G4).")
    w = Writes()
    w.set(q.owner, False)
    m.add_action("gc.drop_owner", "gc", args=("C",), fairness="weak", tags={"gc"},
                 guard=[("owner_queued", "C is in the attemptToDelete queue", q.owner.ref),
                        ("not_deleting_dependents", "the graph does not mark C deletingDependents",
                         ~(g["C"].present & g["C"].dd))],
                 effect=[w.block()], doc="Nothing to do for C.")
    # G5: a dependent
    for d in DEPENDENTS:
        for i in range(INC):
            L = cl.live[d]
            w = Writes()
            w.set(q.dep[d, i], False)
            waiting_for_removal = g[d].present & g[d].delTS
            gone_or_other = L.absent | L.inc.ne(i) | ~L.ref
            owner_dangling_or_waiting = C.absent | (C.delTS & C.fg)
            do = ~waiting_for_removal & ~gone_or_other & owner_dangling_or_waiting
            cl.delete(w, d, "background", do & cl.delete_changes(d, "background"))
            m.add_action("gc.delete_dependent", "gc", args=(d, i), fairness="weak", tags={"gc", "gc-delete"},
                         guard=[("dependent_queued", f"({d}, incarnation {i}) is in the attemptToDelete queue",
                                 q.dep[d, i].ref)],
                         effect=[w.block()],
                         doc="attemptToDeleteItem: skip if the graph shows it terminating, if it is gone or "
                             "a new incarnation (UID precondition), or if its owner is solid; else DELETE "
                             "with Background (G5).")
    # G9: orphan
    w = Writes()
    w.set(q.orphan, False)
    for d in DEPENDENTS:
        L = cl.live[d]
        w.set(L.var("ref"), False, _blocking(g, d) & L.present & L.inc.eq(g[d].inc))
    cl.remove_finalizer(w, "C", "orphan", C.present & C.orphan)
    m.add_action("gc.orphan_dependents", "gc", args=("C",), fairness="weak", tags={"gc"},
                 guard=[("orphan_queued", "C is in the attemptToOrphan queue", q.orphan.ref)],
                 effect=[w.block()],
                 doc="attemptToOrphanWorker: strip C's ref from the dependents in the graph, then remove "
                     "the orphan finalizer (G9).")


def _abstract(m: Model, cl: Cluster) -> None:
    C = cl.C
    look = cl.look
    assert look is not None
    live_deps = deps(cl.live)
    blocking = or_(*live_deps.values())
    w = Writes()
    w.set(look, False)
    cl.remove_finalizer(w, "C", "fg", ~blocking)
    for d in DEPENDENTS:
        cl.delete(w, d, "background", live_deps[d] & ~cl.live[d].delTS)
    m.add_action("gc.look", "gc", args=("C",), fairness="weak", tags={"gc", "look", "gc-delete"},
                 guard=[("look_pending", "a dependent's removal (or C entering foreground deletion) "
                         "was observed", look.ref),
                        ("owner_present", "C exists", C.present),
                        ("owner_foreground", "C carries foregroundDeletion", C.fg)],
                 effect=[w.block()],
                 doc="Abstract GC: delete every blocking dependent, or remove foregroundDeletion if none (G4-G7).")
    for d in DEPENDENTS:
        L = cl.live[d]
        w = Writes()
        cl.delete(w, d, "background", TRUE)
        m.add_action("gc.delete_dangling", "gc", args=(d,), fairness="weak", tags={"gc", "gc-delete"},
                     guard=[("owner_gone", "C no longer exists", C.absent),
                            ("dependent_blocking", f"{d} exists and still references C", L.present & L.ref),
                            ("not_terminating", f"{d} is not terminating", ~L.delTS)],
                     effect=[w.block()], doc="Abstract GC: a dangling dependent is deleted (G8).")
    w = Writes()
    for d in DEPENDENTS:
        L = cl.live[d]
        w.set(L.var("ref"), False, L.present)
    cl.remove_finalizer(w, "C", "orphan", TRUE)
    m.add_action("gc.orphan_dependents", "gc", args=("C",), fairness="weak", tags={"gc"},
                 guard=[("owner_present", "C exists", C.present), ("owner_orphan", "C carries orphan", C.orphan)],
                 effect=[w.block()], doc="Abstract GC: strip C's refs, then remove the orphan finalizer (G9).")
