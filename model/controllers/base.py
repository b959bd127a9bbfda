"""What every cert-manager certificate controller shares: its view, its gate, its name.

Upstream: cert-manager pkg/controller/certificates/*/ (each controller's ProcessItem starts with
a lister Get of the Certificate and returns nil on NotFound, MODEL.md §3.2); the version gates
of MODEL.md §3.3 (PR #7361 in v1.17.0, PR #7454 in v1.18.0).

A fix is **one tagged conjunct**: ``view_certificate_not_terminating`` is added to a controller's
actions where the real code returns early on ``crt.DeletionTimestamp != nil``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from certloop.checker.expr import Expr, any_, select
from certloop.checker.spec import Conjunct, Model

from certloop.model.apiserver import REV_MOD, SLOTS, Cluster, Obj
from certloop.model.informers import Views, view_current

__all__ = ["Ctx", "GATED", "NextRequest"]

# The controllers a gate can guard (MODEL.md §3.3, §7).
GATED = ("trigger", "keymanager", "requestmanager", "issuing")

# Which release introduced the deletionTimestamp early return in which controller.
FIX_TAGS = {"trigger": ("v1.18.0", 7454), "keymanager": ("v1.18.0", 7454),
            "requestmanager": ("v1.17.0", 7361), "issuing": ("v1.17.0", 7361)}


@dataclass
class Ctx:
    """Everything a controller module needs to add its actions."""

    model: Model
    cl: Cluster
    views: Views
    gated: frozenset[str]                       # controllers carrying the deletionTimestamp gate
    signer_guard: bool                          # the in-tree signer skips terminating CRs (v1.18)
    rotation: str                               # "Never" | "Always"
    may_fail: bool
    owner_ref: bool
    # extra conjuncts: per controller (every action) and per action name (one action)
    extra_controller: dict[str, list[Conjunct]] = field(default_factory=dict)
    extra_action: dict[str, list[Conjunct]] = field(default_factory=dict)
    # per CertificateRequest name: conjuncts on the in-tree signer's actions for that CR
    # (a guard over "the CR being signed", e.g. the v1.18 signer guard written by a user)
    extra_signer: dict[str, list[Conjunct]] = field(default_factory=dict)

    @property
    def V(self) -> dict[str, Obj]:
        return self.views.cm

    def gate(self, controller: str) -> list[Conjunct]:
        out: list[Conjunct] = []
        if controller in self.gated:
            since, pr = FIX_TAGS.get(controller, ("v1.18.0", 7454))
            out.append(Conjunct("view_certificate_not_terminating",
                                "the cached Certificate has no deletionTimestamp (early return)",
                                ~self.V["C"].delTS, since=since, pr=pr))
        out.extend(self.extra_controller.get(controller, ()))
        return out

    def cert_cached(self) -> Conjunct:
        return Conjunct("view_certificate_exists", "the Certificate is in the cache (lister NotFound -> return)",
                        self.V["C"].present)

    def guard(self, controller: str, action: str, *conjuncts: Conjunct | tuple) -> list[Conjunct]:
        """The gate, the Certificate-exists check, then the action's own conjuncts and extras."""
        own = [c if isinstance(c, Conjunct) else Conjunct(*c) for c in conjuncts]
        return [self.cert_cached(), *self.gate(controller), *own, *self.extra_action.get(action, ())]

    def current(self, name: str) -> Expr:
        """``cur(V, o)``: the cached copy equals the live object (an RV-guarded write succeeds)."""
        return view_current(self.V[name], self.cl.live[name])


class NextRequest:
    """``nextCR(V)``: the CR of revision ``V.C.rev + 1`` in its slot, as seen by a view."""

    def __init__(self, V: dict[str, Obj]):
        self.V = V
        C = V["C"]
        self.rev = (C.rev + 1) % REV_MOD
        self.slot_expr = (C.rev + 1) % SLOTS

    def slot_is(self, s: int) -> Expr:
        return self.slot_expr.eq(s)

    def field(self, f: str) -> Expr:
        return select(self.slot_expr, list(range(SLOTS)), lambda s: getattr(self.V[f"CR[{s}]"], f))

    @property
    def present(self) -> Expr:
        return any_(range(SLOTS), lambda s: self.slot_is(s) & self.V[f"CR[{s}]"].present
                    & self.V[f"CR[{s}]"].rev.eq(self.rev))

    def live_slot(self, L: dict[str, Obj], f: str) -> Expr:
        """A field of the *live* object in the next slot."""
        return select(self.slot_expr, list(range(SLOTS)), lambda s: getattr(L[f"CR[{s}]"], f))
