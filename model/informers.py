"""Informer caches: each process's view of the objects, fresh or lagging.

Upstream: kubernetes/client-go tools/cache (shared informers, listers; events of one object are
delivered in resourceVersion order, K10); cert-manager pkg/controller/controller.go (one shared
informer factory for the whole controller process, MODEL.md §3.1);
kubernetes/kubernetes pkg/controller/garbagecollector/graph_builder.go (metadata informers).

A view holds, per object, a snapshot of the live record or ⊥.  ``OBS(p, o)`` copies the *current*
live record into process ``p``'s view: it may skip versions and come arbitrarily late (only weak
fairness forces it), which covers stale and coalesced events for level-based readers
(MODEL.md §4.6).  With ``fresh`` caches the view *is* the live state.

Processes: ``cm`` (cert-manager's controllers and in-tree signer share one cache), ``ext`` (the
external issuer, CertificateRequests only), and the GC's graph (``gc``, metadata only:
present, inc, deletion timestamp, finalizers, owner reference — MODEL.md §4.2).

Not modelled: one cache per controller (``VIEW_SPLIT``), cross-object event order within one
resource (``PER_RESOURCE_FIFO``), informer resyncs (resync period 0 everywhere that matters).
"""

from __future__ import annotations

from dataclasses import dataclass

from certloop.checker.expr import TRUE, Expr, Schema
from certloop.checker.spec import Model

from certloop.model.apiserver import (
    CR_NAMES, DEFAULTS, DEPENDENTS, FIELD_TYPES, OBJECTS, Cluster, Obj, Writes, fields_of, record_equal,
)

__all__ = ["Views", "declare_views", "add_observe_actions", "GC_META"]

# The fields a metadata informer keeps (the GC's graph).  C keeps its node flag `dd`
# (deletingDependents), which is the graph's, not the object's.
GC_META = {"C": ("present", "delTS", "fg", "orphan", "test", "dd"),
           "CR": ("present", "inc", "delTS", "fin", "ref"),
           "K": ("present", "inc", "ref"),
           "S": ("present", "inc", "ref")}

CACHE_ACTOR = {"cm": "cert-manager-cache", "ext": "issuer-cache"}


def meta_fields(name: str) -> tuple[str, ...]:
    return GC_META["CR" if name.startswith("CR") else name]


@dataclass
class Views:
    cm: dict[str, Obj]
    ext: dict[str, Obj]
    gc: dict[str, Obj]
    cm_fresh: bool
    ext_fresh: bool


def declare_views(sch: Schema, live: dict[str, Obj], *, cm_fresh: bool, ext_fresh: bool,
                  gc_mode: str, external: bool) -> Views:
    """Declare the view variables (none for a fresh cache: it aliases the live objects)."""
    def copy(prefix: str, names: tuple[str, ...]) -> dict[str, Obj]:
        out = {}
        for n in names:
            flds = {f: (t, DEFAULTS[f] if f != "present" else False) for f, t in fields_of(n).items()}
            out[n] = Obj(f"{prefix}.{n}", sch.record(f"{prefix}.{n}", flds))
        return out

    cm = {n: Obj(f"V_cm.{n}", None, alias=live[n]) for n in OBJECTS} if cm_fresh else copy("V_cm", OBJECTS)
    if not external:
        ext = {}
    elif ext_fresh:
        ext = {n: Obj(f"V_ext.{n}", None, alias=live[n]) for n in CR_NAMES}
    else:
        ext = copy("V_ext", CR_NAMES)
    gc: dict[str, Obj] = {}
    if gc_mode == "detailed":
        for n in DEPENDENTS + ("C",):
            flds = {f: (FIELD_TYPES[f] if f != "inc" else fields_of(n)["inc"], False if f != "inc" else 0)
                    for f in meta_fields(n)}
            gc[n] = Obj(f"V_gc.{n}", sch.record(f"V_gc.{n}", flds))
    return Views(cm, ext, gc, cm_fresh, ext_fresh)


def view_current(view: Obj, live: Obj) -> Expr:
    """``cur(V, o)``: the view equals the live record, so an RV-guarded write succeeds (K9)."""
    if view.alias is not None:
        return TRUE
    return record_equal(view, live)


def observe_writes(w: Writes, view: Obj, live: Obj, when: Expr) -> None:
    """``V[o] := L[o]`` (⊥ — every field default, ``inc`` 0 — if the object is absent)."""
    for f in view.stored():
        v = view.var(f)
        if f == "present":
            w.set(v, live.present, when)
        else:
            w.set(v, getattr(live, f), when & live.present)
            w.set(v, DEFAULTS[f], when & live.absent)


def add_observe_actions(m: Model, cl: Cluster, views: Views) -> None:
    """``OBS(p, o)`` for every lagging process cache (weakly fair, MODEL.md §4.7)."""
    for proc, table in (("cm", views.cm), ("ext", views.ext)):
        for name, view in table.items():
            if view.alias is not None:
                continue
            live = cl.live[name]
            w = Writes()
            observe_writes(w, view, live, view.present | live.present)
            m.add_action(f"{CACHE_ACTOR[proc]}.observe", CACHE_ACTOR[proc], args=(name,),
                         fairness="weak", tags={"observe", f"process:{proc}"},
                         guard=[("view_outdated", f"the {proc} cache's copy of {name} differs from the live object",
                                 ~record_equal(view, live))],
                         effect=[w.block()],
                         doc="An informer delivers the latest version of the object (may skip versions).")
