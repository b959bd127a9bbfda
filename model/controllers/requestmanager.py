"""cert-manager's requestmanager controller: the CertificateRequest of the next revision.

Upstream: cert-manager v1.16.x / v1.17.x / v1.18.x
  pkg/controller/certificates/requestmanager/requestmanager_controller.go
  (*controller).ProcessItem, deleteRequestsWithoutRevision, deleteCurrentFailedRequest,
  createNewCertificateRequest.  v1.17.0 (PR #7361, "resolves #7358") returns early when the
  *cached* Certificate has a deletionTimestamp, right after the lister Get and before the
  Issuing check; v1.18.0 keeps it (with the nil check).

Needs Issuing=True, the next key cached (found by status.nextPrivateKeySecretName, whatever its
owner). Keeps the CR of revision ``status.revision+1``; deletes it on a key mismatch; creates one
(deterministic name ``<hash>-<revision>``, gate StableCertificateRequestName) when none is left.
A **terminating** CR of that revision counts as existing (every version).

Not modelled: CRs without a revision annotation and spec mismatches other than the key (nothing
changes the spec during a deletion), stale failed requests (``ISSUER_MAY_FAIL`` models failure
through issuing), the CSR body.  A create into a slot held by a CR of another revision would
succeed in reality (other name) but is a 409 here: ``revision_bound_blocked`` reports when.
"""

from __future__ import annotations

from certloop.checker.expr import Expr, and_

from certloop.model.apiserver import SLOTS, Writes
from certloop.model.controllers.base import Ctx, NextRequest


def create_conjuncts(cx: Ctx) -> list:
    """requestmanager.create_request's own conjuncts (shared with revision_bound_blocked)."""
    V = cx.V
    n = NextRequest(V)
    return [("view_issuing", "the cached Certificate is Issuing", V["C"].issuing),
            ("view_next_key_set", "status.nextPrivateKeySecretName is set", V["C"].nextKeySet),
            ("view_next_key_cached", "the next-key Secret is in the cache", V["K"].present),
            ("view_no_matching_request",
             "no CR of revision status.revision+1 with the next key in the cache (terminating ones count)",
             ~n.present | n.field("key").ne(V["K"].key))]


def add_actions(cx: Ctx) -> None:
    V, L, cl = cx.V, cx.cl.live, cx.cl
    n = NextRequest(V)
    w = Writes()
    for s in range(SLOTS):
        cl.delete(w, f"CR[{s}]", "default", n.slot_is(s))
    cx.model.add_action(
        "requestmanager.delete_request", "requestmanager", fairness="weak", tags={"cert-manager"},
        guard=cx.guard("requestmanager", "requestmanager.delete_request",
                       ("view_issuing", "the cached Certificate is Issuing", V["C"].issuing),
                       ("view_next_key_set", "status.nextPrivateKeySecretName is set", V["C"].nextKeySet),
                       ("view_next_key_cached", "the next-key Secret is in the cache", V["K"].present),
                       ("view_request_exists", "the cache holds a CR of revision status.revision+1", n.present),
                       ("view_request_not_terminating", "that CR is not terminating", ~n.field("delTS")),
                       ("view_key_mismatch", "its key differs from the next key", n.field("key").ne(V["K"].key)),
                       ("request_exists", "the CR exists (else 404)", n.live_slot(L, "present")),
                       ("delete_changes", "the DELETE changes something (not already terminating)",
                        ~n.live_slot(L, "delTS"))),
        effect=[w.block()], doc="Delete the next-revision CR whose key does not match the next key.")

    w = Writes()
    for s in range(SLOTS):
        cl.create(w, f"CR[{s}]", {"rev": n.rev, "phase": "Pending", "key": V["K"].key, "fin": False,
                                   "ref": True}, n.slot_is(s))
    cx.model.add_action(
        "requestmanager.create_request", "requestmanager", fairness="weak", tags={"cert-manager", "creates"},
        guard=cx.guard("requestmanager", "requestmanager.create_request", *create_conjuncts(cx),
                       ("namespace_active", "the namespace is not terminating (else 403, K7)", cl.ns_active),
                       ("name_free", "no CR holds the name <hash>-<revision>, terminating or not (else 409, K6)",
                        ~n.live_slot(L, "present"))),
        effect=[w.block()],
        doc="No CR for the next revision: create one (blocking controller ref, deterministic name).")


def revision_bound_blocked(cx: Ctx) -> Expr:
    """RM.create would run but the slot holds a CR of *another* revision (MODEL.md §4.1)."""
    L = cx.cl.live
    n = NextRequest(cx.V)
    conj = [c.expr for c in cx.guard("requestmanager", "requestmanager.create_request",
                                     *create_conjuncts(cx))]
    return and_(*conj, cx.cl.ns_active, n.live_slot(L, "present"), n.live_slot(L, "rev").ne(n.rev))
