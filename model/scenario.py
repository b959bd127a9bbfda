"""Knobs -> a Model of one namespace with one Certificate (MODEL.md §4.8).

:class:`Config` holds every fidelity knob; :func:`build` assembles the components (API server,
informers, GC, namespace, cert-manager's controllers, issuers, user) into one declarative
:class:`certloop.checker.spec.Model`.  Properties are attached by :mod:`certloop.properties`.

Initial states (MODEL.md §4.2): ``fresh`` (C only), ``idle`` (issued: S and the current CR),
``in-flight`` (idle plus an issuance under way: Issuing, K, the next CR Pending).  Every cache
starts equal to the live state and every queue empty.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from certloop.checker.expr import Bool, IntRange, ModelError, Schema
from certloop.checker.spec import Model

from certloop.model import garbagecollector, issuers, namespace, user
from certloop.model.apiserver import (
    C_FIELDS, CR_FIELDS, CR_NAMES, DEFAULTS, KEYS, SECRET_FIELDS, Cluster, Obj,
)
from certloop.model.controllers import issuing, keymanager, requestmanager, trigger
from certloop.model.controllers.base import GATED, Ctx
from certloop.model.informers import Views, add_observe_actions, declare_views

__all__ = ["Config", "World", "build", "VERSIONS", "ISSUERS", "POLICIES", "INITS"]

VERSIONS = ("v1.16", "v1.17", "v1.18")
ISSUERS = ("in-tree", "external", "external-finalizer")
POLICIES = ("foreground", "background", "orphan")
INITS = ("fresh", "idle", "in-flight")
CACHES = ("fresh", "lagging")
GC_MODES = ("detailed", "abstract")

# Which controllers carry the deletionTimestamp gate in each release (MODEL.md §3.3).
VERSION_GATES = {"v1.16": frozenset(), "v1.17": frozenset({"requestmanager", "issuing"}),
                 "v1.18": frozenset(GATED)}


@dataclass(frozen=True)
class Config:
    """Every knob of the model.  ``gates=None`` takes the version's own gates."""

    version: str = "v1.16"
    issuer: str = "external-finalizer"
    policy: str = "foreground"
    owner_ref: bool = False
    namespace_deletion: bool = False
    init: str = "in-flight"
    cache_cm: str = "lagging"
    cache_ext: str = "lagging"
    cache_gc: str = "lagging"
    gc: str = "detailed"
    rotation: str | None = None              # None: Never up to v1.17, Always from v1.18
    again: str | None = None                 # a second DELETE with this policy (user.delete_again)
    delete_secret: bool = False              # user.delete_secret (the #7361 e2e setup)
    renew: bool = False                      # user.renew
    test_finalizer: bool = False             # C starts with the e2e test's finalizer (+ user.remove_test_finalizer)
    issuer_signs: bool = True
    may_fail: bool = False
    gates: frozenset[str] | None = None      # custom(guard set): which controllers are gated
    signer_guard: bool | None = None         # None: on from v1.18

    def __post_init__(self) -> None:
        def need(name: str, value: Any, valid: tuple) -> None:
            if value not in valid:
                raise ModelError(f"{name}={value!r} is not valid; choose one of {list(valid)}")
        need("version", self.version, VERSIONS)
        need("issuer", self.issuer, ISSUERS)
        need("policy", self.policy, POLICIES)
        need("init", self.init, INITS)
        for k in ("cache_cm", "cache_ext", "cache_gc"):
            need(k, getattr(self, k), CACHES)
        need("gc", self.gc, GC_MODES)
        if self.rotation is not None:
            need("rotation", self.rotation, ("Never", "Always"))
        if self.again is not None:
            need("again", self.again, POLICIES)
        if self.gates is not None:
            for g in self.gates:
                need("gate", g, GATED)

    @property
    def effective_rotation(self) -> str:
        return self.rotation or ("Always" if self.version == "v1.18" else "Never")

    @property
    def effective_gates(self) -> frozenset[str]:
        return VERSION_GATES[self.version] if self.gates is None else frozenset(self.gates)

    @property
    def effective_signer_guard(self) -> bool:
        return self.version == "v1.18" if self.signer_guard is None else self.signer_guard

    def with_caches(self, mode: str) -> "Config":
        return replace(self, cache_cm=mode, cache_ext=mode, cache_gc=mode)

    def knobs(self) -> dict[str, Any]:
        d = asdict(self)
        d["rotation"] = self.effective_rotation
        d["gates"] = sorted(self.effective_gates)
        d["signer_guard"] = self.effective_signer_guard
        return d


@dataclass
class World:
    """A built model and the handles properties need (live objects, views, controllers' context)."""

    config: Config
    model: Model
    cluster: Cluster
    views: Views
    ctx: Ctx
    gc_queues: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


GuardHook = Any  # Callable[[Ctx], None]: adds extra conjuncts (the guard language, issue #5)


def build(cfg: Config, guard_hook: GuardHook | None = None) -> World:
    """Assemble the model for ``cfg``.  ``guard_hook(ctx)`` may add conjuncts before actions exist."""
    sch = Schema()
    live: dict[str, Obj] = {}
    live["C"] = Obj("C", sch.record("C", {f: (t, DEFAULTS[f]) for f, t in C_FIELDS.items()}))
    for n in CR_NAMES:
        live[n] = Obj(n, sch.record(n, {f: (t, DEFAULTS[f]) for f, t in CR_FIELDS.items()}))
    for n in ("K", "S"):
        live[n] = Obj(n, sch.record(n, {f: (t, DEFAULTS[f]) for f, t in SECRET_FIELDS.items()}))
    glob = {
        "keyCtr": sch.declare("keyCtr", IntRange(0, KEYS - 1), 0, "mints fresh private keys"),
        "renewalDue": sch.declare("renewalDue", Bool, False, "renewal time has passed"),
        "nsTerminating": sch.declare("ns.terminating", Bool, False, "the namespace is Terminating"),
        "userDeleted": sch.declare("userDeleted", Bool, False, "the user deleted C"),
        "againDone": sch.declare("againDone", Bool, False, "the user deleted C a second time"),
        "sDeleted": sch.declare("sDeleted", Bool, False, "the user deleted the spec Secret"),
        "renewDone": sch.declare("renewDone", Bool, False, "renewal time came"),
    }
    cl = Cluster(sch, live, glob, cfg.owner_ref, cfg.gc)
    queues = garbagecollector.declare_gc(sch, cl)
    external = cfg.issuer != "in-tree"
    views = declare_views(sch, live, cm_fresh=cfg.cache_cm == "fresh", ext_fresh=cfg.cache_ext == "fresh",
                          gc_mode=cfg.gc, external=external)
    m = Model("certloop", sch, doc="Foreground deletion of a cert-manager Certificate")
    cx = Ctx(m, cl, views, cfg.effective_gates, cfg.effective_signer_guard, cfg.effective_rotation,
             cfg.may_fail, cfg.owner_ref)
    if guard_hook is not None:
        guard_hook(cx)
    trigger.add_actions(cx)
    keymanager.add_actions(cx)
    requestmanager.add_actions(cx)
    issuing.add_actions(cx)
    if cfg.issuer == "in-tree":
        issuers.add_in_tree_signer(cx, cfg.issuer_signs)
    else:
        issuers.add_external_issuer(cx, cfg.issuer == "external-finalizer", cfg.issuer_signs)
    fresh_graph = cfg.gc == "detailed" and cfg.cache_gc == "fresh"
    garbagecollector.add_gc_actions(m, cl, views, queues, fresh_graph)
    if cfg.namespace_deletion:
        namespace.add_actions(cx)
    add_observe_actions(m, cl, views)
    user.add_actions(cx, policy=cfg.policy, again=cfg.again, delete_secret=cfg.delete_secret,
                     delete_namespace=cfg.namespace_deletion, renew=cfg.renew,
                     test_finalizer=cfg.test_finalizer)
    if fresh_graph:
        assert queues is not None
        sync = [tuple(b.items()) for b in garbagecollector.gc_sync_blocks(cl, queues, views.gc) if b]
        for a in m.actions:
            a.effect = a.effect + tuple(sync)
    m.add_init(_initial(cfg, cl, views))
    m.info["config"] = cfg
    return World(cfg, m, cl, views, cx, queues)


def _initial(cfg: Config, cl: Cluster, views: Views) -> dict:
    """MODEL.md §4.2: live objects per ``init``; every view equal to the live state."""
    ext_fin = cfg.issuer == "external-finalizer"
    st: dict[str, dict[str, Any]] = {n: {} for n in cl.live}
    st["C"] = {"present": True, "test": cfg.test_finalizer}
    key_ctr = 0
    if cfg.init in ("idle", "in-flight"):
        st["S"] = {"present": True, "key": 0, "ref": cfg.owner_ref}
        st["CR[1]"] = {"present": True, "rev": 1, "phase": "Issued", "key": 0, "ref": True, "fin": ext_fin}
        st["C"]["rev"] = 1
    if cfg.init == "in-flight":
        k = 1 if cfg.effective_rotation == "Always" else 0
        key_ctr = k
        st["C"].update(issuing=True, nextKeySet=True)
        st["K"] = {"present": True, "key": k, "ref": True}
        st["CR[2]"] = {"present": True, "rev": 2, "phase": "Pending", "key": k, "ref": True, "fin": ext_fin}
    out: dict[Any, Any] = {}
    for n, obj in cl.live.items():
        for f in obj.stored():
            v = st[n].get(f, DEFAULTS[f])
            out[obj.var(f)] = v
    out[cl.globals["keyCtr"]] = key_ctr

    def same(table: dict[str, Obj], meta: bool) -> None:
        for n, view in table.items():
            if view.alias is not None:
                continue
            for f in view.stored():
                if f == "dd":
                    continue
                out[view.var(f)] = st[n].get(f, DEFAULTS[f]) if st[n].get("present") else DEFAULTS[f]

    same(views.cm, False)
    same(views.ext, False)
    same(views.gc, True)
    return out
