"""The user (or a tool such as Argo CD, or the GC cascading from an Ingress): not fair.

Upstream: ``kubectl delete --cascade=foreground|background|orphan`` (kubectl's default is
background); MODEL.md §4.4 "user / environment".  Each action happens at most once, and never
has to happen: a run need not contain the delete at all, which is what makes
``issuance_progresses`` meaningful; the deletion properties are leads-to from the delete.
"""

from __future__ import annotations

from certloop.checker.expr import TRUE

from certloop.model.apiserver import Writes
from certloop.model.controllers.base import Ctx

POLICIES = ("foreground", "background", "orphan")


def add_actions(cx: Ctx, *, policy: str, again: str | None, delete_secret: bool, delete_namespace: bool,
                renew: bool, test_finalizer: bool) -> None:
    cl, g, C = cx.cl, cx.cl.globals, cx.cl.live["C"]
    w = Writes()
    cl.delete(w, "C", policy, TRUE)
    w.set(g["userDeleted"], True)
    cx.model.add_action("user.delete_certificate", "user", args=(policy,), tags={"user"},
                        guard=[("not_yet_deleted", "the user has not deleted C yet", ~g["userDeleted"].ref),
                               ("certificate_exists", "C exists", C.present)],
                        effect=[w.block()], doc=f"kubectl delete --cascade={policy}")
    if again is not None:
        w = Writes()
        cl.delete(w, "C", again, TRUE)
        w.set(g["againDone"], True)
        cx.model.add_action("user.delete_again", "user", args=(again,), tags={"user"},
                            guard=[("deleted_once", "the user deleted C before", g["userDeleted"].ref),
                                   ("not_yet_again", "no second delete yet", ~g["againDone"].ref),
                                   ("certificate_exists", "C still exists", C.present),
                                   ("delete_changes", "the DELETE changes something (else a no-op, K3)",
                                    cl.delete_changes("C", again))],
                            effect=[w.block()], doc=f"A second DELETE with {again} propagation (K3).")
    if delete_secret:
        S = cl.live["S"]
        w = Writes()
        cl.delete(w, "S", "background", TRUE)
        w.set(g["sDeleted"], True)
        cx.model.add_action("user.delete_secret", "user", args=("S",), tags={"user"},
                            guard=[("secret_exists", "the spec Secret exists", S.present),
                                   ("not_yet_deleted", "the user has not deleted it yet", ~g["sDeleted"].ref)],
                            effect=[w.block()], doc="kubectl delete secret (the #7361 e2e test does this).")
    if delete_namespace:
        w = Writes()
        w.set(g["nsTerminating"], True)
        cx.model.add_action("user.delete_namespace", "user", tags={"user"},
                            guard=[("namespace_active", "the namespace is Active", cl.ns_active)],
                            effect=[w.block()], doc="kubectl delete namespace (K8).")
    if renew:
        w = Writes()
        w.set(g["renewalDue"], True)
        w.set(g["renewDone"], True)
        cx.model.add_action("user.renew", "user", tags={"user"},
                            guard=[("not_yet_renewed", "renewal time has not come yet", ~g["renewDone"].ref)],
                            effect=[w.block()], doc="Renewal time passes (time is not cached).")
    if test_finalizer:
        w = Writes()
        cl.remove_finalizer(w, "C", "test", TRUE)
        cx.model.add_action("user.remove_test_finalizer", "user", tags={"user"},
                            guard=[("has_test_finalizer", "C carries the test finalizer", C.test)],
                            effect=[w.block()], doc="The e2e test removes its finalizer.")
