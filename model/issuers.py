"""Issuers: cert-manager's in-tree signers and an external issuer, with or without a CR finalizer.

Upstream:
  - cert-manager pkg/controller/certificaterequests/controller.go  (*Controller).ProcessItem
    (in-tree signers: SelfSigned, CA, Vault, ...; they sign terminating CRs before v1.18;
    v1.18.0, PR #7454, returns early on ``cr == nil || cr.DeletionTimestamp != nil``).  The
    signer reconciles CertificateRequests and never reads the Certificate.
  - External issuers without a finalizer: cert-manager/issuer-lib, google-cas-issuer,
    aws-privateca-issuer, smallstep/step-issuer (sign Pending CRs from their own cache).
  - External issuer with a finalizer: evertrust/horizon-issuer
    internal/controller/certificaterequest_controller.go Reconcile/handleDeletion (with
    ``spec.revokeCertificates: true``): adds its finalizer to every live CR, never signs a
    terminating CR, and on a terminating CR does its cleanup (revocation) and then removes the
    finalizer.  MODEL.md §3.4.

Knobs: ``issuer_signs=False`` (a CA slower than any deletion: signing is never enabled),
``may_fail`` (the issuer may mark a CR Failed).

Not modelled: approval (CRs are approved at once), ACME orders and challenges, a cleanup that
fails forever (it is weakly fair: it eventually succeeds).
"""

from __future__ import annotations

from certloop.checker.expr import TRUE
from certloop.checker.spec import Conjunct

from certloop.model.apiserver import CR_NAMES, Writes
from certloop.model.controllers.base import Ctx
from certloop.model.informers import view_current


def add_in_tree_signer(cx: Ctx, signs: bool) -> None:
    V, L = cx.V, cx.cl.live
    for name in CR_NAMES:
        v = V[name]
        base = [("view_request_exists", f"{name} is in cert-manager's cache", v.present),
                ("view_request_pending", f"the cached {name} is Pending", v.phase.eq("Pending")),
                ("request_current", f"the cached {name} is current (status update RV check)",
                 cx.current(name))]
        conj = [Conjunct(*c) for c in base]
        if cx.signer_guard:
            conj.append(Conjunct("view_request_not_terminating", f"the cached {name} has no deletionTimestamp",
                                 ~v.delTS, since="v1.18.0", pr=7454))
        conj += cx.extra_controller.get("signer", [])
        conj += cx.extra_signer.get(name, [])
        outcomes = [("sign_request", "Issued")] if signs else []
        if cx.may_fail:
            outcomes.append(("fail_request", "Failed"))
        for verb, phase in outcomes:
            w = Writes()
            w.set(L[name].var("phase"), phase)
            cx.model.add_action(f"signer.{verb}", "signer", args=(name,), fairness="weak",
                                tags={"cert-manager", "signer"}, guard=conj, effect=[w.block()],
                                doc=f"The in-tree signer marks the request {phase}.")


def add_external_issuer(cx: Ctx, finalizer: bool, signs: bool) -> None:
    X, L, cl = cx.views.ext, cx.cl.live, cx.cl
    for name in CR_NAMES:
        W, live = X[name], L[name]
        cur = ("request_current", f"the issuer's cached {name} is current (RV-guarded update)",
               view_current(W, live))
        if finalizer:
            w = Writes()
            w.set(live.var("fin"), True)
            cx.model.add_action("issuer.add_finalizer", "issuer", args=(name,), fairness="weak",
                                tags={"issuer"},
                                guard=[("view_request_exists", f"{name} is in the issuer's cache", W.present),
                                       ("view_request_not_terminating", f"the cached {name} is not terminating",
                                        ~W.delTS),
                                       ("view_no_finalizer", f"the cached {name} lacks the issuer's finalizer",
                                        ~W.fin), cur],
                                effect=[w.block()], doc="Add the issuer's finalizer to a live CR.")
            w = Writes()
            cl.remove_finalizer(w, name, "fin", TRUE)
            cx.model.add_action("issuer.release_finalizer", "issuer", args=(name,), fairness="weak",
                                tags={"issuer"},
                                guard=[("view_request_exists", f"{name} is in the issuer's cache", W.present),
                                       ("view_request_terminating", f"the cached {name} is terminating", W.delTS),
                                       ("view_has_finalizer", f"the cached {name} carries the issuer's finalizer",
                                        W.fin), cur],
                                effect=[w.block()],
                                doc="Cleanup (e.g. revocation) done: remove the finalizer; the CR goes (K2).")
        sign_guard = [("view_request_exists", f"{name} is in the issuer's cache", W.present),
                      ("view_request_pending", f"the cached {name} is Pending", W.phase.eq("Pending"))]
        if finalizer:
            sign_guard += [("view_request_not_terminating", f"the cached {name} is not terminating", ~W.delTS),
                           ("view_has_finalizer", f"the cached {name} carries the issuer's finalizer", W.fin)]
        sign_guard.append(cur)
        outcomes = [("sign_request", "Issued")] if signs else []
        if cx.may_fail:
            outcomes.append(("fail_request", "Failed"))
        for verb, phase in outcomes:
            w = Writes()
            w.set(live.var("phase"), phase)
            cx.model.add_action(f"issuer.{verb}", "issuer", args=(name,), fairness="weak", tags={"issuer"},
                                guard=sign_guard, effect=[w.block()],
                                doc=f"The external issuer marks the request {phase}.")
